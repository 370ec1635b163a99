"""bench/replay.py: the job with the NER's output replayed does the same work
as the real job (the benchmark reports its time as the job's cost beyond the
model). The runner floor is checked by the benchmark itself: it must find
the floor's entities."""
import importlib

import pandas as pd
import pytest

import transforms.nlp as nlp_step
from pipelines.corpus_stats import run
from tests.conftest import ROOT

ONE_WORKER = ["--direct_num_workers=1"]  # in process: the DoFns need no PYTHONPATH


@pytest.fixture
def replay(monkeypatch):
    """bench/replay.py, with bench/ on sys.path and the NER step restored after."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    monkeypatch.setattr(nlp_step, "EntitiesFn", nlp_step.EntitiesFn)
    return importlib.import_module("replay")


def _tables(out, summary):
    return {name: pd.read_parquet(out / name) for name in summary["rows"]}


def test_replayed_ner_writes_the_recorded_runs_tables(tmp_path, replay):
    recorded = tmp_path / "ner"
    recorded.mkdir()
    replay.use(replay.RecordingFn, str(recorded))
    real = run(["--input", str(ROOT / "sample_data"), "--output", str(tmp_path / "real")]
               + ONE_WORKER)
    assert list(recorded.glob("*.pkl")), "nothing recorded"
    replay.use(replay.ReplayFn, str(recorded))
    again = run(["--input", str(ROOT / "sample_data"), "--output", str(tmp_path / "replayed")]
                + ONE_WORKER)
    assert again["rows"] == real["rows"] and real["rows"]["mentions"] > 50
    a, b = _tables(tmp_path / "real", real), _tables(tmp_path / "replayed", again)
    for name in a:
        x, y = a[name], b[name]
        if "run_id" in x:
            x, y = x.drop(columns="run_id"), y.drop(columns="run_id")
        pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True),
                                      obj=name)


def test_a_text_not_recorded_becomes_an_error_row(tmp_path, replay):
    """Nothing recorded: every article leaves as an nlp_failed error, so the
    replayed run's row counts differ from the real run's, which the
    benchmark checks before it reports the replayed run."""
    replay.use(replay.ReplayFn, str(tmp_path))  # an empty folder
    out = tmp_path / "o"
    summary = run(["--input", str(ROOT / "sample_data" / "articles.jsonl"),
                   "--output", str(out)] + ONE_WORKER)
    errors = pd.read_parquet(out / "errors")
    assert summary["rows"]["mentions"] == 0
    assert set(errors["error_type"]) == {"nlp_failed"}
    assert errors["message"].str.startswith("KeyError").all()
