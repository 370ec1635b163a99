"""Topics and keyphrases: what each article is about.

Topics (`Topics`): every article is scored against the 17 top-level IPTC
Media Topics with a weighted lexicon, ``data/iptc_topics.txt`` (an editor's
word list, not a trained model), which users extend or replace with
``--topics FILE`` in the same format. Matching is on folded lowercase words
(``fold``: "U.S." -> "us"); a regular plural matches its singular, a phrase
wins over the words inside it, and a ``prefix*`` term matches any word that
starts with the prefix. A topic's evidence is

    evidence(t) = sum over its matched terms of weight * (1 + ln count)

where a count is the term's occurrences in the article (a cheap lemma: a
regular plural counts as its singular). With the lexicon alone, an article's
topics are those with evidence >= `MIN_EVIDENCE` and a share of the
article's total evidence >= `MIN_SHARE`; the share is the row's score, and
rank 1 is the highest score.

Corpus-learned evidence (dataless bootstrapping, after Nigam et al.'s naive
Bayes with EM, with hard labels): the lexicon labels the articles it is sure
of (top share >= `SEED_SHARE`, evidence >= `SEED_EVIDENCE`); a multinomial
naive Bayes model over the distinct content words of those seed articles
(Laplace-smoothed, prior = seed counts; a word must be in `MIN_WORD_SEEDS`
seeds, a topic needs `MIN_TOPIC_SEEDS`) learns which words of THIS corpus go
with each topic; the model relabels the seeds (top combined score >=
`SEED_SHARE`) and is learned again (`ROUNDS` = 2). Every article that holds
at least `MIN_KNOWN` model words is then scored

    score(t) = (1 - LEARNED_WEIGHT) * lexicon share(t) + LEARNED_WEIGHT * P(t | words)

(P(t | words) alone when its lexicon evidence totals under `MIN_EVIDENCE`),
and keeps the topics with score >= `MIN_SHARE`; other articles keep the
lexicon rule. No labels, no network and no user data: the corpus teaches
itself in the same run. In Beam the seed counts are a global combine (one
per round) whose result reaches the classifier as a side input, as the
document count does for `Keyphrases`; counts are sums, so the model does not
depend on bundle order. A corpus with fewer than `MIN_SEEDS` seed articles
(or fewer than two topics with enough seeds) gets no model and the lexicon
alone decides: on the AG News dev data the learned evidence cost accuracy on
300 articles and paid from 1,000 on. The constants were chosen on AG News
and Reuters (development data, see bench/eval_topics.py). The model follows
the corpus: it favours the corpus's common topics (its prior) and learns the
corpus's own usage, so a run's topics depend on the other articles of the
run. Evidence, model rounds and ranking cost about 2-3% of the NER step
(bench/eval_topics.py --speed).

`topics_by_period` counts, for each period and topic, the articles that
carry the topic at any rank, and their share of the period's articles. A
period is named by its first day, as in `comentions_by_period`: the UTC day,
the Monday of the ISO week, or the first of the month of `published`
(`--period`); null when the date is unknown.

Keyphrases (`Keyphrases`): candidate phrases are runs of up to three
content words inside a clause (no stop word of spaCy's English list, no
number, no lowercase word ending in "-ed" (a verb form, such as "announced"),
no word of ``data/keyphrase_stopwords.txt``; "of" or "&" may join
two capitalised words, as in "Bank of England"). Lines that match the page
furniture patterns (``data/furniture.txt``) are skipped. As in Beam's
tfidf example, the document frequency of every phrase is counted over the
whole corpus in the same run; the frequencies (of the phrases found in more
than one article) and the number of documents reach each article as side
inputs:

    tf = count in article / candidate words in article
    idf = ln((1 + N) / (1 + df)) + 1        (smoothed: a one-article corpus still ranks)
    score = tf * idf

The top `TOP_PHRASES` per article are kept (`select_keyphrases`): a phrase
inside a better one is skipped, and a longer phrase replaces the better
words inside it when it scores at least half as high as each of them.
"""
import math
import re
from collections import Counter
from datetime import date
from functools import lru_cache, reduce
from importlib import resources
from itertools import compress, repeat
from operator import add, itemgetter

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.articles import is_furniture
from transforms.comentions import DEFAULT_PERIOD, PERIODS, period_start
from transforms.lexicon import fold, fold_words
from transforms.outputs import ParDoWithOutputs, as_count, count_or_given, merge_into_first

