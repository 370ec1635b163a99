"""The one place that defines every output table: columns, types, sort order.

Each table is a folder of Parquet files under the output directory; an
analyst loads one with ``pd.read_parquet(out / name)``. README.md documents
the same columns for people; `tests/test_schemas.py` keeps the two in step.
"""
import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")


class Table:
    """A table's name, pyarrow schema, and the columns its rows sort by."""

    def __init__(self, name, fields, sort_by, doc):
        self.name = name
        self.schema = pa.schema(fields)
        self.sort_by = tuple(sort_by)
        self.doc = doc

    def sort_key(self, row):
        # None sorts first; tuples keep mixed None/values comparable.
        return tuple((row[c] is not None, row[c]) for c in self.sort_by)


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
    ("text", pa.string()),
], sort_by=["article_id"],
   doc="One row per input article; duplicates keep a row with duplicate_of "
       "set and count nowhere else. Offsets in other tables index `text`.")

MENTIONS = Table("mentions", [
    ("article_id", pa.string()),
    ("actor_id", pa.string()),
    ("text", pa.string()),
    ("label", pa.string()),
    ("start", pa.int32()),
    ("end", pa.int32()),
    ("sentence", pa.int32()),
], sort_by=["article_id", "start"],
   doc="One row per entity mention; text == articles.text[start:end].")

ACTORS = Table("actors", [
    ("actor_id", pa.string()),
    ("name", pa.string()),
    ("type", pa.string()),
    ("n_articles", pa.int64()),
    ("n_mentions", pa.int64()),
    ("aliases", pa.list_(pa.string())),
], sort_by=["actor_id"],
   doc="One row per actor after merging name variants across the corpus.")

ERRORS = Table("errors", [
    ("source_file", pa.string()),
    ("record", pa.int64()),
    ("stage", pa.string()),
    ("error_type", pa.string()),
    ("message", pa.string()),
    ("excerpt", pa.string()),
], sort_by=["source_file", "record", "stage"],
   doc="Every input record that could not become an article, and why.")

TABLES = {t.name: t for t in (ARTICLES, MENTIONS, ACTORS, ERRORS)}
