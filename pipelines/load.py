"""Load a corpus-stats output folder as pandas DataFrames, one call.

    from pipelines import load_tables
    t = load_tables("out")            # every table
    t.actors.nlargest(10, "n_articles")
    t["mentions"].label.value_counts()
    t.run["rows"]                     # run.json as a dict

Dtypes are the same on every run (even for empty tables):

* strings are pandas Arrow strings (``string[pyarrow]``);
* low-cardinality labels (actor ``type``, ``type_a``/``type_b``, spaCy
  ``label``, errors ``stage``/``error_type``, ``outlet_from``) are categoricals;
* timestamps are ``datetime64[us, UTC]``; periods (first day of a
  day/week/month) are ``datetime64[s]`` dates without a time zone;
* integers are pandas nullable integers (``Int32``/``Int64``), so a missing
  value stays missing instead of turning the column into floats;
* list columns (``actors.aliases``) hold Python lists.
"""
import json
import os

from transforms.schemas import TABLES

RUN_FILE = "run.json"

CATEGORICAL = {"type", "type_a", "type_b", "label", "stage", "error_type",
               "outlet_from"}


class Tables(dict):
    """A dict of table name -> DataFrame whose tables are also attributes
    (``t.actors``); ``run`` holds run.json (empty dict if absent)."""

    run = {}

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"no table {name!r} in this output (tables: {', '.join(self)})") from None

    def __dir__(self):
        return list(super().__dir__()) + list(self)


def _join(out, *parts):
    out = str(out)
    return "/".join([out.rstrip("/")] + list(parts)) if "://" in out \
        else os.path.join(out, *parts)


def _read_arrow(folder, schema):
    import pyarrow as pa
    import pyarrow.parquet as pq
    if "://" not in folder and not os.path.isdir(folder):
        return None
    try:
        table = pq.read_table(folder)
    except (FileNotFoundError, OSError):
        return None
    if len(table.schema) and table.schema.names == schema.names:
        return table.cast(schema)
    # older outputs: keep the columns present, in schema order
    cols = [f.name for f in schema if f.name in table.schema.names]
    extra = [n for n in table.schema.names if n not in cols]
    if not cols and table.num_rows == 0:
        return pa.Table.from_pylist([], schema=schema)
    return table.select(cols + extra)


def to_pandas(table):
    """A pyarrow Table of one of the output schemas -> DataFrame with the
    dtypes described in this module's docstring."""
    import pandas as pd
    import pyarrow as pa
    mapping = {
        pa.string(): pd.StringDtype("pyarrow"),
        pa.large_string(): pd.StringDtype("pyarrow"),
        pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    df = table.to_pandas(types_mapper=mapping.get)
    for field in table.schema:
        name = field.name
        if pa.types.is_date(field.type):
            df[name] = pd.to_datetime(df[name]).astype("datetime64[s]")
        elif pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            df[name] = pd.Series(
                [None if v is None else list(v) for v in table.column(name).to_pylist()],
                index=df.index, dtype=object)
        elif name in CATEGORICAL and pa.types.is_string(field.type):
            df[name] = df[name].astype("category")
        elif pa.types.is_boolean(field.type) and table.column(name).null_count == 0:
            df[name] = df[name].astype(bool)
    return df


def load_tables(out, tables=None):
    """Every table of output folder `out` (local path or a URI pyarrow can
    open) as a `Tables` dict of DataFrames; `tables` limits it to those names.

    A table folder that is missing is left out; run.json is in ``.run``."""
    names = list(TABLES) if tables is None else list(tables)
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise ValueError(f"unknown tables {unknown}; known: {sorted(TABLES)}")
    result = Tables()
    for name in names:
        arrow = _read_arrow(_join(out, name), TABLES[name].schema)
        if arrow is not None:
            result[name] = to_pandas(arrow)
    if not result and "://" not in str(out) and not os.path.isdir(str(out)):
        raise FileNotFoundError(f"no corpus-stats output at {out}")
    result.run = _read_run(out)
    return result


def _read_run(out):
    path = _join(out, RUN_FILE)
    try:
        if "://" in path:
            from apache_beam.io.filesystems import FileSystems
            with FileSystems.open(path) as fh:
                return json.loads(fh.read())
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}
