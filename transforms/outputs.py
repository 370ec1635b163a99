"""Multiple outputs from one DoFn, routed correctly on every runner.

DoFns here are written the usual Beam way: the main output is yielded as is,
dead letters and other side outputs as ``beam.pvalue.TaggedOutput(tag, x)``.
They are applied with ``ParDoWithOutputs(fn, main=..., tags=[...])`` instead
of ``beam.ParDo(fn).with_outputs(...)`` because Beam 2.77's DaskRunner hands
*every* output of a multi-output ParDo to *each* consumer (its Dask bags are
keyed by producing transform, not by output tag; seen here: error rows reached
the normalising step as if they were records). On that runner the DoFn's
outputs travel as ``(tag, value)`` pairs in one PCollection and a fused filter
per tag splits them. Every other runner gets Beam's own tagged outputs, which
route each output once, without a filter call per output and tag (that
routing is what `tests/test_runners.py` compares: DaskRunner's tables equal
the local runner's).

The module also holds the small helpers the concepts share: global counts
read as side inputs (`global_count`, `as_count`), and records that cross a
shuffle as pickled bytes (`pack`, `unpack_all`, `Spread`).
"""
import pickle
import typing
import zlib

import apache_beam as beam
from apache_beam import typehints
from apache_beam.pvalue import TaggedOutput


class _TagOutputs(beam.DoFn):
    """Runs `fn` and turns each output into a ``(tag, value)`` pair."""

    def __init__(self, fn, main):
        self._fn = fn
        self._main = main

    def setup(self):
        self._fn.setup()

    def start_bundle(self):
        self._fn.start_bundle()

    def process(self, element, *args, **kwargs):
        for out in self._fn.process(element, *args, **kwargs) or ():
            if isinstance(out, TaggedOutput):
                yield out.tag, out.value
            else:
                yield self._main, out

    def finish_bundle(self):
        self._fn.finish_bundle()

    def teardown(self):
        self._fn.teardown()


class Outputs(dict):
    """The split PCollections, by tag: ``outs["errors"]`` or ``outs.errors``."""

    def __getattr__(self, tag):
        try:
            return self[tag]
        except KeyError:
            raise AttributeError(tag) from None


def routes_tags_wrongly(pipeline):
    """Whether `pipeline` runs on Beam's DaskRunner (see the module doc)."""
    return type(getattr(pipeline, "runner", None)).__name__ == "DaskRunner"


def global_count(pcoll, label):
    """The count of `pcoll`, for `as_count` side inputs: Beam's global count
    without the step that gives an empty input its default (a stage of its
    own on the local runner); an empty `pcoll` gives an empty result, which
    `as_count` reads as 0."""
    return pcoll | label >> beam.combiners.Count.Globally().without_defaults()


def as_count(count):
    """A `global_count` (or any one-element count) as a side input: its
    value, 0 when it is empty."""
    return beam.pvalue.AsSingleton(count, default_value=0)


def count_or_given(pcoll, given, label):
    """The count of `pcoll` for `as_count`: ``given[0]`` when the caller
    passed one made elsewhere in the pipeline (a global count costs a stage
    or two), else a new `global_count` applied as `label`."""
    return given[0] if given else global_count(pcoll, label)


def merge_into_first(accumulators, merge, empty):
    """A CombineFn's `merge_accumulators`: `merge(first, other)` folds every
    other accumulator into the first, the one Beam lets it modify; `empty()`
    when there are none."""
    accumulators = iter(accumulators)
    first = next(accumulators, None)
    if first is None:
        return empty()
    for other in accumulators:
        merge(first, other)
    return first


def _select(pair, tag):
    if pair[0] == tag:
        yield pair[1]


class ParDoWithOutputs(beam.PTransform):
    """``pcoll | ParDoWithOutputs(fn, main="records", tags=["errors"])``
    -> Outputs with one PCollection per tag. Side inputs are passed as
    keyword arguments, as to beam.ParDo."""

    def __init__(self, fn, main, tags, **side_inputs):
        super().__init__()
        self._fn = fn
        self._main = main
        self._tags = list(tags)
        self._side_inputs = side_inputs

    def expand(self, pcoll):
        tags = [self._main] + self._tags
        if not routes_tags_wrongly(pcoll.pipeline):
            # Any, as from the filters: Beam's type inference would take the
            # TaggedOutput values for main outputs
            outs = pcoll | "Process" >> beam.ParDo(self._fn, **self._side_inputs) \
                .with_output_types(typehints.Any).with_outputs(*self._tags, main=self._main)
            return Outputs({tag: outs[tag] for tag in tags})
        pairs = pcoll | "Process" >> beam.ParDo(
            _TagOutputs(self._fn, self._main), **self._side_inputs)
        return Outputs({tag: pairs | f"Select_{tag}" >> beam.FlatMap(_select, tag)
                        for tag in tags})


def pack(key, element):
    """`element` as ``(key, bytes)`` for a shuffle (see `Spread`)."""
    return key, pickle.dumps(element, pickle.HIGHEST_PROTOCOL)


def unpack_all(packed):
    """The elements of one group of `pack`ed values."""
    return map(pickle.loads, packed)


# How many groups `Spread` makes: enough that whole groups split evenly
# between workers, few enough that the runner's work per group (it decodes
# each key, and encodes each group anew) stays small; at a million articles
# a group holds about a thousand.
SPREAD_GROUPS = 1024


class Spread(beam.PTransform):
    """Elements -> the same elements, spread evenly over the workers of the
    stage that reads them; `key(element)`, a string, decides the spread (a
    CRC-32 of it, in `SPREAD_GROUPS` groups), not the result.

    What `beam.Reshuffle` does, for less: each element crosses as pickled
    bytes under its key. Beam's local runner decodes every grouped value
    as it stores it and encodes it again as it splits the groups between
    the workers (in the runner process; the split while the workers wait
    for the next stage to start); a bytes value it copies. An input that
    is not grouped it splits between its workers by whole data chunks of
    up to 10 MB, in arrival order, and may hand one worker nearly all of
    it (BENCHMARKS.md, thirteenth session); grouped values it splits by
    key, evenly."""

    def __init__(self, key):
        super().__init__()
        self._key = key

    def expand(self, pcoll):
        key = self._key
        return (pcoll
                | "Pack" >> beam.Map(
                    lambda e: pack(zlib.crc32(key(e).encode("utf-8")) % SPREAD_GROUPS, e))
                .with_output_types(typing.Tuple[int, bytes])
                | "Group" >> beam.GroupByKey()
                | "Unpack" >> beam.FlatMap(lambda kv: unpack_all(kv[1])))