MIN_EVIDENCE = 2.0
MIN_SHARE = 0.15
TOP_PHRASES = 10
MAX_PHRASE_WORDS = 3
LONGER_RATIO = 0.5

TOPICS = "topics"
KEYPHRASES = "keyphrases"
TOPICS_BY_PERIOD = "topics_by_period"
_ARTICLE_PERIOD = "article_period"

_WEIGHT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(.*)$")
_HEADER = re.compile(r"^\s*\[([^\]\s]+)\]\s*(.*)$")


# ---------------------------------------------------------------- vocabulary

def _norm(word):
    """Cheap singular: 'elections' -> 'election', 'policies' -> 'policy'.
    Short words ("news", "aids", "arms") are left alone."""
    if len(word) >= 5 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) >= 5 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# Per-word memos of this worker (a corpus repeats its words, so most lookups
# hit); each is emptied before a miss is added once it holds MEMO_MAX words,
# which bounds memory.
MEMO_MAX = 50_000
_NORMED = {}
_UNSEEN = object()


def memo_map(memo, fn, keys):
    """``[fn(k) for k in keys]``, looked up in and added to the dict `memo`
    (see MEMO_MAX); `fn` may return None."""
    out = list(map(memo.get, keys, repeat(_UNSEEN)))
    if _UNSEEN in out:
        if len(memo) > MEMO_MAX:
            memo.clear()
        for i, value in enumerate(out):
            if value is _UNSEEN:
                out[i] = memo[keys[i]] = fn(keys[i])
    return out


def _normed(words):
    """``[_norm(w) for w in words]``, memoised."""
    return memo_map(_NORMED, _norm, words)


def parse_vocabulary(text, source="vocabulary"):
    """Topic vocabulary text -> {code: {"label": str, "terms": {term: weight}}}.
    A term is a tuple of normalised words; a wildcard term is ("prefix*",)."""
    topics, current = {}, None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head = _HEADER.match(line)
        if head:
            code, label = head.group(1), head.group(2).strip() or head.group(1)
            current = topics.setdefault(code, {"label": label, "terms": {}})
            continue
        if current is None:
            raise ValueError(f"{source} line {n}: terms before any [topic] header")
        weight, body = 1.0, line
        m = _WEIGHT.match(line)
        if m:
            weight, body = float(m.group(1)), m.group(2)
        for raw in re.split(r"[;,]", body):
            raw = raw.strip()
            if not raw:
                continue
            if raw.endswith("*") and " " not in raw:
                key = (fold(raw[:-1]) + "*",)
            else:
                key = tuple(_norm(w) for w in fold(raw).split())
            if key and key != ("*",):
                current["terms"][key] = max(weight, current["terms"].get(key, 0.0))
    return topics


def _data_text(name):
    return resources.files("transforms").joinpath("data", name).read_text("utf-8")


@lru_cache(maxsize=None)
def load_vocabulary(user_path=None, replace=False):
    """The shipped IPTC vocabulary, extended (or replaced, if `replace`) by a
    user file in the same format. A user topic with an IPTC code adds terms to
    that topic; any other code is a new topic."""
    topics = {} if (replace and user_path) else parse_vocabulary(
        _data_text("iptc_topics.txt"), "iptc_topics.txt")
    if user_path:
        with FileSystems.open(user_path) as fh:
            extra = parse_vocabulary(fh.read().decode("utf-8-sig"), user_path)
        for code, topic in extra.items():
            target = topics.setdefault(code, {"label": topic["label"], "terms": {}})
            for term, w in topic["terms"].items():
                target["terms"][term] = max(w, target["terms"].get(term, 0.0))
    return topics


