"""The same pipeline on distributed runners, tables equal to the local run.

Starts real services on loopback: a dask.distributed scheduler with two
worker processes (DaskRunner), and Beam's Python job service with an
external worker pool (PortableRunner, the path Flink and Spark use).
"""
import os
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from pipelines.corpus_stats import run
from tests.conftest import ROOT
from transforms.schemas import TABLES

CORPUS = [ROOT / "sample_data" / "txt", ROOT / "sample_data" / "broken.jsonl"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listens on port {port}")


class Services:
    def __init__(self, tmp):
        self.procs, self.tmp = [], tmp

    def start(self, name, *args):
        log = open(self.tmp / f"{name}.log", "w")
        proc = subprocess.Popen(list(args), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
        self.procs.append(proc)
        return proc

    def stop(self):
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def services(tmp_path):
    s = Services(tmp_path)
    yield s
    s.stop()


def job_args(out, *extra):
    return ["--input", *map(str, CORPUS), "--output", str(out), *extra]


@pytest.fixture(scope="module")
def local_tables(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "out"
    run(job_args(out, "--direct_num_workers=1"))
    return out


def assert_same_tables(expected, actual):
    for name in TABLES:
        exp_parts = sorted(p.name for p in (expected / name).iterdir())
        assert sorted(p.name for p in (actual / name).iterdir()) == exp_parts, name
        a = pd.read_parquet(actual / name)
        e = pd.read_parquet(expected / name)
        if name == "articles":  # source_file names the same files either way
            assert (a.source_file == e.source_file).all()
        pd.testing.assert_frame_equal(a, e, check_exact=True, obj=name)
    assert len(pd.read_parquet(expected / "articles")) == 8


def test_dask_distributed_matches_local(services, tmp_path, local_tables):
    port = free_port()
    sched = services.start("scheduler", sys.executable, "-m", "distributed.cli.dask_scheduler",
                           "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
    wait_for_port(port, sched)
    services.start("workers", sys.executable, "-m", "distributed.cli.dask_worker",
                   f"tcp://127.0.0.1:{port}", "--nworkers", "2", "--nthreads", "1",
                   "--no-dashboard")
    from distributed import Client
    with Client(f"127.0.0.1:{port}", timeout=60) as client:
        client.wait_for_workers(2, timeout=120)
    # Beam 2.77's DaskRunner materialises a side input by computing a Dask bag
    # inside a running task; that nested compute failed once in nine runs
    # here (an AssertionError raised from distributed's client, no table
    # written). The run is tried a second time then, in a fresh folder; the
    # tables of the run that completes must still equal the local run's.
    for attempt in (1, 2):
        out = tmp_path / f"dask{attempt}"
        try:
            summary = run(job_args(out, "--runner=apache_beam.runners.dask.dask_runner.DaskRunner",
                                   f"--dask_client_address=127.0.0.1:{port}"))
            break
        except Exception:
            if attempt == 2:
                raise
    assert summary["accounting_ok"]
    assert_same_tables(local_tables, out)


def test_portable_runner_matches_local(services, tmp_path, local_tables):
    job_port, pool_port = free_port(), free_port()
    job = services.start("job_service", sys.executable, "-m",
                         "apache_beam.runners.portability.local_job_service_main",
                         "--port", str(job_port))
    pool = services.start("worker_pool", sys.executable, "-m",
                          "apache_beam.runners.worker.worker_pool_main",
                          "--service_port", str(pool_port))
    wait_for_port(job_port, job)
    wait_for_port(pool_port, pool)
    out = tmp_path / "portable"
    summary = run(job_args(out, "--runner=PortableRunner", f"--job_endpoint=localhost:{job_port}",
                           "--environment_type=EXTERNAL",
                           f"--environment_config=localhost:{pool_port}"))
    assert summary["accounting_ok"]
    assert_same_tables(local_tables, out)


def test_default_multiprocess_run_matches_single_worker(tmp_path, local_tables):
    out = tmp_path / "mp"
    summary = run(job_args(out))
    assert summary["options"]["direct_running_mode"] == "multi_processing"
    assert_same_tables(local_tables, out)
