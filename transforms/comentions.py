"""Co-mention network: which actors appear together, how often, how strongly.

For every unordered pair of actors named in the same analysed article
(duplicates are excluded upstream) the job counts

* ``n_articles``: the articles that mention both actors;
* ``n_sentences``: the sentences that mention both actors;

and scores the article-level association against the corpus totals (the
number N of analysed articles and each actor's article count, both side
inputs), all with the natural logarithm:

* ``pmi  = ln( p(a,b) / (p(a) p(b)) )`` with ``p(a) = n_a / N``,
  ``p(b) = n_b / N``, ``p(a,b) = n_ab / N``;
* ``npmi = pmi / -ln p(a,b)`` (in [-1, 1]; 1.0 when a and b are in every
  article, where the formula is 0/0);
* ``llr``: Dunning's log-likelihood ratio G² = 2 Σ O ln(O / E) over the 2x2
  table (both / a only / b only / neither), E = row total x column total / N,
  cells with O = 0 adding nothing. G² is never negative; the sign of pmi says
  whether the pair is attracted (> 0) or repelled (< 0).

Pairs seen in fewer than ``min_pair_articles`` articles keep their counts but
get null scores: on tiny counts PMI is noise.

The same counts are kept per period of the article's ``published`` date (day,
ISO week starting Monday, or month; the first day of the period; null for
articles without a date) and per outlet.

Counting never groups every article per pair. The three tables are split
into the same parts (`pair_parts`: one part per 1,000 articles) by a hash of
the pair (actor_a, actor_b); an article sends one element for each part its
pairs fall in, ``(part, (period, outlet, actors_a, actors_b, n_sentences))``
(the actor ids joined into one string each and the counts packed as bytes:
Beam's coder moves a string or bytes at about memory speed but a list item
by item, 18.5 against 3.2 us an element of 57 pairs with the joining
included), and one GroupByKey by part brings a part's elements together. `SumPartFn` then
makes them one Arrow table and sums it for all three tables with Arrow's
group-by (C++), and the part's tables are written as they are (`PARTITIONED`,
see `transforms.sinks.WriteTables`). So a pair crosses the
shuffle once, inside its article's list, not as an element of its own (about
57 pairs an article in news) nor once per table, and a worker holds the
counts of one part at a time (about 60,000 pairs).

An article with more than ``max_actors`` actors contributes pairs only
among its ``max_actors`` most-mentioned actors (ties: earliest first
mention, then actor id), so one article adds at most max_actors·(max_actors-1)/2
pairs; such articles are logged and counted in run.json's
``stats.comention_articles_capped``. Actor article counts (the
marginals) always use all of an article's actors.
"""
import logging
import math
import sys
from array import array
from datetime import date, timedelta

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.articles import from_micros
from transforms.outputs import ParDoWithOutputs, as_count, count_or_given
from transforms.schemas import COMENTIONS as COMENTIONS_TABLE
from transforms.sinks import part_count, part_of_pairs, sort_table, stat

PERIODS = ("day", "week", "month")
DEFAULT_PERIOD = "month"
DEFAULT_MIN_PAIR_ARTICLES = 2
DEFAULT_MAX_ACTORS = 100
CAPPED = "comention_articles_capped"

COMENTIONS = "comentions"
BY_PERIOD = "comentions_by_period"
BY_OUTLET = "comentions_by_outlet"
PARTITIONED = (COMENTIONS, BY_PERIOD, BY_OUTLET)  # output as parts, not rows
# Joins an article's actor ids in PairsFn's elements. Actor ids never hold
# it: ours are slugs, and an alias file's ids are refused if they hold any
# control character (`lexicon.aliases`).
SEP = "\x1f"  # ASCII unit separator

log = logging.getLogger(__name__)