class Matcher:
    """Compiled vocabulary: longest phrase first, then word, then prefix."""

    def __init__(self, topics):
        self.labels = {code: t["label"] for code, t in topics.items()}
        self.terms = {}      # word tuple -> [(code, weight)]
        self.prefixes = {}   # prefix -> [(code, weight)]
        for code, t in topics.items():
            for term, w in t["terms"].items():
                if term[-1].endswith("*"):
                    self.prefixes.setdefault(term[0][:-1], []).append((code, w))
                else:
                    self.terms.setdefault(term, []).append((code, w))
        self.max_len = {}    # first word -> its longest term (in words)
        for term in self.terms:
            self.max_len[term[0]] = max(len(term), self.max_len.get(term[0], 0))
        self.words = {term[0]: hits for term, hits in self.terms.items() if len(term) == 1}
        self.prefix_lengths = sorted({len(p) for p in self.prefixes}, reverse=True)
        self._prefix_hits = {}  # memo: word -> (term, hits) of its longest prefix, or None

    def _prefix_hit(self, word):
        for k in self.prefix_lengths:
            if k <= len(word) and word[:k] in self.prefixes:
                return word[:k] + "*", self.prefixes[word[:k]]
        return None

    def _prefix_hits_of(self, words):
        """``[_prefix_hit(w) for w in words]``, memoised."""
        return memo_map(self._prefix_hits, self._prefix_hit, words)

    def matches(self, words, normed=None):
        """Yield (term, [(code, weight)], position) for folded `words`: at
        each position the longest term that starts there, else the word's
        prefix term; the words of a matched term are not matched again.
        `normed`: ``_normed(words)``, when the caller has it already."""
        normed = _normed(words) if normed is None else normed
        longest = list(map(self.max_len.get, normed))  # None: no term starts with it
        prefix = self._prefix_hits_of(words)
        terms, one_word, n = self.terms, self.words, len(words)
        free = 0  # the first word not inside a matched term
        # only the positions where a term or a prefix may match (a quarter of news words)
        for i in compress(range(n), map(any, zip(longest, prefix))):
            if i < free:
                continue
            for size in range(min(longest[i] or 0, n - i), 1, -1):   # terms of 2+ words
                hit = terms.get(tuple(normed[i:i + size]))
                if hit:
                    yield " ".join(normed[i:i + size]), hit, i
                    free = i + size
                    break
            else:
                hit = one_word.get(normed[i]) if longest[i] else None
                if hit:
                    yield normed[i], hit, i
                    free = i + 1
                elif prefix[i]:
                    yield prefix[i][0], prefix[i][1], i


@lru_cache(maxsize=None)
def matcher(user_path=None, replace=False):
    return Matcher(load_vocabulary(user_path, replace))


def folded_words(text):
    """The text folded and split: what `topic_evidence` and `article_words` read."""
    return fold_words(text or "")


def topic_evidence(text, m, words=None, normed=None):
    """{code: evidence} for one text (see the module docstring); `words`:
    its `folded_words`, and `normed` their `_normed` forms, when the caller
    has them already."""
    found = list(m.matches(folded_words(text) if words is None else words, normed))
    hits_of = {term: hits for term, hits, _pos in found}  # a term's topics are fixed
    evidence = Counter()
    # a term's codes are distinct, so a (code, term) pair counts as its term
    for term, c in Counter([term for term, _hits, _pos in found]).items():
        for code, w in hits_of[term]:
            evidence[code] += w * (1.0 + math.log(c))
    return evidence


def classify(text, m, model=None, min_evidence=MIN_EVIDENCE, min_share=MIN_SHARE):
    """[(code, label, score, rank)] of the topics an article carries, best first.
    With a corpus `model` (`learn_topic_model`), lexicon and learned evidence
    are combined (`topic_scores`); without one, the lexicon alone decides."""
    return rank_topics(topic_evidence(text, m), article_words(text) if model else (),
                       m, model, min_evidence, min_share)


def rank_topics(evidence, words, m, model=None, min_evidence=MIN_EVIDENCE,
                min_share=MIN_SHARE):
    """`classify` on an article's precomputed lexicon evidence and words."""
    scores = topic_scores(evidence, words, model, min_evidence)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    if model is None or not _known(words, model):
        kept = [(code, s) for code, s in ranked
                if evidence[code] >= min_evidence and s >= min_share]
    else:
        kept = [(code, s) for code, s in ranked if s >= min_share]
    labels = m.labels
    return [(code, labels.get(code, code), round(share, 4), rank)
            for rank, (code, share) in enumerate(kept, 1)]


