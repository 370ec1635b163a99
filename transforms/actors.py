"""Actors: entity mentions -> actors with name variants merged.

Merging happens in two passes.

Within an article (`resolve_article`, a pure function):
  * spans are trimmed to the name: a leading "the", titles and honorifics
    for people ("Mr.", "President", "Gen."), a trailing possessive;
  * "Gazprom and Rosneft" is split into two mentions (data/conjoined.txt
    lists names such as "Bosnia and Herzegovina" that stay whole);
  * fixed aliases (data/aliases.csv, plus --aliases FILE) map "U.S." and
    "America" to GPE:united_states and "CCP" to the party;
  * an acronym defined in the text, "Chinese Communist Party (CCP)", joins
    its later uses to the full name;
  * a bare surname ("Putin", "Mr. Xi") joins the nearest full name in the
    article that ends with it, or starts with it for family-name-first
    surnames (data/family_name_first.txt: Xi, Kim, ...): two people who share
    a surname in one article each keep their own later mentions;
  * people and organisations found only in a Title Case heading line
    ("China Supports Russia ...") count only if the body names them too:
    NER is unreliable on headings;
  * an actor's type is the label most of its mentions carry in the article.

Across the corpus (`ResolveActors`): each article votes for the full names
(and defined acronyms) its short forms stand for; an article's bare surname
that maps to one full name in the large majority (`MAJORITY`) of at least
`MIN_VOTES` articles joins it. Actor ids are readable and stable:
``TYPE:folded_name`` such as ``PERSON:vladimir_putin``.
"""
import bisect
import re
from collections import Counter
from functools import lru_cache
from operator import itemgetter

import apache_beam as beam

from transforms import lexicon
from transforms.lexicon import fold, slug
from transforms.outputs import (ParDoWithOutputs, Spread, as_count, count_or_given,
                                merge_into_first)
from transforms.sinks import part_count, part_of

LABELS = ("PERSON", "ORG", "GPE", "LOC", "NORP")
ACTOR_SHARD_ARTICLES = 100_000  # articles whose actors one shard sums (actor_shards)
MIN_ACTOR_SHARDS = 4
MAJORITY = 0.75
MIN_VOTES = 2
HEADING_MAX = 120

ARTICLE_ACTORS = "article_actors"
MENTIONS = "mentions"
ARTICLES = "articles"

_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")
_ACRONYM_AFTER = re.compile(r"\s*\(\s*([A-Z][A-Za-z&]{1,9})\s*\)")
_MINOR = {"of", "the", "and", "for", "de", "du", "la", "in", "on", "at", "&", "to"}
_SUFFIXES = {"jr", "sr", "ii", "iii", "iv"}
_LETTER_WORD = re.compile(r"[A-Za-z][\w'’-]*")
_NON_SPACE = re.compile(r"\S+")


def _words(text, start, end):
    return [(m.start() + start, m.end() + start) for m in _NON_SPACE.finditer(text[start:end])]


def trim_span(text, start, end, label):
    """Offsets of the name inside an entity span: without a leading "the",
    without titles for people, without a trailing possessive or dot-less
    punctuation. None if nothing name-like remains. It reads only the span's
    own text, so the result is memoised by that text (`_trimmed`)."""
    trimmed = _trimmed(text[start:end], label)
    return None if trimmed is None else (start + trimmed[0], start + trimmed[1])


@lru_cache(maxsize=50_000)   # a corpus names the same actors again and again
def _trimmed(surface, label):
    """`_trim` of a whole span's text: offsets relative to its start."""
    return _trim(surface, 0, len(surface), label)


def _trim(text, start, end, label):
    """`trim_span` without the memo."""
    words = _words(text, start, end)
    if words and len(words) > 1 and fold(text[words[0][0]:words[0][1]]) == "the":
        words = words[1:]
    if label == "PERSON":
        folded = [fold(text[a:b]).replace("-", " ") for a, b in words]
        # strip the longest title the name starts with, and again: a title
        # of n words matches when the first n words, folded, are exactly its words
        titles, lengths = lexicon.title_set(), lexicon.title_lengths()
        changed = True
        while changed and len(words) > 1:
            changed = False
            for n in lengths:
                if n < len(words):
                    key = tuple(" ".join(folded[:n]).split())
                    if len(key) == n and key in titles:
                        words, folded, changed = words[n:], folded[n:], True
                        break
    if not words:
        return None
    s, e = words[0][0], words[-1][1]
    paren = text.find("(", s, e)
    if paren > s:  # "Shanghai Cooperation Organisation (SCO": keep the name
        e = paren
        while e > s and text[e - 1].isspace():
            e -= 1
    m = _POSSESSIVE.search(text, s, e)
    if m and m.start() > s:
        e = m.start()
    while e > s and text[e - 1] in ",;:!?)\"“”'’":
        e -= 1
    while s < e and text[s] in "(\"“”'’":
        s += 1
    if e <= s or not any(ch.isalpha() for ch in text[s:e]):
        return None
    return s, e


