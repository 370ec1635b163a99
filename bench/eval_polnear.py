"""Quote attribution quality on PolNeAR dev: the `quotes` rules (spaCy NER +
sentencizer + our actor resolution, exactly as in the pipeline, without the
corpus-wide merge) against the gold Source/Cue/Content spans.

    python bench/eval_polnear.py [--split dev] [--docs N] [--show N] [--parser]

With --parser the full spaCy pipeline (tagger + dependency parser + NER)
runs instead of NER + sentencizer and find_quotes gets the tokens: the
parser fallback of transforms/quotes.py (`_parsed_attributions`) adds the
speech verbs with a subject and a clausal complement that the rules missed.

Gold: one annotator per article, the first in alphabetical order of the
.ann file names (two dev articles have six annotators; the others one).
Discontinuous gold spans count as the union of their pieces.

Scores are span overlap (a predicted span counts when it shares a
character with a gold span):
* speech gold = gold attributions whose cue contains one of the issue's
  speech words (say, tell, according to, add, ask, state, announce, write,
  claim, warn; any inflection); recall is over these;
* cue P = predicted cues overlapping any gold cue / predicted cues;
  cue R = speech gold cues overlapped by a predicted cue / speech gold;
* content P/R likewise for predicted vs gold content spans (all predicted
  quotes, including cue-less continuations; recall over speech gold);
* source P/R: predicted speaker spans vs gold source spans, over the
  predictions whose cue matched a gold cue / over speech gold with a source;
* speaker accuracy: of speech gold whose source is a name (it contains a
  capitalised word other than a sentence-initial determiner or pronoun) and
  whose cue we found, the share where our speaker span overlaps the gold
  source.
"""
import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data" / "polnear"
SPEECH = re.compile(r"\b(?:say|says|said|saying|tell|tells|told|telling|according\s+to|"
                    r"add|adds|added|adding|ask|asks|asked|asking|state|states|stated|"
                    r"stating|announce|announces|announced|announcing|write|writes|wrote|"
                    r"written|writing|claim|claims|claimed|claiming|warn|warns|warned|"
                    r"warning)\b", re.IGNORECASE)
_NOT_NAME = {"The", "A", "An", "He", "She", "They", "It", "We", "I", "His", "Her",
             "Their", "This", "That", "These", "Those", "Some", "Many", "One", "Two",
             "Other", "Another", "Most", "Several", "Both", "Its", "Our", "My", "You"}


def read_ann(path):
    """{id: (kind, [(start, end), ...])} and attributions [{role: id}]."""
    spans, rels = {}, []
    for line in Path(path).read_text("utf-8").splitlines():
        parts = line.split("\t")
        if line.startswith("T") and len(parts) >= 2:
            kind, _, offs = parts[1].partition(" ")
            pieces = [tuple(int(x) for x in p.split()) for p in offs.split(";")]
            spans[parts[0]] = (kind, pieces)
        elif line.startswith("E") and len(parts) >= 2:
            roles = {}
            for arg in parts[1].split():
                role, _, ref = arg.partition(":")
                roles.setdefault(role.split("-")[0] if role.startswith("Attribution") else role, ref)
            rels.append(roles)
    out = []
    for r in rels:
        g = {role: spans[ref][1] for role, ref in r.items()
             if role in ("Source", "Cue", "Content") and ref in spans}
        if "Cue" in g or "Content" in g:
            out.append(g)
    return out


def load_split(split="dev", limit=None):
    """[(name, text, gold attributions)] for one annotator per article."""
    base = SHARED / split
    chosen = {}
    for ann in sorted((base / "attributions").glob("*.ann")):
        name = ann.stem.rsplit("_", 1)[0]
        chosen.setdefault(name, ann)
    docs = []
    for name, ann in sorted(chosen.items()):
        text = (base / "text" / f"{name}.txt").read_text("utf-8")
        docs.append((name, text, read_ann(ann)))
    return docs[:limit] if limit else docs


def _overlaps(a, b):
    return any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)


def _is_name(text, pieces):
    words = re.findall(r"[A-Za-z][\w.’'-]*", " ".join(text[s:e] for s, e in pieces))
    return any(w[0].isupper() and w not in _NOT_NAME for w in words)


def predict(nlp, docs, batch_size=16, parser=False):
    """Run NER + actor resolution + find_quotes on each text (with the
    tokens of a parsed Doc when `parser`)."""
    from transforms import lexicon
    from transforms.actors import resolve_article
    from transforms.nlp import tokens_of
    from transforms.quotes import find_quotes
    aliases = lexicon.aliases()
    preds = []
    texts = [t for _, t, _ in docs]
    for text, doc in zip(texts, nlp.pipe(texts, batch_size=batch_size)):
        ents = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        sents = [s.start_char for s in doc.sents]
        mentions, _ = resolve_article(text, ents, sents, aliases)
        rows = [(m["start"], m["end"], m["actor_id"], m["label"], m["sentence"]) for m in mentions]
        preds.append(find_quotes(text, sents, rows, tokens_of(doc) if parser else None))
    return preds


