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
pairs fall in, ``(part, (period, outlet, pairs, n_sentences))``, and one
GroupByKey by part brings a part's lists together. `SumPartFn` then sums a
part for all three tables in one pass (`PartCounts`: the article counts are
C-level `Counter.update` calls) and the part's rows are written as they are
(`PARTITIONED`, see `transforms.sinks.WriteTables`). So a pair crosses the
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
from collections import Counter
from datetime import date, timedelta

import apache_beam as beam
from transforms.articles import from_micros
from transforms.outputs import ParDoWithOutputs
from transforms.schemas import COMENTIONS as COMENTIONS_TABLE
from transforms.schemas import COMENTIONS_BY_OUTLET as BY_OUTLET_TABLE
from transforms.schemas import COMENTIONS_BY_PERIOD as BY_PERIOD_TABLE
from transforms.schemas import none_first
from transforms.sinks import part_count, part_of_pairs, stat

PERIODS = ("day", "week", "month")
DEFAULT_PERIOD = "month"
DEFAULT_MIN_PAIR_ARTICLES = 2
DEFAULT_MAX_ACTORS = 100
CAPPED = "comention_articles_capped"

COMENTIONS = "comentions"
BY_PERIOD = "comentions_by_period"
BY_OUTLET = "comentions_by_outlet"
PARTITIONED = (COMENTIONS, BY_PERIOD, BY_OUTLET)  # output as parts, not rows

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


class PairsFn(beam.DoFn):
    """Article -> its pairs, grouped by the part of the tables they belong
    to: ``((index, total), (period, outlet, [(actor_a, actor_b)],
    [n_sentences]))``, one element per part (main output; the two lists
    are parallel); the article id on CAPPED when the actor cap applied. An
    article sends at most `total` elements, however many pairs it has."""

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
            ab, ns = parts.setdefault(index, ([], []))
            ab.append((a, b))
            ns.append(n_sent)
        for index, (ab, ns) in sorted(parts.items()):
            yield (index, total), (period, record["outlet"], ab, ns)


class PartCounts:
    """The summed counts of one part of the three tables, from its
    per-article lists ``[(period, outlet, [(a, b)], [n_sentences])]`` (an
    article lists a pair once):

    * ``articles[(a, b)]``, ``sentences[(a, b)]`` (absent when 0);
    * ``by_period[period] = (articles, sentences)`` and
      ``by_outlet[outlet] = articles``, keyed by ``(a, b)`` in the same way.

    The article counts are `Counter.update` calls (a C loop); only pairs
    that share a sentence take a step in Python."""

    def __init__(self, lists):
        self.articles, self.sentences = Counter(), {}
        self.by_period, self.by_outlet = {}, {}
        for period, outlet, pairs, n_sentences in lists:
            self.articles.update(pairs)
            in_period = self.by_period.get(period)
            if in_period is None:
                in_period = self.by_period[period] = (Counter(), {})
            in_period[0].update(pairs)
            in_outlet = self.by_outlet.get(outlet)
            if in_outlet is None:
                in_outlet = self.by_outlet[outlet] = Counter()
            in_outlet.update(pairs)
            sentences, period_sentences = self.sentences, in_period[1]
            for pair, n in zip(pairs, n_sentences):
                if n:
                    sentences[pair] = sentences.get(pair, 0) + n
                    period_sentences[pair] = period_sentences.get(pair, 0) + n


def _grouped_columns(table, groups, column, with_sentences):
    """``{group: counts}`` -> `table`'s columns sorted by (group, actor_a,
    actor_b), the group (period or outlet) in `column`, None first."""
    columns = {column: [], "actor_a": [], "actor_b": [], "n_articles": []}
    if with_sentences:
        columns["n_sentences"] = []
    for group in sorted(groups, key=none_first):
        articles, sentences = groups[group] if with_sentences else (groups[group], None)
        keys = sorted(articles)
        columns[column].extend([group] * len(keys))
        columns["actor_a"].extend([k[0] for k in keys])
        columns["actor_b"].extend([k[1] for k in keys])
        columns["n_articles"].extend([articles[k] for k in keys])
        if with_sentences:
            columns["n_sentences"].extend([sentences.get(k, 0) for k in keys])
    return {name: columns[name] for name in table.schema.names}


def period_columns(by_period):
    """`PartCounts.by_period` -> `comentions_by_period` columns. Periods
    stay ISO date strings, as in the keys; the writer stores them as dates
    (`sinks.arrow_table`). Date objects would cost Beam a pickle call each:
    its coder has no case for them, and it encodes whole parts, some 60,000
    rows, to estimate their size."""
    return _grouped_columns(BY_PERIOD_TABLE, by_period, "period", with_sentences=True)


