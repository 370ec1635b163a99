"""What the `corpus-stats` command shows on the terminal.

* subcommands: ``corpus-stats report OUT`` and ``corpus-stats export-graph OUT``;
* progress every few seconds on stderr while the job runs (files read,
  records, articles analysed and their rate, errors so far), from the
  counters of `transforms.progress` (local runs);
* a summary table at the end (rows per table, errors, duplicates, time,
  output folder) on stdout;
* Beam's own log noise kept out of the way: Beam loggers at ERROR, and the
  INFO lines that the local multi-process workers print on stderr dropped by
  a filter on file descriptor 2. ``--verbose`` shows everything;
  ``--quiet`` prints nothing but problems.
"""
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time

PROGRESS_EVERY = 5.0  # seconds between progress lines

# stderr lines dropped unless --verbose: worker-subprocess INFO/DEBUG log
# lines and two known-harmless Beam warnings
NOISE = re.compile(r"^(INFO|DEBUG):|apitools not found|semi_persistent_directory")


def _report(argv):
    from pipelines.report import main
    return main(argv)


def _export_graph(argv):
    from pipelines.export_graph import main
    return main(argv)


SUBCOMMANDS = {"report": _report, "export-graph": _export_graph}


class FilteredStderr:
    """Context manager: everything written to file descriptor 2 (this
    process and the worker subprocesses it starts) passes through a thread
    that drops lines matching NOISE. `write` prints around the filter."""

    def __init__(self, enabled=True):
        self.enabled = enabled
        self._saved = None

    def __enter__(self):
        if not self.enabled:
            return self
        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
            read_end, write_end = os.pipe()
            os.dup2(write_end, 2)
            os.close(write_end)
        except (OSError, AttributeError, ValueError):
            self._saved = None
            return self
        self._thread = threading.Thread(target=self._pump, args=(read_end,), daemon=True)
        self._thread.start()
        return self

    def _pump(self, read_end):
        with os.fdopen(read_end, "rb") as fh:
            for line in fh:
                if not NOISE.search(line.decode("utf-8", "replace")):
                    try:
                        os.write(self._saved, line)
                    except OSError:
                        pass

    def write(self, text):
        if self._saved is not None:
            os.write(self._saved, text.encode("utf-8"))
        else:
            sys.stderr.write(text)
            sys.stderr.flush()

    def __exit__(self, *exc):
        if self._saved is None:
            return False
        sys.stderr.flush()
        os.dup2(self._saved, 2)  # closes our copy of the pipe's write end
        self._thread.join(timeout=3)  # EOF once the workers have exited too
        os.close(self._saved)
        self._saved = None
        return False


class Progress(threading.Thread):
    """Prints the summed progress counters every PROGRESS_EVERY seconds."""

    def __init__(self, folder, n_files, out, every=None):
        super().__init__(daemon=True)
        self._folder, self._n_files, self._out = folder, n_files, out
        self._every = every or PROGRESS_EVERY
        self._halt = threading.Event()
        self._t0 = time.time()
        self._first = self._changed = None
        self._analysed = 0

    def line(self):
        from transforms.progress import read_progress
        c = read_progress(self._folder)
        now = time.time()
        elapsed = now - self._t0
        analysed = c.get("analysed", 0)
        if c.get("records") and self._first is None:
            self._first = now  # reading began: the rate's clock starts
        if analysed != self._analysed:
            self._analysed, self._changed = analysed, now
        busy = (self._changed or now) - (self._first or now)
        rate = f" ({analysed / busy:.1f}/s)" if analysed and busy > 0 else ""
        files = f"{c.get('files', 0)}/{self._n_files}" if self._n_files is not None \
            else str(c.get("files", 0))
        return (f"  [{elapsed:6.0f} s] files read {files} · records parsed {c.get('records', 0)} · "
                f"articles analysed {analysed}{rate} · errors {c.get('errors', 0)}\n")

    def run(self):
        while not self._halt.wait(self._every):
            self._out.write(self.line())

    def stop(self):
        self._halt.set()