# ------------------------------------------------- corpus-learned evidence
#
# Dataless bootstrapping (seed-word classification, as in Nigam et al.'s naive
# Bayes with EM, hard labels): the lexicon labels the articles it is sure of,
# a naive Bayes model learns from them which words of THIS corpus go with each
# topic, and every article is scored again with lexicon and learned evidence.
# No labels and no network: the corpus teaches itself, in the same run.

SEED_SHARE = 0.6        # a seed's top topic holds at least this share ...
SEED_EVIDENCE = 4.0     # ... and (first round) at least this lexicon evidence
MIN_TOPIC_SEEDS = 3     # a topic enters the model with at least this many seeds
MIN_SEEDS = 200         # fewer seeds in all: no model, the lexicon alone decides
MIN_WORD_SEEDS = 2      # a word enters the model if it is in this many seeds
MIN_KNOWN = 3           # an article needs this many model words to use the model
LEARNED_WEIGHT = 0.5    # score = (1 - w) * lexicon share + w * model posterior
ROUNDS = 2              # learn, relabel the seeds with the model, learn again


@lru_cache(maxsize=None)
def _stop_words():
    from spacy.lang.en.stop_words import STOP_WORDS   # a word list; no model loads
    return frozenset(fold(w) for w in STOP_WORDS)


def article_words(text, words=None, normed=None):
    """The distinct content words of a text, folded and singular, sorted
    (`words`: its `folded_words`, `normed` their `_normed` forms, when the
    caller has them already)."""
    stop = _stop_words()
    words = folded_words(text) if words is None else words
    normed = _normed(words) if normed is None else normed
    normed_of = dict(zip(words, normed))   # each distinct word once
    return tuple(sorted({normed_of[w] for w in normed_of.keys() - stop
                         if len(w) > 1 and not w.isdigit()}))


def _known(words, model):
    """Whether at least `MIN_KNOWN` of `words` are model words (stops there)."""
    logp, n = model["logp"], 0
    if MIN_KNOWN <= 0:
        return True
    for w in words:
        if w in logp:
            n += 1
            if n >= MIN_KNOWN:
                return True
    return False


def _posterior(words, model):
    """Naive Bayes P(topic | words) over the model's topics (multinomial over
    the article's distinct model words, Laplace-smoothed, seed-count prior)."""
    # each topic's prior plus its words' rows, added one after another in the
    # words' (sorted) order: the same sums on every worker. One column a
    # topic, reduced by operator.add at C speed (not sum(): since Python 3.12
    # it compensates rounding, and its floats differ in the last bits)
    rows = [row for row in map(model["logp"].get, words) if row]
    scores = ([reduce(add, column, prior) for prior, column in zip(model["prior"], zip(*rows))]
              if rows else list(model["prior"]))
    top = max(scores)
    exp = [math.exp(s - top) for s in scores]
    z = sum(exp)
    return {code: e / z for code, e in zip(model["topics"], exp)}


def topic_scores(evidence, words=(), model=None, min_evidence=MIN_EVIDENCE):
    """{code: score}: the lexicon share of evidence, or, when the corpus model
    knows at least `MIN_KNOWN` of the article's words,
    (1 - LEARNED_WEIGHT) * lexicon share + LEARNED_WEIGHT * posterior
    (the posterior alone when the lexicon evidence totals under `min_evidence`)."""
    total = sum(evidence.values())
    share = {code: ev / total for code, ev in evidence.items() if ev} if total else {}
    if model is None or not _known(words, model):
        return share
    post = _posterior(words, model)
    if total < min_evidence:
        return post
    scores = Counter({code: (1 - LEARNED_WEIGHT) * s for code, s in share.items()})
    for code, p in post.items():
        scores[code] += LEARNED_WEIGHT * p
    return dict(scores)


