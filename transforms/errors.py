"""The dead-letter record: how any stage reports a record it cannot use.

Every DoFn that can fail on a record emits `error_row(...)` on the
``ERRORS`` tagged output instead of raising, so one bad article never stops
a run and never vanishes: it becomes a row of the `errors` table.
"""
ERRORS = "errors"
EXCERPT_CHARS = 200


def excerpt(value):
    """A short, printable slice of a bad record for the errors table."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="backslashreplace")
    value = str(value)
    if len(value) > EXCERPT_CHARS:
        value = value[:EXCERPT_CHARS] + "…"
    return value


def error_row(source_file, record, stage, error_type, message, raw=None):
    return {
        "source_file": source_file,
        "record": record,
        "stage": stage,
        "error_type": error_type,
        "message": str(message)[:500],
        "excerpt": excerpt(raw),
    }
