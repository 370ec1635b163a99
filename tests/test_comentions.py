"""Co-mention network (transforms/comentions.py).

Small exact tests on hand-made `article_actors` records, and end-to-end
tests: the job's comentions tables must equal an independent pandas
computation over its own written `mentions` and `articles` tables, on
sample_data and on 300 real Reuters-21578 stories read from ../shared."""
import html
import json
import math
import re
from datetime import date, datetime, timezone

import apache_beam as beam
import numpy as np
import pandas as pd
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.conftest import ROOT, SHARED
from transforms.sinks import column_rows
from transforms.comentions import (BY_OUTLET, BY_PERIOD, CAPPED, COMENTIONS,
                                   CoMentions, article_pairs, period_start, scores)

UTC = timezone.utc


def record(article_id, outlet, published, actors, mentions=None):
    """An `article_actors` record: `actors` is [(actor_id, sentence)]."""
    if mentions is None:
        mentions = [(10 * i, 10 * i + 5, a, a.split(":")[0], s)
                    for i, (a, s) in enumerate(actors)]
    return {"article_id": article_id, "outlet": outlet, "published": published,
            "text": "", "sents": [0], "mentions": mentions,
            "actors": sorted(set(actors))}


P, X, B, R = "PERSON:putin", "PERSON:xi", "GPE:beijing", "GPE:russia"
ARTICLES = [
    record("a1", "Daily A", datetime(2023, 10, 16, 9, tzinfo=UTC),
           [(P, 0), (X, 0), (B, 0), (P, 1), (R, 1)]),
    record("a2", "Daily B", datetime(2023, 10, 20, tzinfo=UTC), [(X, 0), (P, 1), (B, 1)]),
    record("a3", "Daily A", datetime(2023, 11, 2, tzinfo=UTC), [(P, 0), (R, 0)]),
    record("a4", "Daily A", None, [(X, 0), (B, 2)]),
    record("a5", "Daily B", None, []),
]
ACTORS = [{"actor_id": P, "name": "Vladimir Putin", "type": "PERSON", "n_articles": 3},
          {"actor_id": X, "name": "Xi Jinping", "type": "PERSON", "n_articles": 3},
          {"actor_id": B, "name": "Beijing", "type": "GPE", "n_articles": 3},
          {"actor_id": R, "name": "Russia", "type": "GPE", "n_articles": 2}]


# ---- pure functions -------------------------------------------------------

def test_article_pairs_counts_shared_sentences():
    pairs, capped = article_pairs(ARTICLES[0])
    assert not capped
    assert pairs == [(B, R, 0), (B, P, 1), (B, X, 1), (R, P, 1), (R, X, 0), (P, X, 1)]
    assert article_pairs(ARTICLES[4]) == ([], False)


def test_article_pairs_cap_keeps_most_mentioned():
    # ids sort GPE:beijing < GPE:russia < PERSON:putin < PERSON:xi
    # Putin 3 mentions, Russia 2, Xi 1 (first), Beijing 1 (later): cap 3 drops Beijing
    mentions = [(0, 2, X, "PERSON", 0), (5, 9, P, "PERSON", 0), (20, 25, P, "PERSON", 1),
                (30, 35, R, "GPE", 1), (40, 45, B, "GPE", 1), (50, 55, R, "GPE", 2),
                (60, 65, P, "PERSON", 2)]
    rec = record("c", "o", None, [(a, s) for _, _, a, _, s in mentions], mentions)
    pairs, capped = article_pairs(rec, max_actors=3)
    assert capped
    assert pairs == [(R, P, 2), (R, X, 0), (P, X, 1)]
    assert article_pairs(rec, max_actors=4) == (
        [(B, R, 1), (B, P, 1), (B, X, 0), (R, P, 2), (R, X, 0), (P, X, 1)], False)


