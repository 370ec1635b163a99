"""Entry points: option parsing and the wiring of `transforms`.

``from pipelines import load_tables`` loads an output folder as DataFrames.
"""
import logging


class _BeamImportNoise(logging.Filter):
    """Drops the one warning `import apache_beam` logs on the root logger
    when Google's apitools is not installed (BigQuery is not used here)."""

    def filter(self, record):
        return "apitools not found" not in str(record.msg)


logging.getLogger().addFilter(_BeamImportNoise())

from pipelines.load import load_tables  # noqa: E402

__all__ = ["load_tables"]
