"""Outlets: a readable outlet name from an article's URL, and the `outlets`
table (articles, duplicates, quotes and distinct actors per outlet).

`outlet_from_url` maps a URL's host to a name with data/outlets.csv
(``theepochtimes.com`` -> The Epoch Times); a subdomain falls back to its
parent domain (``edition.cnn.com`` -> CNN). An unknown domain yields the
bare domain itself (``example.org``), so articles of one site still group
together. Articles with no outlet at all are counted under a null outlet.
"""
import csv
import io
from functools import lru_cache
from urllib.parse import urlsplit

import apache_beam as beam

from transforms import lexicon

NULL_KEY = "\x00"  # grouping key for a null outlet (None is a poor group key)


@lru_cache(maxsize=None)
def domain_names():
    """domain -> outlet name, from data/outlets.csv."""
    lines = [ln for ln in lexicon._data_text("outlets.csv").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    table = {}
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        table[row["domain"].strip().lower()] = row["outlet"].strip()
    return table


def url_domain(url):
    """'https://www.theepochtimes.com/world/x' -> 'theepochtimes.com';
    None for a value that is not a web URL."""
    if not url or not isinstance(url, str):
        return None
    url = url.strip()
    if "://" not in url:
        if url.startswith("//"):
            url = "http:" + url
        elif "." in url.split("/", 1)[0] and " " not in url:
            url = "http://" + url
        else:
            return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host or "." not in host:
        return None
    host = host.lower().rstrip(".")
    for prefix in ("www.", "www1.", "www2.", "m.", "amp.", "mobile."):
        if host.startswith(prefix) and host.count(".") > 1:
            host = host[len(prefix):]
            break
    return host


def outlet_from_url(url):
    """A readable outlet name for an article URL, or None without a usable
    URL. Known domains (and their subdomains) get their name from
    data/outlets.csv; other domains are returned as they are."""
    host = url_domain(url)
    if host is None:
        return None
    names = domain_names()
    parts = host.split(".")
    for i in range(len(parts) - 1):
        candidate = ".".join(parts[i:])
        if candidate in names:
            return names[candidate]
    return host


def _key(outlet):
    return NULL_KEY if outlet is None else outlet


class OutletStatsFn(beam.CombineFn):
    """Partial counts of one outlet -> the `outlets` row fields."""

    FIELDS = ("n_articles", "n_duplicates", "n_quotes", "n_actors")

    def create_accumulator(self):
        return dict(dict.fromkeys(self.FIELDS, 0), first_published=None, last_published=None)

    def add_input(self, acc, part):
        for f in self.FIELDS:
            acc[f] += part.get(f, 0)
        for f, pick in (("first_published", min), ("last_published", max)):
            vals = [v for v in (acc[f], part.get(f)) if v is not None]
            acc[f] = pick(vals) if vals else None
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            self.add_input(out, a)
        return out

    def extract_output(self, acc):
        return acc


def _article_part(row):
    if row.get("duplicate_of"):
        return _key(row["outlet"]), {"n_duplicates": 1}
    return _key(row["outlet"]), {"n_articles": 1, "first_published": row["published"],
                                 "last_published": row["published"]}


def _outlet_row(kv):
    key, stats = kv
    return dict(stats, outlet=None if key == NULL_KEY else key)


class OutletStats(beam.PTransform):
    """``{"articles": rows of the articles table (duplicates included),
    "quotes": quotes rows, "article_actors": article_actors records}`` ->
    `outlets` rows. n_articles and the dates count analysed (non-duplicate)
    articles; n_actors is the number of distinct actors the outlet's
    articles mention."""

    def expand(self, inputs):
        articles = inputs["articles"] | "ArticleCounts" >> beam.Map(_article_part)
        quotes = inputs["quotes"] | "QuoteCounts" >> beam.Map(
            lambda q: (_key(q["outlet"]), {"n_quotes": 1}))
        actors = (inputs["article_actors"]
                  | "OutletActors" >> beam.FlatMap(
                      lambda a: {(_key(a["outlet"]), m[2]) for m in a["mentions"]})
                  | "DistinctOutletActors" >> beam.Distinct()
                  | "ActorCounts" >> beam.Map(lambda kv: (kv[0], {"n_actors": 1})))
        return ((articles, quotes, actors)
                | "AllOutletParts" >> beam.Flatten()
                | "OutletStats" >> beam.CombinePerKey(OutletStatsFn())
                | "OutletRows" >> beam.Map(_outlet_row))
