"""Quotes and attributions: who is reported saying what, and the `sources`.

`find_quotes` is a pure function over one article's text, sentence starts
and final entity mentions (no parser: NER + sentencizer + rules), so it
runs in the same pass as everything else:

* A **cue** is a speech word from data/speech_verbs.txt ("said", "told",
  "according to", "warned", ...), outside quotation marks.
* Its **speaker** is, in this order: a name (entity mention) or a title plus
  name just before the cue ("Ms. Kim said"), possibly across an apposition
  ("Patricia Kim, a fellow at Brookings, said"); after the cue when the
  clause is inverted (", said Patricia Kim, a fellow at the Brookings
  Institution") and always for "according to X"; a pronoun (he/she/they,
  resolved to the last named person before it); or a short unnamed noun
  phrase ("officials", "a statement from the CCP") whose speaker_id is
  the organisation it names, if any, else null.
* An **affiliation** is the organisation named in an apposition to the
  speaker ("Patricia Kim, a fellow at the Brookings Institution think
  tank" -> "Brookings Institution").
* The **content** is the quotation that ends just before ", he said" (the
  whole quoted span, across sentences, straight or curly marks, joined
  with a continuation after the cue: '"A," he said, "B."'), or the rest of
  the sentence after "said (that)", or a quotation that opens right after
  "said:". A quoted paragraph with no cue of its own that follows a direct
  quote continues it (same speaker, cue null).
* ``direct`` is True when the content is a quotation in quote marks.

Quality against PolNeAR dev is measured by tools/eval_polnear.py (README).
"""
import bisect
import logging
import re
from collections import Counter
from functools import lru_cache

import apache_beam as beam

from transforms import lexicon
from transforms.lexicon import fold

_MARK = re.compile(r"“|”|\"|''|``")
_CLOSERS = ("”", '"', "''")
NAME_LABELS = ("PERSON", "ORG", "GPE", "NORP")
ORG_LABELS = ("ORG",)
MAX_NP_WORDS = 6          # an unnamed speaker is a short noun phrase
MAX_APPOSITION = 120      # characters of ", a fellow at ..., "
CONTINUATION_PARAGRAPHS = 2

# words that may stand between a speaker and the cue: "Kim also said",
# "Trump has repeatedly said", "officials would not say"
_FILLER = {
    "also", "has", "have", "had", "previously", "later", "then", "further",
    "recently", "once", "again", "repeatedly", "publicly", "privately",
    "reportedly", "would", "will", "did", "does", "do", "often", "never",
    "first", "last", "just", "still", "already", "even", "later", "has",
    "frequently", "flatly", "simply", "quickly", "bluntly", "herself",
    "himself", "specifically", "explicitly", "had", "may", "might",
    "could", "can", "should", "must", "not", "been", "is", "was", "are", "were",
    "now", "forcefully", "angrily", "separately", "earlier", "initially",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "yesterday", "today", "tonight", "on",
}
_ROLES = {"the", "widow", "lawyer", "attorney", "economist", "analyst", "adviser", "advisor",
          "aide", "leader", "chief", "retired", "former", "general", "strategist", "pollster",
          "executive", "official", "founder", "co-founder", "professor", "historian",
          "majority", "minority", "whip", "speaker", "house", "press", "campaign", "manager",
          "communications", "deputy", "national", "security", "state", "senior", "white",
          "vice", "presidential", "nominee", "running", "mate", "host", "anchor", "activist",
          "author", "writer", "columnist", "editor", "reporter", "correspondent", "mother",
          "father", "son", "daughter", "wife", "husband", "friend", "doctor", "physician"}
_WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
             "yesterday", "today", "tonight", "january", "february", "march", "april", "may",
             "june", "july", "august", "september", "october", "november", "december"}
_PRONOUNS = {"he": "PERSON", "she": "PERSON", "they": "PERSON",
             "i": None, "we": None, "it": None, "you": None}
_NOT_SPEAKER = {"that", "this", "which", "who", "what", "when", "as", "and", "but",
                "or", "so", "if", "is", "was", "are", "were", "be", "to", "not",
                "there", "here", "also", "than", "because", "while", "where",
                "how", "why", "has", "had", "have", "been", "being", "will",
                "would", "just", "only", "even", "said", "says", "say", "he",
                "she", "they", "it", "we", "i", "you", "me", "him", "them",
                "us", "by", "of", "for", "with", "in", "on", "at", "from"}
_NOT_FIRST = {"that", "this", "which", "who", "what", "when", "as", "and", "but", "or",
              "so", "if", "there", "here", "because", "while", "where", "how", "why",
              "to", "by", "of", "for", "with", "in", "on", "at", "from", "it"}
_PREPOSED = re.compile(r"(?:(?<![\w’'])(?:a|an|the)\s+(?:[\w’'-]+\s+){0,3}?(?:from|of|for|at|with|by)"
                       r"\s+(?:the\s+)?)$", re.IGNORECASE)