def split_conjoined(text, start, end):
    """"Gazprom and Rosneft" -> two spans; one span if it is a listed name or
    if any other word is lowercase ("Department of Health and Human
    Services")."""
    surface = text[start:end]
    if not re.search(r"\sand\s", surface) or fold(surface) in lexicon.conjoined():
        return [(start, end)]
    words = [w for w in re.findall(r"\S+", surface) if w != "and"]
    if any(not w[0].isupper() for w in words):
        return [(start, end)]
    parts = []
    for m in re.finditer(r"[^,]+?(?=\s*(?:,|\band\b|$))", surface):
        piece = m.group().strip()
        if piece.startswith("and "):
            piece = piece[4:]
        if piece:
            s = start + surface.index(piece, m.start())
            parts.append((s, s + len(piece)))
    return parts or [(start, end)]


def person_key(surface):
    """Folded person name without initials and suffixes: 'Joseph R. Biden
    Jr.' -> 'joseph biden'."""
    words = fold(surface).split()
    core = [w for i, w in enumerate(words)
            if not (0 < i < len(words) - 1 and len(w) == 1) and w not in _SUFFIXES]
    return " ".join(core or words)


def short_forms(key):
    """The bare surnames a full person name can be called by."""
    words = key.split()
    if len(words) < 2:
        return set()
    forms = {words[-1]}
    if words[0] in lexicon.family_name_first():
        forms.add(words[0])
    return forms


def _initials(surface):
    return "".join(w[0] for w in _LETTER_WORD.findall(surface)
                   if w.lower() not in _MINOR).upper()


def _heading_lines(text):
    """(start, end) of lines that look like Title Case headings."""
    spans, pos = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        # the cheap tests first: most lines are paragraphs, longer than a heading
        if (stripped and len(stripped) <= HEADING_MAX
                and stripped[-1] not in ".!?:;\"”’,"
                and not any(map(str.isdigit, stripped))):
            words = _LETTER_WORD.findall(stripped)
            if len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.6 * len(words):
                spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def _in_spans(offset, spans):
    return any(a <= offset < b for a, b in spans)


def resolve_article(text, ents, sents, alias_table, labels=LABELS):
    """One article's entity spans -> (mentions, votes).

    `ents` are ``(start, end, label)`` spans, `sents` sentence start
    offsets. Each mention is a dict with start, end, text, label, sentence
    and its actor (``actor_id``, ``type``, ``name``, ``full`` is False for a
    bare surname/acronym that the corpus pass may still merge, ``alias``
    True when the id came from the alias table). `votes` are
    ``(short_key, actor_id)`` pairs: which full actor each short form
    stands for in this article.
    """
    raw = []
    for start, end, label in ents:
        if label not in labels:
            continue
        for s, e in split_conjoined(text, start, end):
            span = trim_span(text, s, e, label)
            if span:
                raw.append((span[0], span[1], label))
    raw.sort()
    headings = _heading_lines(text)

    mentions = []
    for s, e, label in raw:
        surface = text[s:e]
        key = person_key(surface) if label == "PERSON" else fold(surface)
        if not key:
            continue
        mentions.append({"start": s, "end": e, "text": surface, "label": label,
                         "key": key, "heading": _in_spans(s, headings),
                         "sentence": max(0, bisect.bisect_right(sents, s) - 1)})

    body_keys = {m["key"] for m in mentions if not m["heading"]}
    mentions = [m for m in mentions
                if not m["heading"] or m["label"] not in ("PERSON", "ORG")
                or m["key"] in body_keys or m["key"] in alias_table]

    # acronyms defined in the text: "Chinese Communist Party (CCP)"
    acronyms, starts = {}, {m["start"] for m in mentions}
    for m in list(mentions):
        after = _ACRONYM_AFTER.match(text, m["end"])
        if after and len(m["key"].split()) > 1:
            acr = after.group(1)
            if _initials(m["text"]) == acr.upper():
                acronyms.setdefault(fold(acr), m["key"])
                if after.start(1) not in starts:  # NER took "(SCO" into the name
                    mentions.append(dict(m, start=after.start(1), end=after.end(1),
                                         text=acr, key=fold(acr)))
    mentions.sort(key=lambda m: m["start"])

    # full person names: key -> positions, for bare-surname lookup
    full_people = {}
    for m in mentions:
        if m["label"] == "PERSON" and len(m["key"].split()) > 1:
            full_people.setdefault(m["key"], []).append(m["start"])
    by_short = {}
    for key, starts in full_people.items():
        for short in short_forms(key):
            by_short.setdefault(short, []).extend((s, key) for s in starts)

    groups = {}
    for m in mentions:
        key, group_label = m["key"], None
        if key in alias_table:
            pass
        elif key in acronyms:
            key = acronyms[key]
        elif len(key.split()) == 1 and key in by_short and m["label"] != "NORP":
            cands = sorted(by_short[key])
            before = [c for c in cands if c[0] < m["start"]]
            key = (before[-1] if before else cands[0])[1]
            group_label = "PERSON"
        m["group"] = key
        groups.setdefault(key, []).append((m, group_label))

    votes = set()
    for key, members in groups.items():
        if key in alias_table:
            actor_id, typ, name = alias_table[key]
            full, from_alias = True, True
        else:
            counts = Counter(gl or m["label"] for m, gl in members)
            typ = max(counts, key=lambda lab: (counts[lab], -LABELS.index(lab)))
            names = Counter(m["text"] for m, _ in members if m["key"] == key)
            name = max(names, key=lambda n: (names[n], len(n), n)) if names else members[0][0]["text"]
            actor_id = f"{typ}:{slug(key)}"
            full = not (len(key.split()) == 1 and (typ == "PERSON" or key.upper() == name))
            from_alias = False
            if typ == "PERSON" and len(key.split()) > 1:
                votes.update((short, actor_id) for short in short_forms(key))
        for m, _ in members:
            m.update(actor_id=actor_id, type=typ, name=name, full=full, alias=from_alias)
    for acr, key in acronyms.items():
        if key in groups and acr not in alias_table:
            votes.add((acr, groups[key][0][0]["actor_id"]))
    for m in mentions:
        del m["key"], m["heading"], m["group"]
    return mentions, sorted(votes)


