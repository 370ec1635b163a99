"""pipelines/local_workers.py: the local runner's workers forked from a
process that has Beam, the transforms and the model loaded. The tables
they write are compared with Beam's own workers' in tests/test_pipeline.py
(`test_prefork_workers_write_the_same_tables`)."""
import os
import subprocess
import sys
import time

import pytest

from pipelines import local_workers
from transforms.nlp import DEFAULT_MODEL

pytestmark = pytest.mark.skipif(not local_workers.supported(), reason="fork: Linux only")


def test_start_leaves_subcommands_other_runners_and_no_prefork_alone(monkeypatch):
    monkeypatch.setattr(local_workers, "_STARTED", None)
    for argv in (["report", "out"], ["export-graph", "g"], ["--runner=DataflowRunner"],
                 ["--input", "x", "--runner", "DaskRunner"], ["--no-prefork"],
                 ["--input", "x", "--no_prefork"], ["--help"],
                 ["--direct_running_mode=in_memory"], ["--direct_running_mode", "multi_threading"],
                 ["--input", "x", "--direct_num_workers", "1"]):
        assert local_workers.start(argv) is None
    assert local_workers.take_started() is None


class Exec(Exception):
    """Raised instead of `os.execv` (`no_exec`): the client became Beam's worker."""


@pytest.fixture
def no_exec(monkeypatch):
    def execv(path, args):
        raise Exec(args)
    monkeypatch.setattr(os, "execv", execv)


def test_a_worker_without_its_preparation_becomes_beams_own(no_exec, tmp_path):
    """The client execs Beam's worker when the preparation process is gone
    (it failed, or the run did not start one)."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with pytest.raises(Exec) as e:
        local_workers.client(str(tmp_path / "none.sock"), gone.pid)
    assert e.value.args[0] == [sys.executable, "-m",
                               "apache_beam.runners.worker.sdk_worker_main"]


def test_an_unused_preparation_is_stopped():
    prep = local_workers.Preparation()
    folder = os.path.dirname(prep.socket_path)
    prep.close()
    assert prep._proc.returncode is not None and not os.path.exists(folder)


def test_a_preparation_ends_when_the_run_asks_for_fewer_workers():
    """Configured for two workers, asked for none: once the launcher closes
    its stdin, it stops listening, and its waiter ends at once."""
    prep = local_workers.Preparation()
    prep.configure(DEFAULT_MODEL, False, 2)
    deadline = time.monotonic() + 120
    while not os.path.exists(prep.socket_path):   # the model has loaded
        assert prep._proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    t0 = time.monotonic()
    prep.close(timeout=20)
    assert prep._proc.returncode == 0   # not killed
    assert time.monotonic() - t0 < 10


def test_a_worker_asked_for_after_the_last_fork_becomes_beams_own(no_exec, tmp_path):
    """Once the preparation process has forked as many workers as it was
    told, it leaves a marker; a later client does not wait for it."""
    sock = tmp_path / "workers.sock"
    (tmp_path / "workers.sock.closed").touch()
    t0 = time.monotonic()
    with pytest.raises(Exec):
        local_workers.client(str(sock), os.getpid())   # alive: only the marker says no
    assert time.monotonic() - t0 < 1
