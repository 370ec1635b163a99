"""Throughput, scaling and memory of the corpus-stats job, against the NLP floor and a peer.

    python bench/benchmark.py [--sizes 1000,4000,10000] [--peer-size 1000]

Builds corpora of real articles from ../shared/data (Reuters-21578 bodies,
with PolNeAR articles and CoNLL-2003 documents mixed in for longer texts),
written as JSON-lines files into a temporary folder (never into the repo),
and measures on the same texts, one after the other:

* pipeline: `python -m pipelines.corpus_stats --input DIR --output OUT` with
  default options (local FnApiRunner, one worker process per core);
* floor: bare spaCy `nlp.pipe` over the texts with exactly the components
  the pipeline runs (`transforms.nlp.load_ner`), in as many processes as
  the pipeline has workers, doing nothing else;
* peer: a pandas loop calling `nlp(text)` per row with the model's full
  default pipeline, counting co-mention pairs in Python dicts (one process;
  run on `--peer-size` articles only: it is the slowest by far and its
  per-article cost does not depend on the corpus size);
* start-up: the pipeline on 10 articles (its fixed cost);
* breakdown: the pipeline's pure per-article functions (reading, NLP, actor
  merging, pairs, quotes, topics, writing) timed one after the other in one
  process on the `--profile-size` corpus;
* stage times (`--stage-times N`, off by default): the real pipeline on N
  articles with each stage of the local runner timed.

Every measurement runs in its own subprocess. Wall time is taken from
launch to exit (interpreter start, imports and model loading included, for
all three alike); CPU time is the rusage of the process and every
descendant it waited for; peak memory is the largest sum of RSS (and of
PSS, which counts shared pages once) over the whole process tree, sampled
every 0.5 s with psutil. The machine load (os.getloadavg) and the CPU time
other processes used during each measurement are recorded: on a 2-core
machine shared with other jobs, figures taken while it was busy are slower.

Results: a JSON file and Markdown tables, printed and written to --out
(default: a temporary folder).
"""
import argparse
import hashlib
import html
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
SEED = 20240607
SHARD = 1000          # articles per JSON-lines input file
STARTUP_SIZE = 10
WORD = re.compile(r"\w+(?:['’.-]\w+)*")   # = transforms.articles.WORD (n_words)

# ----------------------------------------------------------------- corpus


def _reuters():
    docs = []
    for path in sorted((SHARED / "reuters21578").glob("reut2-*.sgm")):
        raw = path.read_bytes().decode("latin-1")
        for block in raw.split("</REUTERS>"):
            body = re.search(r"<BODY>(.*?)</BODY>", block, re.S)
            if not body:
                continue
            text = html.unescape(body.group(1))
            text = re.sub(r"\s*\b(?:Reuter|REUTER)\s*\x03?\s*$", "", text).replace("\x03", "")
            # paragraphs start with an indented line; the lines inside are hard-wrapped
            paras = [" ".join(p.split()) for p in re.split(r"\n\s{2,}", "\n" + text.strip())]
            text = "\n\n".join(p for p in paras if p)
            if not text.strip():
                continue
            newid = re.search(r'NEWID="(\d+)"', block)
            title = re.search(r"<TITLE>(.*?)</TITLE>", block, re.S)
            date = re.search(r"<DATE>\s*(.*?)</DATE>", block, re.S)
            published = None
            if date:
                try:
                    published = datetime.strptime(date.group(1).strip()[:20],
                                                  "%d-%b-%Y %H:%M:%S").strftime("%Y-%m-%dT%H:%M:%SZ")
                except ValueError:
                    published = None
            docs.append({"id": f"reuters-{newid.group(1) if newid else len(docs)}",
                         "outlet": "Reuters",
                         "title": html.unescape(title.group(1)).strip() if title else None,
                         "published": published, "text": text, "source": "reuters"})
    return docs


def _polnear():
    docs = []
    for split in ("train", "dev"):
        for path in sorted((SHARED / "polnear" / split / "text").glob("*.txt")):
            raw = path.read_text("utf-8").strip()
            title, _, body = raw.partition("\n")
            if not body.strip():
                continue
            m = re.match(r"([a-z-]+)_(\d{4}-\d{2}-\d{2})_", path.name)
            docs.append({"id": f"polnear-{path.stem}", "outlet": m.group(1) if m else None,
                         "title": title.strip(), "published": m.group(2) if m else None,
                         "text": body.strip(), "source": "polnear"})
    return docs


def _conll():
    docs, sents, sent = [], [], []

    def flush_doc():
        if sents:
            docs.append({"id": f"conll-{len(docs)}", "outlet": None, "title": sents[0],
                         "published": None, "text": "\n".join(sents[1:]) or sents[0],
                         "source": "conll"})
    for line in (SHARED / "conll2003" / "train.txt").read_text("utf-8").splitlines():
        tok = line.split(" ")[0] if line.strip() else ""
        if tok == "-DOCSTART-":
            if sent:
                sents.append(" ".join(sent))
                sent = []
            flush_doc()
            sents = []
        elif not tok:
            if sent:
                sents.append(" ".join(sent))
                sent = []
        else:
            sent.append(tok)
    if sent:
        sents.append(" ".join(sent))
    flush_doc()
    return docs


def build_pool():
    """All usable documents, exact duplicates (whitespace folded) dropped,
    shuffled with a fixed seed: the corpus of size N is the first N."""
    pool, seen = [], set()
    counts = {}
    for doc in _reuters() + _polnear() + _conll():
        h = hashlib.sha1(" ".join(doc["text"].split()).encode("utf-8")).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        pool.append(doc)
        counts[doc["source"]] = counts.get(doc["source"], 0) + 1
    random.Random(SEED).shuffle(pool)
    return pool, counts