def article_row(article, n_mentions):
    """The `articles` table row for an analysed (or duplicate) article."""
    row = {k: v for k, v in article.items()
           if k not in ("ents", "sents", "tokens", "text_hash", "analysed_chars")}
    row["n_mentions"] = n_mentions
    return row


class ResolveArticleFn(beam.DoFn):
    """Analysed article -> its `articles` row, a compact actor record, and
    short-form votes (main output)."""

    def __init__(self, aliases_path, labels):
        self._aliases_path = aliases_path
        self._labels = tuple(labels)

    def setup(self):
        self._aliases = lexicon.aliases(self._aliases_path)

    def process(self, article):
        text = article["text"][: article["analysed_chars"]]
        mentions, votes = resolve_article(
            text, article["ents"], article["sents"], self._aliases, self._labels)
        yield beam.pvalue.TaggedOutput(ARTICLES, article_row(article, len(mentions)))
        yield beam.pvalue.TaggedOutput(ARTICLE_ACTORS, {
            "article_id": article["article_id"], "outlet": article["outlet"],
            "published": article["published"], "text": text, "sents": article["sents"],
            "tokens": article.get("tokens"), "mentions": pack_mentions(mentions)})
        for vote in votes:
            yield vote


class VoteCountFn(beam.CombineFn):
    """The actor ids one short form votes for -> ``[(actor_id, n_articles)]``
    (an article votes once for each pair): one combine keyed by the short
    form, where counting the pairs and then grouping them by short form took
    two shuffles."""

    def create_accumulator(self):
        return {}

    def add_input(self, counts, actor_id):
        counts[actor_id] = counts.get(actor_id, 0) + 1
        return counts

    def merge_accumulators(self, accumulators):
        return merge_into_first(accumulators, _add_counts, dict)

    def extract_output(self, counts):
        return list(counts.items())


def decide_merges(short_and_votes):
    """(short_key, [(actor_id, n_articles), ...]) -> (short_key, actor_id)
    when one full name holds the large majority of the votes."""
    short, votes = short_and_votes
    votes = sorted(votes, key=lambda v: (-v[1], v[0]))
    total = sum(n for _, n in votes)
    best, n = votes[0]
    if n >= MIN_VOTES and n >= MAJORITY * total:
        yield short, best


# An article's mentions travel from the NLP stage to the corpus-wide merge as
# tuples of these fields (`pack_mentions`): Beam's coder encodes and decodes
# a tuple of values in a third of the time of a dict that also names them
# (9.4 against 23 us for 14 mentions).
MENTION_FIELDS = ("start", "end", "text", "label", "sentence",
                  "actor_id", "type", "name", "full", "alias")