_LEFT_AFTER = re.compile(r"^\s*(?:(?:in|on|at|during|after|before|while|when|last|this|earlier|"
                         r"late|early|to|from|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|"
                         r"Sunday|yesterday|today|tonight|recently|afterward|afterwards|again|"
                         r"later|previously|once|repeatedly)\b|[.!?]?\s*$)", re.IGNORECASE)
_BOUNDARY = re.compile(r"[,;:“”\"—–()\[\]]|\b(?:that|and|but|as|while|because|which|who|"
                       r"when|where|if|so|after|before|since|although|though)\b",
                       re.IGNORECASE)
_WORD = re.compile(r"[\w’'.-]+")
_TITLE_WORD = re.compile(r"([A-Z][\w.’'-]*)\s+$")
_THAT = re.compile(r"^[\s,:]*(?:that\s+)?", re.IGNORECASE)
_LEAD_THAT = re.compile(r"^((?:[\w.’'-]+,?\s+){1,6}?)that\s+", re.IGNORECASE)
_LEAD_OK = {"in", "on", "at", "by", "for", "with", "from", "of"}
_RECIPIENT = re.compile(r"^\s+(?:[\w.’'-]+\s+){0,6}?(?:that\s+|(?=[“\"])|[,:]\s*)",
                        re.IGNORECASE)


@lru_cache(maxsize=None)
def speech_verbs():
    """form -> lemma, from data/speech_verbs.txt (form may be several words)."""
    table = {}
    for line in lexicon._lines("speech_verbs.txt"):
        form, lemma = (p.strip() for p in line.split("\t", 1))
        table[form.lower()] = lemma
    return table


@lru_cache(maxsize=None)
def _cue_pattern():
    """Any speech-verb form as a whole word. The forms are grouped by first
    letter, longest first within a group (at any position only one group can
    match, so the match is the one a flat longest-first alternation finds):
    the regex engine then tries a dozen first letters at each position, not
    every form, which halves the scan of an article."""
    groups = {}
    for f in sorted(speech_verbs(), key=len, reverse=True):
        groups.setdefault(f[0].lower(), []).append(f)
    alts = []
    for first, forms in groups.items():
        rests = [r"\s+".join(re.escape(w) for w in f.split())[len(re.escape(f[0])):]
                 for f in forms]
        head = f"[{first}{first.upper()}]" if first.isalpha() else re.escape(first)
        alts.append(head + "(?:" + "|".join(rests) + ")")
    return re.compile(r"(?<![\w’'-])(?:" + "|".join(alts) + r")(?![\w’'-])")


@lru_cache(maxsize=None)
def _single_titles():
    return {t[0] for t in lexicon.titles() if len(t) == 1} | {
        "sen", "rep", "gov", "gen", "col", "lt", "sgt", "adm", "rev", "amb",
        "senator", "governor", "representative", "mayor", "judge", "justice",
        "ambassador", "spokesman", "spokeswoman", "spokesperson", "chairman",
        "chairwoman", "chair", "ceo", "director", "commissioner", "candidate",
        "nominee", "former", "then", "democratic", "republican", "gop", "sheriff"}


def quote_spans(text):
    """(start, end) of each quotation, marks included. Curly marks pair as
    open/close; straight marks alternate. Pairs never cross a paragraph:
    an unclosed quote runs to the end of its paragraph."""
    spans, pos = [], 0
    for para in text.split("\n"):
        opened = None
        for mark in _MARK.finditer(para):
            ch, i = mark.group(), mark.start()
            if ch in ("“", "``") or (ch in ('"', "''") and opened is None):
                if opened is None:
                    opened = i
                continue
            if opened is not None:
                spans.append((pos + opened, pos + mark.end()))
                opened = None
        if opened is not None and len(para) - opened > 1:
            spans.append((pos + opened, pos + len(para.rstrip())))
        pos += len(para) + 1
    return spans


