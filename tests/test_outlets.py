"""Outlets: names from URL domains, and the `outlets` table."""
from datetime import datetime, timezone

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.articles import normalize_record
from transforms.outlets import OutletStats, outlet_from_url, url_domain


@pytest.mark.parametrize("url, name", [
    ("https://www.theepochtimes.com/world/putin-xi-to-meet-5510000", "The Epoch Times"),
    ("https://edition.cnn.com/2023/10/16/politics/index.html", "CNN"),   # subdomain
    ("https://asia.nikkei.com/Politics/x", "Nikkei Asia"),               # own row wins
    ("https://www.bbc.co.uk/news/world-1", "BBC News"),
    ("www.reuters.com/world/china/x", "Reuters"),                       # no scheme
    ("https://blog.example.org/post?id=3", "blog.example.org"),         # unknown domain
    ("not a url", None), ("", None), (None, None), ("https://localhost/x", None),
])
def test_outlet_from_url(url, name):
    assert outlet_from_url(url) == name


def test_url_domain_drops_www_and_port():
    assert url_domain("HTTP://WWW.NYTimes.com:443/a") == "nytimes.com"
    assert url_domain("https://m.apnews.com/article/x") == "apnews.com"


def _article(fields):
    return normalize_record({"source_file": "f", "record": 1, "fields": fields})


def test_outlet_precedence_field_then_url_then_trailer():
    body = "The talks ended on Friday without a deal, officials said."
    trailer = body + "\n\nFrom Reuters"
    url = "https://www.theepochtimes.com/world/x"
    a = _article({"text": trailer, "outlet": "AP", "url": url})
    b = _article({"text": trailer, "url": url})
    c = _article({"text": trailer})
    d = _article({"text": body})
    assert [(x["outlet"], x["outlet_from"]) for x in (a, b, c, d)] == [
        ("AP", "field"), ("The Epoch Times", "url"), ("Reuters", "trailer"), (None, None)]


def test_outlet_stats_rows():
    t1 = datetime(2023, 3, 1, tzinfo=timezone.utc)
    t2 = datetime(2023, 4, 1, tzinfo=timezone.utc)
    articles = [
        {"article_id": "a1", "outlet": "AP", "published": t2, "duplicate_of": None},
        {"article_id": "a2", "outlet": "AP", "published": t1, "duplicate_of": None},
        {"article_id": "a3", "outlet": "AP", "published": t2, "duplicate_of": "a1"},
        {"article_id": "a4", "outlet": None, "published": None, "duplicate_of": None},
        {"article_id": "a5", "outlet": "Reuters", "published": t1, "duplicate_of": "a2"},
    ]
    quotes = [{"article_id": "a1", "outlet": "AP"}, {"article_id": "a1", "outlet": "AP"},
              {"article_id": "a4", "outlet": None}]
    article_actors = [
        {"article_id": "a1", "outlet": "AP",
         "mentions": [(0, 5, "PERSON:x", "PERSON", 0), (9, 14, "GPE:y", "GPE", 0)]},
        {"article_id": "a2", "outlet": "AP", "mentions": [(0, 5, "PERSON:x", "PERSON", 0)]},
        {"article_id": "a4", "outlet": None, "mentions": []},
    ]
    with TestPipeline() as p:
        rows = {"articles": p | "A" >> beam.Create(articles),
                "quotes": p | "Q" >> beam.Create(quotes),
                "article_actors": p | "AA" >> beam.Create(article_actors)} | OutletStats()
        assert_that(rows, equal_to([
            {"outlet": "AP", "n_articles": 2, "n_duplicates": 1, "n_quotes": 2, "n_actors": 2,
             "first_published": t1, "last_published": t2},
            {"outlet": None, "n_articles": 1, "n_duplicates": 0, "n_quotes": 1, "n_actors": 0,
             "first_published": None, "last_published": None},
            {"outlet": "Reuters", "n_articles": 0, "n_duplicates": 1, "n_quotes": 0,
             "n_actors": 0, "first_published": None, "last_published": None},
        ]))