_MENTION_TUPLE = itemgetter(*MENTION_FIELDS)


def pack_mentions(mentions):
    """`resolve_article`'s mention dicts -> tuples of `MENTION_FIELDS`."""
    return list(map(_MENTION_TUPLE, mentions))


def remap_article(record, merges):
    """Apply corpus merges to one article's mentions (`pack_mentions`
    tuples); returns the mentions (dicts, final actor ids) and per-actor
    partial statistics."""
    mentions = [dict(zip(MENTION_FIELDS, m)) for m in record["mentions"]]
    for m in mentions:
        if not m["full"] and not m["alias"]:
            short = m["actor_id"].split(":", 1)[1].replace("_", " ")
            target = merges.get(fold(m["text"])) or merges.get(short)
            if target:
                m["actor_id"], m["type"], m["full"] = target, target.split(":", 1)[0], None
    partials = {}  # plain dicts, not Counters: Beam's coder pickles a Counter
    for m in mentions:
        p = partials.get(m["actor_id"])
        if p is None:
            p = partials[m["actor_id"]] = {"type": m["type"], "n_mentions": 0, "forms": {},
                                           "names": {}, "alias_name": None}
        p["n_mentions"] += 1
        forms = p["forms"]
        forms[m["text"]] = forms.get(m["text"], 0) + 1
        if m["alias"]:
            p["alias_name"] = m["name"]
        elif m["full"] is not None:  # merged bare forms do not name the actor
            key, names = (m["full"], m["name"]), p["names"]
            names[key] = names.get(key, 0) + 1
    return mentions, partials


class RemapFn(beam.DoFn):
    """An article's record -> its `mentions` rows as one list (MENTIONS),
    its final record (ARTICLE_ACTORS) and its actors' partials (main), one
    ``(shard, {actor_id: partial})`` per shard of `actor_shards(n_articles)`
    that its actors fall in: a few elements an article, not one per actor."""

    def process(self, record, merges, n_articles):
        mentions, partials = remap_article(record, merges)
        if mentions:
            article_id = record["article_id"]
            yield beam.pvalue.TaggedOutput(MENTIONS, [{
                "article_id": article_id, "actor_id": m["actor_id"],
                "text": m["text"], "label": m["label"], "start": m["start"],
                "end": m["end"], "sentence": m["sentence"]} for m in mentions])
        yield beam.pvalue.TaggedOutput(ARTICLE_ACTORS, {
            "article_id": record["article_id"], "outlet": record["outlet"],
            "published": record["published"], "text": record["text"],
            "sents": record["sents"], "tokens": record["tokens"],
            "mentions": [(m["start"], m["end"], m["actor_id"], m["label"], m["sentence"])
                         for m in mentions],
            "actors": sorted({(m["actor_id"], m["sentence"]) for m in mentions})})
        shards = actor_shards(n_articles)
        by_shard = {}
        for actor_id, p in partials.items():
            shard = part_of((actor_id,), shards)
            by_shard.setdefault(shard, {})[actor_id] = p
        yield from by_shard.items()


def _add_counts(counts, other):
    """Add the counts ``{key: n}`` of `other` to `counts`."""
    get = counts.get
    for key, n in other.items():
        counts[key] = get(key, 0) + n


class ActorStatsFn(beam.CombineFn):
    """Per-article partials of one actor -> the `actors` row fields. The
    accumulators hold plain dicts of counts, which Beam's coder encodes
    natively (a Counter would be pickled)."""

    def create_accumulator(self):
        return {"n_articles": 0, "n_mentions": 0, "forms": {}, "names": {}, "alias_name": None}

    def add_input(self, acc, partial):
        return self._merge(acc, dict(partial, n_articles=1))

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for acc in accs:
            self._merge(out, acc)
        return out

    @staticmethod
    def _merge(acc, other):
        acc["n_articles"] += other["n_articles"]
        acc["n_mentions"] += other["n_mentions"]
        _add_counts(acc["forms"], other["forms"])
        _add_counts(acc["names"], other["names"])
        names = [n for n in (acc["alias_name"], other["alias_name"]) if n]
        acc["alias_name"] = min(names) if names else None  # order-independent
        return acc

    def extract_output(self, acc):
        names, counts = acc["names"], acc["forms"]
        forms = sorted(counts, key=lambda f: (-counts[f], f))
        if acc["alias_name"]:
            name = acc["alias_name"]
        elif names:  # full forms first, then the most frequent, the longest
            name = max(names, key=lambda fn: (fn[0], names[fn], len(fn[1]), fn[1]))[1]
        else:  # the most frequent form, ties by text
            name = forms[0]
        return {"name": name, "n_articles": acc["n_articles"],
                "n_mentions": acc["n_mentions"], "aliases": forms}