def _flag(argv, *names):
    found = any(a in names for a in argv)
    return [a for a in argv if a not in names], found


def _plan(argv):
    """(files matched, files skipped, workers text) for the start line, or
    None if the options do not parse (run() then reports the problem)."""
    try:
        from apache_beam.options.pipeline_options import DirectOptions, StandardOptions
        from pipelines.corpus_stats import make_options
        from pipelines.options import CorpusStatsOptions
        from transforms.read import expand_inputs
        options = make_options(argv)
        opts = options.view_as(CorpusStatsOptions)
        if not opts.input or not opts.output:
            return None
        files, skipped = expand_inputs(opts.input)
        runner = options.view_as(StandardOptions).runner
        if runner is None:
            direct = options.view_as(DirectOptions)
            where = (f"local FnApiRunner, {direct.direct_num_workers} worker(s), "
                     f"{direct.direct_running_mode}")
        else:
            where = f"runner {runner}"
        return len(files), len(skipped), where, opts.output
    except (Exception, SystemExit):
        return None


def _duplicates(output):
    try:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
        col = pq.read_table(os.path.join(output, "articles"), columns=["duplicate_of"])
        return int(pc.sum(pc.is_valid(col.column(0))).as_py() or 0)
    except Exception:
        return None


def print_summary(summary, out=print):
    rows = summary["rows"]
    dup = _duplicates(summary["output"]) if "://" not in str(summary["output"]) else None
    out(f"corpus-stats: done in {summary['seconds']} s: {summary['records_read']} records "
        f"from {summary['input_files']} files -> {summary['output']}")
    out(f"  {'table':<22} {'rows':>9}")
    for name, n in rows.items():
        extra = ""
        if name == "articles" and dup is not None:
            extra = f"   ({n - dup} analysed, {dup} duplicates)"
        out(f"  {name:<22} {n:>9}{extra}")
    ok = "ok" if summary["accounting_ok"] else "MISMATCH"
    out(f"  records read = articles + errors: {summary['records_read']} = "
        f"{summary['records_accounted']} ({ok}); errors: {rows.get('errors', 0)}")
    skipped = summary.get("skipped_files") or []
    if skipped:
        out(f"  skipped files (not an input format): {len(skipped)}")
    out(f"  look at it: corpus-stats report {summary['output']}")


def run_with_progress(run, argv):
    """The plain job of `corpus-stats --input ... --output ...`."""
    from transforms.nlp import ModelNotFound
    from transforms.progress import ENV
    from transforms.sinks import OutputNotOurs
    argv, quiet = _flag(argv, "--quiet", "-q")
    argv, verbose = _flag(argv, "--verbose")
    logging.getLogger().setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
    folder = tempfile.mkdtemp(prefix="newsbeam-progress-")
    old_env = os.environ.get(ENV)
    os.environ[ENV] = folder  # local worker processes inherit it
    progress = None
    try:
        with FilteredStderr(enabled=not verbose) as err:
            if not quiet:
                plan = _plan(argv)
                if plan:
                    n_files, n_skipped, where, output = plan
                    skipped = f" ({n_skipped} skipped)" if n_skipped else ""
                    err.write(f"corpus-stats: {n_files} input files matched{skipped}; "
                              f"{where}; output {output}\n")
                progress = Progress(folder, plan[0] if plan else None, err)
                progress.start()
            try:
                summary = run(argv)
            except (ModelNotFound, OutputNotOurs, FileNotFoundError) as e:
                # a problem the user fixes: say what, without a traceback
                print(f"corpus-stats: error: {e}", file=sys.stderr)
                return 2
            finally:
                if progress:
                    progress.stop()
            if progress:
                err.write(progress.line())
    finally:
        if old_env is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old_env
        shutil.rmtree(folder, ignore_errors=True)
    if not quiet:
        print_summary(summary)
    elif not summary["accounting_ok"]:
        print_summary(summary, out=lambda s: print(s, file=sys.stderr))
    return 0 if summary["accounting_ok"] else 1