class _Article:
    """Lookup helpers over one article's text, sentences and mentions."""

    def __init__(self, text, sents, mentions):
        self.text = text
        self.sents = sorted(sents) or [0]
        self.mentions = sorted((tuple(m[:4]) for m in mentions), key=lambda m: (m[0], m[1]))
        self.starts = [m[0] for m in self.mentions]
        self.by_end = {}
        for m in self.mentions:
            self.by_end.setdefault(m[1], m)
        self.quotes = quote_spans(text)
        self.q_starts = [q[0] for q in self.quotes]
        self.q_ends = {q[1]: q for q in self.quotes}
        # the sentencizer leaves an opening mark at the end of the sentence
        # before ('rise. “We are'): move such starts back to the mark
        opens = {q[0] for q in self.quotes}
        fixed = []
        for st in self.sents:
            k = st
            while k > 0 and text[k - 1].isspace() and text[k - 1] != "\n":
                k -= 1
            for width in (1, 2):
                if k - width in opens and text[k - width:k] in ("“", '"', "''", "``"):
                    st = k - width
                    break
            fixed.append(st)
        self.sents = fixed
        names = {}
        for s, e, actor, _ in self.mentions:
            surface = text[s:e]
            if len(surface) > len(names.get(actor, "")):
                names[actor] = surface
        self.names = names

    def sentence(self, offset):
        """(start, end) of the sentence holding `offset`, within its paragraph."""
        i = max(0, bisect.bisect_right(self.sents, offset) - 1)
        start = self.sents[i] if self.sents[i] <= offset else 0
        end = self.sents[i + 1] if i + 1 < len(self.sents) else len(self.text)
        para_start = self.text.rfind("\n", 0, offset) + 1
        para_end = self.text.find("\n", offset)
        para_end = len(self.text) if para_end < 0 else para_end
        # '“Why?” he asks.' is one sentence: a sentence that opens in
        # lowercase continues the one before
        while i > 0 and start > para_start and self.text[start:start + 1].islower():
            i -= 1
            start = self.sents[i]
        return max(start, para_start), min(end, para_end)

    def quote_at(self, offset):
        """The quotation containing `offset` (marks excluded), or None."""
        i = bisect.bisect_right(self.q_starts, offset) - 1
        if i >= 0 and self.quotes[i][0] < offset < self.quotes[i][1] - 1:
            return self.quotes[i]
        return None

    def quote_ending(self, end):
        return self.q_ends.get(end)

    def quote_starting(self, start):
        i = bisect.bisect_left(self.q_starts, start)
        if i < len(self.quotes) and self.quotes[i][0] == start:
            return self.quotes[i]
        return None

    def mentions_in(self, start, end, labels=None):
        i = bisect.bisect_left(self.starts, start)
        out = []
        while i < len(self.mentions) and self.mentions[i][0] < end:
            m = self.mentions[i]
            if m[1] <= end and (labels is None or m[3] in labels):
                out.append(m)
            i += 1
        return out

    def last_person_before(self, offset):
        i = bisect.bisect_left(self.starts, offset) - 1
        while i >= 0:
            if self.mentions[i][3] == "PERSON" and self.mentions[i][1] <= offset:
                return self.mentions[i]
            i -= 1
        return None

    def with_title(self, start):
        """Extend a name's start over title words before it ("Ms.", "Sen.")."""
        while True:
            m = _TITLE_WORD.search(self.text, max(0, start - 40), start)
            if not m or fold(m.group(1)) not in _single_titles():
                return start
            start = m.start(1)


def _speaker(art, m, start=None, end=None):
    """Speaker fields for mention `m` (start, end, actor_id, label)."""
    s = art.with_title(m[0]) if start is None else start
    return {"speaker_id": m[2], "speaker": art.names.get(m[2], art.text[m[0]:m[1]]),
            "speaker_start": s, "speaker_end": m[1] if end is None else end}


def _affiliation(art, start, end):
    orgs = art.mentions_in(start, end, ORG_LABELS)
    return art.names.get(orgs[-1][2], art.text[orgs[-1][0]:orgs[-1][1]]) if orgs else None


def _pronoun(art, word, s, e):
    kind = _PRONOUNS[word.lower()]
    ante = art.last_person_before(s) if kind else None
    if ante is None:
        return {"speaker_id": None, "speaker": word, "speaker_start": s, "speaker_end": e}
    return {"speaker_id": ante[2], "speaker": art.names.get(ante[2]),
            "speaker_start": s, "speaker_end": e}


def _unknown_name(art, s, e):
    """A capitalised name without an entity mention: joined to a person of
    the article whose name ends with the same word, if any."""
    last = fold(art.text[s:e].split()[-1])
    for actor, name in art.names.items():
        if actor.startswith("PERSON:") and fold(name).split()[-1:] == [last]:
            return {"speaker_id": actor, "speaker": name, "speaker_start": s, "speaker_end": e}
    return {"speaker_id": None, "speaker": art.text[s:e], "speaker_start": s, "speaker_end": e}


def _noun_phrase(art, s, e):
    """An unnamed speaker ("officials", "a statement from the CCP")."""
    words = _WORD.findall(art.text[s:e])
    if not words or len(words) > MAX_NP_WORDS:
        return None
    if fold(words[-1]) in _NOT_SPEAKER or fold(words[0]) in _NOT_FIRST:
        return None
    if words[-1].endswith("ly") or not words[-1][0].isalpha():
        return None
    orgs = art.mentions_in(s, e, ORG_LABELS + ("PERSON",))
    named = [m for m in orgs if m[3] in ORG_LABELS]
    if orgs and len(words) == len(_WORD.findall(art.text[orgs[-1][0]:orgs[-1][1]])):
        return _speaker(art, orgs[-1])
    return {"speaker_id": named[-1][2] if named else None, "speaker": art.text[s:e],
            "speaker_start": s, "speaker_end": e}


# "Mitch McConnell, who in 2010 said", "Justin Trudeau, who met them, said"
_RELATIVE = re.compile(r",\s+who\s+[^,;:“”\"]{0,80},?\s*$")