def actor_shards(n_articles):
    """How many shards the actors' statistics are summed in: one per
    `ACTOR_SHARD_ARTICLES` articles, so that a shard receives the partials of
    about that many articles (an article's actors spread over the shards;
    on a runner that does not pre-combine, such as DaskRunner, a worker holds
    them all at once), and at least `MIN_ACTOR_SHARDS`, so that the final
    sums spread over the workers (one shard left one of two workers idle for
    1 s at 10,000 articles)."""
    return max(MIN_ACTOR_SHARDS, part_count(n_articles, ACTOR_SHARD_ARTICLES))


class ShardStatsFn(beam.CombineFn):
    """Per-article partials ``{actor_id: partial}`` of one shard -> the
    ``(actor_id, fields)`` of the `actors` rows of its actors: `ActorStatsFn`
    per actor, over dicts of its accumulators."""

    def __init__(self):
        self._fn = ActorStatsFn()

    def create_accumulator(self):
        return {}

    def add_input(self, acc, partials):
        fn = self._fn
        for actor_id, p in partials.items():
            a = acc.get(actor_id)
            acc[actor_id] = fn.add_input(fn.create_accumulator() if a is None else a, p)
        return acc

    def merge_accumulators(self, accs):
        return merge_into_first(accs, self._merge, dict)

    def _merge(self, out, acc):
        fn = self._fn
        for actor_id, a in acc.items():
            mine = out.get(actor_id)  # a copy, never the other accumulator's dict
            out[actor_id] = fn.merge_accumulators([a] if mine is None else [mine, a])

    def extract_output(self, acc):
        return [(actor_id, self._fn.extract_output(a)) for actor_id, a in acc.items()]


def _actor_row(kv):
    actor_id, stats = kv
    return dict(actor_id=actor_id, type=actor_id.split(":", 1)[0], **stats)


class ResolveActors(beam.PTransform):
    """Analysed articles -> `articles` rows, `mentions` (one list of rows an
    article with mentions), `actors`, and
    `article_actors` (the input may be ``(analysed, n)``, `n` a count of them
    made elsewhere, `outputs.global_count`): one record per analysed (non-duplicate) article for the
    later statistics, ``{article_id, outlet, published, text, sents,
    mentions: [(start, end, actor_id, label, sentence)], actors: sorted
    [(actor_id, sentence)]}`` with final (corpus-merged) actor ids."""

    def __init__(self, aliases_path=None, labels=LABELS):
        super().__init__()
        self._aliases_path = aliases_path
        self._labels = labels

    def expand(self, pcolls):
        # analysed articles, or (analysed, their count made elsewhere)
        analysed, *counted = pcolls if isinstance(pcolls, tuple) else (pcolls,)
        local = analysed | "ResolveInArticle" >> ParDoWithOutputs(
            ResolveArticleFn(self._aliases_path, self._labels),
            main="votes", tags=[ARTICLES, ARTICLE_ACTORS])
        merges = (local.votes
                  | "CountVotes" >> beam.CombinePerKey(VoteCountFn())
                  | "DecideMerges" >> beam.FlatMap(decide_merges))
        n_articles = count_or_given(analysed, counted, "CountArticles")
        # The records are spread anew before the merge, which is the largest
        # stage after the NLP: Beam's local runner splits an input that is
        # not grouped among its workers by whole data chunks of up to 10 MB,
        # in the order they arrived, so when one worker's last chunk
        # arrived before the other's first, one worker got almost all of
        # them (10,000 articles: 0.7 and 7.0 s of CPU in the two workers,
        # the stage 7.4 s instead of about 4; BENCHMARKS.md, thirteenth
        # session). Grouped by article, it splits them by key, evenly.
        spread = local[ARTICLE_ACTORS] | "SpreadArticles" >> Spread(itemgetter("article_id"))
        final = spread | "MergeAcrossCorpus" >> ParDoWithOutputs(
            RemapFn(), main="partials", tags=[MENTIONS, ARTICLE_ACTORS],
            merges=beam.pvalue.AsDict(merges), n_articles=as_count(n_articles))
        actors = (final.partials
                  | "ActorStats" >> beam.CombinePerKey(ShardStatsFn())
                  | "ActorRows" >> beam.FlatMap(lambda kv: map(_actor_row, kv[1])))
        return {ARTICLES: local[ARTICLES], MENTIONS: final[MENTIONS], "actors": actors,
                ARTICLE_ACTORS: final[ARTICLE_ACTORS]}
