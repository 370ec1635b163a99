"""The one place that defines every output table: columns, types, sort order.

Each table is a folder of Parquet files under the output directory; an
analyst loads one with ``pd.read_parquet(out / name)``. README.md documents
the same columns for people; `tests/test_schemas.py` keeps the two in step.
"""
import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
SPLIT_FROM = 2_000  # `Table.split_from` of the large tables


def none_first(value):
    """Sort key of one value: None before every value, and a column that
    mixes None and values stays comparable."""
    return (value is not None, value)


class Table:
    """A table's name, pyarrow schema, the columns its rows sort by, and its
    part size: each `per_part` rows of the table named `part_basis` (the
    `articles` table, or for `errors` its own rows) make one more Parquet part
    of it, chosen so that a part holds up to about 100,000 rows of news
    (measured on the benchmark corpus: 14 mentions, 10 keyphrases, 3.4 quotes,
    1.2 topics and, at 10,000 articles, 2.9 actors an article). The co-mention
    tables count analysed articles and are split by their producer
    (`comentions.pair_parts`).

    A large table has `split_from`: from that many rows of its part basis
    on it is written in two parts at least. The local runner gives each
    worker whole parts, and a table of one part is written by one worker
    while the other waits (at 10,000 articles, 0.24-0.34 s each for
    quotes, articles and keyphrases: BENCHMARKS.md, fourteenth session);
    a small table stays one file."""

    def __init__(self, name, fields, sort_by, doc, per_part=100_000, part_basis="articles",
                 split_from=None):
        self.name = name
        self.schema = pa.schema(fields)
        self.sort_by = tuple(sort_by)
        self.doc = doc
        self.per_part = per_part
        self.part_basis = part_basis
        self.split_from = split_from

    def sort_key(self, row):
        return tuple(none_first(row[c]) for c in self.sort_by)


ARTICLES = Table("articles", [
    ("article_id", pa.string()),
    ("outlet", pa.string()),
    ("url", pa.string()),
    ("title", pa.string()),
    ("author", pa.string()),
    ("published", TIMESTAMP),
    ("n_words", pa.int32()),
    ("n_mentions", pa.int32()),
    ("duplicate_of", pa.string()),
    ("source_file", pa.string()),
    ("record", pa.int64()),
    ("outlet_from", pa.string()),
    ("given_id", pa.string()),
    ("encoding", pa.string()),
    ("truncated", pa.bool_()),
    ("text", pa.string()),
], sort_by=["article_id"],
   doc="One row per input article; duplicates keep a row with duplicate_of "
       "set and count nowhere else. Offsets in other tables index `text`.",
   per_part=10_000, split_from=SPLIT_FROM)

MENTIONS = Table("mentions", [
    ("article_id", pa.string()),
    ("actor_id", pa.string()),
    ("text", pa.string()),
    ("label", pa.string()),
    ("start", pa.int32()),
    ("end", pa.int32()),
    ("sentence", pa.int32()),
], sort_by=["article_id", "start"],
   doc="One row per entity mention; text == articles.text[start:end].",
   per_part=7_000, split_from=SPLIT_FROM)

ACTORS = Table("actors", [
    ("actor_id", pa.string()),
    ("name", pa.string()),
    ("type", pa.string()),
    ("n_articles", pa.int64()),
    ("n_mentions", pa.int64()),
    ("aliases", pa.list_(pa.string())),
], sort_by=["actor_id"],
   doc="One row per actor after merging name variants across the corpus.",
   per_part=25_000, split_from=SPLIT_FROM)

ERRORS = Table("errors", [
    ("source_file", pa.string()),
    ("record", pa.int64()),
    ("stage", pa.string()),
    ("error_type", pa.string()),
    ("message", pa.string()),
    ("excerpt", pa.string()),
], sort_by=["source_file", "record", "stage"],
   doc="Every input record that could not become an article, and why.",
   part_basis="errors")

COMENTIONS = Table("comentions", [
    ("actor_a", pa.string()),
    ("actor_b", pa.string()),
    ("name_a", pa.string()),
    ("name_b", pa.string()),
    ("type_a", pa.string()),
    ("type_b", pa.string()),
    ("n_articles", pa.int64()),
    ("n_sentences", pa.int64()),
    ("pmi", pa.float64()),
    ("npmi", pa.float64()),
    ("llr", pa.float64()),
], sort_by=["actor_a", "actor_b"],
   doc="One row per unordered actor pair (actor_a < actor_b) named in the same "
       "article: articles and sentences naming both, and PMI, NPMI and Dunning's "
       "G2 (natural log) on article counts; scores null below --min-pair-articles.",
   per_part=1_000)   # of analysed articles; about 50-60 distinct pairs an article

