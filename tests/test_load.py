"""load_tables(): one call, sensible dtypes; and the corpus-stats command's
console (progress lines, summary table, Beam noise filtered)."""
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from pipelines import console, load_tables
from pipelines.corpus_stats import main
from transforms.schemas import TABLES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_output(tmp_path_factory):
    """The job on sample_data through the console command, with its output."""
    if not (ROOT / "sample_data").is_dir():
        pytest.skip("sample_data/ is not present")
    out = tmp_path_factory.mktemp("load") / "out"
    mp = pytest.MonkeyPatch()
    mp.setattr(console, "PROGRESS_EVERY", 1.0)
    import io
    import contextlib
    stdout = io.StringIO()
    # the console writes progress to file descriptor 2: capture it in a file
    err_path = out.parent / "stderr.txt"
    saved = os.dup(2)
    with open(err_path, "wb") as fh:
        os.dup2(fh.fileno(), 2)
        try:
            with contextlib.redirect_stdout(stdout):
                rc = main(["--input", str(ROOT / "sample_data"), "--output", str(out),
                           "--direct_num_workers=1"])
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            mp.undo()
    return out, rc, stdout.getvalue(), err_path.read_text("utf-8")


def test_console_progress_and_summary(run_output):
    out, rc, stdout, stderr = run_output
    assert rc == 0
    t = load_tables(out)
    n_dup = int(t.articles.duplicate_of.notna().sum())
    # the summary table: every table's rows, duplicates, errors, where
    for name, df in t.items():
        assert f"  {name:<22} {len(df):>9}" in stdout
    assert f"({len(t.articles) - n_dup} analysed, {n_dup} duplicates)" in stdout
    assert f"errors: {len(t.errors)}" in stdout
    assert f"-> {out}" in stdout
    # progress: the start line, then lines every second ending at the totals
    assert "input files matched" in stderr
    lines = [l for l in stderr.splitlines() if "articles analysed" in l]
    assert len(lines) >= 2, stderr
    n_files = t.run["input_files"]
    assert (f"files read {n_files}/{n_files} · records parsed "
            f"{t.run['records_read'] - (t.errors.stage == 'read').sum()} · articles analysed "
            f"{len(t.articles) - n_dup} (") in lines[-1]
    assert lines[-1].endswith(f"errors {len(t.errors)}")
    # Beam's own noise is not shown
    assert "apitools" not in stderr and "INFO:" not in stderr


def test_filtered_stderr_drops_worker_info_lines(capfd):
    with console.FilteredStderr():
        os.write(2, b"INFO:apache_beam.runners.worker.sdk_worker:Control channel established.\n")
        os.write(2, b"WARNING:root:apitools not found, and bigquery client ...\n")
        os.write(2, b"Traceback (most recent call last):\n")
    assert capfd.readouterr().err == "Traceback (most recent call last):\n"


def test_quiet_prints_nothing_on_success(capsys):
    summary = {"rows": {"articles": 1, "errors": 0}, "accounting_ok": True,
               "output": "x", "seconds": 0.1, "records_read": 1, "input_files": 1,
               "records_accounted": 1}
    rc = console.run_with_progress(lambda argv: summary, ["--quiet"])
    assert rc == 0
    assert capsys.readouterr().out == ""


def test_dtypes(run_output):
    t = load_tables(run_output[0])
    assert set(t) == set(TABLES)
    assert isinstance(t.actors.aliases.iloc[0], list)
    assert t.actors.type.dtype == "category"
    assert set(t.actors.type.cat.categories) <= {"PERSON", "ORG", "GPE", "LOC", "NORP"}
    assert t.mentions.label.dtype == "category"
    assert t.errors.stage.dtype == "category"
    assert t.actors.actor_id.dtype == pd.StringDtype("pyarrow")
    assert str(t.articles.published.dtype) == "datetime64[us, UTC]"
    assert str(t.topics_by_period.period.dtype) == "datetime64[s]"
    # a duplicate has no n_mentions: it stays missing in an integer column
    assert t.articles.n_mentions.dtype == pd.Int32Dtype()
    dup = t.articles[t.articles.duplicate_of.notna()]
    assert len(dup) and dup.n_mentions.isna().all()
    assert t.actors.n_articles.dtype == pd.Int64Dtype()
    assert t.quotes.direct.dtype == bool
    # offsets still index the text
    text = t.articles.set_index("article_id").text
    for m in t.mentions.head(50).itertuples():
        assert text[m.article_id][m.start:m.end] == m.text
    assert t.run["rows"] == {name: len(df) for name, df in t.items()}


def test_subset_missing_and_empty(tmp_path, run_output):
    t = load_tables(run_output[0], ["actors"])
    assert list(t) == ["actors"]
    with pytest.raises(AttributeError):
        t.mentions
    with pytest.raises(ValueError):
        load_tables(run_output[0], ["nope"])
    with pytest.raises(FileNotFoundError):
        load_tables(tmp_path / "nothing")
    # an empty table keeps its dtypes
    import pyarrow.parquet as pq
    (tmp_path / "errors").mkdir()
    pq.write_table(pa.Table.from_pylist([], schema=TABLES["errors"].schema),
                   tmp_path / "errors" / "part-00000-of-00001.parquet")
    e = load_tables(tmp_path).errors
    assert len(e) == 0 and e.stage.dtype == "category" and e.record.dtype == pd.Int64Dtype()


def test_duckdb_readme_example(run_output):
    duckdb = pytest.importorskip("duckdb", reason="duckdb is optional (pip install duckdb)")
    out = run_output[0]
    rows = duckdb.sql(f"select type, count(*) n from '{out}/actors/*.parquet' "
                      f"group by type order by n desc").fetchall()
    t = load_tables(out, ["actors"])
    expected = t.actors.type.astype(str).value_counts()
    assert dict(rows) == expected.to_dict()