def _left_speaker(art, sent_start, cue_start):
    """Speaker just before the cue: (fields, start of the speaker complex)."""
    text = art.text
    j = cue_start
    while True:  # drop "also", "has", ... between speaker and cue
        k = j
        while k > sent_start and text[k - 1].isspace():
            k -= 1
        m = re.search(r"([A-Za-z]+)$", text[max(sent_start, k - 20):k])
        if m and m.group(1).lower() in _FILLER and k - len(m.group(1)) > sent_start:
            j = k - len(m.group(1))
            continue
        m = re.search(r"\s*\([^()]{1,24}\)$", text[max(sent_start, k - 30):k])
        if m and k - len(m.group()) > sent_start:  # "Gwen Moore (D-Wis.) said"
            j = k - len(m.group())
            continue
        j = k
        break
    if j <= sent_start:
        return None
    rel = _RELATIVE.search(text[sent_start:j])
    if rel:  # "Mitch McConnell, who in 2010 said ...": the name before "who"
        m = art.by_end.get(sent_start + rel.start())
        if m and m[3] == "PERSON" and m[0] >= sent_start:
            return _speaker(art, m), art.with_title(m[0])
    m = art.by_end.get(j)
    if m and m[3] in NAME_LABELS and m[0] >= sent_start:
        of = re.search(r"\s+(?:of|from|with|at)\s+(?:the\s+)?$", text[max(sent_start, m[0] - 12):m[0]])
        person = art.by_end.get(m[0] - len(of.group())) if of and m[3] in ORG_LABELS else None
        if person and person[3] == "PERSON":  # "Mr. Morgan of the Sierra Club said"
            fields = _speaker(art, person)
            fields.update(speaker_end=j, affiliation=art.names.get(m[2]))
            return fields, art.with_title(person[0])
        pre = _PREPOSED.search(text, max(sent_start, m[0] - 60), m[0])
        if pre:  # "a statement from the CCP", "a spokesman for Clinton"
            return {"speaker_id": m[2] if m[3] in ORG_LABELS else None,
                    "speaker": text[pre.start():j], "speaker_start": pre.start(),
                    "speaker_end": j}, pre.start()
        return _speaker(art, m), art.with_title(m[0])
    pm = re.search(r"(?<![\w’'])(he|she|they|He|She|They|I|we|We)$", text[sent_start:j])
    if pm:
        s = sent_start + pm.start(1)
        return _pronoun(art, pm.group(1), s, j), s
    m = art.by_end.get(j - 1) if text[j - 1] == "," else None
    if (m and m[3] == "PERSON" and m[0] > sent_start
            and re.search(r",\s*$", text[max(sent_start, m[0] - 3):m[0]])):
        return _speaker(art, m), art.with_title(m[0])  # "The chairman, Phil Lovas, said"
    k = j - 1
    for _ in range(3):  # apposition: "Kim, a fellow at Brookings, said"
        if text[j - 1] != ",":
            break
        k = text.rfind(",", max(sent_start, j - MAX_APPOSITION), k)
        if k <= sent_start:
            break
        inner = text[k + 1:j - 1]
        paren = re.search(r"\s*\([^()]{1,24}\)$", text[max(sent_start, k - 30):k])
        m = art.by_end.get(k - len(paren.group()) if paren else k)
        if (m and m[3] in NAME_LABELS and m[0] >= sent_start and inner.strip()
                and not re.search(r"[“”\"]", inner) and not _cue_pattern().search(inner)):
            fields = _speaker(art, m)
            fields["affiliation"] = _affiliation(art, k, j)
            return fields, art.with_title(m[0])
    if text[j - 1] == ",":
        return None
    cap = re.search(r"(?<![\w’'.-])((?:[A-Z][\w’'.-]*\s+){0,3}[A-Z][a-z][\w’'-]*)$", text[sent_start:j])
    if (cap and fold(cap.group(1).split()[-1]) not in _NOT_SPEAKER | _WEEKDAYS
            and cap.start(1) > 0):  # a name NER missed (not a sentence's first word)
        s = sent_start + cap.start(1)
        return _unknown_name(art, s, j), art.with_title(s)
    # an unnamed noun phrase back to the last clause boundary
    b = sent_start
    for bm in _BOUNDARY.finditer(text, sent_start, j):
        b = bm.end()
    while b < j and text[b].isspace():
        b += 1
    fields = _noun_phrase(art, b, j) if b < j else None
    return (fields, b) if fields else None


def _right_speaker(art, cue_end, sent_end, strict=False, names_only=False):
    found = _right_speaker_any(art, cue_end, sent_end, names_only)
    if found and strict and not re.match(r"\s*(?:[,.;:!?“”\"—(]|''|of\b|$)",
                                         art.text[found[1]:sent_end]):
        return None
    return found