def seed_topic(evidence, words, model=None):
    """The topic an article is a confident example of, or None: its top score
    is at least `SEED_SHARE`, and when that score is the lexicon's alone (no
    model yet, or too few model words) its lexicon evidence is at least
    `SEED_EVIDENCE`."""
    scores = topic_scores(evidence, words, model)
    if not scores:
        return None
    code, s = min(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    lexicon_only = model is None or not _known(words, model)
    if s < SEED_SHARE or (lexicon_only and evidence[code] < SEED_EVIDENCE):
        return None
    return code


class SeedCounts:
    """Seed articles per topic and, per topic, the seeds holding each word:
    sums, so partial counts merge in any order (a Beam CombineFn accumulator)."""

    def __init__(self):
        self.seeds = Counter()       # code -> seed articles
        self.words = {}              # code -> Counter(word -> seed articles with it)

    def add(self, code, words):
        """One seed of topic `code` with its distinct `words`."""
        self.seeds[code] += 1
        counts = self.words.get(code)
        if counts is None:
            counts = self.words[code] = Counter()
        counts.update(words)         # C-speed counting of a word list
        return self

    def merge(self, other):
        self.seeds.update(other.seeds)
        for code, counts in other.words.items():
            mine = self.words.get(code)
            if mine is None:
                self.words[code] = Counter(counts)
            else:
                mine.update(counts)
        return self

    def model(self):
        """The naive Bayes model, or None when the seeds are too few (fewer
        than `MIN_SEEDS`, or fewer than two topics with `MIN_TOPIC_SEEDS`)."""
        topics = sorted(c for c, n in self.seeds.items() if n >= MIN_TOPIC_SEEDS)
        n_seeds = sum(self.seeds[c] for c in topics)
        if len(topics) < 2 or n_seeds < MIN_SEEDS:
            return None
        per_topic = [self.words.get(c, {}) for c in topics]
        seen = Counter()
        for counts in per_topic:
            seen.update(counts)
        vocab = sorted(w for w, n in seen.items() if n >= MIN_WORD_SEEDS)
        rows = {w: [counts.get(w, 0) for counts in per_topic] for w in vocab}
        # integer sums: the same whatever the order
        mass = [sum(counts[w] for w in vocab if w in counts) for counts in per_topic]
        size = len(vocab)
        denominators = [m + size for m in mass]
        logp = {w: [math.log((n + 1) / d) for n, d in zip(row, denominators)]
                for w, row in rows.items()}
        prior = [math.log(self.seeds[c] / n_seeds) for c in topics]
        return {"topics": topics, "prior": prior, "logp": logp,
                "seeds": {c: self.seeds[c] for c in topics}}


def learn_topic_model(docs, rounds=None):
    """[(evidence, words)] of a whole corpus -> the corpus model (or None):
    the same `ROUNDS` rounds that `Topics` runs in Beam, as plain Python."""
    docs = list(docs)
    model = None
    for _ in range(rounds or ROUNDS):
        counts = SeedCounts()
        for evidence, words in docs:
            code = seed_topic(evidence, words, model)
            if code:
                counts.add(code, words)
        model = counts.model()
        if model is None:
            break
    return model


# -------------------------------------------------------------- transforms

class TopicEvidenceFn(beam.DoFn):
    """Article record -> (article_id, period, lexicon evidence, words): what
    the later steps need of it (the record itself is left as it is). The
    words (`article_words`) travel as one space-joined string: two later
    stages read them, and Beam decodes one string much faster than a
    hundred (`_doc_words` splits them again)."""

    def __init__(self, user_path=None, replace=False, period=DEFAULT_PERIOD):
        self._user_path = user_path
        self._replace = replace
        self._period = period

    def setup(self):
        self._matcher = matcher(self._user_path, self._replace)

    def process(self, article):
        start = period_start(article.get("published"), self._period)
        period = start.isoformat() if start else None   # str keys encode deterministically
        text = article.get("text")
        text = text if isinstance(text, str) else ""
        words = folded_words(text)
        normed = _normed(words)
        yield (article["article_id"], period,
               dict(topic_evidence(text, self._matcher, words, normed)),
               " ".join(article_words(text, words, normed)))


def _doc_words(doc):
    """A topic doc's words as `article_words` gave them (see TopicEvidenceFn)."""
    return doc[3].split()


def _seed_counts(doc, model=None):
    evidence, words = doc[2], _doc_words(doc)
    code = seed_topic(Counter(evidence), words, model)
    if code:
        yield code, words


class LearnTopicWordsFn(beam.CombineFn):
    """(code, words) of the seed articles -> the corpus model (or None)."""

    def create_accumulator(self):
        return SeedCounts()

    def add_input(self, counts, seed):
        return counts.add(*seed)

    def merge_accumulators(self, accumulators):
        merged = SeedCounts()
        for counts in accumulators:
            merged.merge(counts)
        return merged

    def extract_output(self, counts):
        return counts.model()


def as_model(model):
    """`LearnTopicWords`' result as a side input: the model, or None (no
    seeds: the combine runs without its default, a stage less)."""
    return beam.pvalue.AsSingleton(model, default_value=None)


class LearnTopicWords(beam.PTransform):
    """Topic docs -> the corpus model after `ROUNDS` rounds of seeding and
    learning (`learn_topic_model` in Beam): one element, the model or None,
    or no element when there are no seeds at all (read it with `as_model`)."""

    def expand(self, docs):
        model = None
        for r in range(1, ROUNDS + 1):
            kwargs = {"model": as_model(model)} if model is not None else {}
            model = (docs
                     | f"SeedArticles{r}" >> beam.FlatMap(_seed_counts, **kwargs)
                     | f"CountSeedWords{r}" >> beam.CombineGlobally(
                         LearnTopicWordsFn()).without_defaults())
        return model


class ClassifyTopicsFn(beam.DoFn):
    """Topic doc -> its `topics` rows; tagged outputs: the article's period,
    and one (period, code, label) per topic it carries."""

    def __init__(self, user_path=None, replace=False):
        self._user_path = user_path
        self._replace = replace

    def setup(self):
        self._matcher = matcher(self._user_path, self._replace)

    def process(self, doc, model=None):
        article_id, period, evidence, words = doc[0], doc[1], doc[2], _doc_words(doc)
        yield beam.pvalue.TaggedOutput(_ARTICLE_PERIOD, period)
        for code, label, score, rank in rank_topics(Counter(evidence), words,
                                                    self._matcher, model):
            yield {"article_id": article_id, "topic": code, "label": label,
                   "score": score, "rank": rank}
            yield beam.pvalue.TaggedOutput(TOPICS_BY_PERIOD, (period, code, label))


def _period_row(key_count, totals):
    (period, code, label), n = key_count
    return {"period": date.fromisoformat(period) if period else None,
            "topic": code, "label": label, "n_articles": n,
            "share": round(n / totals[period], 4)}


class Topics(beam.PTransform):
    """Article records -> {"topics": rows, "topics_by_period": rows}. The
    corpus model is learned over all the articles of the run and reaches the
    classifier as a side input, like the document count of `Keyphrases`."""

    def __init__(self, user_path=None, replace=False, period=DEFAULT_PERIOD):
        super().__init__()
        if period not in PERIODS:
            raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
        self._args = (user_path, replace, period)

    def expand(self, articles):
        user_path, replace, period = self._args
        docs = articles | "LexiconEvidence" >> beam.ParDo(
            TopicEvidenceFn(user_path, replace, period))
        model = docs | "LearnTopicWords" >> LearnTopicWords()
        out = docs | "ClassifyTopics" >> ParDoWithOutputs(
            ClassifyTopicsFn(user_path, replace), main=TOPICS,
            tags=[_ARTICLE_PERIOD, TOPICS_BY_PERIOD],
            model=as_model(model))
        totals = out[_ARTICLE_PERIOD] | "ArticlesPerPeriod" >> beam.combiners.Count.PerElement()
        by_period = (out[TOPICS_BY_PERIOD]
                     | "TopicArticlesPerPeriod" >> beam.combiners.Count.PerElement()
                     | "PeriodShares" >> beam.Map(_period_row,
                                                  totals=beam.pvalue.AsDict(totals)))
        return {TOPICS: out[TOPICS], TOPICS_BY_PERIOD: by_period}


# --------------------------------------------------------------- keyphrases

@lru_cache(maxsize=None)
def keyphrase_stopwords():
    from spacy.lang.en.stop_words import STOP_WORDS
    extra = {ln.strip().lower() for ln in _data_text("keyphrase_stopwords.txt").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")}
    return frozenset(w.lower() for w in STOP_WORDS) | frozenset(extra)


_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"“”‘«»|/\\—–…•·]+|\s[-']\s|\s'|'\s")
_WORD = re.compile(r"^[^\W\d_]+(?:[-'][^\W\d_]+)*$")
_JOINERS = {"of", "&"}


_POSSESSIVE = re.compile(r"'s$|'$")


def _clean(token):
    if "'" in token or "’" in token:
        token = _POSSESSIVE.sub("", token.replace("’", "'"))
    return token.strip("'-")


def candidate_phrases(text):
    """Candidate keyphrases of an article, one entry per occurrence, and the
    number of candidate words (the tf denominator).

    A candidate word is a token of letters (inner hyphens and apostrophes
    allowed) of two or more characters, not a stop word, and not a lowercase
    word ending in "-ed" (mostly past participles); a run of them within one
    clause, with "of"/"&" allowed between capitalised words, gives every
    n-gram of up to MAX_PHRASE_WORDS candidate words (`_ngrams`)."""
    kinds, kind_of = _TOKEN_KINDS, _token_kind
    if len(kinds) > MEMO_MAX:
        kinds.clear()
    phrases, n_words = [], 0
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or is_furniture(line):
            continue
        for clause in _CLAUSE.split(line):
            run, joined = [], False  # [(lower, is_capitalised)]; a joiner in it
            for tok in clause.split():  # str.split() and \S+ agree on whitespace
                kind = kinds.get(tok, _UNSEEN)
                if kind is _UNSEEN:
                    kind = kinds[tok] = kind_of(tok)
                if kind.__class__ is tuple:
                    run.append(kind)
                    n_words += 1
                    continue
                if kind is not None and run and run[-1][0] not in _JOINERS and run[-1][1]:
                    run.append((kind, False))
                    joined = True
                    continue
                if run:
                    phrases.extend(_ngrams(run) if joined else _plain_ngrams(run))
                    run, joined = [], False
            if run:
                phrases.extend(_ngrams(run) if joined else _plain_ngrams(run))
    return phrases, n_words


_TOKEN_KINDS = {}  # memo of `_token_kind` (see MEMO_MAX)


def _token_kind(tok):
    """What a whitespace token is to `candidate_phrases`: ``(lower,
    is_capitalised)`` for a candidate word, the joiner ("of", "&"), or None
    (it ends a run)."""
    word = _clean(tok)
    low = word.lower()
    if (len(word) > 1 and low not in keyphrase_stopwords() and _WORD.match(word)
            and not (low.endswith("ed") and not word[0].isupper())):
        return low, word[0].isupper()
    return low if low in _JOINERS else None


def _plain_ngrams(run):
    """`_ngrams` of a run without joiners, in the same order, with fewer steps."""
    if len(run) == 1:   # most runs (a word between stop words)
        return [run[0][0]]
    words = [w for w, _ in run]
    n = len(words)
    out = []
    for i in range(n):
        phrase = words[i]
        out.append(phrase)
        for j in range(i + 1, min(n, i + MAX_PHRASE_WORDS)):
            phrase = phrase + " " + words[j]   # one step longer each time
            out.append(phrase)
    return out


def _ngrams(run):
    out = []
    for i in range(len(run)):
        if run[i][0] in _JOINERS:
            continue
        content = 0
        for j in range(i, len(run)):
            word, cap = run[j]
            if word in _JOINERS:
                # a joiner needs capitalised words on both sides
                if not (run[j - 1][1] and j + 1 < len(run) and run[j + 1][1]):
                    break
                continue
            content += 1
            if content > MAX_PHRASE_WORDS:
                break
            out.append(" ".join(w for w, _ in run[i:j + 1]))
    return out


def select_keyphrases(scored, k=TOP_PHRASES):
    """[(phrase, score)] -> the top k, best first. A phrase inside a better
    one is skipped; a phrase holding better ones ("prime minister" after
    "prime" and "minister") replaces them when its score is at least
    `LONGER_RATIO` of each of theirs, and is skipped otherwise."""
    # best first, ties by phrase: two stable sorts on C-level keys
    ranked = sorted(scored, key=itemgetter(0))
    ranked.sort(key=itemgetter(1), reverse=True)
    chosen = []   # (phrase, score, " phrase "): the padded form tests containment by words
    for phrase, score in ranked:
        padded = f" {phrase} "
        if any(padded in c for _, _, c in chosen):
            continue
        inside = [i for i, (_, _, c) in enumerate(chosen) if c in padded]
        if inside:
            if all(score >= LONGER_RATIO * chosen[i][1] for i in inside):
                first = inside[0]
                chosen = [(phrase, score, padded) if i == first else c
                          for i, c in enumerate(chosen) if i == first or i not in inside]
            continue
        if len(chosen) == k:
            break
        chosen.append((phrase, score, padded))
    chosen.sort(key=itemgetter(0))
    chosen.sort(key=itemgetter(1), reverse=True)
    return [(phrase, score) for phrase, score, _ in chosen]


def _article_terms(article):
    phrases, n_words = candidate_phrases(article.get("text") if isinstance(
        article.get("text"), str) else "")
    return article["article_id"], Counter(phrases), n_words


@lru_cache(maxsize=4096)
def _idf(df, n_docs):
    """Smoothed idf; cached: an article's phrases share a few df values
    (most are in this article only, df 1)."""
    return math.log((1 + n_docs) / (1 + df)) + 1.0


def _keyphrase_rows(terms, n_docs, df, k=TOP_PHRASES):
    """One article's candidates -> its `keyphrases` rows, as a list. `df`
    holds the phrases found in two or more articles; any other phrase has
    df 1."""
    article_id, counts, n_words = terms
    df_of, idf = df.get, _idf
    idf_1 = idf(1, n_docs)   # most phrases are in this article only
    scored = [(phrase, c / n_words * (idf_1 if (n := df_of(phrase)) is None else idf(n, n_docs)))
              for phrase, c in counts.items()]
    return [{"article_id": article_id, "phrase": phrase, "score": round(score, 6), "rank": rank}
            for rank, (phrase, score) in enumerate(select_keyphrases(scored, k), 1)]


class DocumentFrequencyFn(beam.CombineFn):
    """Article candidates ``(article_id, Counter, n_words)`` -> ``{phrase:
    df}`` for the phrases in two or more articles. The accumulator is one
    Counter: a worker counts all its articles' phrases in it (C-speed
    `Counter.update`), and only the workers' counters cross the shuffle, not
    an element per (phrase, article)."""

    def create_accumulator(self):
        return Counter()

    def add_input(self, acc, terms):
        acc.update(terms[1].keys())
        return acc

    def merge_accumulators(self, accs):
        return merge_into_first(accs, Counter.update, self.create_accumulator)

    def extract_output(self, acc):
        return {phrase: n for phrase, n in acc.items() if n > 1}


class Keyphrases(beam.PTransform):
    """Article records -> `keyphrases` rows (TF-IDF over the whole corpus),
    one list of rows an article (empty when it has no candidates). The
    input may be ``(articles, n)``, with `n` a count of the articles that
    the pipeline has made already (`outputs.global_count`; one stage less).

    Each article stays one element from its candidates to its rows; only the
    document frequencies are counted across the corpus (`DocumentFrequencyFn`,
    a global combine lifted into the workers) and reach every article as one
    side input, with the phrases that occur in a single article left out
    (their df is 1). Joining by phrase instead, as Beam's tfidf example does,
    sends every (phrase, article) pair through two shuffles: about 100
    elements an article."""

    def __init__(self, k=TOP_PHRASES):
        super().__init__()
        self._k = k

    def expand(self, pcolls):
        # articles, or (articles, their count made elsewhere in the pipeline)
        articles, *counted = pcolls if isinstance(pcolls, tuple) else (pcolls,)
        terms = articles | "CandidatePhrases" >> beam.Map(_article_terms)
        n_docs = count_or_given(articles, counted, "CountDocuments")
        # without the default of an empty input (a stage less): `df` is then
        # empty, and so is `terms`, which reads it
        df = terms | "DocumentFrequency" >> beam.CombineGlobally(
            DocumentFrequencyFn()).without_defaults()
        return terms | "TopPhrases" >> beam.Map(
            _keyphrase_rows, n_docs=as_count(n_docs),
            df=beam.pvalue.AsSingleton(df, default_value={}), k=self._k)
