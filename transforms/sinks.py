"""Writing the tables: deterministic Parquet parts, replaced whole on commit.

Beam's own file sinks are not used: DaskRunner cannot run them, and their
shard names depend on the runner. Instead each table's rows are spread over
``ceil(n / table.per_part)`` parts, for a large table at least two
(`table_parts`; `n` is the row count of
the table's `part_basis`, the articles table for all but `errors`) by a hash
of the row's sort key (`part_of`), each part is sorted and written through Beam's FileSystems (so gs://, s3:// and
hdfs:// outputs work) as ``part-00000-of-00002.parquet`` into a staging
folder (the co-mention tables come already split into parts, see
`WriteTables`), and one final step, the pipeline's only leaf, writes ``run.json``
and publishes the run (see "where a run writes" below). The tables and their part files are therefore
the same on every runner and for any number of workers, and a run that
fails before the commit leaves the previous output untouched.
"""
import json
import math
import os
import posixpath
import shutil
import typing
import zlib
from operator import itemgetter

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.outputs import as_count, global_count, pack, unpack_all
from transforms.schemas import TABLES

RUN_FILE = "run.json"


def join(base, *parts):
    if FileSystems.get_scheme(base):
        return FileSystems.join(base, *parts)
    return posixpath.join(base, *parts) if "/" in base else "/".join((base,) + parts)


def part_name(index, total):
    return f"part-{index:05d}-of-{total:05d}.parquet"


def write_parquet(path, table, rows):
    arrow = pa.Table.from_pylist(rows, schema=table.schema)
    with FileSystems.create(path) as fh:
        pq.write_table(arrow, fh, compression="zstd")


def release_memory():
    """Hand the C heap's free pages back to the system (glibc malloc_trim).
    A part's rows are freed once written, but glibc may keep their pages
    mapped (measured on 4,000 articles: peak 1,773 MB without, 1,699 MB with)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class WritePartFn(beam.DoFn):
    """One part ``((index, total), rows)`` -> its Parquet file. `rows` are
    columns ``{column: [values]}`` or an Arrow table (sorted already), or
    row tuples (`row_tuple`), or with `batched` lists of row tuples; with
    `packed`, those tuples or lists pickled (`outputs.pack`)."""

    def __init__(self, table, staging, batched=False, packed=False):
        self._table = table
        self._staging = staging
        self._batched = batched
        self._packed = packed

    def process(self, part):
        (index, total), rows = part
        path = join(self._staging, self._table.name, part_name(index, total))
        if self._packed:
            rows = list(unpack_all(rows))
        if self._batched:
            rows = [row for batch in rows for row in batch]
        if isinstance(rows, (dict, pa.Table)):  # columns, sorted by the producer
            arrow = arrow_table(rows, self._table.schema)
        else:  # row tuples (row_tuple)
            arrow = part_table(self._table, rows)
        with FileSystems.create(path) as fh:
            pq.write_table(arrow, fh, compression="zstd")
        n_rows = arrow.num_rows
        del arrow, rows
        release_memory()
        yield {"kind": "table", "table": self._table.name, "rows": n_rows}

    def finish_bundle(self):
        release_memory()  # emits nothing


def arrow_table(columns, schema):
    """Columns ``{column: [values]}``, or an Arrow table with those columns,
    -> a pyarrow Table of `schema`. An Arrow table is cast to the schema: its
    date32 columns may be ISO date strings ("2023-10-16"; the co-mention
    parts' periods, see `comentions.period_columns`)."""
    if isinstance(columns, pa.Table):
        return columns.select(schema.names).cast(schema)
    return pa.Table.from_arrays([pa.array(columns[field.name], field.type) for field in schema],
                                schema=schema)


def row_tuple(names, row):
    """A row dict as a tuple in the order of `names`, a table's column names
    (missing keys: None).
    Rows travel to the writer as tuples: for 10 columns the tuple takes 120
    bytes against the dict's 272 (values aside), and pickled for the shuffle
    a third of the bytes, since the column names are not repeated per row."""
    return tuple(map(row.get, names))


def part_table(table, rows):
    """Row tuples (`row_tuple`) -> the part as a pyarrow Table of `table`'s
    schema, sorted as `Table.sort_key` (None first). Arrow sorts (C++): on
    the benchmark's 141,084 mention rows Python's sort took 0.33 s."""
    names = table.schema.names
    # one list per column: zip(*rows) over 100,000 rows is several times slower
    columns = {name: [r[i] for r in rows] for i, name in enumerate(names)}
    return sort_table(arrow_table(columns, table.schema), table.sort_by)


def sort_table(arrow, keys):
    """`arrow` sorted by the columns `keys`, ascending, nulls first (as
    `schemas.none_first` sorts them; strings in code point order, as Python
    compares them)."""
    names, sort_keys = arrow.column_names, []
    for name in keys:
        column = arrow.column(name)
        if column.null_count:  # False sorts before True: nulls first
            arrow = arrow.append_column(f"{name} is valid", pc.is_valid(column))
            sort_keys.append((f"{name} is valid", "ascending"))
        sort_keys.append((name, "ascending"))
    return arrow.take(pc.sort_indices(arrow, sort_keys=sort_keys)).select(names)


def part_count(n, per_part):
    """How many parts a table of a run with `n` articles (for `errors`: `n`
    error rows) is written as: one per `per_part` (`Table.per_part`)."""
    return max(1, math.ceil(n / per_part))


def table_parts(n, table):
    """How many parts `WriteTable` writes `table` in, for `n` rows of its
    part basis: `part_count`, and at least two from `table.split_from` on."""
    parts = part_count(n, table.per_part)
    return max(parts, 2) if table.split_from is not None and n >= table.split_from else parts


def part_of(values, total):
    """The part (0 .. total-1) of a row whose sort-key values are `values`:
    a stable hash of their text, the same on every runner and worker."""
    if total == 1:
        return 0
    return zlib.crc32("\x1f".join(map(str, values)).encode("utf-8")) % total


def part_of_pairs(pairs, total):
    """``part_of((a, b), total)`` for each ``(a, b, ...)`` of `pairs` (a and b
    strings): the CRC-32 of "a\\x1fb" continued from the CRC of "a\\x1f",
    which is computed once per a (an article's pairs repeat each actor)."""
    if total == 1:
        return [0] * len(pairs)
    heads, tails, out = {}, {}, []
    for a, b, *_ in pairs:
        head = heads.get(a)
        if head is None:
            head = heads[a] = zlib.crc32(a.encode("utf-8") + b"\x1f")
        tail = tails.get(b)
        if tail is None:
            tail = tails[b] = b.encode("utf-8")
        out.append(zlib.crc32(tail, head) % total)
    return out


def column_rows(columns):
    """Columns ``{column: [values]}``, or an Arrow table, -> the list of row
    dicts (for tests and readers)."""
    if isinstance(columns, pa.Table):
        columns = columns.to_pydict()
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*columns.values())]