def _right_speaker_any(art, cue_end, sent_end, names_only=False):
    """Speaker just after the cue (inverted "said Patricia Kim", "according
    to X"): (fields, end of the speaker complex)."""
    text = art.text
    gap = re.match(r"\s+", text[cue_end:sent_end])
    if not gap:
        return None
    s = cue_end + gap.end()
    for m in art.mentions_in(s, min(sent_end, s + 60), NAME_LABELS):
        between = text[s:m[0]]
        if between and (len(_WORD.findall(between)) > 5 or re.search(r"[,;:()“”\"]", between)
                        or not all(w[0].isupper() or w[0].isdigit() or fold(w) in _ROLES
                                   or fold(w) in _single_titles() for w in _WORD.findall(between))):
            break
        fields = _speaker(art, m, start=s)
        end = m[1]
        app = re.match(r",\s*([^,.;:“”\"]{2,%d})" % MAX_APPOSITION, text[end:sent_end])
        if app and not _cue_pattern().search(app.group(1)):
            fields["affiliation"] = _affiliation(art, end, end + app.end())
            end += app.end()
        return fields, end
    pm = re.match(r"(he|she|they|He|She|They)(?![\w’'])", text[s:sent_end])
    if pm:
        return _pronoun(art, pm.group(1), s, s + pm.end()), s + pm.end()
    if names_only:
        return None
    np = (re.match(r"(?:[Tt]he|[Aa]n?|[Oo]ne|[Aa]nother|[Tt]wo|[Tt]hree|[Ss]everal|[Ss]ome|[Mm]any)"
                   r"\s+[^,.;:“”\"—]{1,80}?(?=\s*(?:[,.;:—]|$))", text[s:sent_end])
          or re.match(r"[A-Z][\w’'.-]*(?:\s+[A-Z][\w’'.-]*){0,3}(?=\s*(?:[,.;:—]|$))",
                      text[s:sent_end]))
    if np and fold(np.group()) in _WEEKDAYS:
        np = None
    if np:
        fields = _noun_phrase(art, s, s + np.end())
        if fields:
            return fields, s + np.end()
    return None


def _trim(text, s, e):
    while e > s and text[e - 1] in " \t,;:—–":
        e -= 1
    while s < e and text[s] in " \t,;:—–":
        s += 1
    return s, e


def _content_after(art, start, sent_end, lemma):
    """Content right of the cue/speaker: a quotation opening there (whole,
    across sentences), else the rest of the sentence; after "said:" at the
    end of a paragraph, the next paragraph."""
    text = art.text
    colon = re.match(r"[^\n]{0,40}?:[ \t]*\n\s*", text[start:])
    if colon and not re.search(r"[.!?“”\"]", colon.group()):
        s = start + colon.end()
        q = art.quote_starting(s)
        if q:
            return q
        e = text.find("\n", s)
        e = len(text) if e < 0 else e
        s, e = _trim(text, s, e)
        return (s, e) if e - s > 1 else None
    if lemma == "tell":
        r = _RECIPIENT.match(text[start:sent_end])
        if r and r.end() < 80:
            start += r.end()
    start += _THAT.match(text[start:sent_end]).end()
    lead = _LEAD_THAT.match(text[start:sent_end])  # "said on Tuesday that ..."
    if lead and not any(fold(w) in _NOT_SPEAKER - _LEAD_OK for w in _WORD.findall(lead.group(1))):
        start += lead.end()
    q = art.quote_starting(start)
    if q:
        return q
    s, e = _trim(text, start, sent_end)
    if e > s and text[e - 1] == "." and text[e - 2:e] != "..":
        e -= 1
    return (s, e) if e - s > 1 and re.search(r"\w", text[s:e]) else None


def _content_before(art, sent_start, end):
    """Content left of the speaker/cue: the quotation ending there (whole),
    else the sentence start up to it."""
    text = art.text
    k = end
    while k > sent_start and text[k - 1] in " \t,—–":
        k -= 1
    q = art.quote_ending(k)
    if q is None and k > 1 and text[k - 1] in ".!?":
        q = art.quote_ending(k - 1)
    if q:
        return q
    s = sent_start
    inner = art.quote_at(s)
    if inner:  # the sentence opens inside a quotation begun earlier
        s = inner[0]
    s, e = _trim(text, s, k)
    return (s, e) if e - s > 1 and re.search(r"\w", text[s:e]) else None


def _joined_with_next_quote(art, content, pos, sent_end):
    """'"A," he said, "B."': a quotation before the cue, extended to the
    quotation that opens right after the attribution ending at `pos`."""
    follow = re.match(r"[\s,]*(?=[“\"]|'')", art.text[pos:sent_end + 2])
    if content and follow:
        nxt = art.quote_starting(pos + follow.end())
        if nxt:
            return content[0], nxt[1]
    return content


def _quote_just_before(art, pos):
    """The quotation that ends right before `pos` in the same paragraph."""
    k = pos
    while k > 0 and art.text[k - 1] in " \t":
        k -= 1
    return art.quote_ending(k)


