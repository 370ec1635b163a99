"""Raw records -> normalised articles; exact duplicates marked.

An article is a dict with the `articles` table's columns (see schemas.py)
plus ``text_hash``, which only the pipeline uses; in the pipeline (after
`NormalizeFn`) its ``published`` is an integer of microseconds (`to_micros`).

`text` is the input text after Unicode NFC with trailing page furniture
(newsletter sign-ups, "By registering ... Privacy Policy.", a closing
"From <Outlet>" line) cut off. Cutting is only ever done at the end, so
`text` is a prefix of what was read (after NFC) and every character offset
in every table points into the input exactly as it was. Two clean-ups keep
every length: control characters and HTML tags (with script/style
contents) become spaces, one for one.
"""
import hashlib
import re
import typing
import unicodedata
from datetime import datetime, timedelta, timezone
from importlib import resources

import apache_beam as beam

from transforms.errors import ERRORS, error_row
from transforms.outputs import ParDoWithOutputs, pack, unpack_all

STAGE = "normalize"

# output column -> input field names accepted for it, first match wins
FIELD_ALIASES = {
    "text": ("text", "body", "content", "article", "story"),
    "title": ("title", "headline"),
    "published": ("published", "date", "publish_date", "publication_date",
                  "published_at", "datetime", "timestamp"),
    "outlet": ("outlet", "source", "publisher", "source_name"),
    "url": ("url", "link"),
    "id": ("id", "article_id", "doc_id", "guid"),
    "author": ("author", "authors", "byline"),
}