def outlet_columns(by_outlet):
    """`PartCounts.by_outlet` -> `comentions_by_outlet` columns."""
    return _grouped_columns(BY_OUTLET_TABLE, by_outlet, "outlet", with_sentences=False)


class SumPartFn(beam.DoFn):
    """A grouped part ``((index, total), lists)`` -> the part of each table:
    `comentions_by_period` and `comentions_by_outlet` as columns (tagged
    BY_PERIOD, BY_OUTLET), and the summed pair counts ``((index, total),
    (articles, sentences))`` (main output; see `PartCounts`), which
    `ScorePairs` turns into `comentions` columns."""

    def process(self, part):
        index_total, lists = part
        counts = PartCounts(lists)
        del lists
        yield beam.pvalue.TaggedOutput(BY_PERIOD, (index_total, period_columns(counts.by_period)))
        yield beam.pvalue.TaggedOutput(BY_OUTLET, (index_total, outlet_columns(counts.by_outlet)))
        yield index_total, (counts.articles, counts.sentences)


def comention_part(part, n_total, actors, min_pair_articles):
    """A summed part ``((index, total), (articles, sentences))`` -> ``(part,
    comentions columns)``, sorted by (actor_a, actor_b); scores null below
    `min_pair_articles` articles. `actors` maps each actor id to its
    ``(name, type, n_articles)``."""
    index_total, (articles, sentences) = part
    keys = sorted(articles)
    a_col, b_col = [k[0] for k in keys], [k[1] for k in keys]
    n_col = [articles[k] for k in keys]
    columns = {"actor_a": a_col, "actor_b": b_col}
    for side, ids in (("a", a_col), ("b", b_col)):
        info = list(map(actors.__getitem__, ids))
        columns["name_" + side] = [i[0] for i in info]
        columns["type_" + side] = [i[1] for i in info]
    columns["n_articles"] = n_col
    columns["n_sentences"] = [sentences.get(k, 0) for k in keys]
    pmi, npmi, llr = [], [], []
    for a, b, n_ab in zip(a_col, b_col, n_col):
        if n_ab >= min_pair_articles:
            p, q, g = scores(n_ab, actors[a][2], actors[b][2], n_total)
        else:
            p = q = g = None
        pmi.append(p)
        npmi.append(q)
        llr.append(g)
    columns.update(pmi=pmi, npmi=npmi, llr=llr)
    return index_total, {name: columns[name] for name in COMENTIONS_TABLE.schema.names}


class CoMentions(beam.PTransform):
    """(article_actors, actors rows[, n_articles]) -> {"comentions",
    "comentions_by_period", "comentions_by_outlet": each table as whole parts,
    ``((index, total), columns)`` (`PARTITIONED`; `transforms.sinks.column_rows`
    turns a part back into rows), "stats": the capped-articles figure}.

    `article_actors` is ResolveActors' per-article record (``article_id,
    outlet, published, mentions, actors``); `actors` its `actors` table rows,
    one for every actor of the records, whose name, type and n_articles (the
    records that name it: the marginals of the scores) the pair rows use;
    `n_articles`, optional, a one-element count of the articles made before
    them, which sets the number of parts (`pair_parts`)."""

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
        n_total = article_actors | "CountArticles" >> beam.combiners.Count.Globally()
        # The number of parts must be known as each article's pairs go out; a
        # count made by an earlier stage keeps the pairs in the stage that
        # makes the articles (a count of article_actors itself would hold
        # them, text and all, until it is done).
        n_parts_basis = counted_before[0] if counted_before else n_total
        actor_info = actors | "ActorInfo" >> beam.Map(
            lambda r: (r["actor_id"], (r["name"], r["type"], r["n_articles"])))
        pairs = article_actors | "ArticlePairs" >> ParDoWithOutputs(
            PairsFn(self._period, self._max_actors), main="pairs", tags=[CAPPED],
            n_articles=beam.pvalue.AsSingleton(n_parts_basis))
        parts = (pairs["pairs"]
                 | "GroupPairs" >> beam.GroupByKey()
                 | "SumParts" >> ParDoWithOutputs(
                     SumPartFn(), main=COMENTIONS, tags=[BY_PERIOD, BY_OUTLET]))
        comentions = parts[COMENTIONS] | "ScorePairs" >> beam.Map(
            comention_part, min_pair_articles=self._min_pair_articles,
            n_total=beam.pvalue.AsSingleton(n_total),
            actors=beam.pvalue.AsDict(actor_info))
        by_period, by_outlet = parts[BY_PERIOD], parts[BY_OUTLET]
        capped = (pairs[CAPPED]
                  | "CountCapped" >> beam.combiners.Count.Globally()
                  | "CappedStat" >> beam.Map(lambda n: stat(CAPPED, n)))
        return {COMENTIONS: comentions, BY_PERIOD: by_period, BY_OUTLET: by_outlet,
                "stats": capped}