def test_period_start():
    ts = datetime(2023, 10, 19, 23, 30, tzinfo=UTC)  # a Thursday
    assert period_start(ts, "day") == date(2023, 10, 19)
    assert period_start(ts, "week") == date(2023, 10, 16)
    assert period_start(ts, "month") == date(2023, 10, 1)
    assert period_start(datetime(2023, 1, 1, tzinfo=UTC), "week") == date(2022, 12, 26)
    assert period_start(None, "week") is None
    with pytest.raises(ValueError):
        period_start(ts, "year")


def test_scores_worked_example():
    # README example: N=10 articles, Putin in 4, Xi in 5, both in 3.
    pmi, npmi, llr = scores(3, 4, 5, 10)
    assert pmi == pytest.approx(math.log(1.5), abs=1e-12)
    assert npmi == pytest.approx(math.log(1.5) / -math.log(0.3), abs=1e-12)
    assert (round(pmi, 4), round(npmi, 4), round(llr, 4)) == (0.4055, 0.3368, 1.7261)
    # G2 equals scipy's log-likelihood chi-square on the same 2x2 table
    from scipy.stats import chi2_contingency
    g2, _, _, _ = chi2_contingency([[3, 1], [2, 4]], correction=False,
                                   lambda_="log-likelihood")
    assert llr == pytest.approx(g2, abs=1e-12)
    # in every article together: pmi 0, npmi defined as 1; independent: pmi 0, llr 0
    assert scores(4, 4, 4, 4) == (0.0, 1.0, 0.0)
    pmi, npmi, llr = scores(2, 4, 5, 10)
    assert (pmi, npmi) == (0.0, 0.0) and llr == pytest.approx(0.0, abs=1e-12)
    # repelled pair: negative pmi, positive llr
    pmi, npmi, llr = scores(1, 5, 5, 10)
    assert pmi < 0 and -1 < npmi < 0 and llr > 0


# ---- the transform on small inputs ---------------------------------------

def _rows(out):
    """CoMentions' parts -> the plain row PCollections."""
    return {name: out[name] | f"Rows{name}" >> beam.FlatMap(lambda part: column_rows(part[1]))
            for name in (COMENTIONS, BY_PERIOD, BY_OUTLET)} | {"stats": out["stats"]}


def _run_small(period="month", min_pair_articles=2, max_actors=100, articles=ARTICLES,
               given_count=False):
    p = TestPipeline(runner=FnApiRunner())
    inputs = (p | "Articles" >> beam.Create(articles), p | "Actors" >> beam.Create(ACTORS))
    if given_count:  # as the job passes its count of analysed articles (N of the scores)
        inputs += (p | "N" >> beam.Create([len(articles)]),)
    out = inputs | CoMentions(period, min_pair_articles, max_actors)
    return p, _rows(out)


def _row(a, b, n_art, n_sent, score=None):
    names = {r["actor_id"]: r["name"] for r in ACTORS}
    pmi, npmi, llr = score or (None, None, None)
    return {"actor_a": a, "actor_b": b, "name_a": names[a], "name_b": names[b],
            "type_a": a.split(":")[0], "type_b": b.split(":")[0], "n_articles": n_art,
            "n_sentences": n_sent, "pmi": pmi, "npmi": npmi, "llr": llr}


@pytest.mark.parametrize("given_count", [False, True])
def test_comentions_rows_exact(given_count):
    # N = 5 analysed articles; P in 3, X in 3, B in 3, R in 2
    p, out = _run_small(given_count=given_count)
    assert_that(out[COMENTIONS], equal_to([
        _row(B, P, 2, 2, scores(2, 3, 3, 5)),
        _row(B, R, 1, 0),
        _row(B, X, 3, 1, scores(3, 3, 3, 5)),
        _row(R, P, 2, 2, scores(2, 2, 3, 5)),
        _row(P, X, 2, 1, scores(2, 3, 3, 5)),
        _row(R, X, 1, 0),
    ]), label="comentions")
    assert_that(out[BY_OUTLET], equal_to([
        {"outlet": "Daily A", "actor_a": a, "actor_b": b, "n_articles": n}
        for a, b, n in [(B, P, 1), (B, R, 1), (B, X, 2), (R, P, 2), (P, X, 1), (R, X, 1)]
    ] + [
        {"outlet": "Daily B", "actor_a": a, "actor_b": b, "n_articles": 1}
        for a, b in [(B, P), (B, X), (P, X)]
    ]), label="by_outlet")
    oct_, nov = "2023-10-01", "2023-11-01"  # ISO strings until the writer
    assert_that(out[BY_PERIOD], equal_to([
        {"period": d, "actor_a": a, "actor_b": b, "n_articles": n, "n_sentences": s}
        for d, a, b, n, s in [
            (oct_, B, P, 2, 2), (oct_, B, R, 1, 0), (oct_, B, X, 2, 1), (oct_, R, P, 1, 1),
            (oct_, P, X, 2, 1), (oct_, R, X, 1, 0), (nov, R, P, 1, 1), (None, B, X, 1, 0)]
    ]), label="by_period")
    p.run()


