"""Writing the tables: deterministic Parquet parts, replaced whole on commit.

Beam's own file sinks are not used: DaskRunner cannot run them, and their
shard names depend on the runner. Instead each table's rows are spread over
``ceil(rows / ROWS_PER_PART)`` parts by a hash of the row's sort key, each
part is sorted and written through Beam's FileSystems (so gs://, s3:// and
hdfs:// outputs work) as ``part-00000-of-00002.parquet`` into a staging
folder, and one final step, the pipeline's only leaf, moves every table into
place and writes ``run.json``. The tables and their part files are therefore
the same on every runner and for any number of workers, and a run that
fails before the commit leaves the previous output untouched.
"""
import json
import math
import posixpath
import zlib

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.schemas import TABLES

ROWS_PER_PART = 200_000
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


class WritePartFn(beam.DoFn):
    def __init__(self, table, staging):
        self._table = table
        self._staging = staging

    def process(self, part):
        (index, total), rows = part
        rows = sorted(rows, key=self._table.sort_key)
        path = join(self._staging, self._table.name, part_name(index, total))
        write_parquet(path, self._table, rows)
        yield {"kind": "table", "table": self._table.name, "rows": len(rows)}


class WriteTable(beam.PTransform):
    """Rows of one table -> sorted Parquet parts in the staging folder."""

    def __init__(self, table, staging):
        super().__init__()
        self._table = table
        self._staging = staging

    def expand(self, rows):
        table = self._table

        def assign(row, n_rows):
            total = max(1, math.ceil(n_rows / ROWS_PER_PART))
            key = repr(table.sort_key(row)).encode("utf-8")
            return (zlib.crc32(key) % total, total), row

        n_rows = rows | "CountRows" >> beam.combiners.Count.Globally()
        return (rows
                | "AssignPart" >> beam.Map(assign, n_rows=beam.pvalue.AsSingleton(n_rows))
                | "GroupPart" >> beam.GroupByKey()
                | "WritePart" >> beam.ParDo(WritePartFn(table, self._staging)))


class CommitFn(beam.DoFn):
    """Runs once, after every part is written: replaces each table folder
    with its staged parts (an empty part for a table without rows) and
    writes run.json with the counts and the records-accounting check."""

    def __init__(self, output, staging, run_info):
        self._output = output
        self._staging = staging
        self._run_info = run_info

    def process(self, reports):
        rows = {name: 0 for name in TABLES}
        units, stats = {}, {}
        for r in reports:
            if r["kind"] == "table":
                rows[r["table"]] += r["rows"]
            elif r["kind"] == "stat":
                stats[r["name"]] = stats.get(r["name"], 0) + r["value"]
            else:
                units[r["source_file"]] = units.get(r["source_file"], 0) + r["units"]
        for name, table in TABLES.items():
            staged = join(self._staging, name)
            if rows[name] == 0:
                write_parquet(join(staged, part_name(0, 1)), table, [])
            target = join(self._output, name)
            old = _list(target)
            if old:
                FileSystems.delete(old)
            new = _list(staged)
            _mkdirs(target)
            FileSystems.rename(new, [join(target, posixpath.basename(p)) for p in new])
        FileSystems.delete([self._staging])
        read = sum(units.values())
        summary = dict(self._run_info)
        summary.update({
            "rows": rows,
            "input_files": len(units),
            "records_read": read,
            "records_accounted": rows["articles"] + rows["errors"],
            "accounting_ok": read == rows["articles"] + rows["errors"],
            "records_per_file": dict(sorted(units.items())),
            "stats": dict(sorted(stats.items())),
        })
        with FileSystems.create(join(self._output, RUN_FILE)) as fh:
            fh.write(json.dumps(summary, indent=2, sort_keys=True, default=str).encode("utf-8"))
        yield summary


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
    names to row PCollections, `counts` holds per-file ``(source_file,
    units)`` read counts, `stats` holds `stat(...)` figures for run.json.

    The result is a PCollection holding the run summary: the single leaf
    that every branch of the pipeline feeds."""

    def __init__(self, output, run_id, run_info):
        super().__init__()
        self._output = output
        self._staging = join(output, f".staging-{run_id}")
        self._run_info = run_info

    def expand(self, pcolls):
        tables, counts, stats = pcolls
        reports = [rows | f"Write{name.capitalize()}" >> WriteTable(TABLES[name], self._staging)
                   for name, rows in sorted(tables.items())]
        reports.append(counts | "CountReport" >> beam.MapTuple(
            lambda f, n: {"kind": "counts", "source_file": f, "units": n}))
        reports.append(stats)
        return (reports
                | "AllReports" >> beam.Flatten()
                | "Gather" >> beam.combiners.ToList()
                | "Commit" >> beam.ParDo(CommitFn(self._output, self._staging, self._run_info)))
