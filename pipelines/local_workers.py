"""How the local runner's worker processes start (Linux).

Beam's local runner, in multi-process mode, starts each SDK worker as a
fresh Python process once the launcher has imported Beam and built the
graph; the worker then imports Beam, and in its NLP stage spaCy and the
model. Timed on 10 articles (BENCHMARKS.md, sixteenth session): the first
stage, which starts the workers, took 0.88-0.92 s and the NLP stage
1.21-1.30 s, against 1.38-1.43 s for the launcher to reach its first stage.

Here one *preparation process* is started as the run begins (`start`, from
the command line before the job's modules are imported, or by `run`). It
imports Beam's worker, the job's transforms and spaCy while the launcher
imports Beam and builds the graph, waits for the run's settings
(`Preparation.configure`: model, parser, number of workers), loads the
model, and listens on a Unix socket. The runner's worker command is then
this file's small client (`client`, stdlib only): it sends the environment
the runner gave it (the control and logging addresses), the preparation
process forks a worker with that environment, and the client exits with
the worker's exit code (1 if the worker ends without one). Once it has forked them all, the preparation
process replaces itself by a small waiter (`WAITER`) that reaps its
workers: a fork shares the loaded model's pages with the process it came
from, and the waiter holds none of them.

So the workers begin with Beam, the transforms and the model already in
memory; they share its pages until they write to them. The workers are
children of the preparation process (then of its waiter), which is a child
of the launcher: their CPU time counts in the launcher's when the waiter
has reaped them.

Whenever the preparation process does not fork it a worker (it failed, it
was not started, or it has forked as many as it was told), the client
becomes Beam's own worker (`os.execv` of `sdk_worker_main`), so the run goes
on as without it. The forked worker gets the client's stdin, stdout and
stderr (file descriptors passed over the socket), as Beam's own worker
inherits the launcher's, and a SIGTERM if the process it was forked from
dies. `--no-prefork` turns it off; other runners, and the local runner's
`in_memory` and `multi_threading` modes, never use it.
"""
import json
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings

# glibc malloc settings for the local runner's processes: (environment
# variable, mallopt parameter, value). Each is left alone where the user has
# set it. Why, measured on this project's benchmark corpus (BENCHMARKS.md,
# "fourth session"):
# - arenas: glibc otherwise gives each gRPC thread an arena of its own, and
#   their fragments stay mapped. On 4,000 articles, peak memory of all
#   processes was 2,014 MB without the cap and 1,773 MB with it.
# - mmap and trim thresholds: the NER runs in a Beam worker thread, so its
#   arrays come from a thread arena, whose heap glibc shrinks (madvise) as soon
#   as its free top passes the trim threshold, and the next batch faults the
#   same pages in again. On 2,000 articles the job took 675k-1,124k page faults
#   and 7.9-10.8 s of system CPU with glibc's defaults, 569k and 5.5 s with
#   these two (bare spaCy in the main thread: 227k and 3.1 s).
MALLOC_SETTINGS = (("MALLOC_ARENA_MAX", -8, 2),
                   ("MALLOC_MMAP_THRESHOLD_", -3, 32 << 20),
                   ("MALLOC_TRIM_THRESHOLD_", -1, 64 << 20))


def tune_malloc(settings=MALLOC_SETTINGS):
    """Apply `MALLOC_SETTINGS` to this process (mallopt) and to the local
    runner's worker processes (they inherit the environment, which glibc
    reads at start). Where glibc is absent, the variables are set and
    nothing reads them."""
    try:
        import ctypes
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        mallopt = None
    for name, param, value in settings:
        if name in os.environ:
            continue
        os.environ[name] = str(value)
        if mallopt is not None:
            mallopt(param, value)


BEAM_WORKER = ("-m", "apache_beam.runners.worker.sdk_worker_main")
# The waiter the preparation process becomes: it reaps the workers it forked,
# then removes the run's socket folder (argv[1]), as `Preparation.close` does
# unless the launcher died.
WAITER = ("# corpus-stats: local_workers waiter\n"
          "import os, shutil, signal, sys\n"
          "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
          "while True:\n"
          "    try:\n"
          "        os.wait()\n"
          "    except ChildProcessError:\n"
          "        break\n"
          "shutil.rmtree(sys.argv[1], ignore_errors=True)\n")