def _subject(art, found, sent_start, cue_start):
    """Speaker of a participle cue: the last speaker found in the same
    sentence, else the first name or pronoun of the sentence."""
    for r in reversed(found):
        if r["cue_start"] is not None and sent_start <= r["cue_start"] < cue_start:
            return {k: r[k] for k in ("speaker_id", "speaker", "speaker_start",
                                      "speaker_end", "affiliation")}
    text = art.text
    pm = re.match(r"\s*(?:[A-Z][\w’'-]*\s+){0,1}?(he|she|they|He|She|They|I|We)\b",
                  text[sent_start:cue_start])
    if pm and pm.start(1) - sent_start < 20:
        s = sent_start + pm.start(1)
        return _pronoun(art, pm.group(1), s, s + len(pm.group(1)))
    for m in art.mentions_in(sent_start, cue_start, ("PERSON", "ORG")):
        if re.search(r"[“\"]|''", text[sent_start:m[0]]):
            return None
        if m[0] - sent_start <= 40:
            return _speaker(art, m)
        return None
    return None


def find_quotes(text, sents, mentions, tokens=None):
    """One article -> a list of quote dicts (the `quotes` columns without
    article_id/outlet/published), in text order.

    `mentions` are ``(start, end, actor_id, label, ...)`` tuples with the
    final actor ids; `sents` the sentence start offsets. `tokens`, when a
    dependency parse is available, are ``(start, end, lemma, pos, dep,
    head)`` per token (head = index of the head token): speech verbs the
    rules left unattributed then get their subject and clausal complement
    (see `_parsed_attributions`)."""
    art = _Article(text, sents, mentions)
    verbs = speech_verbs()
    found = []
    taken = []  # content spans already attributed
    for cm in _cue_pattern().finditer(text):
        cs, ce = cm.span()
        if art.quote_at(cs) or any(a < ce and cs < b for a, b in taken):
            continue
        if any(m[0] <= cs < m[1] for m in art.mentions_in(max(0, cs - 80), ce + 80)):
            continue  # part of a name ("Said", "The Tell-Tale")
        if re.search(r"(?:\bhaving|\bHaving|\blet’s|\blet's|\bLet’s|\bLet's)\s+$", text[max(0, cs - 8):cs]):
            continue  # "needs to say", "having said that", "let's say"
        lemma = verbs[" ".join(cm.group().lower().split())]
        sent_start, sent_end = art.sentence(cs)
        row = {"cue": cm.group(), "cue_lemma": lemma, "cue_start": cs, "cue_end": ce,
               "affiliation": None}
        content = None
        if lemma == "according to":
            right = _right_speaker(art, ce, sent_end)
            if not right:
                np = re.match(r"\s+((?:[^\s,.;:“”\"—]+\s+){0,7}[^\s,.;:“”\"—]+)(?=\s*(?:[,.;:—]|$))",
                              text[ce:sent_end])
                if np:
                    s0, e0 = ce + np.start(1), ce + np.end(1)
                    orgs = art.mentions_in(s0, e0, ORG_LABELS)
                    right = {"speaker_id": orgs[-1][2] if orgs else None,
                             "speaker": text[s0:e0], "speaker_start": s0, "speaker_end": e0}, e0
            if not right:
                continue
            fields, end = right
            before = text[sent_start:cs].strip()
            if len(before) > 3:
                content = _content_before(art, sent_start, cs)
            else:
                content = _content_after(art, end, sent_end, lemma)
        elif (cm.group().endswith("ing") and not re.search(
                r"\b(?:is|was|are|were|been|be|am|’s|'s|’re|'re)\s+$", text[max(0, cs - 8):cs])
              ) or re.search(r"\band\s+(?:also\s+|then\s+|later\s+)?$", text[max(0, cs - 12):cs]):
            # ", saying ...", ", adding that ...": the clause's subject speaks
            fields = _subject(art, found, sent_start, cs)
            if not fields:
                continue
            content = _content_after(art, ce, sent_end, lemma)
        else:
            pre = text[sent_start:cs].rstrip()
            inverted = (pre.endswith((",", "”", '"', "—", "''")) and not _RELATIVE.search(pre)
                        ) or (pre == "" and art.quote_ending(sent_start) is not None)
            # the words after "told" are the listener, never the speaker
            can_right = lemma != "tell"
            right = _right_speaker(art, ce, sent_end, strict=True) if inverted and can_right else None
            left = None if right else _left_speaker(art, sent_start, cs)
            if not left and not right and can_right:
                # not inverted: only a name or a pronoun may follow as speaker
                # ("..., who in 2010 said the law was doomed" has none)
                right = _right_speaker(art, ce, sent_end, strict=True, names_only=True)
            if left:
                fields, begin = left
                before = text[sent_start:begin].rstrip()
                if len(before) > 3 and (before.endswith(_CLOSERS) or (
                        before.endswith((",", "—")) and _LEFT_AFTER.match(text[ce:sent_end]))):
                    content = _joined_with_next_quote(
                        art, _content_before(art, sent_start, begin), ce, sent_end)
                else:
                    content = _content_after(art, ce, sent_end, lemma)
                    if not content and not before:  # '“Why?” Clinton said.'
                        content = _quote_just_before(art, begin)
            elif right:
                fields, end = right
                before = text[sent_start:cs].rstrip()
                if before:
                    content = _joined_with_next_quote(
                        art, _content_before(art, sent_start, cs), end, sent_end)
                else:
                    content = (_quote_just_before(art, cs)
                               or _content_after(art, end, sent_end, lemma))
            else:
                continue
        if not content:
            continue
        row.update(fields)
        row.setdefault("affiliation", None)
        qs, qe = content
        row.update(quote=text[qs:qe], quote_start=qs, quote_end=qe,
                   direct=art.quote_starting(qs) is not None and qe in art.q_ends)
        found.append(row)
        taken.append((qs, qe))
    if tokens:
        found.extend(_parsed_attributions(art, tokens, found, taken))
    found.extend(_continuations(art, found, taken))
    known = {}  # an affiliation given once holds for the speaker's other quotes
    for r in sorted(found, key=lambda r: r["quote_start"]):
        if r["speaker_id"] and r["affiliation"]:
            known.setdefault(r["speaker_id"], r["affiliation"])
    for r in found:
        if r["speaker_id"] and not r["affiliation"]:
            r["affiliation"] = known.get(r["speaker_id"])
    found.sort(key=lambda r: (r["quote_start"], r["cue_start"] or -1))
    return found