class WriteTable(beam.PTransform):
    """Rows of one table -> sorted Parquet parts in the staging folder.

    `basis` is a count (`outputs.global_count`: empty for no rows), the row count of the table's
    `part_basis`, which sets the number of parts (`table_parts`). For every
    table but `errors` that is the articles table: known once the NLP stage is done, so the part of each
    row is assigned inside the stage that makes the row (a table's own row
    count would first need all its rows stored, then read again).

    With `batched`, each element is a list of rows (an article's mentions,
    say) and leaves as one element per part its rows fall in: per-element
    costs of Beam and its runner then count once an article, not once a
    row."""

    def __init__(self, table, staging, batched=False):
        super().__init__()
        self._table = table
        self._staging = staging
        self._batched = batched

    def expand(self, pcolls):
        rows, basis = pcolls
        table = self._table
        names = table.schema.names  # pyarrow builds this list anew on each access
        at = [names.index(c) for c in table.sort_by]
        # the row's sort-key values as a tuple (itemgetter of one index gives
        # the bare value; a table without sort columns puts every row in part 0)
        sort_values = (itemgetter(*at) if len(at) > 1 else
                       (lambda values: (values[at[0]],)) if at else (lambda values: ()))

        def part_key(values, total):
            return part_of(sort_values(values), total), total

        # rows cross the shuffle pickled (`outputs.pack`): the local runner
        # copies bytes where it would decode and encode every row again
        def assign(row, n):
            values = row_tuple(names, row)
            return pack(part_key(values, table_parts(n, table)), values)

        def assign_batch(batch, n):
            total = table_parts(n, table)   # once for the article's rows
            parts = {}
            for values in (row_tuple(names, row) for row in batch):
                parts.setdefault(part_key(values, total), []).append(values)
            return [pack(key, part_rows) for key, part_rows in sorted(parts.items())]

        packed = typing.Tuple[typing.Tuple[int, int], bytes]
        if self._batched:
            assigned = rows | "AssignParts" >> beam.FlatMap(
                assign_batch, n=as_count(basis)).with_output_types(packed)
        else:
            assigned = rows | "AssignPart" >> beam.Map(
                assign, n=as_count(basis)).with_output_types(packed)
        return (assigned
                | "GroupPart" >> beam.GroupByKey()
                | "WritePart" >> beam.ParDo(
                    WritePartFn(table, self._staging, self._batched, packed=True)))


