"""Entity spans scored against CoNLL-2003 valid (PER, ORG, LOC).

Measured with en_core_web_sm 3.8.0 (`python bench/eval_conll.py`): micro F1
0.672 (P 0.745, R 0.612); PER 0.719, ORG 0.405, LOC 0.794. The threshold
sits just below, so a change that loses entity quality fails here.
"""
import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from eval_conll import read_conll, score  # noqa: E402


def test_conll_valid_entity_f1(nlp, shared):
    docs = read_conll(shared / "data" / "conll2003" / "valid.txt")
    assert len(docs) == 216
    result = score(nlp, docs)
    assert result["ALL"]["f1"] >= 0.66, result
    assert result["PER"]["f1"] >= 0.70, result
    assert result["LOC"]["f1"] >= 0.78, result
