"""A seeded generator of a dirty corpus: good articles mixed with the bad
input real corpora carry. `write_corpus(folder, seed)` returns what a run
over it must produce: the good articles' ids and the expected errors.

Good articles here name places and organisations but no people, so that no
article can change another's corpus-level surname merges: each good article
must come out exactly as it does alone.
"""
import gzip
import json
import random

PLACES = ["Kenya", "Brazil", "Norway", "Vietnam", "Chile", "Poland", "Egypt", "Canada"]
ORGS = ["the World Bank", "the European Union", "Reuters", "the United Nations",
        "the International Monetary Fund", "Toyota", "Siemens", "the World Health Organization"]
VERBS = ["signed a trade deal with", "sent aid to", "opened talks with", "criticised",
         "lent money to", "agreed a climate pact with"]


def good_text(rng):
    sents = []
    for _ in range(rng.randint(2, 5)):
        sents.append(f"{rng.choice(ORGS).capitalize() if rng.random() < .5 else rng.choice(PLACES)} "
                     f"{rng.choice(VERBS)} {rng.choice(PLACES)} on {rng.choice(['Monday', 'Friday'])}.")
    return " ".join(sents)


def write_corpus(folder, seed=7):
    rng = random.Random(seed)
    good, errors = {}, []

    def article(i, **extra):
        a = {"id": f"g{i:03d}", "title": f"Story {i}", "text": good_text(rng),
             "outlet": rng.choice(["Wire A", "Daily B"]), "published": f"2023-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"}
        a.update(extra)
        good[a["id"]] = a
        return a

    n = 0
    # 1. plain JSONL with bad lines mixed in
    lines = []
    for kind in ["ok", "ok", "badjson", "ok", "number", "list", "null", "missing", "ok",
                 "emoji", "rtl", "control", "html", "crlf", "ok", "dupid_a", "dupid_b", "pathid"]:
        n += 1
        if kind == "badjson":
            lines.append('{"id": "x", "text": "unterminated')
            errors.append(("mixed.jsonl", len(lines), "json"))
        elif kind in ("number", "list"):
            lines.append(json.dumps({"id": f"t{n}", "text": 42 if kind == "number" else ["a", "b"]}))
            errors.append(("mixed.jsonl", len(lines), "bad_type"))
        elif kind == "null":
            lines.append(json.dumps({"id": f"t{n}", "text": None}))
            errors.append(("mixed.jsonl", len(lines), "empty_text"))
        elif kind == "missing":
            lines.append(json.dumps({"id": f"t{n}", "title": "no body"}))
            errors.append(("mixed.jsonl", len(lines), "missing_text"))
        else:
            a = article(n)
            if kind == "emoji":
                a["text"] += " Markets cheered 🚀📈 the news."
            elif kind == "rtl":
                a["text"] += " وقال مسؤولون إن الاتفاق مهم. Die Regierung in Berlin schwieg."
            elif kind == "control":
                a["text"] = a["text"].replace(" ", "\x07 ", 1) + "\x00"
            elif kind == "html":
                a["text"] = "<p>" + a["text"] + "</p><script>var x = 'Kenya';</script><br/>"
            elif kind == "crlf":
                a["text"] = a["text"].replace(". ", ".\r\n\r\n")
            elif kind == "dupid_b":
                a["id"] = f"g{n - 1:03d}"   # same id as the previous, other text
                good.pop(f"g{n:03d}")
                good[a["id"] + "~2"] = a
            elif kind == "pathid":
                a["id"] = "../../escape/../x"
                good.pop(f"g{n:03d}")
                good[a["id"]] = a
            lines.append(json.dumps(a, ensure_ascii=rng.random() < .5))
    (folder / "mixed.jsonl").write_text("\r\n".join(lines[:3]) + "\n" + "\n".join(lines[3:]) + "\n",
                                        encoding="utf-8")
    # 2. a legacy cp1252 file (read, marked), and corrupt UTF-8 (error)
    a = article(100)
    a["text"] += " Officials called it a “fair” deal – café talk."
    (folder / "legacy.jsonl").write_bytes(json.dumps(a, ensure_ascii=False).encode("cp1252") + b"\n")
    (folder / "corrupt.jsonl").write_bytes(
        json.dumps({"id": "c1", "text": "café"}, ensure_ascii=False).encode("utf-8")[:-2]
        + b" \xff\xfe\"}\n")
    errors.append(("corrupt.jsonl", 1, "decode"))
    # 3. a byte-order mark
    a = article(101)
    (folder / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps(a).encode() + b"\n")
    # 4. gzip: one whole, one truncated after its first record
    a, b = article(102), article(103)
    data = gzip.compress((json.dumps(a) + "\n" + json.dumps(b) + "\n").encode())
    (folder / "whole.jsonl.gz").write_bytes(data)
    c = article(104)
    filler = "".join(rng.choice("abcdefghij klmnopqrstuvwxyz") for _ in range(60_000))
    payload = (json.dumps(c) + "\n" + json.dumps({"id": "filler", "text": filler}) + "\n").encode()
    truncated = gzip.compress(payload)
    (folder / "truncated.jsonl.gz").write_bytes(truncated[: len(truncated) * 2 // 3])
    errors.append(("truncated.jsonl.gz", None, "unreadable_file"))
    # 5. zero-byte files of each kind: no records, no errors
    for name in ("empty.jsonl", "empty.csv", "empty.txt"):
        (folder / name).write_bytes(b"")
    errors.append(("empty.txt", 1, "empty_text"))
    # 6. CSV with quoted newlines and commas, and a row that does not parse
    rows = [article(106), article(107)]
    rows[0]["text"] = rows[0]["text"].replace(". ", ".\n\n", 1)
    csv_text = "id,headline,body,source\n" + "".join(
        f'{r["id"]},"{r["title"]}","{r["text"]}",{r["outlet"]}\n' for r in rows)
    csv_text += 'bad,"only two fields"\n'
    for r in rows:
        r.pop("published")
    (folder / "wire.csv").write_text(csv_text, encoding="utf-8")
    errors.append(("wire.csv", 5 + csv_text.count("\n\n"), "csv"))
    # 7. a very long article (flagged `truncated`, still an article)
    a = article(108)
    a["text"] = (a["text"] + " ") * (20_000_000 // (len(a["text"]) + 1))
    (folder / "huge.jsonl").write_text(json.dumps(a) + "\n", encoding="utf-8")
    return good, errors
