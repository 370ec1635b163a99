"""Part writing helpers (transforms/sinks.py): the sort order of a part and
the hash that spreads rows over parts."""
from datetime import date

import pyarrow as pa

from transforms.schemas import COMENTIONS_BY_PERIOD, MENTIONS, TABLES
from transforms.sinks import arrow_table, part_of, part_of_pairs, part_table, row_tuple


def test_part_table_sorts_by_the_sort_columns():
    names = MENTIONS.schema.names
    rows = [{"article_id": "b", "actor_id": "GPE:x", "start": 5},
            {"article_id": "a", "actor_id": "GPE:y", "start": 30},
            {"article_id": "a", "actor_id": "GPE:z", "start": 4}]
    columns = part_table(MENTIONS, [row_tuple(names, r) for r in rows]).to_pydict()
    assert list(columns) == names
    assert columns["article_id"] == ["a", "a", "b"]
    assert columns["start"] == [4, 30, 5]  # numbers compare as numbers
    assert columns["actor_id"] == ["GPE:z", "GPE:y", "GPE:x"]


def test_part_table_puts_none_first_like_sort_key():
    names = COMENTIONS_BY_PERIOD.schema.names
    rows = [{"period": date(2024, 2, 1), "actor_a": "a", "actor_b": "b"},
            {"period": None, "actor_a": "c", "actor_b": "d"},
            {"period": date(2024, 1, 1), "actor_a": "a", "actor_b": "c"},
            {"period": None, "actor_a": "a", "actor_b": "z"}]
    columns = part_table(COMENTIONS_BY_PERIOD, [row_tuple(names, r) for r in rows]).to_pydict()
    expected = sorted(rows, key=COMENTIONS_BY_PERIOD.sort_key)
    assert columns["period"] == [r["period"] for r in expected] \
        == [None, None, date(2024, 1, 1), date(2024, 2, 1)]
    assert columns["actor_b"] == ["z", "d", "c", "b"]


def test_part_table_of_no_rows_has_every_column():
    for table in TABLES.values():
        assert part_table(table, []).to_pydict() == {n: [] for n in table.schema.names}


def test_part_of_is_stable_and_in_range():
    # (values fixed here: crc32 of the joined text, the same in every process)
    assert part_of(("PERSON:a", "PERSON:b"), 7) == part_of(["PERSON:a", "PERSON:b"], 7) == 6
    assert [part_of((str(i), i, None), 5) for i in range(6)] == [0, 1, 4, 2, 0, 1]
    assert {part_of((str(i),), 4) for i in range(200)} == {0, 1, 2, 3}
    assert part_of(("anything",), 1) == 0


def test_part_of_pairs_equal_part_of():
    ids = ["PERSON:vladimir putin", "GPE:russia", "ORG:nato", "GPE:são paulo", "PERSON:xi"]
    pairs = [(a, b, 0) for a in ids for b in ids if a < b]
    for total in (1, 2, 7, 64):
        assert part_of_pairs(pairs, total) == [part_of((a, b), total) for a, b, _ in pairs]
    assert part_of_pairs([], 5) == []


def test_part_count_follows_the_articles_of_the_run():
    from transforms.schemas import TABLES
    from transforms.sinks import part_count
    mentions = TABLES["mentions"].per_part
    assert part_count(0, mentions) == 1
    assert part_count(mentions, mentions) == 1
    assert part_count(mentions + 1, mentions) == 2
    assert part_count(10_000, TABLES["articles"].per_part) == 1
    assert part_count(250_000, TABLES["keyphrases"].per_part) == 25


def test_large_tables_are_written_in_two_parts_from_split_from_on():
    from transforms.schemas import SPLIT_FROM, TABLES
    from transforms.sinks import part_count, table_parts
    assert sorted(n for n, t in TABLES.items() if t.split_from) == [
        "actors", "articles", "keyphrases", "mentions", "quotes"]
    articles, outlets = TABLES["articles"], TABLES["outlets"]
    assert table_parts(SPLIT_FROM - 1, articles) == 1
    assert table_parts(SPLIT_FROM, articles) == 2
    assert table_parts(25_000, articles) == part_count(25_000, articles.per_part) == 3
    assert table_parts(10_000, outlets) == 1      # a small table stays one file
    assert table_parts(250_000, outlets) == 3


def test_arrow_table_stores_iso_date_strings_as_dates():
    schema = pa.schema([("period", pa.date32()), ("n", pa.int64())])
    table = arrow_table(pa.table({"period": [None, "2023-10-16"], "n": [1, 2]}), schema)
    assert table.schema == schema
    assert table.column("period").to_pylist() == [None, date(2023, 10, 16)]
    same = arrow_table({"period": [None, date(2023, 10, 16)], "n": [1, 2]}, schema)
    assert same.equals(table)


def test_batched_write_table_writes_the_same_parts(tmp_path):
    """An article's rows as one list (`batched`) give the same files as the
    rows one by one: same parts, same rows, same order."""
    import apache_beam as beam
    import pandas as pd
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.testing.test_pipeline import TestPipeline

    from transforms.schemas import Table
    from transforms.sinks import WriteTable
    small = Table("mentions", list(MENTIONS.schema), MENTIONS.sort_by, MENTIONS.doc,
                  per_part=2)  # 5 articles -> 3 parts
    batches = [[{"article_id": f"a{i}", "actor_id": f"GPE:{j}", "text": f"x{j}", "label": "GPE",
                 "start": 10 * j, "end": 10 * j + 2, "sentence": j} for j in range(i % 3 + 1)]
               for i in range(5)]
    files = {}
    for batched in (False, True):
        staging = str(tmp_path / str(batched))
        (tmp_path / str(batched) / "mentions").mkdir(parents=True)
        p = TestPipeline(runner=FnApiRunner())
        rows = p | beam.Create(batches if batched else [r for b in batches for r in b])
        basis = p | "Basis" >> beam.Create([5])
        _ = (rows, basis) | WriteTable(small, staging, batched=batched)
        p.run()
        files[batched] = {f.name: pd.read_parquet(f)
                          for f in sorted((tmp_path / str(batched) / "mentions").iterdir())}
    assert list(files[True]) == list(files[False]) == [
        f"part-0000{i}-of-00003.parquet" for i in range(3)]
    for name, frame in files[False].items():
        pd.testing.assert_frame_equal(files[True][name], frame)
    assert sum(len(f) for f in files[True].values()) == 1 + 2 + 3 + 1 + 2


def test_part_table_orders_strings_as_python_does():
    names = MENTIONS.schema.names
    ids = ["b", "Z", "é", "a", "中", "ab", "", "Ä", "a b"]
    rows = [row_tuple(names, {"article_id": i, "start": 0}) for i in ids]
    assert part_table(MENTIONS, rows).column("article_id").to_pylist() == sorted(ids)
