"""Reading input files into raw records, one file per element.

The pipeline starts from a list of file paths (`expand_inputs`), not from a
Beam `Read` source: `Create(paths) | ReadRecords()` runs unchanged on every
runner, including DaskRunner, which cannot execute Read-based sources.
Files are opened through Beam's FileSystems, so gs://, s3:// and hdfs://
paths work wherever Beam has the filesystem installed.

Each record leaves as ``{"source_file", "record", "fields"}``, where
``record`` is its 1-based number in the file (line for JSON lines, row for
CSV and Parquet, 1 for a .txt file). Anything unreadable leaves on the
``errors`` output; for each file one ``(source_file, units)`` pair leaves on
the ``counts`` output, units being records plus errors, so the run can check
that every unit read ends up as an article or an error.
"""
import bz2
import csv
import gzip
import io
import json
import os
import re

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.errors import ERRORS, error_row
from transforms.outputs import ParDoWithOutputs

COUNTS = "counts"
STAGE = "read"

# extension (after removing a compression suffix) -> format
FORMATS = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".txt": "txt",
}
COMPRESSED = (".gz", ".bz2")


def file_format(path):
    """The input format of `path` by its extension, or None if unsupported."""
    name = path.lower()
    for suffix in COMPRESSED:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return FORMATS.get(os.path.splitext(name)[1])


def expand_inputs(patterns):
    """Files named by `patterns` (files, folders, globs), sorted.

    Returns ``(files, skipped)``: folders are walked recursively and their
    files of unsupported type (README, images, hidden files) are skipped and
    reported; a file named explicitly is always kept, so an unsupported one
    becomes an error row rather than disappearing.
    """
    files, skipped = set(), set()
    # local paths become absolute: workers of a distributed runner do not
    # share the submitting process's working directory
    patterns = [p if FileSystems.get_scheme(p) else os.path.abspath(p) for p in patterns]
    for pattern in patterns:
        if FileSystems.get_scheme(pattern) is None and os.path.isdir(pattern):
            for root, dirs, names in os.walk(pattern):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for n in names:
                    path = os.path.join(root, n)
                    if n.startswith(".") or file_format(path) is None:
                        skipped.add(path)
                    else:
                        files.add(path)
            continue
        glob = any(ch in pattern for ch in "*?[")
        if not glob and FileSystems.get_scheme(pattern) is None and not os.path.exists(pattern):
            raise FileNotFoundError(f"--input {pattern!r} does not exist")
        matched = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list] \
            if glob or FileSystems.get_scheme(pattern) else [pattern]
        if glob and not matched:
            raise FileNotFoundError(f"--input {pattern!r} matches no file")
        for path in matched:
            if glob and file_format(path) is None:
                skipped.add(path)
            else:
                files.add(path)
    if not files:
        raise FileNotFoundError(f"no input files of a supported type in {patterns!r}")
    return sorted(files), sorted(skipped)


_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")


def decode(raw):
    """``(text, encoding)`` of raw bytes: UTF-8 (a leading BOM dropped), else
    a legacy 8-bit encoding, cp1252 (latin-1 for its 5 unassigned bytes),
    as found in older public corpora. Bytes that mix valid UTF-8 sequences
    with invalid ones are corrupt, not legacy: UnicodeDecodeError."""
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as e:
        if _UTF8_MULTIBYTE.search(raw):
            raise UnicodeDecodeError(
                e.encoding, e.object, e.start, e.end,
                "invalid UTF-8 in text that also holds valid UTF-8 (corrupted bytes; "
                "re-export the file as UTF-8)") from None
        try:
            return raw.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            return raw.decode("latin-1"), "latin-1"


def _records_jsonl(fh):
    """(record, fields) pairs of a JSON-lines file; also a JSON array file."""
    first = fh.read(1)
    if first == b"[":  # a .json file holding one array of objects
        text, encoding = decode(first + fh.read())
        items = json.loads(text)
        if not isinstance(items, list):
            raise ValueError("a .json file must hold JSON lines or one array")
        for i, item in enumerate(items, 1):
            yield i, item, None, encoding
        return
    number, pending = 0, first
    while True:
        line = pending + fh.readline()
        pending = b""
        if not line:
            return
        number += 1
        if not line.strip():
            continue
        try:
            text, encoding = decode(line)
            yield number, json.loads(text), line, encoding
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            yield number, e, line, None