CLIENT_WAIT_S = 300  # the longest a worker waits for the preparation process
_STARTED = None      # the Preparation that `start` began, for `run` to take


def supported():
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def start(argv=()):
    """Begin preparing workers for a run with the command-line arguments
    `argv`, unless they name a subcommand, another runner or --no-prefork
    (a hint only: `run` decides once the options are parsed, and stops a
    preparation it does not use)."""
    global _STARTED
    if _STARTED is not None or not supported():
        return _STARTED
    given = _flags(argv)
    if ((argv and not argv[0].startswith("-"))
            or given.keys() & {"--runner", "--no-prefork", "--no_prefork", "-h", "--help"}
            or given.get("--direct_running_mode", "multi_processing") != "multi_processing"
            or given.get("--direct_num_workers") == "1" or (os.cpu_count() or 1) == 1):
        return None
    _STARTED = Preparation()
    return _STARTED


def _flags(argv):
    """{--flag: value (or None)} of a command line, for `start`'s hint."""
    out = {}
    for i, arg in enumerate(argv):
        if arg.startswith("-"):
            name, _, value = arg.partition("=")
            if not value and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                value = argv[i + 1]
            out[name] = value or None
    return out


def take_started():
    """The preparation `start` began (None if none), handed over once."""
    global _STARTED
    prep, _STARTED = _STARTED, None
    return prep


class Preparation:
    """The launcher's handle on the preparation process."""

    def __init__(self):
        tune_malloc()  # first: the workers inherit this process's malloc settings
        self._dir = tempfile.mkdtemp(prefix="corpus-stats-workers-")
        self.socket_path = os.path.join(self._dir, "workers.sock")
        self._proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "serve", self.socket_path],
            stdin=subprocess.PIPE)
        self._configured = False

    def configure(self, model, parser, workers):
        """Load `model` (with the parser, if `parser`) and fork `workers`
        workers as the runner asks for them."""
        self._send({"model": model, "parser": parser, "workers": workers})
        self._configured = True

    def worker_command(self):
        """The runner's command for a worker: this file's client."""
        return " ".join(shlex.quote(p) for p in (
            sys.executable, os.path.abspath(__file__), "client", self.socket_path,
            str(self._proc.pid)))

    def close(self, timeout=30.0):
        """After the run. A preparation the run did not use is stopped. One
        it used stops taking workers (it has its stdin closed) and its
        waiter ends with the workers, which the runner has shut down; if it
        has not ended in `timeout` seconds, it is killed."""
        try:
            if not self._configured:
                self._proc.kill()
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            self._proc.wait(timeout)
        finally:
            if self._proc.poll() is None:   # the workers get SIGTERM (PR_SET_PDEATHSIG)
                self._proc.kill()
                self._proc.wait()
            shutil.rmtree(self._dir, ignore_errors=True)   # the socket, if it is left

    def _send(self, message):
        try:
            self._proc.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
            self._proc.stdin.flush()
        except OSError:  # it has died: the clients start normal workers
            pass


def prefork_runner(preparation):
    """A local FnApiRunner whose multi-process workers come from
    `preparation` (the worker command of the pipeline's subprocess
    environment is replaced by the client's)."""
    from apache_beam.portability import python_urns
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    class PreforkFnApiRunner(FnApiRunner):
        def run_via_runner_api(self, pipeline_proto, options):
            for env in pipeline_proto.components.environments.values():
                if env.urn == python_urns.SUBPROCESS_SDK:
                    env.payload = preparation.worker_command().encode("utf-8")
            return super().run_via_runner_api(pipeline_proto, options)

    return PreforkFnApiRunner()


# ---------------------------------------------------- the two processes