def period_start(published, period=DEFAULT_PERIOD):
    """The first day of the period holding `published` (a UTC datetime, a
    date, or microseconds since 1970 as the pipeline carries it:
    `articles.to_micros`); None for None. Weeks are ISO weeks, starting on
    Monday."""
    if published is None:
        return None
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
    if isinstance(published, int):
        published = from_micros(published)
    day = published.date() if hasattr(published, "date") else published
    day = date(day.year, day.month, day.day)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def article_pairs(record, max_actors=DEFAULT_MAX_ACTORS):
    """One `article_actors` record -> (pairs, capped).

    `pairs` is a sorted list of ``(actor_a, actor_b, n_sentences)`` with
    actor_a < actor_b, one per unordered pair of the article's actors (at most
    `max_actors` of them, see the module doc); `capped` is True when the cap
    dropped actors."""
    sentences = {}
    for actor_id, sentence in record["actors"]:
        sentences.setdefault(actor_id, set()).add(sentence)
    actors = sorted(sentences)
    capped = max_actors is not None and len(actors) > max_actors
    if capped:
        n_mentions, first = {}, {}
        for start, _end, actor_id, _label, _sentence in record["mentions"]:
            n_mentions[actor_id] = n_mentions.get(actor_id, 0) + 1
            first[actor_id] = min(first.get(actor_id, start), start)
        ranked = sorted(actors, key=lambda a: (-n_mentions.get(a, 0),
                                               first.get(a, math.inf), a))
        actors = sorted(ranked[:max(0, max_actors)])
    pairs = []
    for i, a in enumerate(actors):
        sa = sentences[a]
        for b in actors[i + 1:]:
            pairs.append((a, b, len(sa & sentences[b])))
    return pairs, capped


def scores(n_ab, n_a, n_b, n):
    """(pmi, npmi, llr) for a pair in n_ab of n articles whose actors are in
    n_a and n_b articles; natural log."""
    pmi = math.log(n_ab * n / (n_a * n_b))
    p_ab = n_ab / n
    npmi = 1.0 if n_ab == n else pmi / -math.log(p_ab)
    cells = ((n_ab, n_a, n_b),
             (n_a - n_ab, n_a, n - n_b),
             (n_b - n_ab, n - n_a, n_b),
             (n - n_a - n_b + n_ab, n - n_a, n - n_b))
    g2 = 0.0
    for observed, row, col in cells:
        if observed > 0:
            g2 += observed * math.log(observed * n / (row * col))
    return pmi, npmi, max(0.0, 2.0 * g2)


def pair_parts(n_articles):
    """How many parts each co-mention table is split into: one per
    `COMENTIONS.per_part` (1,000) analysed articles (news averages 50-60
    distinct pairs an article, so a part holds up to about 60,000 rows)."""
    return part_count(n_articles, COMENTIONS_TABLE.per_part)


assert array("i").itemsize == 4  # pack_counts' int32


def pack_counts(counts):
    """A list of sentence counts -> bytes (int32, little-endian)."""
    packed = array("i", counts)
    if sys.byteorder != "little":
        packed.byteswap()
    return packed.tobytes()


def pack_ids(ids):
    """A list of actor ids -> one string (`SEP` between them)."""
    joined = SEP.join(ids)
    if joined.count(SEP) != len(ids) - 1:
        raise ValueError(f"an actor id holds the separator {SEP!r}: {ids!r}")
    return joined


class PairsFn(beam.DoFn):
    """Article -> its pairs, grouped by the part of the tables they belong
    to: ``((index, total), (period, outlet, actors_a, actors_b,
    n_sentences))``, one element per part (main output; the three are
    parallel: actor ids `pack_ids`-joined, counts `pack_counts`-packed); the
    article id on CAPPED when the actor cap applied. An article sends at
    most `total` elements, however many pairs it has."""

    def __init__(self, period, max_actors):
        self._period = period
        self._max_actors = max_actors

    def process(self, record, n_articles):
        pairs, capped = article_pairs(record, self._max_actors)
        if capped:
            yield beam.pvalue.TaggedOutput(CAPPED, record["article_id"])
            log.warning("comentions: article %s has %d actors; pairs use only the "
                        "%d most mentioned", record["article_id"],
                        len({a for a, _ in record["actors"]}), self._max_actors)
        if not pairs:
            return
        total = pair_parts(n_articles)
        period = period_start(record["published"], self._period)
        period = period and period.isoformat()  # keys must encode deterministically
        parts = {}  # a pair's rows go to the same part of each table
        for (a, b, n_sent), index in zip(pairs, part_of_pairs(pairs, total)):
            lists = parts.get(index)
            if lists is None:
                lists = parts[index] = ([], [], [])
            lists[0].append(a)
            lists[1].append(b)
            lists[2].append(n_sent)
        for index, (a, b, ns) in sorted(parts.items()):
            yield (index, total), (period, record["outlet"], pack_ids(a), pack_ids(b),
                                   pack_counts(ns))