def write_corpus(docs, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(docs), SHARD):
        with open(folder / f"articles-{i // SHARD:05d}.jsonl", "w", encoding="utf-8") as fh:
            for d in docs[i:i + SHARD]:
                fh.write(json.dumps({k: v for k, v in d.items() if k != "source"},
                                    ensure_ascii=False) + "\n")
    return folder


def read_texts(folder):
    texts = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            texts.extend(json.loads(line)["text"] for line in fh if line.strip())
    return texts


# ------------------------------------------------------------ measurement


class TreeSampler(threading.Thread):
    """Peak RSS and PSS summed over a process and all its descendants."""

    def __init__(self, pid, every=0.5):
        super().__init__(daemon=True)
        import psutil
        self._psutil = psutil
        self._root = psutil.Process(pid)
        self._every = every
        self._halt = threading.Event()
        self.peak_rss = self.peak_pss = 0
        self.peak_procs = 0
        self.roles, self.per_process = {}, {}   # pid -> role, pid -> peak RSS

    def run(self):
        ps = self._psutil
        while not self._halt.is_set():
            try:
                procs = [self._root] + self._root.children(recursive=True)
            except ps.Error:
                break
            rss = pss = 0
            for p in procs:
                try:
                    info = p.memory_full_info()
                    rss += info.rss
                    pss += getattr(info, "pss", info.rss)
                    if p.pid not in self.roles:
                        cmd = " ".join(p.cmdline())
                        self.roles[p.pid] = (
                            "main" if p.pid == self._root.pid else
                            "sdk worker" if is_sdk_worker(p, self._root.pid) else
                            "worker preparation" if "local_workers" in cmd else
                            "pool worker" if "--_floor" in cmd else p.name())
                    self.per_process[p.pid] = max(self.per_process.get(p.pid, 0), info.rss)
                except ps.Error:
                    pass
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_procs = max(self.peak_procs, len(procs))
            self._halt.wait(self._every)

    def stop(self):
        self._halt.set()
        self.join()


def _busy_cpu():
    import psutil
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0)


def is_sdk_worker(proc, launcher_pid):
    """Whether psutil's `proc` is one of the job's SDK workers: Beam's
    `sdk_worker_main`, or a worker forked by the worker preparation
    (pipelines/local_workers.py), whose command line is the preparation's
    and whose parent is not the launcher."""
    cmd = " ".join(proc.cmdline())
    return "sdk_worker_main" in cmd or (
        "local_workers.py serve" in cmd and proc.ppid() != launcher_pid)


def measure(cmd, label, cwd=REPO, log=None, env=None):
    """Run `cmd`; returns wall, CPU, peak memory, load and its last stdout line."""
    load_before = os.getloadavg()
    busy0 = _busy_cpu()
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=env)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop()
    cpu = usage.ru_utime + usage.ru_stime
    others = max(0.0, _busy_cpu() - busy0 - cpu)
    load_after = os.getloadavg()
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{label} failed ({proc.returncode}):\n{stderr[-3000:]}")
    row = {"label": label, "cmd": " ".join(map(str, cmd)), "wall_s": round(wall, 2),
           "cpu_s": round(cpu, 2), "others_cpu_s": round(others, 2),
           "others_cores": round(others / wall, 2),
           "peak_rss_mb": round(sampler.peak_rss / 2**20), "peak_pss_mb": round(sampler.peak_pss / 2**20),
           "processes": sampler.peak_procs,
           "peak_rss_mb_per_process": sorted(
               ((sampler.roles.get(pid, "?"), round(v / 2**20))
                for pid, v in sampler.per_process.items() if v > 50 * 2**20),
               key=lambda rv: -rv[1]),
           "load_before": [round(x, 2) for x in load_before],
           "load_after": [round(x, 2) for x in load_after],
           "stdout_tail": stdout.strip().splitlines()[-1] if stdout.strip() else ""}
    if log:
        log(f"  {label}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS {row['peak_rss_mb']} MB "
            f"(PSS {row['peak_pss_mb']} MB, {sampler.peak_procs} processes), load "
            f"{load_before[0]:.2f} -> {load_after[0]:.2f}, other processes "
            f"{row['others_cores']:.2f} cores; per process peak RSS MB "
            f"{row['peak_rss_mb_per_process']}")
    return row


# ---------------------------------------------------- subprocess entries


def _floor_worker(args):
    model, index, n_proc, batch_size = args
    t0 = time.perf_counter()
    from transforms.nlp import load_ner
    nlp = load_ner(model)
    t1 = time.perf_counter()
    n_docs = n_ents = 0
    for doc in nlp.pipe(_FLOOR_TEXTS[index::n_proc], batch_size=batch_size):
        n_docs += 1
        n_ents += len(doc.ents)
    return n_docs, n_ents, t1 - t0, time.perf_counter() - t1


_FLOOR_TEXTS = []


def floor_main(folder, model, n_proc, batch_size):
    """Bare nlp.pipe with the pipeline's components, in n_proc processes."""
    import multiprocessing
    import spacy  # noqa: F401  (imported once, before the fork)
    _FLOOR_TEXTS.extend(read_texts(folder))
    with multiprocessing.get_context("fork").Pool(n_proc) as pool:
        parts = pool.map(_floor_worker, [(model, i, n_proc, batch_size) for i in range(n_proc)])
    print(json.dumps({"docs": sum(p[0] for p in parts), "ents": sum(p[1] for p in parts),
                      "load_s": round(max(p[2] for p in parts), 2),
                      "pipe_s": round(max(p[3] for p in parts), 2)}))


