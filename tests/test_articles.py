"""Reading and normalising: formats, field aliases, furniture, duplicates,
and the errors table, with exact expected records."""
import gzip
import json
import re

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.articles import (FURNITURE, NormalizeArticles, _at_start, _combine,
                                 is_furniture, normalize_record, parse_published,
                                 strip_furniture, text_hash)
from transforms.read import ReadRecords, expand_inputs

BODY = ("Finance ministers met in Brussels on Tuesday.\n\n"
        "“We agreed on the framework,” said Paolo Gentiloni, the EU commissioner.")


def test_seed_furniture_and_trailer_are_cut(seed_text):
    end, outlet = strip_furniture(seed_text)
    assert outlet == "The Epoch Times"
    assert seed_text[:end].endswith("Western-dominated global order.”")
    assert "Sign up" not in seed_text[:end] and "From The Epoch" not in seed_text[:end]


def test_article_without_furniture_is_untouched():
    text = BODY + "\n\nFrom the start, officials doubted the plan would pass.\n"
    end, outlet = strip_furniture(text)
    assert outlet is None and text[:end] == text.rstrip()


def test_text_is_a_prefix_of_the_input_so_offsets_hold():
    raw = BODY + "\n\nFrom Reuters\n\nSign up for our newsletter\nPrivacy Policy"
    a = normalize_record({"source_file": "f", "record": 1,
                          "fields": {"body": raw, "headline": "Deal", "date": "2023-05-02"}})
    assert raw.startswith(a["text"]) and a["text"] == BODY
    assert (a["outlet"], a["outlet_from"], a["title"]) == ("Reuters", "trailer", "Deal")
    assert a["published"].isoformat() == "2023-05-02T00:00:00+00:00"


def test_field_outlet_beats_trailer_and_ids_are_stable():
    fields = {"text": BODY + "\nFrom Reuters", "source": "AP", "link": "https://x.org/a"}
    a = normalize_record({"source_file": "f", "record": 3, "fields": fields})
    b = normalize_record({"source_file": "g", "record": 9, "fields": fields})
    assert a["outlet"] == "AP" and a["article_id"] == b["article_id"] and len(a["article_id"]) == 16


@pytest.mark.parametrize("value,iso", [
    ("2023-03-21T08:15:00Z", "2023-03-21T08:15:00+00:00"),
    ("2023-03-21T08:15:00-04:00", "2023-03-21T12:15:00+00:00"),
    ("March 21, 2023", "2023-03-21T00:00:00+00:00"),
    (1679386500, "2023-03-21T08:15:00+00:00"),
])
def test_published_is_utc(value, iso):
    assert parse_published(value).isoformat() == iso


def _write_inputs(tmp_path):
    good = {"id": "a1", "text": BODY, "outlet": "Reuters", "published": "2023-05-02"}
    (tmp_path / "a.jsonl").write_text(
        json.dumps(good) + "\n"
        + json.dumps({"id": "a2", "text": BODY, "outlet": "AP"}) + "\n"   # duplicate text
        + "{not json\n"
        + "\n"                                                             # blank: no record
        + json.dumps({"id": "a3", "text": "   "}) + "\n"
        + json.dumps({"id": "a4", "text": 42}) + "\n"
        + json.dumps(["a list"]) + "\n")
    (tmp_path / "b.csv").write_text(
        'headline,body,source\n"Rates","Markets rose, then fell.\nAnalysts shrugged.",Nikkei\n'
        '"Short",only two\n', encoding="utf-8")
    (tmp_path / "c.txt").write_text("\n  Title line\n\nThe body, here.\n", encoding="utf-8")
    with gzip.open(tmp_path / "d.jsonl.gz", "wt") as fh:
        fh.write(json.dumps({"id": "z1", "content": "Zipped text."}) + "\n")
    (tmp_path / "e.jsonl").write_bytes(b'{"id": "legacy", "text": "caf\xe9 \x93quoted\x94"}\n')
    (tmp_path / "f.jsonl").write_bytes(b'{"id": "mixed", "text": "caf\xc3\xa9 and caf\xe9"}\n')
    (tmp_path / "notes.md").write_text("not an input")


def test_expand_inputs_walks_folders_and_reports_skipped(tmp_path):
    _write_inputs(tmp_path)
    files, skipped = expand_inputs([str(tmp_path)])
    assert [f.rsplit("/", 1)[1] for f in files] == ["a.jsonl", "b.csv", "c.txt", "d.jsonl.gz", "e.jsonl",
                                                      "f.jsonl"]
    assert [s.rsplit("/", 1)[1] for s in skipped] == ["notes.md"]
    assert expand_inputs([str(tmp_path / "*.csv")])[0] == [str(tmp_path / "b.csv")]
    with pytest.raises(FileNotFoundError):
        expand_inputs([str(tmp_path / "*.xml")])