class CommitFn(beam.DoFn):
    """Runs once, after every part is written: completes the staged output
    (an empty part for a table without rows, run.json with the counts and
    the records accounting) and publishes it (see `publish`)."""

    def __init__(self, output, staging, run_info):
        self._output = output
        self._staging = staging
        self._run_info = run_info

    def process(self, reports):
        rows = {name: 0 for name in TABLES}
        units, stats, per_file = {}, {}, {}
        for r in reports:
            if r["kind"] == "table":
                rows[r["table"]] += r["rows"]
            elif r["kind"] == "stat":
                stats[r["name"]] = stats.get(r["name"], 0) + r["value"]
            elif r["kind"] == "file_rows":
                per_file[r["source_file"]] = per_file.get(r["source_file"], 0) + r["rows"]
            else:
                units[r["source_file"]] = units.get(r["source_file"], 0) + r["units"]
        for name, table in TABLES.items():
            if rows[name] == 0:
                write_parquet(join(self._staging, name, part_name(0, 1)), table, [])
        read = sum(units.values())
        mismatched = sorted(f for f in set(units) | set(per_file)
                            if units.get(f, 0) != per_file.get(f, 0))
        summary = dict(self._run_info)
        summary.update({
            "rows": rows,
            "input_files": len(units),
            "records_read": read,
            "records_accounted": rows["articles"] + rows["errors"],
            "accounting_ok": read == rows["articles"] + rows["errors"] and not mismatched,
            "files_not_accounted": mismatched,
            "records_per_file": dict(sorted(units.items())),
            "stats": dict(sorted(stats.items())),
        })
        with FileSystems.create(join(self._staging, RUN_FILE)) as fh:
            fh.write(json.dumps(summary, indent=2, sort_keys=True, default=str).encode("utf-8"))
        publish(self._output, self._staging)
        yield summary


# ---- where a run writes, and how it replaces the previous output ----------
#
# Local output: each run writes into its own folder beside the output,
# ``<parent>/.<name>.runs/<run_id>/``, and the output path itself is a
# symbolic link to the current run's folder. Publishing a run is one atomic
# rename of a new link over the old one, so a reader (or a run killed at any
# moment) sees the previous complete output or the new complete one, never
# a mix. Older run folders, finished or killed, are deleted by the next run.
#
# Output on another filesystem (gs://, s3://, hdfs://): parts are staged in
# ``<output>/.staging-<run_id>/`` and each table folder's files are replaced
# in turn; that is not atomic across tables.

class OutputNotOurs(RuntimeError):
    pass


def _local(output):
    return FileSystems.get_scheme(output) is None


def runs_dir(output):
    parent, name = os.path.split(os.path.abspath(output))
    return os.path.join(parent, f".{name}.runs")


def staging_dir(output, run_id):
    if _local(output):
        return os.path.join(runs_dir(output), run_id)
    return join(output, f".staging-{run_id}")


def _is_ours(output):
    return os.path.islink(output) and os.path.dirname(
        os.path.realpath(output)) == os.path.realpath(runs_dir(output))


def prepare_output(output, overwrite=False):
    """Check before a run that `output` may be replaced, and clear what
    killed runs left. Refuses (OutputNotOurs) a folder or file this tool did
    not write, unless `overwrite`; then that is moved aside and deleted once
    the new output is published."""
    if not _local(output):
        return
    os.makedirs(runs_dir(output), exist_ok=True)
    current = os.path.realpath(output) if _is_ours(output) else None
    for entry in os.listdir(runs_dir(output)):
        path = os.path.join(runs_dir(output), entry)
        if os.path.realpath(path) != current:
            _remove(path)
    if not os.path.lexists(output) or _is_ours(output):
        return
    if os.path.isdir(output) and not os.path.islink(output) and not os.listdir(output):
        os.rmdir(output)
        return
    if not overwrite:
        raise OutputNotOurs(
            f"{output} exists and was not written by corpus-stats; choose another "
            f"--output or pass --overwrite to replace it")
    os.replace(output, os.path.join(runs_dir(output), "replaced"))