def test_period_day_and_min_pair_articles():
    p, out = _run_small(period="day", min_pair_articles=3)
    assert_that(out[COMENTIONS] | beam.Map(lambda r: (r["actor_a"], r["actor_b"],
                                                      r["pmi"] is not None)),
                equal_to([(B, P, False), (B, R, False), (B, X, True), (R, P, False),
                          (P, X, False), (R, X, False)]), label="scored")
    assert_that(out[BY_PERIOD] | beam.Map(lambda r: (str(r["period"]), r["n_articles"]))
                | beam.combiners.Count.PerElement(),
                equal_to([(("2023-10-16", 1), 6), (("2023-10-20", 1), 3),
                          (("2023-11-02", 1), 1), (("None", 1), 1)]), label="days")
    p.run()


def test_cap_limits_pairs_and_is_counted():
    many = [f"ORG:o{i:02d}" for i in range(12)]
    big = record("big", "Daily A", None, [(a, 0) for a in many])
    small = record("small", "Daily A", None, [(many[0], 0), (many[1], 0)])
    p = TestPipeline(runner=FnApiRunner())
    actors = [{"actor_id": a, "name": a, "type": "ORG", "n_articles": 2 if a in many[:2] else 1}
              for a in many]
    out = _rows((p | "Articles" >> beam.Create([big, small]),
                 p | "Actors" >> beam.Create(actors)) | CoMentions(max_actors=5))
    # one mention each: the 5 earliest (o00..o04) are kept -> 10 pairs
    assert_that(out[COMENTIONS] | beam.Map(lambda r: (r["actor_a"], r["actor_b"],
                                                      r["n_articles"])),
                equal_to([(many[i], many[j], 2 if (i, j) == (0, 1) else 1)
                          for i in range(5) for j in range(i + 1, 5)]))
    assert_that(out["stats"], equal_to([{"kind": "stat", "name": CAPPED, "value": 1}]),
                label="capped")
    p.run()


# ---- end to end: equal to pandas over the written tables ------------------