def _split_ids(joined):
    """`pack_ids` strings, in order -> one Arrow string array of the ids."""
    if not joined:
        return pa.array([], pa.string())
    return pc.split_pattern(pa.array([SEP.join(joined)], pa.string()), SEP).flatten()


def part_pairs(lists):
    """A part's per-article elements ``[(period, outlet, actors_a, actors_b,
    n_sentences)]`` (`PairsFn`) -> one Arrow table of them, a row per
    article and pair (an article lists a pair once). Built in Arrow and
    numpy: no Python object per pair."""
    counts = np.frombuffer(b"".join(el[4] for el in lists), dtype="<i4")
    per_article = [len(el[4]) // 4 for el in lists]
    rows = pa.array(np.repeat(np.arange(len(lists), dtype=np.int64), per_article))
    a_col, b_col = _split_ids([el[2] for el in lists]), _split_ids([el[3] for el in lists])
    if not len(a_col) == len(b_col) == len(counts):
        raise ValueError("co-mention part: actor and count lists of different lengths")
    return pa.table({"period": pa.array([el[0] for el in lists], pa.string()).take(rows),
                     "outlet": pa.array([el[1] for el in lists], pa.string()).take(rows),
                     "actor_a": a_col, "actor_b": b_col,
                     "n_sentences": pa.array(counts.astype(np.int64), pa.int64())})


def _summed(pairs, group, with_sentences):
    """The rows of `pairs` summed by `group` (column names): ``n_articles``
    (rows, an article's pair once) and, `with_sentences`, ``n_sentences``;
    sorted by `group`, None first (`schemas.none_first`)."""
    aggregates = [("n_sentences", "count", pc.CountOptions(mode="all"))]  # rows
    if with_sentences:
        aggregates.append(("n_sentences", "sum"))
    summed = pairs.group_by(group, use_threads=False).aggregate(aggregates)
    columns = {name: summed.column(name) for name in group}
    columns["n_articles"] = summed.column("n_sentences_count")
    if with_sentences:
        columns["n_sentences"] = summed.column("n_sentences_sum")
    return sort_table(pa.table(columns), group)


def period_columns(pairs):
    """`part_pairs` -> the `comentions_by_period` part (an Arrow table).
    Periods stay ISO date strings (they sort as dates); the writer stores
    them as dates (`sinks.arrow_table`)."""
    return _summed(pairs, ["period", "actor_a", "actor_b"], with_sentences=True)


def outlet_columns(pairs):
    """`part_pairs` -> the `comentions_by_outlet` part (an Arrow table)."""
    return _summed(pairs, ["outlet", "actor_a", "actor_b"], with_sentences=False)


class SumPartFn(beam.DoFn):
    """A grouped part ``((index, total), elements)`` (`PairsFn`'s packed
    elements) -> the part of each table:
    `comentions_by_period` and `comentions_by_outlet` (tagged BY_PERIOD,
    BY_OUTLET), and the summed pair counts ``((index, total), table of
    actor_a, actor_b, n_articles, n_sentences)`` (main output), which
    `ScorePairs` completes into the `comentions` part. The sums are Arrow's
    group-by over the part's rows (`part_pairs`), a C++ hash aggregation:
    a part holds about 60,000 pairs."""

    def process(self, part):
        index_total, lists = part
        pairs = part_pairs(lists)
        del lists
        yield beam.pvalue.TaggedOutput(BY_PERIOD, (index_total, period_columns(pairs)))
        yield beam.pvalue.TaggedOutput(BY_OUTLET, (index_total, outlet_columns(pairs)))
        yield index_total, _summed(pairs, ["actor_a", "actor_b"], with_sentences=True)


def comention_part(part, n_total, actors, min_pair_articles):
    """A summed part ``((index, total), table)`` (`SumPartFn`) -> ``(part,
    comentions table)``, sorted by (actor_a, actor_b); scores null below
    `min_pair_articles` articles. `actors` maps each actor id to its
    ``(name, type, n_articles)``."""
    index_total, summed = part
    a_col, b_col = summed.column("actor_a"), summed.column("actor_b")
    ids = pc.unique(pa.concat_arrays(a_col.chunks + b_col.chunks)) if len(summed) else \
        pa.array([], pa.string())
    info = list(map(actors.__getitem__, ids.to_pylist()))
    at_a, at_b = pc.index_in(a_col, value_set=ids), pc.index_in(b_col, value_set=ids)
    columns = {"actor_a": a_col, "actor_b": b_col}
    for field, k in (("name", 0), ("type", 1)):
        values = pa.array([i[k] for i in info], pa.string())
        columns[field + "_a"], columns[field + "_b"] = values.take(at_a), values.take(at_b)
    columns["n_articles"] = summed.column("n_articles")
    columns["n_sentences"] = summed.column("n_sentences")
    n_col = columns["n_articles"].to_pylist()
    n = len(n_col)
    pmi, npmi, llr = [None] * n, [None] * n, [None] * n
    scored = [i for i, n_ab in enumerate(n_col) if n_ab >= min_pair_articles]
    if scored:
        ia, ib = at_a.to_pylist(), at_b.to_pylist()
        for i in scored:
            pmi[i], npmi[i], llr[i] = scores(n_col[i], info[ia[i]][2], info[ib[i]][2], n_total)
    columns.update(pmi=pa.array(pmi, pa.float64()), npmi=pa.array(npmi, pa.float64()),
                   llr=pa.array(llr, pa.float64()))
    return index_total, pa.table({name: columns[name] for name in COMENTIONS_TABLE.schema.names})


class CoMentions(beam.PTransform):
    """(article_actors, actors rows[, n_articles]) -> {"comentions",
    "comentions_by_period", "comentions_by_outlet": each table as whole parts,
    ``((index, total), Arrow table)``, sorted (`PARTITIONED`;
    `transforms.sinks.column_rows` turns a part back into rows), "stats": the
    capped-articles figure}.

    `article_actors` is ResolveActors' per-article record (``article_id,
    outlet, published, mentions, actors``); `actors` its `actors` table rows,
    one for every actor of the records, whose name, type and n_articles (the
    records that name it: the marginals of the scores) the pair rows use;
    `n_articles`, optional, a count of the records made before
    them (equal to the records' number: it is the N of the scores), which
    also sets the number of parts (`pair_parts`)."""

    def __init__(self, period=DEFAULT_PERIOD, min_pair_articles=DEFAULT_MIN_PAIR_ARTICLES,
                 max_actors=DEFAULT_MAX_ACTORS):
        super().__init__()
        if period not in PERIODS:
            raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
        self._period = period
        self._min_pair_articles = min_pair_articles
        self._max_actors = max_actors

    def expand(self, pcolls):
        article_actors, actors, *counted_before = pcolls
        # The number of parts must be known as each article's pairs go out; a
        # count made by an earlier stage keeps the pairs in the stage that
        # makes the articles (a count of article_actors itself would hold
        # them, text and all, until it is done).
        n_total = count_or_given(article_actors, counted_before, "CountArticles")
        actor_info = actors | "ActorInfo" >> beam.Map(
            lambda r: (r["actor_id"], (r["name"], r["type"], r["n_articles"])))
        pairs = article_actors | "ArticlePairs" >> ParDoWithOutputs(
            PairsFn(self._period, self._max_actors), main="pairs", tags=[CAPPED],
            n_articles=as_count(n_total))
        parts = (pairs["pairs"]
                 | "GroupPairs" >> beam.GroupByKey()
                 | "SumParts" >> ParDoWithOutputs(
                     SumPartFn(), main=COMENTIONS, tags=[BY_PERIOD, BY_OUTLET]))
        comentions = parts[COMENTIONS] | "ScorePairs" >> beam.Map(
            comention_part, min_pair_articles=self._min_pair_articles,
            n_total=as_count(n_total),
            actors=beam.pvalue.AsDict(actor_info))
        by_period, by_outlet = parts[BY_PERIOD], parts[BY_OUTLET]
        capped = (pairs[CAPPED]
                  | "CountCapped" >> beam.combiners.Count.Globally()
                  | "CappedStat" >> beam.Map(lambda n: stat(CAPPED, n)))
        return {COMENTIONS: comentions, BY_PERIOD: by_period, BY_OUTLET: by_outlet,
                "stats": capped}