COMENTIONS_BY_PERIOD = Table("comentions_by_period", [
    ("period", pa.date32()),
    ("actor_a", pa.string()),
    ("actor_b", pa.string()),
    ("n_articles", pa.int64()),
    ("n_sentences", pa.int64()),
], sort_by=["period", "actor_a", "actor_b"],
   doc="Pair counts per --period (first day of the day/ISO week/month of "
       "`published`; null for undated articles).",
   per_part=COMENTIONS.per_part)  # a pair's rows share one part in all three

COMENTIONS_BY_OUTLET = Table("comentions_by_outlet", [
    ("outlet", pa.string()),
    ("actor_a", pa.string()),
    ("actor_b", pa.string()),
    ("n_articles", pa.int64()),
], sort_by=["outlet", "actor_a", "actor_b"],
   doc="Pair article counts per outlet.",
   per_part=COMENTIONS.per_part)

TOPICS = Table("topics", [
    ("article_id", pa.string()),
    ("topic", pa.string()),
    ("label", pa.string()),
    ("score", pa.float64()),
    ("rank", pa.int32()),
], sort_by=["article_id", "rank"],
   doc="IPTC Media Topics (medtop:...) and --topics user topics of each article: "
       "score = the topic's share of the article's lexicon evidence; rank 1 = best.",
   per_part=50_000)

KEYPHRASES = Table("keyphrases", [
    ("article_id", pa.string()),
    ("phrase", pa.string()),
    ("score", pa.float64()),
    ("rank", pa.int32()),
], sort_by=["article_id", "rank"],
   doc="Top TF-IDF phrases (1-3 content words) of each article; document "
       "frequencies over the whole corpus of the run.",
   per_part=10_000, split_from=SPLIT_FROM)

TOPICS_BY_PERIOD = Table("topics_by_period", [
    ("period", pa.date32()),
    ("topic", pa.string()),
    ("label", pa.string()),
    ("n_articles", pa.int64()),
    ("share", pa.float64()),
], sort_by=["period", "topic"],
   doc="Articles carrying each topic per --period (first day; null for undated "
       "articles) and their share of that period's analysed articles.")

QUOTES = Table("quotes", [
    ("article_id", pa.string()),
    ("outlet", pa.string()),
    ("published", TIMESTAMP),
    ("speaker_id", pa.string()),
    ("speaker", pa.string()),
    ("speaker_start", pa.int32()),
    ("speaker_end", pa.int32()),
    ("affiliation", pa.string()),
    ("cue", pa.string()),
    ("cue_lemma", pa.string()),
    ("cue_start", pa.int32()),
    ("cue_end", pa.int32()),
    ("quote", pa.string()),
    ("quote_start", pa.int32()),
    ("quote_end", pa.int32()),
    ("direct", pa.bool_()),
], sort_by=["article_id", "quote_start", "cue_start"],
   doc="One row per reported-speech attribution: who (speaker_id = actor, null "
       "for unnamed sources), the cue word and the quoted or reported content; "
       "offsets index articles.text; cue null for a continued quotation.",
   per_part=25_000, split_from=SPLIT_FROM)

SOURCES = Table("sources", [
    ("speaker_id", pa.string()),
    ("speaker", pa.string()),
    ("affiliation", pa.string()),
    ("n_quotes", pa.int64()),
    ("n_articles", pa.int64()),
    ("n_outlets", pa.int64()),
    ("first_published", TIMESTAMP),
    ("last_published", TIMESTAMP),
], sort_by=["speaker_id", "speaker"],
   doc="One row per quoted speaker: an actor, or (speaker_id null) the words of "
       "an unnamed source such as 'officials'; affiliation = most frequent.",
   per_part=50_000)

OUTLETS = Table("outlets", [
    ("outlet", pa.string()),
    ("n_articles", pa.int64()),
    ("n_duplicates", pa.int64()),
    ("n_quotes", pa.int64()),
    ("n_actors", pa.int64()),
    ("first_published", TIMESTAMP),
    ("last_published", TIMESTAMP),
], sort_by=["outlet"],
   doc="One row per outlet (null: articles without one): analysed articles, "
       "exact duplicates, quotes, distinct actors, date range.")

TABLES = {t.name: t for t in (ARTICLES, MENTIONS, ACTORS, ERRORS, COMENTIONS,
                              COMENTIONS_BY_PERIOD, COMENTIONS_BY_OUTLET,
                              TOPICS, KEYPHRASES, TOPICS_BY_PERIOD,
                              QUOTES, SOURCES, OUTLETS)}
