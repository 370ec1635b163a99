"""README.md documents every table that transforms/schemas.py defines."""
import re

from tests.conftest import ROOT
from transforms.schemas import TABLES


def test_readme_names_every_table_and_column():
    readme = (ROOT / "README.md").read_text("utf-8")
    for name, table in TABLES.items():
        assert f"`{name}`" in readme, name
        missing = [c for c in table.schema.names
                   if not re.search(r"\b" + re.escape(c) + r"\b", readme)]
        assert not missing, (name, missing)
