"""Two measurements that split the job's gap to the floor (bench/benchmark.py).

* The job without the model: one run of the real job records what the NER
  step returned for each text (`RecordingFn`, files in a folder); a second
  run replays it (`ReplayFn`) instead of running spaCy. Its tables are the
  real run's, and its time is everything the job does besides the model:
  start-up, reading, our per-article code, Beam's coders and stages, the
  corpus-wide steps and the writers.
* The runner floor (`runner_floor_main`): Beam's local runner, with the
  job's options, around the same NER and nothing else (read the files,
  batch them as the job does, `nlp.pipe`, count the entities). Next to the
  bare floor it shows what the runner itself costs.

The DoFns are swapped in by replacing `transforms.nlp.EntitiesFn` before the
job is built; the SDK workers unpickle them from this module, so this folder
must be on their PYTHONPATH (the benchmark sets it). Only the default NER path
is replayed: the recorded Docs have no tokens, so `--quotes-parser` runs
cannot be replayed. The recording run does a little more than the plain job
(it keeps each text's entities and writes one file a bundle).
"""
import functools
import glob
import hashlib
import os
import pickle
import tempfile
import uuid

import transforms.nlp as nlp_step


def _key(text):
    return hashlib.sha1(text.encode("utf-8")).digest()


class RecordingFn(nlp_step.EntitiesFn):
    """The real NER step, which also writes each text's entities and
    sentence starts to `folder`, one pickle file a bundle."""

    def __init__(self, *args, folder, **kwargs):
        super().__init__(*args, **kwargs)
        self._folder = folder

    def start_bundle(self):
        self._seen = {}

    def _annotate(self, article, doc):
        out = super()._annotate(article, doc)
        self._seen[_key(doc.text)] = (out["ents"], out["sents"])
        return out

    def finish_bundle(self):
        with open(os.path.join(self._folder, uuid.uuid4().hex + ".pkl"), "wb") as fh:
            pickle.dump(self._seen, fh)


class _Span:
    __slots__ = ("start_char", "end_char", "label_")


class _Doc:
    __slots__ = ("text", "ents", "sents")


def _doc(text, ents, sents):
    doc = _Doc()
    doc.text, doc.ents, doc.sents = text, [], []
    for s, e, label in ents:
        span = _Span()
        span.start_char, span.end_char, span.label_ = s, e, label
        doc.ents.append(span)
    for s in sents:
        span = _Span()
        span.start_char = s
        doc.sents.append(span)
    return doc


class _Replayed:
    """What `EntitiesFn` reads of a spaCy Language: calling it, `pipe`,
    `vocab`, `max_length`."""
    vocab = ()
    max_length = 10 ** 9

    def __init__(self, seen):
        self._seen = seen

    def __call__(self, text):
        return _doc(text, *self._seen[_key(text)])  # KeyError if not recorded

    def pipe(self, texts, batch_size=None):
        return map(self, texts)


class ReplayFn(nlp_step.EntitiesFn):
    """The NER step with spaCy replaced by what `RecordingFn` wrote."""

    def __init__(self, *args, folder, **kwargs):
        super().__init__(*args, **kwargs)
        self._folder = folder

    def setup(self):
        seen = {}
        for path in glob.glob(os.path.join(self._folder, "*.pkl")):
            with open(path, "rb") as fh:
                seen.update(pickle.load(fh))
        self._nlp = _Replayed(seen)
        nlp_step.settle_heap()  # as the real step's setup does


def use(fn_class, folder):
    """Make the job's NER step an instance of `fn_class` (before building)."""
    nlp_step.EntitiesFn = functools.partial(fn_class, folder=folder)


def runner_floor_main(folder):
    """Beam's local runner with the job's defaults around the job's NER
    step and nothing else; prints the entity count as JSON."""
    import json
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from pipelines.corpus_stats import make_options
    from pipelines.local_workers import tune_malloc
    from transforms.read import ReadRecords, expand_inputs

    files, _ = expand_inputs([folder])
    fd, out = tempfile.mkstemp(prefix="runner-floor-", suffix=".txt")
    os.close(fd)
    tune_malloc()
    with beam.Pipeline(runner=FnApiRunner(), options=make_options([])) as p:
        records = (p | "ListInputs" >> beam.Create(files) | "ReadRecords" >> ReadRecords()).records
        articles = records | "Articles" >> beam.Map(lambda r: {
            "article_id": f"{r['source_file']}:{r['record']}", "text": r["fields"]["text"],
            "source_file": r["source_file"], "record": r["record"]})
        (articles | "FindEntities" >> nlp_step.FindEntities()).articles \
            | "Entities" >> beam.Map(lambda a: len(a["ents"])) \
            | "Sum" >> beam.CombineGlobally(sum) \
            | "Write" >> beam.Map(lambda n, path=out: open(path, "w").write(str(n)))
    with open(out) as fh:
        ents = int(fh.read())
    os.remove(out)
    print(json.dumps({"ents": ents}))