def pandas_comentions(out):
    """Independent computation from the `mentions` and `articles` tables."""
    articles = pd.read_parquet(out / "articles")
    n_total = int(articles["duplicate_of"].isna().sum())
    m = pd.read_parquet(out / "mentions", columns=["article_id", "actor_id", "sentence"])
    per_article = m[["article_id", "actor_id"]].drop_duplicates()
    n_actor = per_article.groupby("actor_id")["article_id"].nunique()
    pairs = per_article.merge(per_article, on="article_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs.actor_id_a < pairs.actor_id_b]
    counts = pairs.groupby(["actor_id_a", "actor_id_b"]).size().rename("n_articles")
    sents = m.drop_duplicates()
    sp = sents.merge(sents, on=["article_id", "sentence"], suffixes=("_a", "_b"))
    sp = sp[sp.actor_id_a < sp.actor_id_b]
    n_sent = sp.groupby(["actor_id_a", "actor_id_b"]).size().rename("n_sentences")
    df = pd.concat([counts, n_sent], axis=1).fillna({"n_sentences": 0}).reset_index()
    df.columns = ["actor_a", "actor_b", "n_articles", "n_sentences"]
    nab = df.n_articles.to_numpy(float)
    na = n_actor.reindex(df.actor_a).to_numpy(float)
    nb = n_actor.reindex(df.actor_b).to_numpy(float)
    n = float(n_total)
    df["pmi"] = np.log((nab / n) / ((na / n) * (nb / n)))
    df["npmi"] = np.where(nab == n, 1.0, df["pmi"] / -np.log(nab / n))
    obs = np.stack([nab, na - nab, nb - nab, n - na - nb + nab])
    exp = np.stack([na * nb, na * (n - nb), (n - na) * nb, (n - na) * (n - nb)]) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(obs > 0, obs * np.log(obs / exp), 0.0)
    df["llr"] = 2 * terms.sum(axis=0)
    return df, pairs, sp, articles, n_total


def check_against_pandas(out, period, min_pair_articles=2):
    expected, pairs, sp, articles, n_total = pandas_comentions(out)
    got = pd.read_parquet(out / "comentions")
    assert len(got) == len(expected) > 0
    merged = got.merge(expected, on=["actor_a", "actor_b"], suffixes=("", "_pd"),
                       validate="1:1")
    assert len(merged) == len(got)
    assert (merged.n_articles == merged.n_articles_pd).all()
    assert (merged.n_sentences == merged.n_sentences_pd).all()
    scored = merged.n_articles >= min_pair_articles
    assert scored.any() and (~scored).any()
    for col in ("pmi", "npmi", "llr"):
        assert merged.loc[~scored, col].isna().all()
        diff = (merged.loc[scored, col] - merged.loc[scored, col + "_pd"]).abs()
        assert diff.max() <= 1e-9, (col, diff.max())
    actors = pd.read_parquet(out / "actors").set_index("actor_id")
    assert (merged.name_a == actors.name.reindex(merged.actor_a).to_numpy()).all()
    assert (merged.type_b == actors.type.reindex(merged.actor_b).to_numpy()).all()

    # per period and per outlet counts from the articles table
    meta = articles[articles.duplicate_of.isna()][["article_id", "outlet", "published"]]
    freq = {"day": "D", "week": "W-SUN", "month": "M"}[period]
    meta = meta.assign(period=meta.published.dt.tz_convert(None).dt.to_period(freq)
                       .dt.start_time.dt.date)
    pa = pairs.merge(meta, on="article_id")
    exp_p = (pa.groupby(["period", "actor_id_a", "actor_id_b"], dropna=False).size()
             .rename("n_articles").reset_index())
    got_p = pd.read_parquet(out / "comentions_by_period")
    assert len(got_p) == len(exp_p)
    assert set(map(tuple, got_p[["period", "actor_a", "actor_b", "n_articles"]]
                   .astype(object).where(got_p.notna(), None).to_numpy())) == \
        set(map(tuple, exp_p.astype(object).where(exp_p.notna(), None).to_numpy()))
    sp_p = sp.merge(meta, on="article_id")
    assert got_p.n_sentences.sum() == len(sp_p)
    exp_o = (pa.groupby(["outlet", "actor_id_a", "actor_id_b"], dropna=False).size()
             .rename("n_articles").reset_index())
    got_o = pd.read_parquet(out / "comentions_by_outlet")
    assert set(map(tuple, got_o.astype(object).where(got_o.notna(), None).to_numpy())) == \
        set(map(tuple, exp_o.astype(object).where(exp_o.notna(), None).to_numpy()))
    return merged, n_total


def run_job(inputs, out, *extra):
    from pipelines.corpus_stats import run
    return run(["--input", *map(str, inputs), "--output", str(out),
                "--direct_num_workers=1", *extra])


def test_sample_data_scores_equal_pandas(tmp_path):
    sample = ROOT / "sample_data"
    if not sample.is_dir():
        pytest.skip("sample_data/ is not present")
    out = tmp_path / "out"
    summary = run_job([sample], out)
    assert summary["accounting_ok"]
    merged, n_total = check_against_pandas(out, "month")
    print(f"sample_data: N={n_total} pairs={len(merged)} "
          f"scored={int(merged.pmi.notna().sum())}")


def reuters_jsonl(path, n_docs):
    """The first `n_docs` Reuters-21578 stories with a BODY, as JSONL
    records (id, outlet, published, title, text)."""
    raw = (SHARED / "data" / "reuters21578" / "reut2-000.sgm").read_text("latin-1")
    rows = []
    for story in re.findall(r"<REUTERS .*?</REUTERS>", raw, re.S):
        body = re.search(r"<BODY>(.*?)</BODY>", story, re.S)
        if not body:
            continue
        newid = re.search(r'NEWID="(\d+)"', story).group(1)
        stamp = re.search(r"<DATE>\s*(\S+ \S+?)(?:\.\d+)?\s*</DATE>", story).group(1)
        title = re.search(r"<TITLE>(.*?)</TITLE>", story, re.S)
        text = html.unescape(body.group(1)).replace("\x03", "").strip()
        rows.append({"id": f"reuters-{newid}", "outlet": "Reuters",
                     "published": datetime.strptime(stamp, "%d-%b-%Y %H:%M:%S")
                     .replace(tzinfo=UTC).isoformat(),
                     "title": html.unescape(title.group(1)) if title else None,
                     "text": text})
        if len(rows) == n_docs:
            break
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    return len(rows)


def test_reuters_scores_equal_pandas(shared, tmp_path):
    src = tmp_path / "reuters.jsonl"
    assert reuters_jsonl(src, 300) == 300
    out = tmp_path / "out"
    summary = run_job([src], out, "--period", "week")
    assert summary["accounting_ok"]
    merged, n_total = check_against_pandas(out, "week")
    # 300 stories, of which a couple repeat an earlier body word for word
    assert summary["rows"]["articles"] == 300 and 290 <= n_total <= 300
    print(f"reuters: N={n_total} pairs={len(merged)} "
          f"scored={int(merged.pmi.notna().sum())}")


def test_part_sums_count_rows_and_put_none_first():
    from transforms.comentions import _summed, pack_counts, pack_ids, part_pairs
    pairs = part_pairs([(period, outlet, pack_ids(a), pack_ids(b), pack_counts(n))
                        for period, outlet, a, b, n in [
                            ("2023-10-01", "A", ["a", "a"], ["b", "c"], [1, 0]),
                            (None, None, ["a"], ["b"], [2]),
                            ("2023-10-01", "B", ["a"], ["b"], [0])]])
    by_period = _summed(pairs, ["period", "actor_a", "actor_b"], with_sentences=True)
    assert by_period.to_pydict() == {
        "period": [None, "2023-10-01", "2023-10-01"], "actor_a": ["a", "a", "a"],
        "actor_b": ["b", "b", "c"], "n_articles": [1, 2, 1], "n_sentences": [2, 1, 0]}


def test_part_pairs_unpacks_what_pairs_fn_packed():
    from transforms.comentions import pack_counts, pack_ids, part_pairs
    elements = [("2023-10-01", "Daily A", ["GPE:beijing", "PERSON:josé_garcía"],
                 ["PERSON:xi", "PERSON:zoë"], [3, 70000]),
                (None, None, ["ORG:x"], ["ORG:y"], [0])]
    table = part_pairs([(p, o, pack_ids(a), pack_ids(b), pack_counts(n))
                        for p, o, a, b, n in elements])
    assert table.to_pydict() == {
        "period": ["2023-10-01", "2023-10-01", None], "outlet": ["Daily A", "Daily A", None],
        "actor_a": ["GPE:beijing", "PERSON:josé_garcía", "ORG:x"],
        "actor_b": ["PERSON:xi", "PERSON:zoë", "ORG:y"], "n_sentences": [3, 70000, 0]}
    assert part_pairs([]).num_rows == 0
    with pytest.raises(ValueError, match="separator"):
        pack_ids(["PERSON:a\x1fb", "PERSON:c"])