def test_read_and_normalize_pipeline(tmp_path):
    _write_inputs(tmp_path)
    files, _ = expand_inputs([str(tmp_path)])
    name = lambda p: p.rsplit("/", 1)[1]  # noqa: E731
    with TestPipeline() as p:
        read = p | beam.Create(files) | ReadRecords()
        out = read.records | NormalizeArticles()
        assert_that(out["articles"] | "A" >> beam.Map(
            lambda a: (a["article_id"], a["duplicate_of"], a["outlet"], a["title"], a["text"],
                       name(a["source_file"]), a["record"])),
            equal_to([
                ("a1", None, "Reuters", None, BODY, "a.jsonl", 1),
                ("a2", "a1", "AP", None, BODY, "a.jsonl", 2),
                (text_hash("Markets rose, then fell.\nAnalysts shrugged.")[:16], None,
                 "Nikkei", "Rates", "Markets rose, then fell.\nAnalysts shrugged.", "b.csv", 3),
                ("c", None, None, "Title line", "\nThe body, here.", "c.txt", 1),
                ("z1", None, None, None, "Zipped text.", "d.jsonl.gz", 1),
                ("legacy", None, None, None, "café “quoted”", "e.jsonl", 1),
            ]), label="Articles")
        assert_that(out["articles"] | "Enc" >> beam.Map(lambda a: (a["article_id"], a["encoding"])),
                    equal_to([("a1", "utf-8"), ("a2", "utf-8"), ("c", "utf-8"), ("z1", "utf-8"),
                              ("legacy", "cp1252"),
                              (text_hash("Markets rose, then fell.\nAnalysts shrugged.")[:16],
                               "utf-8")]), label="Encodings")
        errors = (read.errors, out["errors"]) | beam.Flatten()
        assert_that(errors | "E" >> beam.Map(
            lambda e: (name(e["source_file"]), e["record"], e["stage"], e["error_type"])),
            equal_to([("a.jsonl", 3, "read", "json"),
                      ("a.jsonl", 5, "normalize", "empty_text"),
                      ("a.jsonl", 6, "normalize", "bad_type"),
                      ("a.jsonl", 7, "read", "not_an_object"),
                      ("b.csv", 4, "read", "csv"),
                      ("f.jsonl", 1, "read", "decode")]), label="Errors")
        assert_that(read.counts | "C" >> beam.MapTuple(lambda f, n: (name(f), n)),
                    equal_to([("a.jsonl", 6), ("b.csv", 2), ("c.txt", 1),
                              ("d.jsonl.gz", 1), ("e.jsonl", 1), ("f.jsonl", 1)]),
                    label="Counts")


def test_published_travels_as_microseconds():
    from datetime import datetime, timezone
    from transforms.articles import from_micros, to_micros
    from transforms.comentions import period_start
    for value in ("2023-04-03T10:00:00.123456+02:00", "1969-12-31T23:59:59Z", "0001-01-01",
                  "9999-12-31T23:59:59.999999Z"):
        dt = parse_published(value)
        assert from_micros(to_micros(dt)) == dt
        for period in ("day", "week", "month"):
            assert period_start(to_micros(dt), period) == period_start(dt, period)
    assert to_micros(datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc)) == 1_000_000
    assert to_micros(None) is None and period_start(None) is None


@pytest.mark.parametrize("pattern, rest", [
    ("^a|b", None), (r"^by (x|y)\b", r"by (x|y)\b"), ("^[|]x", "[|]x"), ("^a[)]|b", None),
    (r"^a\|b", r"a\|b"), ("^[]|]x", "[]|]x"), ("^[^]|]x|y", None), ("a", None), ("^(a)|b", None)])
def test_only_a_caret_that_anchors_the_whole_pattern_counts(pattern, rest):
    assert _at_start(pattern) == rest


def test_combined_furniture_regexes_match_where_any_pattern_does(seed_text):
    lines = [ln.strip() for ln in seed_text.splitlines()] + [
        "Sign up for our newsletter", "sign upx", "Read more", "read more about it", "© 2024",
        "x ©", "Advertisement", "advertisement here", "Terms of Service apply",
        "our privacy policy", "Related stories", "related:", "Follow us on Twitter",
        "Download the app", "COPYRIGHT 2020", "ſubscribe now", "all rights reserved."]
    found = [ln for ln in lines if is_furniture(ln)]
    assert found == [ln for ln in lines if any(p.search(ln) for p in FURNITURE)]
    assert len(found) >= 12


def test_patterns_that_cannot_be_joined_are_tried_alone():
    # backreferences, conditionals, named groups, comments, inline flags
    odd = [r"^(\w+) \1$", r"(\w+) \1", r"(a)?(?(1)b|c)", r"(?i)foo", r"(?x) foo \s bar",
           r"(?P<w>a)", r"(?P<w>b)", r"^a(?#()|b", r"^a(?#[)|b"]
    patterns = FURNITURE + [re.compile(p, re.IGNORECASE) for p in odd]
    start, anywhere, alone = _combine(patterns)
    assert [p.pattern for p in alone] == odd
    for line in ["more more", "it was was fine", "ab", "foo", "foobar", "a", "b", "xb",
                 "our privacy policy", "Terms of use", "Read more", "x", ""]:
        assert bool(start.match(line) or anywhere.search(line)
                    or any(p.search(line) for p in alone)) == any(
                        p.search(line) for p in patterns), line