def _prf(tp_p, n_p, tp_r, n_r):
    p = tp_p / n_p if n_p else 0.0
    r = tp_r / n_r if n_r else 0.0
    return {"p": round(p, 3), "r": round(r, 3),
            "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0, "n_pred": n_p, "n_gold": n_r}


def score(docs, preds):
    c = dict.fromkeys(["cue_pp", "cue_np", "cue_rr", "con_pp", "con_np", "con_rr", "n_speech",
                       "src_pp", "src_np", "src_rr", "src_nr", "name_ok", "name_n",
                       "cue_rr_all", "n_all"], 0)
    for (name, text, gold), rows in zip(docs, preds):
        speech = [g for g in gold if "Cue" in g and SPEECH.search(
            " ".join(text[s:e] for s, e in g["Cue"]))]
        gold_cues = [g["Cue"] for g in gold if "Cue" in g]
        gold_content = [g["Content"] for g in gold if "Content" in g]
        gold_sources = [g["Source"] for g in gold if "Source" in g]
        p_cues = [[(r["cue_start"], r["cue_end"])] for r in rows if r["cue_start"] is not None]
        p_content = [[(r["quote_start"], r["quote_end"])] for r in rows]
        c["cue_np"] += len(p_cues)
        c["cue_pp"] += sum(any(_overlaps(p, g) for g in gold_cues) for p in p_cues)
        c["con_np"] += len(p_content)
        c["con_pp"] += sum(any(_overlaps(p, g) for g in gold_content) for p in p_content)
        c["n_all"] += len(gold_cues)
        c["cue_rr_all"] += sum(any(_overlaps(p, g) for p in p_cues) for g in gold_cues)
        for r in rows:
            if r["cue_start"] is None or r["speaker_start"] is None:
                continue
            if any(_overlaps([(r["cue_start"], r["cue_end"])], g) for g in gold_cues):
                c["src_np"] += 1
                c["src_pp"] += any(_overlaps([(r["speaker_start"], r["speaker_end"])], g)
                                   for g in gold_sources)
        for g in speech:
            c["n_speech"] += 1
            c["cue_rr"] += any(_overlaps(p, g["Cue"]) for p in p_cues)
            if "Content" in g:
                c["con_rr"] += any(_overlaps(p, g["Content"]) for p in p_content)
            hits = [r for r in rows if r["cue_start"] is not None
                    and _overlaps([(r["cue_start"], r["cue_end"])], g["Cue"])]
            if "Source" in g:
                c["src_nr"] += 1
                ok = any(r["speaker_start"] is not None and _overlaps(
                    [(r["speaker_start"], r["speaker_end"])], g["Source"]) for r in hits)
                c["src_rr"] += ok
                if hits and _is_name(text, g["Source"]):
                    c["name_n"] += 1
                    c["name_ok"] += ok
    n_content = sum(1 for (_, _, gold) in docs for g in gold)  # unused in formulas
    del n_content
    return {
        "cue": _prf(c["cue_pp"], c["cue_np"], c["cue_rr"], c["n_speech"]),
        "content": _prf(c["con_pp"], c["con_np"], c["con_rr"], c["n_speech"]),
        "source": _prf(c["src_pp"], c["src_np"], c["src_rr"], c["src_nr"]),
        "speaker_accuracy": round(c["name_ok"] / c["name_n"], 3) if c["name_n"] else 0.0,
        "speaker_n": c["name_n"],
        "cue_recall_all_attributions": round(c["cue_rr_all"] / c["n_all"], 3) if c["n_all"] else 0.0,
        "n_docs": len(docs),
    }


def evaluate(nlp, split="dev", limit=None):
    docs = load_split(split, limit)
    return score(docs, predict(nlp, docs))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="dev")
    ap.add_argument("--docs", type=int, default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--show", type=int, default=0, help="print N missed speech attributions")
    ap.add_argument("--parser", action="store_true",
                    help="run the full pipeline with the dependency parser (slower)")
    args = ap.parse_args(argv)
    from transforms.nlp import DEFAULT_MODEL, load_ner
    model = args.model or DEFAULT_MODEL
    t0 = time.time()
    nlp = load_ner(model, parser=args.parser)
    docs = load_split(args.split, args.docs)
    t1 = time.time()
    preds = predict(nlp, docs, parser=args.parser)
    t_nlp = time.time() - t1
    result = score(docs, preds)
    print(f"PolNeAR {args.split}: {result['n_docs']} articles, model {model}"
          f"{' with parser' if args.parser else ' (NER + sentencizer)'}, "
          f"{time.time() - t0:.1f} s in all, {t_nlp:.1f} s NLP + quotes")
    for k in ("cue", "content", "source"):
        v = result[k]
        print(f"  {k:<8} P {v['p']:.3f}  R {v['r']:.3f}  F1 {v['f1']:.3f}  "
              f"(pred {v['n_pred']}, gold {v['n_gold']})")
    print(f"  speaker accuracy (gold source is a name) {result['speaker_accuracy']:.3f} "
          f"of {result['speaker_n']}")
    print(f"  cue recall over all gold attributions {result['cue_recall_all_attributions']:.3f}")
    if args.show:
        shown = 0
        for (name, text, gold), rows in zip(docs, preds):
            for g in gold:
                if "Cue" not in g or not SPEECH.search(" ".join(text[s:e] for s, e in g["Cue"])):
                    continue
                if any(r["cue_start"] is not None and _overlaps(
                        [(r["cue_start"], r["cue_end"])], g["Cue"]) for r in rows):
                    continue
                s = min(a for a, _ in g["Cue"])
                print("MISS", name, "|", text[max(0, s - 150):s + 60].replace("\n", " "))
                shown += 1
                if shown >= args.show:
                    return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
