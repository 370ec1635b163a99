"""The shared Beam helpers of transforms/outputs.py."""
from datetime import datetime, timezone
from operator import itemgetter

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.outputs import Spread, pack, unpack_all


def test_spread_passes_every_element_unchanged():
    records = [{"article_id": f"a{i % 7}", "n": i, "text": "é" * i, "sents": [0, i],
                "published": datetime(2024, 1, 1 + i % 28, tzinfo=timezone.utc),
                "mentions": [(0, 3, "GPE:russia", "GPE", 0)] * (i % 3)}
               for i in range(40)]   # repeated keys share a group
    with TestPipeline(runner=FnApiRunner()) as p:
        out = p | beam.Create(records) | Spread(itemgetter("article_id"))
        assert_that(out, equal_to(records))


def test_pack_round_trip():
    key, packed = pack((1, 2), [("a", None, 3.5)])
    assert key == (1, 2) and isinstance(packed, bytes)
    assert list(unpack_all([packed])) == [[("a", None, 3.5)]]