def _continuations(art, found, taken):
    """A quoted paragraph without a cue right after a direct quote goes on
    quoting the same speaker."""
    text = art.text
    out = []
    direct = sorted((r for r in found if r["direct"]), key=lambda r: r["quote_end"])
    for qs, qe in art.quotes:
        if any(a < qe and qs < b for a, b in taken) or qe - qs < 20:
            continue
        same = _right_after(art, found, qs)  # '... Moore said Friday. “If indeed ...”'
        if same:
            row = _continue(same, text, qs, qe)
            out.append(row)
            taken.append((qs, qe))
            continue
        if qs > 0 and text[qs - 1] != "\n":  # must open its paragraph
            continue
        if _cue_pattern().search(text, qs, text.find("\n", qe) if text.find("\n", qe) > 0 else len(text)):
            continue
        prev = [r for r in direct if r["quote_end"] <= qs]
        if not prev:
            continue
        r = prev[-1]
        between = text[r["quote_end"]:qs]
        if between.count("\n") > CONTINUATION_PARAGRAPHS * 2 or len(between.strip()) > 200:
            continue
        row = _continue(r, text, qs, qe)
        out.append(row)
        direct.append(dict(row))
        direct.sort(key=lambda x: x["quote_end"])
        taken.append((qs, qe))
    return out


def _parsed_attributions(art, tokens, found, taken):
    """Parser fallback: a speech verb (lemma in speech_verbs.txt) not yet
    used as a cue, with a nominal subject and a clausal complement, is an
    attribution: speaker = the subject's subtree, content = the
    complement's subtree."""
    lemmas = set(speech_verbs().values())
    n = len(tokens)
    lo = list(range(n))
    hi = list(range(n))
    for i in range(n):  # each token widens the span of all its ancestors
        j, seen = tokens[i][5], 0
        while j is not None and 0 <= j < n and j != i and seen < n:
            lo[j], hi[j] = min(lo[j], i), max(hi[j], i)
            if tokens[j][5] == j:
                break
            j, seen = tokens[j][5], seen + 1
    children = {}
    for i, t in enumerate(tokens):
        if t[5] is not None and t[5] != i:
            children.setdefault(t[5], []).append(i)
    used = [(r["cue_start"], r["cue_end"]) for r in found if r["cue_start"] is not None]
    out = []
    for i, (cs, ce, lemma, pos, _, _) in enumerate(tokens):
        if pos != "VERB" or lemma not in lemmas or any(a < ce and cs < b for a, b in used):
            continue
        if art.quote_at(cs):
            continue
        kids = children.get(i, [])
        subj = [k for k in kids if tokens[k][4] == "nsubj"]
        comp = [k for k in kids if tokens[k][4] == "ccomp"]
        if not subj or not comp:
            continue
        ss, se = tokens[lo[subj[0]]][0], tokens[hi[subj[0]]][1]
        qs, qe = tokens[lo[comp[0]]][0], tokens[hi[comp[0]]][1]
        if any(a < qe and qs < b for a, b in taken):
            continue
        words = art.text[ss:se]
        if words.lower() in _PRONOUNS:
            fields = _pronoun(art, words, ss, se)
        else:
            named = art.mentions_in(ss, se, NAME_LABELS)
            fields = ({"speaker_id": named[-1][2], "speaker": words, "speaker_start": ss,
                       "speaker_end": se} if named and named[-1][3] in ("PERSON", "ORG")
                      else {"speaker_id": None, "speaker": words, "speaker_start": ss,
                            "speaker_end": se})
        row = dict(fields, affiliation=None, cue=art.text[cs:ce], cue_lemma=lemma,
                   cue_start=cs, cue_end=ce, quote=art.text[qs:qe], quote_start=qs,
                   quote_end=qe, direct=art.quote_starting(qs) is not None and qe in art.q_ends)
        out.append(row)
        taken.append((qs, qe))
    return out