def peer_main(folder, model):
    """What a user would otherwise write: pandas, nlp(text) per row, dicts."""
    import pandas as pd
    import spacy
    from transforms.actors import LABELS
    df = pd.concat([pd.read_json(p, lines=True) for p in sorted(Path(folder).glob("*.jsonl"))],
                   ignore_index=True)
    nlp = spacy.load(model)
    actor_articles, pairs = {}, {}
    for row in df.itertuples():
        doc = nlp(row.text)
        actors = sorted({(e.label_, e.text) for e in doc.ents if e.label_ in LABELS})
        for a in actors:
            actor_articles[a] = actor_articles.get(a, 0) + 1
        for i, a in enumerate(actors):
            for b in actors[i + 1:]:
                pairs[(a, b)] = pairs.get((a, b), 0) + 1
    print(json.dumps({"docs": len(df), "actors": len(actor_articles), "pairs": len(pairs)}))


def profile_main(folder, model, batch_size, out_dir):
    """The pipeline's pure per-article functions, timed one after another."""
    from transforms.read import _records_jsonl
    from transforms.articles import normalize_record
    from transforms.nlp import load_ner
    from transforms import lexicon
    from transforms.actors import resolve_article, remap_article, article_row, pack_mentions
    from transforms.comentions import article_pairs, period_start
    from transforms.quotes import find_quotes, QUOTE_COLUMNS
    from transforms.topics import (article_words, candidate_phrases, learn_topic_model,
                                   matcher, rank_topics, select_keyphrases, topic_evidence)
    from transforms.sinks import write_parquet
    from transforms.schemas import TABLES
    from collections import Counter
    times = {}

    def timed(name, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        times[name] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
        return result

    def read():
        recs = []
        for path in sorted(Path(folder).glob("*.jsonl")):
            with open(path, "rb") as fh:
                # (number, fields, raw line, ...): the tuple's tail varies by version
                recs.extend({"source_file": str(path), "record": t[0], "fields": t[1]}
                            for t in _records_jsonl(fh))
        return recs
    records = timed("reading", read)
    articles = timed("normalizing", lambda: [normalize_record(r) for r in records])
    nlp = timed("model load (start-up)", lambda: load_ner(model))

    def ner():
        out = []
        for a, doc in zip(articles, nlp.pipe([a["text"] for a in articles], batch_size=batch_size)):
            out.append(dict(a, ents=[(e.start_char, e.end_char, e.label_) for e in doc.ents],
                            sents=[s.start_char for s in doc.sents]))
        return out
    analysed = timed("NLP (spaCy NER + sentencizer)", ner)
    aliases = lexicon.aliases(None)

    def actors():
        recs = []
        for a in analysed:
            mentions, _votes = resolve_article(a["text"], a["ents"], a["sents"], aliases)
            rec = {"article_id": a["article_id"], "outlet": a["outlet"],
                   "published": a["published"], "text": a["text"], "sents": a["sents"],
                   "mentions": pack_mentions(mentions)}
            final, _partials = remap_article(rec, {})
            recs.append((article_row(a, len(final)), dict(
                rec, mentions=[(m["start"], m["end"], m["actor_id"], m["label"], m["sentence"])
                               for m in final],
                actors=sorted({(m["actor_id"], m["sentence"]) for m in final})), final))
        return recs
    resolved = timed("actor merging", actors)
    records_aa = [r[1] for r in resolved]

    def pairs():
        n = 0
        for r in records_aa:
            ps, _ = article_pairs(r)
            period_start(r["published"])
            n += len(ps)
        return n
    timed("pairs", pairs)
    quotes = timed("quotes", lambda: [
        dict(q, article_id=r["article_id"], outlet=r["outlet"], published=r["published"])
        for r in records_aa for q in find_quotes(r["text"], r["sents"], r["mentions"])])
    m = matcher()

    def topics_():  # lexicon evidence, the corpus model's rounds, ranking
        docs = [(topic_evidence(r["text"], m), article_words(r["text"])) for r in records_aa]
        model = learn_topic_model(docs)
        return [{"article_id": r["article_id"], "topic": c, "label": lab, "score": s, "rank": k}
                for r, (ev, words) in zip(records_aa, docs)
                for c, lab, s, k in rank_topics(ev, words, m, model)]
    topics = timed("topics (classify)", topics_)

    def keyphrases():
        terms = [(r["article_id"], Counter(candidate_phrases(r["text"])[0])) for r in records_aa]
        return [select_keyphrases(list(c.items())) for _, c in terms]
    timed("topics (keyphrase candidates)", keyphrases)

    def write():
        tables = {
            "articles": [r[0] for r in resolved],
            "mentions": [{"article_id": r[1]["article_id"], "actor_id": mm["actor_id"],
                          "text": mm["text"], "label": mm["label"], "start": mm["start"],
                          "end": mm["end"], "sentence": mm["sentence"]}
                         for r in resolved for mm in r[2]],
            "quotes": [{c: q.get(c) for c in QUOTE_COLUMNS} for q in quotes],
            "topics": topics,
        }
        for name, rows in tables.items():
            t = TABLES[name]
            write_parquet(os.path.join(out_dir, f"{name}.parquet"), t, sorted(rows, key=t.sort_key))
        return {k: len(v) for k, v in tables.items()}
    rows = timed("writing (Parquet)", write)
    print(json.dumps({"articles": len(articles), "rows": rows,
                      "times": {k: {kk: round(vv, 3) for kk, vv in v.items()}
                                for k, v in times.items()}}))


def pipeline_profile_main(stats_path, top=15):
    """Own (tottime) seconds of a cProfile'd in-process pipeline run, by package."""
    import pstats
    st = pstats.Stats(stats_path)
    groups, funcs, total = {}, [], 0.0
    for (filename, line, name), (cc, nc, tt, ct, callers) in st.stats.items():
        total += tt
        f = filename.replace("\\", "/")
        if "/site-packages/" in f:
            pkg = f.split("/site-packages/", 1)[1].split("/", 1)[0]
        elif "/transforms/" in f or "/pipelines/" in f:
            pkg = "newsbeam " + f.rsplit("/", 2)[-2] + "/" + f.rsplit("/", 1)[-1]
        elif f.startswith("~") or "built-in" in f or name.startswith("<"):
            pkg = "built-in: " + name.split(" of ")[0].strip("<>")[:60]
        else:
            pkg = "stdlib " + f.rsplit("/", 1)[-1]
        groups[pkg] = groups.get(pkg, 0.0) + tt
        funcs.append((tt, f"{f.rsplit('/', 2)[-2:]}:{line}({name})"))
    print(json.dumps({"total_s": round(total, 2),
                      "by_package": [(k, round(v, 2)) for k, v in sorted(
                          groups.items(), key=lambda kv: -kv[1])[:top]],
                      "top_functions": [(f, round(t, 2)) for t, f in sorted(funcs, reverse=True)[:top]]}))


def stage_times_main(folder, out, ner="real"):
    """The pipeline with default options, in this process, with the local
    runner's stages timed: each stage (a fused chain of transforms) is
    executed by `FnApiRunner._execute_bundle`, which this wraps to record its
    wall seconds, the CPU seconds the runner and each SDK worker spent in it
    (an idle worker shows as a gap between the two), and the memory of the
    runner and of its workers after it. `ner`: "real", "record:DIR" (the
    real NER, its output written to DIR) or "replay:DIR" (the NER's output
    read from DIR instead of running spaCy; bench/replay.py)."""
    import psutil
    if ner != "real":
        import replay
        mode, where = ner.split(":", 1)
        replay.use({"record": replay.RecordingFn, "replay": replay.ReplayFn}[mode], where)
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from pipelines.corpus_stats import run
    original = fn_runner.FnApiRunner._execute_bundle
    stages, me = [], psutil.Process()

    def cpu(proc):
        try:
            t = proc.cpu_times()
            return t.user + t.system
        except psutil.Error:
            return 0.0

    def rss(proc):
        try:
            return proc.memory_info().rss
        except psutil.Error:
            return 0

    def workers():  # the SDK worker processes, not their /bin/sh parents
        found = {}
        for c in me.children(recursive=True):
            try:
                if c.name().startswith("python") and is_sdk_worker(c, me.pid):
                    found[c.pid] = c
            except psutil.Error:  # a child that has just exited
                pass
        return found

    def timed(self, context, bundle_manager, *args, **kwargs):
        t0, runner0 = time.perf_counter(), cpu(me)
        before = {pid: cpu(c) for pid, c in workers().items()}
        result = original(self, context, bundle_manager, *args, **kwargs)
        after = workers()
        stages.append({"s": round(time.perf_counter() - t0, 2),
                       "runner_cpu": round(cpu(me) - runner0, 2),
                       "workers_cpu": [round(cpu(c) - before.get(pid, 0.0), 2)
                                       for pid, c in sorted(after.items())],
                       "runner_mb": me.memory_info().rss >> 20,
                       "workers_mb": sum(rss(c) for c in after.values()) >> 20,
                       "stage": _stage_label(bundle_manager.stage.name)})
        return result
    fn_runner.FnApiRunner._execute_bundle = timed
    t0 = time.perf_counter()
    run(["--input", folder, "--output", out])
    print(json.dumps({"total_s": round(time.perf_counter() - t0, 1),
                      "stages_s": round(sum(r["s"] for r in stages), 1),
                      "n_stages": len(stages), "stages": stages}))


def stage_groups(detail):
    """A stage-timed run in parts: {part: (wall s, workers' CPU s, idle
    core-seconds)}. The NLP stage is the one running `FindEntities/SpacyNER`;
    the first stage also starts the SDK workers; "outside stages" is graph
    construction, submission and the end of the run in the launcher. Idle
    core-seconds: each stage's wall times its number of workers, less their
    CPU (a worker waiting for the other, or for the runner)."""
    stages = detail["stages"]
    nlp = next(i for i, row in enumerate(stages) if "SpacyNER" in row["stage"])
    parts = {"first stage (workers start)": stages[:1], "before the NLP stage": stages[1:nlp],
             "the NLP stage": stages[nlp:nlp + 1], "after the NLP stage": stages[nlp + 1:]}
    out = {}
    for part, rows in parts.items():
        busy = [sum(r.get("workers_cpu", [])) for r in rows]
        idle = sum(max(0.0, r["s"] * len(r.get("workers_cpu", [])) - b)
                   for r, b in zip(rows, busy))
        out[part] = (round(sum(r["s"] for r in rows), 1), round(sum(busy), 1), round(idle, 1))
    out["outside stages (launcher)"] = (round(detail["total_s"] - detail["stages_s"], 1),
                                        0.0, 0.0)
    return out


def _stage_label(name):
    """A fused stage's name lists every transform in it; keep the distinct
    top-level steps ('FindEntities', 'CoMentions/GroupPairs', ...)."""
    steps = []
    for ref in re.findall(r"ref_AppliedPTransform_([A-Za-z0-9_-]+?)_\d+\)|\(([A-Za-z]+/[A-Za-z0-9]+)",
                          name):
        step = (ref[0] or ref[1]).replace("-", "/")
        step = "/".join(step.split("/")[:2])
        if step not in steps:
            steps.append(step)
    return ", ".join(steps[:12]) + (" ..." if len(steps) > 12 else "")


# ------------------------------------------------------------------ report


def _versions():
    import apache_beam
    import pandas
    import psutil
    import pyarrow
    import spacy
    from transforms.nlp import DEFAULT_MODEL
    meta = spacy.util.get_package_version(DEFAULT_MODEL)
    return {"python": platform.python_version(), "apache_beam": apache_beam.__version__,
            "spacy": spacy.__version__, f"model {DEFAULT_MODEL}": meta,
            "pandas": pandas.__version__, "pyarrow": pyarrow.__version__,
            "psutil": psutil.__version__}


def _machine():
    import psutil
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu,
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "os": platform.platform()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,4000,10000")
    ap.add_argument("--peer-size", type=int, default=1000,
                    help="articles the (slow, single-process) peer runs on")
    ap.add_argument("--profile-size", type=int, default=1000,
                    help="articles of the per-step breakdown")
    ap.add_argument("--out", default=None, help="results folder (default: a temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the corpora and outputs")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: "
                    "pipeline,floor,peer,profile,startup")
    ap.add_argument("--pipeline-profile", type=int, default=300,
                    help="articles of a cProfile'd in-process (1 worker) pipeline run; 0: skip")
    ap.add_argument("--stage-times", type=int, default=0, metavar="N",
                    help="also time each stage of the local runner on the N-article corpus "
                    "(one in-process run, default options); 0: skip")
    ap.add_argument("--repeat", type=int, default=1, metavar="R",
                    help="measure floor and pipeline R times per size (floor first in odd "
                    "rounds, pipeline first in even ones) and report every round's ratio "
                    "and their median, which the targets use (this machine's speed varies "
                    "by several per cent from run to run); the tables show the first round")
    ap.add_argument("--_pstats", help=argparse.SUPPRESS)
    ap.add_argument("--_stages", nargs="+", help=argparse.SUPPRESS)  # CORPUS OUT [NER]
    ap.add_argument("--_runner_floor", help=argparse.SUPPRESS)
    ap.add_argument("--_floor", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--_peer", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--_profile", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._floor:
        return floor_main(args._floor[0], args._floor[1], int(args._floor[2]), int(args._floor[3]))
    if args._pstats:
        return pipeline_profile_main(args._pstats)
    if args._stages:
        return stage_times_main(*args._stages)
    if args._runner_floor:
        import replay
        return replay.runner_floor_main(args._runner_floor)
    if args._peer:
        return peer_main(*args._peer)
    if args._profile:
        return profile_main(args._profile[0], args._profile[1], int(args._profile[2]),
                            args._profile[3])

    from pipelines.corpus_stats import make_options
    from pipelines.options import CorpusStatsOptions
    from apache_beam.options.pipeline_options import DirectOptions
    if not SHARED.is_dir():
        raise SystemExit(f"benchmark: {SHARED} not found (the shared data folder)")
    options = make_options([])
    workers = options.view_as(DirectOptions).direct_num_workers
    defaults = options.view_as(CorpusStatsOptions)
    model, batch_size = defaults.spacy_model, defaults.batch_size
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="newsbeam-bench-"))
    out = Path(args.out) if args.out else work
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()

    def log(msg):
        print(f"[{time.time() - started:7.1f} s] {msg}", flush=True)

    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "command": "python bench/benchmark.py " + " ".join(argv if argv is not None
                                                                  else sys.argv[1:]),
               "machine": _machine(), "versions": _versions(), "workers": workers,
               "model": model, "batch_size": batch_size, "sizes": {}}
    log(f"machine {results['machine']}; load average {os.getloadavg()}")
    pool, counts = build_pool()
    results["pool"] = counts
    log(f"corpus pool: {len(pool)} distinct non-empty documents {counts}")
    need = max(sizes + [args.peer_size, args.profile_size, STARTUP_SIZE])
    if need > len(pool):
        raise SystemExit(f"benchmark: only {len(pool)} documents, {need} asked")

    def save():  # after every measurement, so an interrupted run keeps its figures
        (out / "benchmark.json").write_text(json.dumps(results, indent=2, default=str))

    def corpus(n):
        folder = work / f"corpus_{n}"
        if not folder.exists():
            write_corpus(pool[:n], folder)
        docs = pool[:n]
        return folder, {"articles": n, "words": sum(len(WORD.findall(d["text"])) for d in docs),
                        "chars": sum(len(d["text"]) for d in docs),
                        "mix": {s: sum(d["source"] == s for d in docs) for s in counts}}

    def pipeline(n, folder):
        target = work / f"out_{n}"
        return measure([sys.executable, "-m", "pipelines.corpus_stats", "--input", str(folder),
                        "--output", str(target)], f"pipeline {n}", log=log)

    def floor(n, folder):
        row = measure([sys.executable, str(Path(__file__).resolve()), "--_floor", str(folder),
                       model, str(workers), str(batch_size)], f"floor {n}", log=log)
        row["detail"] = json.loads(row.pop("stdout_tail"))
        return row

    if "startup" not in skip:
        folder, info = corpus(STARTUP_SIZE)
        results["startup"] = dict(info, pipeline=pipeline(STARTUP_SIZE, folder),
                                  floor=floor(STARTUP_SIZE, folder))
        save()
    for n in sizes:
        folder, info = corpus(n)
        entry = results["sizes"][str(n)] = info
        log(f"{n} articles: {info['words']} words {info['mix']}")
        for round_ in range(max(1, args.repeat)):
            runs = {}
            # the order alternates, so that a machine slowing down (or speeding
            # up) through the rounds does not always fall on the same side
            for kind in ROUND_ORDERS[round_ % 2]:
                if kind == "floor" and "floor" not in skip:
                    runs["floor"] = floor(n, folder)
                if kind == "pipeline" and "pipeline" not in skip:
                    runs["pipeline"] = pipeline(n, folder)
                    runs["pipeline"]["summary"] = runs["pipeline"].pop("stdout_tail")
                    shutil.rmtree(work / f"out_{n}", ignore_errors=True) if not args.keep else None
            for r in runs.values():
                r["articles_s"] = round(n / r["wall_s"], 1)
                r["words_s"] = round(info["words"] / r["wall_s"])
            if len(runs) == 2:
                runs["ratio"] = round(runs["floor"]["wall_s"] / runs["pipeline"]["wall_s"], 3)
                runs["cpu_ratio"] = round(runs["floor"]["cpu_s"] / runs["pipeline"]["cpu_s"], 3)
                log(f"  ratio pipeline/floor throughput at {n}, round {round_ + 1}: "
                    f"{runs['ratio']} (CPU time: {runs['cpu_ratio']})")
            if round_ == 0:
                entry.update(runs)
            else:
                entry.setdefault("rounds", []).append(
                    {k: v if k in ("ratio", "cpu_ratio") else
                     {f: v[f] for f in ("wall_s", "cpu_s", "peak_rss_mb", "articles_s")}
                     for k, v in runs.items()})
            entry.update(summarize_rounds(entry))
            save()
    if "peer" not in skip:
        folder, info = corpus(args.peer_size)
        row = measure([sys.executable, str(Path(__file__).resolve()), "--_peer", str(folder),
                       model], f"peer {args.peer_size}", log=log)
        row["detail"] = json.loads(row.pop("stdout_tail"))
        row["articles_s"] = round(args.peer_size / row["wall_s"], 2)
        row["words_s"] = round(info["words"] / row["wall_s"])
        results["peer"] = dict(info, **row)
        save()
    if "profile" not in skip:
        folder, info = corpus(args.profile_size)
        prof_dir = work / "profile_out"
        prof_dir.mkdir(exist_ok=True)
        row = measure([sys.executable, str(Path(__file__).resolve()), "--_profile", str(folder),
                       model, str(batch_size), str(prof_dir)], f"breakdown {args.profile_size}",
                      log=log)
        row["detail"] = json.loads(row.pop("stdout_tail"))
        results["profile"] = dict(info, **row)
    if "pipeline-profile" not in skip and args.pipeline_profile:
        n = args.pipeline_profile
        folder, info = corpus(n)
        stats = work / "pipeline.pstats"
        row = measure([sys.executable, "-m", "cProfile", "-o", str(stats), "-m",
                       "pipelines.corpus_stats", "--input", str(folder), "--output",
                       str(work / "out_profile"), "--direct_num_workers=1",
                       "--direct_running_mode=in_memory"], f"cProfile pipeline {n}", log=log)
        row.pop("stdout_tail")
        row["detail"] = json.loads(subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--_pstats", str(stats)],
            capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        results["pipeline_profile"] = dict(info, **row)
        log("  " + json.dumps(row["detail"]))
        save()
    if args.stage_times:
        n = args.stage_times
        folder, info = corpus(n)
        # bench/ on the workers' path: they unpickle the replay DoFns
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")])))
        recorded = work / f"ner_{n}"
        recorded.mkdir(exist_ok=True)
        me = str(Path(__file__).resolve())
        for key, ner, label in (("stage_times", f"record:{recorded}", f"stage times {n}"),
                                ("stage_times_replay", f"replay:{recorded}",
                                 f"stage times {n}, NER replayed")):
            target = work / f"out_{key}_{n}"
            row = measure([sys.executable, me, "--_stages", str(folder), str(target), ner],
                          label, log=log, env=env)
            row["detail"] = json.loads(row.pop("stdout_tail"))
            row["rows"] = json.loads((target / "run.json").read_text())["rows"]
            results[key] = dict(info, **row)
            save()
        # the tables' row counts; tests/test_bench_replay.py compares every value
        same = results["stage_times"]["rows"] == results["stage_times_replay"]["rows"]
        results["stage_times_replay"]["rows_match"] = same
        if not same:
            log("  WARNING: the job with the NER replayed wrote other row counts than the "
                "recording run; its times do not measure the same work")
        pair = {"floor": floor(n, folder),
                "runner_floor": measure([sys.executable, me, "--_runner_floor", str(folder)],
                                        f"runner floor {n}", log=log, env=env)}
        pair["runner_floor"]["detail"] = json.loads(pair["runner_floor"].pop("stdout_tail"))
        if pair["runner_floor"]["detail"]["ents"] != pair["floor"]["detail"]["ents"]:
            raise RuntimeError(f"the runner floor found other entities than the floor: {pair}")
        pair["ratio"] = round(pair["floor"]["wall_s"] / pair["runner_floor"]["wall_s"], 3)
        log(f"  runner floor / floor throughput at {n}: {pair['ratio']}")
        results["runner_floor"] = dict(info, **pair)
        save()
    results["targets"] = targets(results)
    results["total_s"] = round(time.time() - started, 1)
    (out / "benchmark.json").write_text(json.dumps(results, indent=2))
    md = markdown(results)
    (out / "benchmark.md").write_text(md)
    print(md)
    log(f"results: {out / 'benchmark.json'} and {out / 'benchmark.md'}")
    if not args.keep:  # keep only the results and the pipeline profile
        for p in work.iterdir():
            if p.name not in ("benchmark.json", "benchmark.md", "pipeline.pstats"):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
    return 0


ROUND_ORDERS = (("floor", "pipeline"), ("pipeline", "floor"))


def summarize_rounds(entry):
    """The figures of every round of one size (the first round's are the
    entry's own, the others' under "rounds"): each round's ratio and their
    median, and the median wall and CPU seconds of each kind of run."""
    rounds = [entry] + entry.get("rounds", [])
    out = {}
    for key in ("ratio", "cpu_ratio"):
        values = [rd[key] for rd in rounds if key in rd]
        if values:
            out[key + "_rounds"] = values
            out[key + "_median"] = round(median(values), 3)
    for kind in ("floor", "pipeline"):
        runs = [rd[kind] for rd in rounds if kind in rd]
        if runs:
            out[kind + "_median"] = {f: round(median([r[f] for r in runs]), 2)
                                     for f in ("wall_s", "cpu_s")}
    return out


def targets(r):
    """Each target, judged on the median of the rounds where --repeat gave
    more than one (a single round otherwise)."""
    t = {}
    sizes = sorted(int(s) for s in r["sizes"])
    big, small = str(sizes[-1]), str(sizes[0])
    if "ratio" in r["sizes"].get(big, {}):
        e = r["sizes"][big]
        value = e.get("ratio_median", e["ratio"])
        t["ratio_to_floor"] = {"size": int(big), "value": value,
                               "cpu_value": e.get("cpu_ratio_median", e.get("cpu_ratio")),
                               "rounds": e.get("ratio_rounds", [e["ratio"]]),
                               "target": 0.85, "met": value >= 0.85}
    if "startup" in r and all("pipeline" in r["sizes"][s] for s in (big, small)) and big != small:
        s0 = r["startup"]["pipeline"]["wall_s"]
        run_of = {s: r["sizes"][s].get("pipeline_median", r["sizes"][s]["pipeline"])
                  for s in (big, small)}
        tb, ts = run_of[big]["wall_s"], run_of[small]["wall_s"]
        factor = int(big) / int(small)
        allowed = 1.05 * factor  # 10.5 for 10,000 vs 1,000
        value = (tb - s0) / (ts - s0) if ts > s0 else None  # smallest run within start-up noise
        c0 = r["startup"]["pipeline"]["cpu_s"]
        cb, cs = run_of[big]["cpu_s"], run_of[small]["cpu_s"]
        t["scaling"] = {"sizes": [int(small), int(big)], "startup_s": s0,
                        "value": value and round(value, 2), "target": round(allowed, 2),
                        "cpu_value": round((cb - c0) / (cs - c0), 2) if cs > c0 else None,
                        "met": value is not None and value <= allowed}
    # the largest of every round (PSS is kept for the first round only)
    peaks = {s: max(rd["pipeline"]["peak_rss_mb"] for rd in [e] + e.get("rounds", [])
                    if "pipeline" in rd)
             for s, e in r["sizes"].items() if "pipeline" in e}
    if peaks:
        pss = {s: e["pipeline"].get("peak_pss_mb") for s, e in r["sizes"].items()
               if "pipeline" in e}
        t["memory"] = {"peak_rss_mb": peaks, "peak_pss_mb": pss, "target_mb": 2048,
                       "met": max(peaks.values()) < 2048}
    if "peer" in r:
        peer = r["peer"]["articles_s"]
        same = r["sizes"].get(str(r["peer"]["articles"]), {}).get("pipeline")
        best = r["sizes"][big].get("pipeline")
        t["peer"] = {"peer_articles_s": peer, "target": 3.0}
        if same:
            t["peer"]["speedup_same_size"] = round(same["articles_s"] / peer, 2)
        if best:
            t["peer"]["speedup_largest"] = round(best["articles_s"] / peer, 2)
        key = "speedup_largest" if best else "speedup_same_size"
        if key in t["peer"]:
            t["peer"]["met"] = t["peer"][key] >= 3.0
    return t


def markdown(r):
    lines = []
    lines.append("| articles | words | run | wall s | articles/s | words/s | CPU s | peak RSS MB "
                 "(PSS) | load before -> after | other processes (cores) |")
    lines.append("|---:|---:|---|---:|---:|---:|---:|---:|---|---:|")

    def row(n, words, kind, m):
        lines.append(f"| {n:,} | {words:,} | {kind} | {m['wall_s']} | {n / m['wall_s']:.1f} | "
                     f"{words / m['wall_s']:,.0f} | {m['cpu_s']} | {m['peak_rss_mb']:,} "
                     f"({m['peak_pss_mb']:,}) | {m['load_before'][0]} -> {m['load_after'][0]} | "
                     f"{m['others_cores']} |")
    if "startup" in r:
        for kind in ("pipeline", "floor"):
            row(r["startup"]["articles"], r["startup"]["words"], kind + " (start-up)",
                r["startup"][kind])
    for n, e in sorted(r["sizes"].items(), key=lambda kv: int(kv[0])):
        for kind in ("pipeline", "floor"):
            if kind in e:
                row(int(n), e["words"], kind, e[kind])
    if "peer" in r:
        row(r["peer"]["articles"], r["peer"]["words"], "peer (pandas + full nlp())", r["peer"])
    lines.append("")
    ratios = [(n, e["ratio"], e.get("cpu_ratio")) for n, e in
              sorted(r["sizes"].items(), key=lambda kv: int(kv[0])) if "ratio" in e]
    if ratios:
        lines.append("Ratio pipeline throughput / floor throughput (wall time; in brackets "
                     "the same ratio from CPU seconds): " +
                     ", ".join(f"{int(n):,}: {v:.2f} ({c})" for n, v, c in ratios))
        lines.append("")
    for n, e in sorted(r["sizes"].items(), key=lambda kv: int(kv[0])):
        if len(e.get("ratio_rounds", [])) > 1:
            lines.append(f"Median of {len(e['ratio_rounds'])} rounds at {int(n):,}: ratio "
                         f"{e['ratio_median']} (CPU {e.get('cpu_ratio_median')}); every round: "
                         + ", ".join(map(str, e["ratio_rounds"])) + "; median wall s: floor "
                         f"{e['floor_median']['wall_s']}, pipeline {e['pipeline_median']['wall_s']}")
            lines.append("")
    for n, e in sorted(r["sizes"].items(), key=lambda kv: int(kv[0])):
        for i, rd in enumerate(e.get("rounds", []), start=2):
            lines.append(f"Round {i} at {int(n):,}: " + ", ".join(
                f"{k} {rd[k]['wall_s']} s wall, {rd[k]['cpu_s']} CPU s, "
                f"{rd[k]['peak_rss_mb']} MB" for k in ROUND_ORDERS[(i - 1) % 2] if k in rd)
                + (f"; ratio {rd['ratio']} (CPU {rd['cpu_ratio']})" if "ratio" in rd else ""))
            lines.append("")
    if "profile" in r:
        times = r["profile"]["detail"]["times"]
        total = sum(v["wall_s"] for k, v in times.items() if "start-up" not in k)
        lines.append(f"Breakdown, one process, {r['profile']['articles']:,} articles "
                     f"(load {r['profile']['load_before'][0]} -> {r['profile']['load_after'][0]}):")
        lines.append("")
        lines.append("| step | seconds | share of per-article work | ms/article |")
        lines.append("|---|---:|---:|---:|")
        for k, v in times.items():
            share = "-" if "start-up" in k else f"{100 * v['wall_s'] / total:.1f} %"
            lines.append(f"| {k} | {v['wall_s']:.2f} | {share} | "
                         f"{1000 * v['wall_s'] / r['profile']['articles']:.2f} |")
        lines.append(f"| total per-article work | {total:.2f} | 100 % | "
                     f"{1000 * total / r['profile']['articles']:.2f} |")
        lines.append("")
    if "pipeline_profile" in r:
        pp = r["pipeline_profile"]
        d = pp["detail"]
        lines.append(f"cProfile of the whole job in one process (1 worker, in_memory), "
                     f"{pp['articles']:,} articles, {pp['wall_s']} s wall; own time by package "
                     f"(of {d['total_s']} s profiled):")
        lines.append("")
        lines.append("| package / function group | own seconds | share |")
        lines.append("|---|---:|---:|")
        for k, v in d["by_package"]:
            lines.append(f"| {k} | {v} | {100 * v / d['total_s']:.1f} % |")
        lines.append("")
    for key, what in (("stage_times", "the job (recording the NER's output)"),
                      ("stage_times_replay", "the job with the NER replayed")):
        if key not in r:
            continue
        st = r[key]
        d = st["detail"]
        lines.append(f"Stages of the local runner, {what}, {st['articles']:,} articles, default "
                     f"options ({st['wall_s']} s, {st['cpu_s']} CPU s; in process {d['total_s']} "
                     f"s, of which {d['stages_s']} s in {d['n_stages']} stages; stages of 0.5 s "
                     f"or more, in the order they ran):")
        lines.append("")
        lines.append("| seconds | runner CPU s | workers' CPU s | runner MB | workers MB | "
                     "steps in the stage |")
        lines.append("|---:|---:|---:|---:|---:|---|")
        for row in d["stages"]:
            if row["s"] >= 0.5:
                lines.append(f"| {row['s']} | {row.get('runner_cpu', '')} | "
                             f"{', '.join(map(str, row.get('workers_cpu', [])))} | "
                             f"{row['runner_mb']} | {row['workers_mb']} | {row['stage']} |")
        small = [row["s"] for row in d["stages"] if row["s"] < 0.5]
        lines.append(f"| {sum(small):.1f} | | | | | the other {len(small)} stages |")
        lines.append("")
    if "stage_times_replay" in r:
        if not r["stage_times_replay"].get("rows_match", True):
            lines.append("WARNING: the replayed job's tables have other row counts than the "
                         "recording run's: the comparison below is not of the same work.")
            lines.append("")
        lines.append("| part | the job (recording): wall s (workers' CPU s; idle "
                     "core-s) | NER replayed: wall s (workers' CPU s; idle core-s) |")
        lines.append("|---|---:|---:|")
        groups = [stage_groups(r[k]["detail"]) for k in ("stage_times", "stage_times_replay")]
        for part in groups[0]:
            lines.append(f"| {part} | " + " | ".join(
                f"{g[part][0]} ({g[part][1]}; {g[part][2]})" for g in groups) + " |")
        lines.append("")
    if "runner_floor" in r:
        rf = r["runner_floor"]
        lines.append(f"Runner floor at {rf['articles']:,} articles (Beam's local runner around the "
                     f"same NER, nothing else): {rf['runner_floor']['wall_s']} s, "
                     f"{rf['runner_floor']['cpu_s']} CPU s; the floor beside it "
                     f"{rf['floor']['wall_s']} s, {rf['floor']['cpu_s']} CPU s; "
                     f"throughput ratio {rf['ratio']}.")
        lines.append("")
    lines.append("Targets: " + json.dumps(r.get("targets", {})))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
