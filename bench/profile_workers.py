"""Where the CPU goes in each process of a real run: py-spy samples the
local runner and both SDK worker processes of the job (default options)
and this sums the samples by owner: spaCy (any stack inside spaCy/thinc),
newsbeam's own modules (innermost `transforms/` frame), Beam (by layer),
pyarrow, other.

    pip install py-spy            # not a dependency of the project
    python bench/profile_workers.py CORPUS_FOLDER [--rate 20] [--out DIR]

CORPUS_FOLDER holds JSON-lines articles (bench/benchmark.py --keep writes
them). py-spy samples without stopping the processes (--nonblocking); Beam's
Cython operations do not show as frames, so their time counts to the Python
frame that called them (`_TagOutputs.process`, `DataInputOperation...`).
"""
import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
WORKER = "apache_beam.runners.worker.sdk_worker_main"
_FILE = re.compile(r"\(([^:()]+):\d+\)$")


def owner(stack):
    """The owner of one sampled stack (frames outermost first, ';'-joined)."""
    if "spacy/" in stack or "thinc/" in stack:
        return "spaCy (nlp.pipe, model load)"
    for frame in reversed(stack.split(";")):
        m = _FILE.search(frame)
        path = m.group(1) if m else ""
        if "apache_beam" not in path and (path.startswith("transforms/")
                                          or "/transforms/" in path):
            return "newsbeam " + path.split("transforms/")[-1]
        if "pyarrow" in path:
            return "pyarrow"
        if "apache_beam/coders" in path:
            return "Beam coders"
        if "fn_api_runner" in path:
            return "Beam runner"
        if "apache_beam/runners/worker/bundle_processor" in path:
            return "Beam bundle processing (element passing, decoding)"
        if "data_plane" in path or "grpc" in path:
            return "Beam data plane / gRPC"
        if "apache_beam" in path:
            return "Beam other (graph, workers, state, logging)"
    return "other (interpreter, imports, threads)"


def summarise(path, rate):
    counts, total = collections.Counter(), 0
    for line in Path(path).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        total += int(n)
        counts[owner(stack)] += int(n)
    return total / rate, {k: v / rate for k, v in counts.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--rate", type=int, default=20, help="samples per second (default 20)")
    ap.add_argument("--out", default=None, help="keep the raw samples here")
    args = ap.parse_args(argv)
    if not shutil.which("py-spy"):
        raise SystemExit("profile_workers: needs py-spy (pip install py-spy)")
    work = Path(args.out or tempfile.mkdtemp(prefix="newsbeam-spy-"))
    work.mkdir(parents=True, exist_ok=True)
    spy = ["py-spy", "record", "--nonblocking", "-r", str(args.rate), "-f", "raw"]
    t0 = time.time()
    job = subprocess.Popen([sys.executable, "-m", "pipelines.corpus_stats", "--input",
                            args.corpus, "--output", str(work / "out"), "--quiet"], cwd=REPO)
    procs = {"runner": job.pid}
    spies = [subprocess.Popen(spy + ["-o", str(work / "runner.txt"), "--pid", str(job.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    workers = []
    while job.poll() is None and len(workers) < 2:  # workers start after the graph
        workers = [p.pid for p in psutil.Process(job.pid).children(recursive=True)
                   if p.name().startswith("python") and WORKER in " ".join(p.cmdline())]
        time.sleep(0.2)
    for i, pid in enumerate(workers, start=1):
        procs[f"worker {i}"] = pid
        spies.append(subprocess.Popen(spy + ["-o", str(work / f"worker{i}.txt"), "--pid",
                                             str(pid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    job.wait()
    wall = time.time() - t0
    for s in spies:
        s.wait(timeout=60)
    print(f"run: {wall:.1f} s wall, exit {job.returncode}; sampled CPU seconds by owner "
          f"({args.rate} samples/s):\n")
    sums = {}
    for name in procs:
        f = work / ("runner.txt" if name == "runner" else f"worker{name.split()[-1]}.txt")
        if f.exists():
            sums[name] = summarise(f, args.rate)
    owners = sorted({k for _, c in sums.values() for k in c},
                    key=lambda k: -sum(c.get(k, 0) for _, c in sums.values()))
    everything = sum(t for t, _ in sums.values())
    print("| owner | " + " | ".join(sums) + " | all | share |")
    print("|---|" + "---:|" * (len(sums) + 2))
    for k in owners:
        row = [c.get(k, 0) for _, c in sums.values()]
        print(f"| {k} | " + " | ".join(f"{v:.1f}" for v in row) +
              f" | {sum(row):.1f} | {100 * sum(row) / everything:.1f} % |")
    print("| all | " + " | ".join(f"{t:.1f}" for t, _ in sums.values()) +
          f" | {everything:.1f} | 100 % |")
    if not args.out:
        shutil.rmtree(work, ignore_errors=True)
    return job.returncode


if __name__ == "__main__":
    sys.exit(main())