def _load_patterns(name):
    text = resources.files("transforms").joinpath("data", name).read_text("utf-8")
    return [re.compile(line.strip(), re.IGNORECASE) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


FURNITURE = _load_patterns("furniture.txt")


def _at_start(pattern):
    """`pattern` without its leading "^", if that "^" anchors all of it (no
    "|" outside groups and character classes); else None."""
    if not pattern.startswith("^"):
        return None
    depth, i, n = 0, 1, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 1                      # the escaped character
        elif ch == "[":                 # a class: up to its closing "]"
            i += 2 if pattern[i + 1:i + 2] == "^" else 1
            i += 1 if pattern[i:i + 1] == "]" else 0   # "[]...]": a literal "]"
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return None
        i += 1
    return pattern[1:]


# What a pattern may not hold to be joined with others into one regex: a
# backreference or a conditional (joining renumbers the groups), a named
# group (names may repeat), a comment, or an inline flag (global flags must
# come first). Such a pattern is tried on its own.
_UNSAFE_TO_JOIN = re.compile(r"\\[1-9g]|\(\?[P(#aiLmsux-]")


def _combine(patterns):
    """``(start, anywhere, alone)``: a line is furniture where `start`
    matches at its beginning, `anywhere` matches in it, or a pattern of
    `alone` does, exactly where one of `patterns` would. `start` joins the
    patterns anchored at the start (tried at position 0 only), `anywhere`
    the other joinable ones. Two calls a line instead of one per pattern:
    43 instead of 69 us an article on benchmark texts."""
    joinable = [p for p in patterns if not _UNSAFE_TO_JOIN.search(p.pattern)]
    alone = [p for p in patterns if _UNSAFE_TO_JOIN.search(p.pattern)]
    starts = [_at_start(p.pattern) for p in joinable]
    start = [s for s in starts if s is not None]
    anywhere = [p.pattern for p, s in zip(joinable, starts) if s is None]
    never = r"(?!)"
    return (re.compile("|".join(f"(?:{s})" for s in start) or never, re.IGNORECASE),
            re.compile("|".join(f"(?:{a})" for a in anywhere) or never, re.IGNORECASE),
            alone)


_FURNITURE_START, _FURNITURE_ANYWHERE, _FURNITURE_ALONE = _combine(FURNITURE)
TRAILER = re.compile(r"^\s*From\s+((?:The\s+)?[A-Z][\w&.'’-]*(?:\s+[A-Z&][\w&.'’-]*){0,5})\s*$")
FURNITURE_WINDOW = 15      # only the last lines of an article are examined
SHORT_LINE = 120           # furniture blocks are made of short lines
WORD = re.compile(r"\w+(?:['’.-]\w+)*")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
HTML = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>|</?(?:p|br|div|span|a|b|i|u|em|strong|"
                  r"h[1-6]|ul|ol|li|img|table|tr|td|th|figure|figcaption|blockquote|"
                  r"section|article|header|footer|iframe|meta|link)\b[^>]{0,500}>",
                  re.IGNORECASE | re.DOTALL)


def blank(match):
    return " " * len(match.group())


def clean_text(text):
    """NFC, control characters and HTML tags as spaces (same length)."""
    text = unicodedata.normalize("NFC", text)
    text = CONTROL.sub(blank, text)
    if "<" in text:
        text = HTML.sub(blank, text)
    return text


def is_furniture(line):
    """Whether any FURNITURE pattern matches the (stripped) line."""
    return bool(_FURNITURE_START.match(line) or _FURNITURE_ANYWHERE.search(line)
                or any(p.search(line) for p in _FURNITURE_ALONE))


def strip_furniture(text):
    """``(end, outlet)``: where the article proper ends, and a trailer outlet.

    A trailing block of short lines that starts with a furniture line
    ("Sign up for ...", "... newsletter ...") is cut, and so is a
    "From <Outlet>" line just before it (or at the very end); that outlet is
    returned. ``text[:end]`` is the article.
    """
    lines = text.split("\n")
    starts, pos = [], 0
    for line in lines:
        starts.append(pos)
        pos += len(line) + 1
    last = len(lines)
    while last > 0 and not lines[last - 1].strip():
        last -= 1
    cut = last
    first = max(0, last - FURNITURE_WINDOW)
    # the earliest furniture line such that all lines after it are short
    for i in range(last - 1, first - 1, -1):
        if len(lines[i].strip()) > SHORT_LINE:
            break
        if is_furniture(lines[i].strip()):
            cut = i
    outlet = None
    j = cut
    while j > 0 and not lines[j - 1].strip():
        j -= 1
    if j > 0:
        m = TRAILER.match(lines[j - 1])
        if m:
            outlet = m.group(1)
            cut = j - 1
    end = starts[cut] if cut < len(lines) else len(text)
    return len(text[:end].rstrip()), outlet


def parse_published(value):
    """A UTC datetime from an ISO string, a date, epoch seconds or a
    common written form ("March 21, 2023"); None if absent. Raises
    ValueError for a value that is present but not a date."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)):
        dt = datetime.fromtimestamp(value / 1000 if value > 1e11 else value, timezone.utc)
    else:
        import pandas as pd
        dt = pd.Timestamp(str(value).strip()).to_pydatetime()  # ValueError if unparseable
        if dt != dt:  # NaT
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(dt):
    """A UTC datetime -> whole microseconds since 1970-01-01 UTC (None stays
    None): how `published` travels between the pipeline's steps. Beam's
    coder encodes an int natively but pickles a datetime at every crossing
    of a stage (BENCHMARKS.md, ninth session), and the writers store the
    integer as it is, since pyarrow builds a timestamp[us, UTC] column from
    it. `comentions.period_start` reads either form."""
    return None if dt is None else (dt - EPOCH) // _MICROSECOND


def from_micros(us):
    """`to_micros` undone: the UTC datetime."""
    return EPOCH + timedelta(microseconds=us)


def _field(fields, column, default=None):
    """The first non-empty value among the column's accepted field names;
    `default` if none has a value (e.g. "" when the field exists but is
    empty, so an empty text is told apart from a missing one)."""
    found = default
    for name in FIELD_ALIASES[column]:
        for key in (name, name.capitalize(), name.upper()):
            if key in fields:
                if fields[key] is not None and fields[key] != "":
                    return fields[key]
                found = fields[key] if found is default else found
    return found


def _str(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    value = " ".join(unicodedata.normalize("NFC", str(value)).split())
    return value or None


def text_hash(text):
    """Hash of the text with whitespace folded: equal for exact duplicates."""
    return hashlib.sha1(" ".join(text.split()).encode("utf-8")).hexdigest()


def make_article_id(given, url, hashed):
    if given is not None:
        return str(given).strip()
    if url:
        return hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]
    return hashed[:16]


def normalize_record(record):
    """A raw record -> an article dict. Raises ValueError/TypeError when the
    record cannot be an article (no text, text not a string, ...)."""
    fields = record["fields"]
    raw_text = _field(fields, "text", default=LookupError)
    if raw_text is LookupError:
        raise LookupError("no text field (tried: " + ", ".join(FIELD_ALIASES["text"]) + ")")
    if raw_text is None:
        raise ValueError("text is empty (null)")
    if not isinstance(raw_text, str):
        raise TypeError(f"text is a {type(raw_text).__name__}, not a string")
    text = clean_text(raw_text)
    end, trailer_outlet = strip_furniture(text)
    text = text[:end]
    if not text.strip():
        raise ValueError("text is empty")
    url = _str(_field(fields, "url"))
    outlet, outlet_from = _str(_field(fields, "outlet")), "field"
    if outlet is None and url:  # field > URL domain (data/outlets.csv) > trailer
        from transforms.outlets import outlet_from_url
        outlet, outlet_from = outlet_from_url(url), "url"
    if outlet is None and trailer_outlet:
        outlet, outlet_from = trailer_outlet, "trailer"
    if outlet is None:
        outlet_from = None
    hashed = text_hash(text)
    return {
        "article_id": make_article_id(_field(fields, "id"), url, hashed),
        "given_id": None,
        "outlet": outlet,
        "url": url,
        "title": _str(_field(fields, "title")),
        "author": _str(_field(fields, "author")),
        "published": parse_published(_field(fields, "published")),
        "n_words": len(WORD.findall(text)),
        "n_mentions": None,
        "duplicate_of": None,
        "source_file": record["source_file"],
        "record": record["record"],
        "outlet_from": outlet_from,
        "encoding": record.get("encoding"),
        "truncated": False,
        "text": text,
        "text_hash": hashed,
    }


class NormalizeFn(beam.DoFn):
    """Raw record -> article, `published` as microseconds (`to_micros`)."""

    def process(self, record):
        try:
            article = normalize_record(record)
            article["published"] = to_micros(article["published"])
            yield article
        except (LookupError, TypeError, ValueError, OverflowError) as e:
            kind = {"LookupError": "missing_text", "TypeError": "bad_type"}.get(
                type(e).__name__, "empty_text" if "empty" in str(e) else "bad_value")
            yield beam.pvalue.TaggedOutput(ERRORS, error_row(
                record["source_file"], record["record"], STAGE, kind, e,
                repr(record["fields"])))


def _order(article):
    return (article["source_file"], article["record"])


def id_renames(id_and_places):
    """(article_id, [(source_file, record), ...]) -> ((source_file, record),
    new id) for every use of an id after its first in input order: ids stay
    unique, the later records become ``id~2``, ``id~3``, ..."""
    article_id, places = id_and_places
    for n, place in enumerate(sorted(places)[1:], 2):
        yield place, f"{article_id}~{n}"


def apply_rename(article, renames):
    new_id = renames.get(_order(article))
    if new_id is None:
        return article
    return dict(article, article_id=new_id, given_id=article["article_id"])


def mark_duplicates(copies):
    """Articles sharing one text hash: the first in input order is the
    original, the others point to it with `duplicate_of`."""
    copies = sorted(copies, key=_order)
    original = copies[0]["article_id"]
    yield copies[0]
    for a in copies[1:]:
        yield dict(a, duplicate_of=original)


class NormalizeArticles(beam.PTransform):
    """Raw records -> articles (main) and `errors`; duplicates marked."""

    def expand(self, records):
        parsed = records | "Normalize" >> ParDoWithOutputs(
            NormalizeFn(), main="articles", tags=[ERRORS])
        renames = (parsed.articles
                   | "IdPlaces" >> beam.Map(lambda a: (a["article_id"], _order(a)))
                   | "GroupIds" >> beam.GroupByKey()
                   | "RenameRepeatedIds" >> beam.FlatMap(id_renames))
        unique_ids = parsed.articles | "UniqueIds" >> beam.Map(
            apply_rename, renames=beam.pvalue.AsDict(renames))
        # the records cross the shuffle pickled (`outputs.pack`)
        articles = (unique_ids
                    | "KeyByText" >> beam.Map(lambda a: pack(a["text_hash"], a))
                    .with_output_types(typing.Tuple[str, bytes])
                    | "GroupCopies" >> beam.GroupByKey()
                    | "MarkDuplicates" >> beam.FlatMap(
                        lambda kv: mark_duplicates(unpack_all(kv[1]))))
        return {"articles": articles, ERRORS: parsed[ERRORS]}
