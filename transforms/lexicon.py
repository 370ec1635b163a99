"""Vocabularies shipped as data files (transforms/data/), loaded once.

Code never hard-codes names: aliases, titles, conjoined names and
family-name-first surnames live in the data files, which users can read and
extend (`--aliases FILE` adds rows to aliases.csv).
"""
import csv
import io
import re
import unicodedata
from functools import lru_cache
from importlib import resources

from apache_beam.io.filesystems import FileSystems


def _data_text(name):
    return resources.files("transforms").joinpath("data", name).read_text("utf-8")


def _lines(name):
    return [ln.strip() for ln in _data_text(name).splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]


# a dot inside or at the end of a word ("U.S." -> "us"): the pattern starts
# with the literal dot, so the regex engine searches for dots only (the
# lookbehind-first form tried every position: 17 times slower on news text)
_ABBREVIATION_DOT = re.compile(r"\.(?<=\w\.)(?=[\w\s]|$)")
_NAME_WORD = re.compile(r"[\w'&]+")
_FOLDED_CHARS = {}  # code point -> its folded text, for the non-ASCII characters met


def _fold_char(char):
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("’", "'")


def fold_words(text):
    """`fold(text).split()`, without building the joined string: what the
    topic lexicon reads of a whole article."""
    if not text.isascii():  # ASCII needs no decomposition (most news text)
        # NFKD never composes, so decomposing each distinct character and
        # dropping its combining marks folds the text as decomposing it whole
        table = _FOLDED_CHARS
        for char in set(text):
            if not char.isascii() and ord(char) not in table:
                table[ord(char)] = _fold_char(char)
        text = text.translate(table)
    return _NAME_WORD.findall(_ABBREVIATION_DOT.sub("", text.casefold()))


def fold(text):
    """Lowercase ASCII-folded name key: 'U.S.' -> 'us', 'José' -> 'jose',
    "Putin’s" -> "putin's" (possessives are removed earlier)."""
    return " ".join(fold_words(text))


def slug(key):
    return re.sub(r"[^a-z0-9]+", "_", key.replace("&", " and ")).strip("_") or "_"


@lru_cache(maxsize=None)
def titles():
    """Title word sequences, as tuples of folded words, longest first."""
    seqs = {tuple(fold(t).replace("-", " ").split()) for t in _lines("titles.txt")}
    return sorted(seqs, key=len, reverse=True)


@lru_cache(maxsize=None)
def title_set():
    """`titles` as a set, for lookups."""
    return frozenset(titles())


@lru_cache(maxsize=None)
def title_lengths():
    """The lengths (in words) of the titles, longest first."""
    return sorted({len(t) for t in titles()}, reverse=True)


@lru_cache(maxsize=None)
def conjoined():
    return frozenset(fold(n) for n in _lines("conjoined.txt"))


@lru_cache(maxsize=None)
def family_name_first():
    return frozenset(fold(n) for n in _lines("family_name_first.txt"))


def _read_alias_rows(text):
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    missing = {"alias", "actor_id", "name"} - set(rows[0] if rows else {"alias", "actor_id", "name"})
    if missing:
        raise ValueError(f"alias file lacks columns {sorted(missing)}")
    for r in rows:
        if ":" not in r["actor_id"]:
            raise ValueError(f"alias actor_id {r['actor_id']!r} must look like TYPE:name")
        if any(ch < " " or ch == "\x7f" for ch in r["actor_id"].strip()):
            # the co-mention step joins ids with one (comentions.SEP)
            raise ValueError(f"alias actor_id {r['actor_id']!r} holds a control character")
    return rows


@lru_cache(maxsize=None)
def aliases(extra_path=None):
    """folded alias -> (actor_id, type, canonical name). `extra_path` rows
    (same columns as data/aliases.csv) are added and win over ours."""
    rows = _read_alias_rows(_data_text("aliases.csv"))
    if extra_path:
        with FileSystems.open(extra_path) as fh:
            rows += _read_alias_rows(fh.read().decode("utf-8-sig"))
    table = {}
    for r in rows:
        actor_id = r["actor_id"].strip()
        table[fold(r["alias"])] = (actor_id, actor_id.split(":", 1)[0], r["name"].strip())
        table[fold(r["name"])] = (actor_id, actor_id.split(":", 1)[0], r["name"].strip())
    return table