def _continue(r, text, qs, qe):
    row = {k: r[k] for k in ("speaker_id", "speaker", "affiliation")}
    row.update(speaker_start=None, speaker_end=None, cue=None, cue_lemma=None,
               cue_start=None, cue_end=None, quote=text[qs:qe], quote_start=qs,
               quote_end=qe, direct=True)
    return row


def _right_after(art, found, qs):
    """The attribution whose words end just before `qs` in the same
    paragraph, with at most a few words between ("said Friday.")."""
    for r in found:
        if r["cue_start"] is None:
            continue
        end = max(r["quote_end"], r["cue_end"], r["speaker_end"] or 0)
        if end > qs or r["cue_end"] < r["quote_end"] < qs:
            continue
        between = art.text[end:qs]
        if ("\n" not in between and len(_WORD.findall(between)) <= 3
                and not _MARK.search(between) and not _cue_pattern().search(between)):
            return r
    return None


QUOTE_COLUMNS = ("article_id", "outlet", "published", "speaker_id", "speaker",
                 "speaker_start", "speaker_end", "affiliation", "cue", "cue_lemma",
                 "cue_start", "cue_end", "quote", "quote_start", "quote_end", "direct")


class FindQuotesFn(beam.DoFn):
    """An `article_actors` record -> its `quotes` rows."""

    def __init__(self):
        self._failed = beam.metrics.Metrics.counter("quotes", "articles_failed")

    def setup(self):
        speech_verbs()
        _cue_pattern()

    def process(self, record):
        try:
            rows = find_quotes(record["text"], record["sents"], record["mentions"],
                               record.get("tokens"))  # tokens: only with a parser
        except Exception:  # rules over a string: should not happen; never stop a run
            logging.exception("find_quotes failed on article %s", record.get("article_id"))
            self._failed.inc()
            return
        for r in rows:
            r.update(article_id=record["article_id"], outlet=record["outlet"],
                     published=record["published"])
            yield {c: r.get(c) for c in QUOTE_COLUMNS}


def _source_key(row):
    if row["speaker_id"]:
        return row["speaker_id"]
    return "?" + fold(row["speaker"] or "")


class SourceStatsFn(beam.CombineFn):
    """Quotes of one speaker -> the `sources` row fields."""

    def create_accumulator(self):
        return {"speakers": Counter(), "affiliations": Counter(), "n_quotes": 0,
                "articles": set(), "outlets": set(), "first": None, "last": None}

    def add_input(self, acc, row):
        acc["n_quotes"] += 1
        acc["speakers"][row["speaker"]] += 1
        if row["affiliation"]:
            acc["affiliations"][row["affiliation"]] += 1
        acc["articles"].add(row["article_id"])
        if row["outlet"] is not None:
            acc["outlets"].add(row["outlet"])
        p = row["published"]
        if p is not None:
            acc["first"] = p if acc["first"] is None else min(acc["first"], p)
            acc["last"] = p if acc["last"] is None else max(acc["last"], p)
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for a in accs:
            out["n_quotes"] += a["n_quotes"]
            out["speakers"].update(a["speakers"])
            out["affiliations"].update(a["affiliations"])
            out["articles"] |= a["articles"]
            out["outlets"] |= a["outlets"]
            for k, f in (("first", min), ("last", max)):
                vals = [v for v in (out[k], a[k]) if v is not None]
                out[k] = f(vals) if vals else None
        return out

    def extract_output(self, acc):
        def top(counter):
            return max(counter, key=lambda k: (counter[k], len(k or ""), k or "")) if counter else None
        return {"speaker": top(acc["speakers"]), "affiliation": top(acc["affiliations"]),
                "n_quotes": acc["n_quotes"], "n_articles": len(acc["articles"]),
                "n_outlets": len(acc["outlets"]), "first_published": acc["first"],
                "last_published": acc["last"]}


def _source_row(kv, names):
    key, stats = kv
    speaker_id = None if key.startswith("?") else key
    row = dict(stats, speaker_id=speaker_id)
    if speaker_id and names.get(speaker_id):
        row["speaker"] = names[speaker_id]
    return row


class FindQuotes(beam.PTransform):
    """`article_actors` records -> `quotes` rows."""

    def expand(self, article_actors):
        return article_actors | "FindQuotesInArticle" >> beam.ParDo(FindQuotesFn())


class Sources(beam.PTransform):
    """`quotes` rows (+ the `actors` rows, for readable names) -> `sources`:
    one row per quoted speaker (an actor, or the folded text of an unnamed
    source such as "officials")."""

    def __init__(self, actors=None):
        super().__init__()
        self._actors = actors

    def expand(self, quotes):
        stats = (quotes
                 | "BySpeaker" >> beam.Map(lambda r: (_source_key(r), r))
                 | "SpeakerStats" >> beam.CombinePerKey(SourceStatsFn()))
        if self._actors is None:
            return stats | "SourceRows" >> beam.Map(_source_row, {})
        names = self._actors | "ActorNames" >> beam.Map(lambda a: (a["actor_id"], a["name"]))
        return stats | "SourceRows" >> beam.Map(_source_row, beam.pvalue.AsDict(names))