def serve(socket_path):
    """The preparation process (started as ``python local_workers.py serve
    SOCKET``): imports what a worker imports, reads the settings from
    stdin, loads the model and forks a worker for each client."""
    sys.path[0] = os.getcwd()   # as for `python -m`, which starts Beam's workers
    import pipelines  # noqa: F401 (its log filter drops the noise of Beam's import)
    # Ctrl-C reaches the whole process group: the launcher then stops this
    # process (`Preparation.close`); the workers get the default handler back
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Python 3.12+ warns at any fork of a process with threads. Ours are
    # native: OpenBLAS's and the jemalloc of pyarrow (imported by Beam's
    # worker), both of which prepare for a fork (pthread_atfork); no Python
    # thread runs here, and nothing allocates while the process waits in
    # select() when it forks.
    warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks",
                            category=DeprecationWarning)
    from apache_beam.runners.worker import sdk_worker_main
    import importlib
    import pkgutil
    import transforms
    for module in pkgutil.iter_modules(transforms.__path__):   # every module a DoFn may need
        importlib.import_module(f"transforms.{module.name}")
    from transforms import nlp
    line = sys.stdin.buffer.readline()
    if not line:  # not used by this run
        shutil.rmtree(os.path.dirname(socket_path), ignore_errors=True)
        return 0
    settings = json.loads(line)
    nlp.preload_ner(settings["model"], settings["parser"])
    nlp.settle_heap()   # freeze before forking: the workers share these pages
    server = socket.socket(socket.AF_UNIX)
    server.bind(socket_path + ".new")
    os.rename(socket_path + ".new", socket_path)   # the clients wait for this name
    server.listen(settings["workers"])
    try:
        for _ in range(settings["workers"]):
            ready, _, _ = select.select([server, sys.stdin.buffer], [], [])
            if server not in ready:   # stdin closed: the run ended before asking for all
                break
            conn, _ = server.accept()
            # the client's stdin, stdout and stderr (the launcher's, as a Beam
            # worker's would be: its console filters stderr), then its environment
            _, fds, _, _ = socket.recv_fds(conn, 1, 3)
            env = json.loads(_read_all(conn))
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                server.close()
                _run_worker(sdk_worker_main, env, conn, fds)  # never returns
            conn.sendall(b"+")   # forked: from here the worker reports to the client
            conn.close()
            for fd in fds:
                os.close(fd)
    finally:
        open(_closed_marker(socket_path), "w").close()   # late clients: Beam's own worker
        server.close()
        os.unlink(socket_path)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-S", "-c", WAITER, os.path.dirname(socket_path)])


def _run_worker(sdk_worker_main, env, conn, fds):
    """In a forked child: Beam's SDK worker with the client's stdin, stdout,
    stderr and environment; its exit code goes back to the client. It is
    sent SIGTERM if the process it was forked from (then the waiter) dies."""
    _terminate_with_parent()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):   # 0, 1, 2
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    code = 1
    try:
        sdk_worker_main.main(sys.argv)
        code = 0
    except SystemExit as e:
        code = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: B902 (logged by Beam; the exit code tells the runner)
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            conn.sendall(b"%d" % code)
        finally:
            os._exit(code)


def client(socket_path, preparation_pid):
    """A worker, as the runner starts it: forked by the preparation process
    if that takes it, else Beam's own worker (this process becomes it).
    Returns the forked worker's exit code (1 if it ended without one, as
    when a signal killed it)."""
    deadline = time.monotonic() + CLIENT_WAIT_S
    while not os.path.exists(socket_path):
        if (os.path.exists(_closed_marker(socket_path)) or not _alive(preparation_pid)
                or time.monotonic() > deadline):
            _become_beam_worker()
        time.sleep(0.005)
    try:
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(socket_path)
        socket.send_fds(conn, [b"."], [0, 1, 2])
        conn.sendall(json.dumps(dict(os.environ)).encode("utf-8"))
        conn.shutdown(socket.SHUT_WR)
        forked = conn.recv(1) == b"+"
    except OSError:  # it has just served its last worker, or died
        forked = False
    if not forked:
        _become_beam_worker()
    try:
        code = _read_all(conn)
    except OSError:
        code = b""
    return int(code) if code else 1


def _closed_marker(socket_path):
    """A file the preparation process leaves when it takes no more workers."""
    return socket_path + ".closed"


def _terminate_with_parent():
    """SIGTERM to this process when its parent dies (Linux prctl)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _become_beam_worker():
    os.execv(sys.executable, [sys.executable, *BEAM_WORKER])


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie has exited: it is alive to kill(0) until reaped
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _read_all(conn):
    chunks = []
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        sys.exit(serve(sys.argv[2]))
    sys.exit(client(sys.argv[2], int(sys.argv[3])))