def publish(output, staging):
    if _local(output):
        link = staging + ".link"
        os.symlink(os.path.relpath(staging, os.path.dirname(os.path.abspath(output))), link)
        _swap(link, output)
        for entry in os.listdir(runs_dir(output)):
            path = os.path.join(runs_dir(output), entry)
            if os.path.realpath(path) != os.path.realpath(staging):
                _remove(path)
        return
    for name in TABLES:
        target = join(output, name)
        old = _list(target)
        if old:
            FileSystems.delete(old)
        new = _list(join(staging, name))
        _mkdirs(target)
        FileSystems.rename(new, [join(target, posixpath.basename(p)) for p in new])
    FileSystems.rename([join(staging, RUN_FILE)], [join(output, RUN_FILE)])
    FileSystems.delete([staging])


def _swap(link, output):
    """Publishing: one atomic rename of the new link over the output."""
    os.replace(link, output)


def _remove(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def _list(folder):
    try:
        return sorted(m.path for r in FileSystems.match([join(folder, "*.parquet")])
                      for m in r.metadata_list)
    except Exception:
        return []


def _mkdirs(folder):
    try:
        FileSystems.mkdirs(folder)
    except IOError:
        pass  # exists


def stat(name, value):
    """A figure for run.json's ``stats``, summed over all reports of `name`."""
    return {"kind": "stat", "name": name, "value": value}


class WriteTables(beam.PTransform):
    """``(tables, counts, stats)`` -> the output folder: `tables` maps table
    names to row PCollections; for the tables named in `batched`, to
    PCollections of row lists (one an article); for the tables named in
    `partitioned`, to PCollections of whole parts, ``((index, total), rows)``, that the
    producer has already grouped and sorted (the co-mention tables; `rows` are
    an Arrow table, or columns ``{column: [values]}``). `counts` holds per-file ``(source_file,
    units)`` read counts, `stats` holds `stat(...)` figures for run.json.

    The result is a PCollection holding the run summary: the single leaf
    that every branch of the pipeline feeds."""

    def __init__(self, output, run_id, run_info, partitioned=(), batched=()):
        super().__init__()
        self._partitioned = frozenset(partitioned)
        self._batched = frozenset(batched)
        self._output = output
        self._staging = staging_dir(output, run_id)
        self._run_info = run_info

    def expand(self, pcolls):
        tables, counts, stats = pcolls
        bases = {TABLES[name].part_basis for name in tables if name not in self._partitioned}
        if bases & self._batched:
            raise ValueError(f"a part basis cannot be batched: {sorted(bases & self._batched)}")
        n_rows = {basis: global_count(tables[basis], f"Count{basis.capitalize()}")
                  for basis in sorted(bases)}
        reports = [
            rows | f"Write{name.capitalize()}" >> beam.ParDo(
                WritePartFn(TABLES[name], self._staging))
            if name in self._partitioned else
            (rows, n_rows[TABLES[name].part_basis])
            | f"Write{name.capitalize()}" >> WriteTable(
                TABLES[name], self._staging, batched=name in self._batched)
            for name, rows in sorted(tables.items())]
        reports.append(counts | "CountReport" >> beam.MapTuple(
            lambda f, n: {"kind": "counts", "source_file": f, "units": n}))
        for name in ("articles", "errors"):  # per-file accounting
            reports.append(tables[name]
                           | f"FileOf{name.capitalize()}" >> beam.Map(lambda r: r["source_file"])
                           | f"CountByFile{name.capitalize()}" >> beam.combiners.Count.PerElement()
                           | f"FileReport{name.capitalize()}" >> beam.MapTuple(
                               lambda f, n: {"kind": "file_rows", "source_file": f, "rows": n}))
        reports.append(stats)
        return (reports
                | "AllReports" >> beam.Flatten()
                | "Gather" >> beam.combiners.ToList()
                | "Commit" >> beam.ParDo(CommitFn(self._output, self._staging, self._run_info)))
