"""Top-1 accuracy of the IPTC topic classifier on labelled news corpora.

    python bench/eval_topics.py [--limit N] [--lexicon-only] [--speed N] [--shared ../shared]

(--limit N: the first N items of each corpus, classified as a corpus of N.)

AG News test (title + description; 1 World, 2 Sports, 3 Business, 4 Sci/Tech)
and Reuters-21578 (title + body of the stories whose TOPICS field is not
empty; every TOPICS category is an economic one, so the expected IPTC topic
is economy, business and finance, or labour for "jobs"). An article counts
as correct when its rank-1 topic (after the thresholds of
transforms/topics.py) is one the label maps to; no topic counts as wrong.

Each corpus is classified as the pipeline's `Topics` step does it when the
corpus is its whole input: lexicon evidence and words of every article, the
corpus model learned from the confident articles in `ROUNDS` rounds
(transforms.topics.learn_topic_model, the same pure functions the Beam steps
call), then every article ranked (rank_topics). The model learns from the
unlabelled texts of the corpus itself (transductive), never from its labels.
`--lexicon-only` skips the model. No spaCy model is loaded.
"""
import argparse
import csv
import html
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from transforms.topics import (article_words, learn_topic_model, matcher,  # noqa: E402
                               rank_topics, topic_evidence)

SHARED = Path(__file__).resolve().parents[2] / "shared"
POLITICS, CRIME, DISASTER, ECONOMY = ("medtop:11000000", "medtop:02000000",
                                      "medtop:03000000", "medtop:04000000")
LABOUR, SCITECH, SPORT, CONFLICT = ("medtop:09000000", "medtop:13000000",
                                    "medtop:15000000", "medtop:16000000")
AG_GOLD = {"1": {POLITICS, CONFLICT, CRIME, DISASTER}, "2": {SPORT}, "3": {ECONOMY},
           "4": {SCITECH}}
AG_NAMES = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}


def ag_text(title, description):
    """AG News stores '$' as '#36;', quotes as 'quot;' and newlines as '\\'."""
    text = f"{title}\n{description}"
    text = re.sub(r"&?#(\d+);", lambda m: chr(int(m.group(1))), text)
    text = re.sub(r"&?(quot|amp|lt|gt|apos);", lambda m: html.unescape(f"&{m.group(1)};"), text)
    return text.replace("\\", " ")


def ag_news(shared, limit=None):
    with open(shared / "data" / "ag_news" / "test.csv", newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if limit is not None and i >= limit:
                break
            yield AG_NAMES[row["label"]], ag_text(row["title"], row["description"]), \
                AG_GOLD[row["label"]]


_DOC = re.compile(r"<REUTERS\b.*?</REUTERS>", re.S)


def _tag(doc, name):
    m = re.search(rf"<{name}>(.*?)</{name}>", doc, re.S)
    return html.unescape(m.group(1)) if m else ""


def reuters(shared, limit=None):
    n = 0
    for path in sorted((shared / "data" / "reuters21578").glob("reut2-*.sgm")):
        raw = path.read_bytes().decode("latin-1")
        for doc in _DOC.findall(raw):
            topics = re.findall(r"<D>(.*?)</D>", _tag(doc, "TOPICS"))
            if not topics:
                continue
            if limit is not None and n >= limit:
                return
            n += 1
            gold = {ECONOMY, LABOUR} if topics[0] == "jobs" else {ECONOMY}
            body = re.sub(r"\s*Reuter\s*\x03?\s*$", "", _tag(doc, "BODY").replace("\x03", ""))
            yield topics[0], f"{_tag(doc, 'TITLE').strip()}\n{body}", gold


def classify_corpus(texts, m, corpus_model=True):
    """The `Topics` step on a whole corpus of texts -> (rows per text, model)."""
    docs = [(topic_evidence(text, m), article_words(text)) for text in texts]
    model = learn_topic_model(docs) if corpus_model else None
    return [rank_topics(ev, words, m, model) for ev, words in docs], model


def score(items, m, corpus_model=True):
    """-> (accuracy, n, per-class {name: [correct, total]}, confusion Counter, seconds,
    top-2 accuracy)"""
    per, confusion, ok, n, ok2 = {}, Counter(), 0, 0, 0
    items = list(items)
    started = time.perf_counter()
    results, _model = classify_corpus([text for _, text, _ in items], m, corpus_model)
    for (name, _text, gold), topics in zip(items, results):
        top = topics[0][0] if topics else None
        good = top in gold
        ok += good
        ok2 += any(t[0] in gold for t in topics[:2])
        n += 1
        c = per.setdefault(name, [0, 0])
        c[0] += good
        c[1] += 1
        confusion[(name, topics[0][1] if topics else "(none)")] += 1
    return ok / max(n, 1), n, per, confusion, time.perf_counter() - started, ok2 / max(n, 1)


def report(title, result, show_classes=True):
    acc, n, per, confusion, secs, acc2 = result
    print(f"{title}: top-1 accuracy {acc:.4f} (gold in top 2: {acc2:.4f}) on {n} articles "
          f"({secs:.1f} s, {1000 * secs / max(n, 1):.2f} ms/article)")
    if show_classes:
        for name, (good, total) in sorted(per.items(), key=lambda kv: -kv[1][1])[:12]:
            top = Counter({lab: k for (nm, lab), k in confusion.items() if nm == name})
            common = ", ".join(f"{lab} {k}" for lab, k in top.most_common(4))
            print(f"  {name:<10} {good / total:.3f} of {total:>5}   top-1: {common}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--limit", type=int, default=None, help="first N items of each corpus")
    ap.add_argument("--speed", type=int, default=0, metavar="N",
                    help="also time NER (the pipeline's spaCy step) against topics "
                         "and keyphrase candidates on the first N Reuters stories")
    ap.add_argument("--lexicon-only", action="store_true",
                    help="no corpus model: the lexicon alone "
                         "(as on a corpus too small to learn from)")
    args = ap.parse_args(argv)
    m = matcher()
    learn = not args.lexicon_only
    report("AG News test", score(ag_news(args.shared, args.limit), m, learn))
    report("Reuters-21578 TOPICS", score(reuters(args.shared, args.limit), m, learn))
    if args.speed:
        speed(args.shared, args.speed, m)


def speed(shared, n, m):
    from transforms.nlp import DEFAULT_MODEL, load_ner
    from transforms.topics import candidate_phrases
    texts = [text for _, text, _ in reuters(shared, n)]
    nlp = load_ner(DEFAULT_MODEL)
    list(nlp.pipe(texts[:20]))                       # warm up
    started = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=64):
        pass
    ner = time.perf_counter() - started
    started = time.perf_counter()
    classify_corpus(texts, m)           # evidence, words, model rounds, ranking
    topics = time.perf_counter() - started
    started = time.perf_counter()
    for text in texts:
        candidate_phrases(text)
    phrases = time.perf_counter() - started
    chars = sum(map(len, texts))
    print(f"Speed on {len(texts)} Reuters stories ({chars} chars), one core: "
          f"NER ({DEFAULT_MODEL}) {ner:.1f} s; topics {topics:.2f} s "
          f"({topics / ner:.1%} of NER); keyphrase candidates {phrases:.2f} s "
          f"({phrases / ner:.1%} of NER)")


if __name__ == "__main__":
    main()
