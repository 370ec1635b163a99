"""bench/benchmark.py's summary of a stage-timed run: where the job's wall
time goes, and how long the workers wait."""
import importlib

import pytest

from tests.conftest import ROOT


@pytest.fixture
def bench_script(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    return importlib.import_module("benchmark")


def _stage(s, workers_cpu, name):
    return {"s": s, "runner_cpu": 0.01, "workers_cpu": workers_cpu, "runner_mb": 1,
            "workers_mb": 1, "stage": name}


def test_stage_groups_splits_the_run_and_counts_idle_cores(bench_script):
    detail = {"total_s": 20.0, "stages_s": 18.5, "stages": [
        _stage(1.5, [1.4, 1.2], "ListInputs/Impulse"),
        _stage(1.0, [0.9, 0.3], "ReadRecords/ReadFile"),
        _stage(12.0, [11.5, 11.9], "FindEntities/SpacyNER, Topics/LexiconEvidence"),
        _stage(3.0, [2.9, 0.1], "WriteTables/WriteQuotes"),   # one worker waits
        _stage(1.0, [1.1, 1.0], "CoMentions/GroupPairs"),     # busier than the wall: 0 idle
    ]}
    assert bench_script.stage_groups(detail) == {
        "first stage (workers start)": (1.5, 2.6, 0.4),
        "before the NLP stage": (1.0, 1.2, 0.8),
        "the NLP stage": (12.0, 23.4, 0.6),
        "after the NLP stage": (4.0, 5.1, 3.0),
        "outside stages (launcher)": (1.5, 0.0, 0.0),
    }
