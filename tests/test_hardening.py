"""Dirty input, killed runs, re-runs, foreign folders, and no network."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pipelines.corpus_stats import run
from tests.conftest import ROOT
from tests.fuzz_corpus import write_corpus
from transforms.schemas import TABLES
from transforms.sinks import OutputNotOurs, runs_dir

SMALL = ROOT / "sample_data" / "txt"


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    dirty = tmp / "dirty"
    dirty.mkdir()
    good, errors = write_corpus(dirty)
    clean = tmp / "clean"
    clean.mkdir()
    with open(clean / "good.jsonl", "w", encoding="utf-8") as fh:
        for a in good.values():
            fh.write(json.dumps(a) + "\n")
    outs = {}
    for name in ("dirty", "clean"):
        outs[name] = tmp / f"out_{name}"
        outs[name + "_summary"] = run(["--input", str(tmp / name), "--output", str(outs[name]),
                                       "--max-chars", "20000", "--direct_num_workers=1"])
    return tmp, good, errors, outs


def test_dirty_corpus_accounting_holds_per_file(fuzz):
    _, good, errors, outs = fuzz
    summary = outs["dirty_summary"]
    assert summary["accounting_ok"] and summary["files_not_accounted"] == []
    a = pd.read_parquet(outs["dirty"] / "articles")
    assert sorted(a.article_id) == sorted(good)
    e = pd.read_parquet(outs["dirty"] / "errors")
    got = sorted((Path(f).name, None if pd.isna(r) else int(r), t)
                 for f, r, t in zip(e.source_file, e.record, e.error_type))
    assert got == sorted(errors, key=lambda x: (x[0], x[1] or 0, x[2]))
    assert e.message.str.len().min() > 10          # a reason a user can act on
    assert "after 1 records" in e.message[e.error_type == "unreadable_file"].iloc[0]


def test_good_articles_come_out_as_they_do_alone(fuzz):
    _, good, _, outs = fuzz
    cols = ["article_id", "actor_id", "text", "start", "end", "sentence"]
    dirty = pd.read_parquet(outs["dirty"] / "mentions")[cols]
    clean = pd.read_parquet(outs["clean"] / "mentions")[cols]
    pd.testing.assert_frame_equal(dirty.reset_index(drop=True), clean.reset_index(drop=True))
    da = pd.read_parquet(outs["dirty"] / "articles").set_index("article_id")
    ca = pd.read_parquet(outs["clean"] / "articles").set_index("article_id")
    assert (da.text == ca.text[da.index]).all()


def test_dirty_details(fuzz):
    _, _, _, outs = fuzz
    a = pd.read_parquet(outs["dirty"] / "articles").set_index("article_id")
    assert a.loc["g100", "encoding"] == "cp1252" and "“fair” deal – café" in a.loc["g100", "text"]
    assert a.loc["g108", "truncated"] and len(a.loc["g108", "text"]) > 19_000_000
    assert not a.drop("g108").truncated.any()
    assert a.loc["g016~2", "given_id"] == "g016"
    html = a.loc["g013", "text"]
    assert "<p>" not in html and "var x" not in html and html.startswith("   ")
    assert "\x07" not in a.loc["g012", "text"] and "\x00" not in a.loc["g012", "text"]
    # ids are data, never paths: nothing was written outside the outputs
    assert not (outs["dirty"].parent.parent / "escape").exists()


def _tables(out):
    return {name: pd.read_parquet(out / name) for name in TABLES}


def test_rerun_gives_identical_files(tmp_path):
    out = tmp_path / "out"
    run(["--input", str(SMALL), "--output", str(out), "--direct_num_workers=1"])
    first = {p.relative_to(out.resolve()): p.read_bytes()
             for p in out.resolve().rglob("*.parquet")}
    run(["--input", str(SMALL), "--output", str(out), "--direct_num_workers=1"])
    second = {p.relative_to(out.resolve()): p.read_bytes()
              for p in out.resolve().rglob("*.parquet")}
    assert first.keys() == second.keys() and first == second
    assert len(os.listdir(runs_dir(out))) == 1       # the old run folder is gone


def test_foreign_output_folder_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my own work")
    with pytest.raises(OutputNotOurs):
        run(["--input", str(SMALL), "--output", str(out), "--direct_num_workers=1"])
    assert (out / "notes.txt").read_text() == "my own work"
    run(["--input", str(SMALL), "--output", str(out), "--direct_num_workers=1", "--overwrite"])
    assert not (out / "notes.txt").exists() and (out / "articles").is_dir()


def _complete(out):
    """The output at `out` is one complete run: run.json matches the tables."""
    summary = json.loads((out / "run.json").read_text())
    return all(len(pd.read_parquet(out / name)) == n for name, n in summary["rows"].items()), summary


def _cli(*args):
    return [sys.executable, "-m", "pipelines.corpus_stats", *args]


KILL_IN_NLP = """
import os, signal, sys
import transforms.nlp as nlp
real = nlp.EntitiesFn._analyse
def analyse(self, batch):
    open("{marker}", "w").close()
    os.kill(os.getpid(), signal.SIGKILL)   # in-memory runner: this is the job
    yield from real(self, batch)
