"""Shared fixtures: the spaCy model (loaded once per session) and the
research corpora in ../shared (read in place, never copied here)."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEED = SHARED / "seeds" / "000_16d43674ecb40713.txt"


@pytest.fixture(scope="session")
def nlp():
    from transforms.nlp import DEFAULT_MODEL, load_ner
    return load_ner(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def shared():
    if not (SHARED / "data").is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED


@pytest.fixture(scope="session")
def seed_text():
    if not SEED.is_file():
        pytest.skip("../shared/seeds is not present")
    return SEED.read_text("utf-8")