def _records_csv(fh):
    text, encoding = decode(fh.read())
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return
    header = [h.strip() for h in header]
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield reader.line_num, e, None, None
            continue
        number = reader.line_num  # physical line where the row ends
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield number, ValueError(
                f"CSV row has {len(row)} fields, header has {len(header)}"), ",".join(row), None
            continue
        yield number, dict(zip(header, row)), None, encoding


def _records_parquet(fh):
    import pyarrow.parquet as pq
    number = 0
    for batch in pq.ParquetFile(fh).iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            number += 1
            yield number, row, None, "utf-8"


def _records_txt(fh, path):
    text, encoding = decode(fh.read())
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip():
            title = line.strip()
            # the body starts after the title line; its offsets are its own
            body = text[sum(len(l) + 1 for l in lines[: i + 1]):]
            yield 1, {"title": title, "text": body,
                      "id": os.path.splitext(os.path.basename(path))[0]}, None, encoding
            return
    yield 1, {"text": ""}, None, encoding


def open_input(path):
    """A binary stream of the file's content, decompressed by Python's own
    gzip/bz2 readers: unlike Beam's CompressedFile they raise on a truncated
    file (EOFError) instead of ending quietly inside the last record."""
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    name = path.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if name.endswith(".bz2"):
        return bz2.BZ2File(raw, mode="rb")
    return raw


class ReadRecordsFn(beam.DoFn):
    """One input path in, its raw records out (and errors, and a count)."""

    def process(self, path):
        fmt = file_format(path)
        units = 0
        if fmt is None:
            yield beam.pvalue.TaggedOutput(ERRORS, error_row(
                path, None, STAGE, "unsupported_format",
                "unknown file extension; expected .jsonl, .json, .csv, .parquet or .txt"))
            yield beam.pvalue.TaggedOutput(COUNTS, (path, 1))
            return
        try:
            with open_input(path) as fh:
                if fmt == "jsonl":
                    records = _records_jsonl(fh)
                elif fmt == "csv":
                    records = _records_csv(fh)
                elif fmt == "parquet":
                    records = _records_parquet(fh)
                else:
                    records = _records_txt(fh, path)
                for number, fields, raw, encoding in records:
                    units += 1
                    if isinstance(fields, Exception):
                        kind = "decode" if isinstance(fields, UnicodeDecodeError) else \
                            "csv" if fmt == "csv" else "json"
                        yield beam.pvalue.TaggedOutput(ERRORS, error_row(
                            path, number, STAGE, kind, fields, raw))
                    elif not isinstance(fields, dict):
                        yield beam.pvalue.TaggedOutput(ERRORS, error_row(
                            path, number, STAGE, "not_an_object",
                            f"record is a JSON {type(fields).__name__}, not an object",
                            json.dumps(fields)[:200]))
                    else:
                        yield {"source_file": path, "record": number, "fields": fields,
                               "encoding": encoding}
        except Exception as e:  # unreadable or truncated file: one error row
            units += 1
            kind = "decode" if isinstance(e, UnicodeDecodeError) else "unreadable_file"
            yield beam.pvalue.TaggedOutput(ERRORS, error_row(
                path, None, STAGE, kind, f"{type(e).__name__}: {e} (after {units - 1} records)"))
        yield beam.pvalue.TaggedOutput(COUNTS, (path, units))


class ReadRecords(beam.PTransform):
    """PCollection of file paths -> raw records, with `errors` and `counts`."""

    def expand(self, paths):
        return (paths
                | "SpreadFiles" >> beam.Reshuffle()
                | "ReadFile" >> ParDoWithOutputs(
                    ReadRecordsFn(), main="records", tags=[ERRORS, COUNTS]))
