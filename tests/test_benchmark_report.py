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


def _round(floor_s, job_s, peak=1500):
    return {"floor": {"wall_s": floor_s, "cpu_s": 2 * floor_s, "peak_rss_mb": 500},
            "pipeline": {"wall_s": job_s, "cpu_s": 2 * job_s, "peak_rss_mb": peak},
            "ratio": round(floor_s / job_s, 3), "cpu_ratio": round(floor_s / job_s, 3)}


def test_repeated_rounds_are_judged_on_their_median(bench_script):
    # three rounds at 10,000: one slow job (0.70) must not decide, nor the first round alone
    big = dict(_round(100.0, 140.0),
               rounds=[_round(100.0, 115.0, peak=2100), _round(100.0, 116.0)])
    big.update(bench_script.summarize_rounds(big))
    small = dict(_round(10.0, 15.0), rounds=[_round(10.0, 14.0), _round(10.0, 16.0)])
    small.update(bench_script.summarize_rounds(small))
    assert big["ratio_rounds"] == [0.714, 0.87, 0.862]
    assert big["ratio_median"] == 0.862
    assert big["pipeline_median"] == {"wall_s": 116.0, "cpu_s": 232.0}
    t = bench_script.targets({"sizes": {"10000": big, "1000": small},
                              "startup": {"pipeline": {"wall_s": 5.0, "cpu_s": 8.0}}})
    assert t["ratio_to_floor"]["value"] == 0.862 and t["ratio_to_floor"]["met"]
    # scaling from the median runs: (116 - 5) / (15 - 5)
    assert t["scaling"]["value"] == 11.1 and not t["scaling"]["met"]
    # memory: the largest peak of any round
    assert t["memory"]["peak_rss_mb"] == {"10000": 2100, "1000": 1500}
    assert not t["memory"]["met"]


def test_one_round_is_its_own_median(bench_script):
    e = _round(100.0, 125.0)
    e.update(bench_script.summarize_rounds(e))
    t = bench_script.targets({"sizes": {"10000": e}})
    assert t["ratio_to_floor"]["value"] == 0.8 and not t["ratio_to_floor"]["met"]
    assert bench_script.median([3, 1, 2, 10]) == 2.5