nlp.EntitiesFn._analyse = analyse
from pipelines.corpus_stats import main
main(sys.argv[1:])
"""


def test_sigkill_mid_run_keeps_previous_output(tmp_path):
    out = tmp_path / "out"
    run(["--input", str(SMALL), "--output", str(out), "--direct_num_workers=1"])
    ok, before = _complete(out)
    assert ok
    # while starting up (2 s: imports and model load take longer)
    proc = subprocess.Popen(_cli("--input", str(ROOT / "sample_data"), "--output", str(out),
                                 "--direct_num_workers=1"),
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(2.0)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    ok, after = _complete(out)
    assert ok and after["run_id"] == before["run_id"]
    # while analysing: killed from inside the NLP step (a fixed delay raced
    # the end of the run once the job got faster)
    marker = tmp_path / "reached_nlp"
    proc = subprocess.run([sys.executable, "-c", KILL_IN_NLP.format(marker=marker),
                           "--input", str(ROOT / "sample_data"), "--output", str(out),
                           "--direct_num_workers=1"], cwd=ROOT, capture_output=True)
    assert proc.returncode == -signal.SIGKILL and marker.exists()
    ok, after = _complete(out)
    assert ok and after["run_id"] == before["run_id"]


KILL_AROUND_SWAP = """
import os, signal, sys
import transforms.sinks as sinks
real = sinks._swap
def swap(link, output):
    open("{marker}", "w").close()
    if "{when}" == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real(link, output)
    os.kill(os.getpid(), signal.SIGKILL)
sinks._swap = swap
from pipelines.corpus_stats import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("when", ["before", "after"])
def test_sigkill_at_the_swap_leaves_one_complete_output(tmp_path, when):
    out = tmp_path / "out"
    run(["--input", str(SMALL), "--output", str(out), "--direct_num_workers=1"])
    _, before = _complete(out)
    marker = tmp_path / "reached_swap"
    proc = subprocess.run([sys.executable, "-c", KILL_AROUND_SWAP.format(when=when, marker=marker),
                           "--input", str(SMALL / ".." / "broken.jsonl"), "--output", str(out),
                           "--direct_num_workers=1"], cwd=ROOT, capture_output=True)
    assert proc.returncode == -signal.SIGKILL and marker.exists()
    ok, after = _complete(out)
    assert ok
    if when == "before":
        assert after["run_id"] == before["run_id"] and after["rows"]["articles"] == 6
        assert len(os.listdir(runs_dir(out))) == 3   # + the unpublished run and its link
    else:
        assert after["run_id"] != before["run_id"] and after["rows"]["articles"] == 2
    run(["--input", str(SMALL), "--output", str(out), "--direct_num_workers=1"])
    assert len(os.listdir(runs_dir(out))) == 1       # what the killed run left is gone


def test_no_network_access_at_run_time(tmp_path, monkeypatch):
    attempts = []
    real_connect = socket.socket.connect

    def guarded(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("::1", "localhost")
                                          or host.startswith("/")):
            attempts.append(address)
            raise OSError(f"network blocked by test: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: attempts.append(a) or (_ for _ in ()).throw(
        OSError("DNS blocked by test")) if a[0] not in ("localhost", "127.0.0.1", "::1") else
        socket._socket.getaddrinfo(*a, **k))
    summary = run(["--input", str(SMALL), "--output", str(tmp_path / "o"),
                   "--direct_num_workers=1"])
    assert summary["accounting_ok"] and summary["rows"]["articles"] == 6
    assert attempts == []
