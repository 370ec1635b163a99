"""Progress counts of a local run, visible while it runs.

Beam's metrics reach the launching process only when a stage ends, so a
long NER stage would look frozen. `CountProgress` is a pass-through step
that, when the environment variable ``NEWSBEAM_PROGRESS_DIR`` names a folder
(the `corpus-stats` command sets it for local runs; worker processes on the
same machine inherit it), keeps running totals and rewrites one small JSON
file per DoFn instance there at most once a second. `read_progress` sums
those files. Without the variable (tests, remote workers) the step only
passes elements on. The counts are for people watching a run: a retried
bundle counts twice; the tables are never affected.
"""
import json
import os
import time
import uuid

import apache_beam as beam

ENV = "NEWSBEAM_PROGRESS_DIR"
FLUSH_SECONDS = 1.0


class _ProgressFn(beam.DoFn):
    def __init__(self, measures):
        self._measures = dict(measures)

    def setup(self):
        folder = os.environ.get(ENV)
        self._path = (os.path.join(folder, f"{os.getpid()}-{uuid.uuid4().hex[:12]}.json")
                      if folder and os.path.isdir(folder) else None)
        self._totals = dict.fromkeys(self._measures, 0)
        self._last = 0.0

    def process(self, element):
        if self._path:
            for name, amount in self._measures.items():
                self._totals[name] += 1 if amount is None else amount(element)
            now = time.monotonic()
            if now - self._last >= FLUSH_SECONDS:
                self._flush(now)
        yield element

    def finish_bundle(self):
        if self._path:
            self._flush(time.monotonic())

    def _flush(self, now):
        self._last = now
        try:
            tmp = self._path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self._totals, fh)
            os.replace(tmp, self._path)
        except OSError:
            self._path = None  # folder gone (run over): stop reporting


class CountProgress(beam.PTransform):
    """Pass-through; `measures` maps a counter name to None (count elements)
    or a function of the element giving the amount to add."""

    def __init__(self, measures):
        super().__init__()
        self._measures = measures

    def expand(self, pcoll):
        return pcoll | "Count" >> beam.ParDo(_ProgressFn(self._measures))


def read_progress(folder):
    """Sum of the counters written under `folder` so far ({} if none)."""
    totals = {}
    try:
        names = os.listdir(folder)
    except OSError:
        return totals
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as fh:
                counts = json.load(fh)
        except (OSError, ValueError):
            continue  # being replaced right now
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    return totals
