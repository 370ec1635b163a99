"""The main job: articles in, actors and mentions out, as Parquet tables.

    python -m pipelines.corpus_stats --input sample_data --output out

With no --runner it runs on Beam's local FnApiRunner in multi-process mode,
one worker per core (it does not try to fetch the Prism runner binary).
Any other Beam runner and its flags pass through unchanged.
"""
import sys

if __name__ == "__main__":
    # Started as a program: the local runner's workers begin to load now,
    # while this process imports Beam (pipelines/local_workers.py).
    from pipelines import local_workers
    local_workers.start(sys.argv[1:])

import contextlib  # noqa: E402 (the block above goes first)
import json
import os
import platform
import time
import uuid

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    DirectOptions, PipelineOptions, SetupOptions, StandardOptions)
from apache_beam.transforms import userstate

from pipelines import local_workers
from pipelines.options import CorpusStatsOptions
from transforms.actors import ARTICLE_ACTORS, MENTIONS, ResolveActors
from transforms.articles import NormalizeArticles
from transforms.comentions import PARTITIONED, CoMentions
from transforms.errors import ERRORS
from transforms.outputs import global_count
from transforms.nlp import FindEntities, check_model
from transforms.progress import CountProgress
from transforms.read import ReadRecords, expand_inputs
from transforms.sinks import RUN_FILE, WriteTables, join, prepare_output
from transforms.topics import KEYPHRASES, Keyphrases, Topics
from transforms.outlets import OutletStats
from transforms.quotes import FindQuotes, Sources


def build(p, opts, files, run_info):
    """Wire the transforms onto pipeline `p`; returns the run-summary leaf."""
    labels = tuple(l.strip() for l in opts.entity_labels.split(",") if l.strip())
    read = (p
            | "ListInputs" >> beam.Create(files)
            | "ReadRecords" >> ReadRecords())
    articles = (read.records
                | "ProgressRecords" >> CountProgress({"records": None})
                | "NormalizeArticles" >> NormalizeArticles())
    duplicate = articles["articles"] | "Duplicates" >> beam.Filter(
        lambda a: a["duplicate_of"] is not None)
    unique = articles["articles"] | "Originals" >> beam.Filter(
        lambda a: a["duplicate_of"] is None)
    analysed = (unique
                | "FindEntities" >> FindEntities(opts.spacy_model, opts.max_chars,
                                                 opts.batch_size, opts.quotes_parser))
    # one count of the analysed articles for every step that needs it (a
    # global count costs a stage)
    n_analysed = global_count(analysed.articles, "CountAnalysed")
    actors = ((analysed.articles | "ProgressAnalysed" >> CountProgress({"analysed": None}),
               n_analysed)
              | "ResolveActors" >> ResolveActors(opts.aliases, labels))
    # Topics and keyphrases read only the text: they run in the NLP stage,
    # before the corpus-wide actor merge, so the text need not wait for it.
    topics = analysed.articles | "Topics" >> Topics(
        opts.topics, opts.topics_replace, opts.period)
    keyphrases = (analysed.articles, n_analysed) | "Keyphrases" >> Keyphrases()
    duplicate_rows = duplicate | "DuplicateRows" >> beam.Map(
        lambda a: {k: v for k, v in a.items() if k != "text_hash"})
    tables = {
        "articles": (actors["articles"], duplicate_rows) | "AllArticles" >> beam.Flatten(),
        "mentions": actors[MENTIONS],
        "actors": actors["actors"],
        "errors": (read[ERRORS], articles[ERRORS], analysed[ERRORS])
                  | "AllErrors" >> beam.Flatten()
                  | "ProgressErrors" >> CountProgress({"errors": None}),
    }
    # One record per analysed article with its final actors, text and
    # sentence starts: the input of every per-article statistic below.
    article_actors = actors[ARTICLE_ACTORS]  # noqa: F841 (consumers follow)
    comentions = (article_actors, actors["actors"], n_analysed) | "CoMentions" >> CoMentions(
        opts.period, opts.min_pair_articles, opts.max_actors_per_article)
    stats = comentions.pop("stats")  # figures for run.json
    tables.update(comentions)
    tables.update(topics)
    tables[KEYPHRASES] = keyphrases
    tables["quotes"] = article_actors | "FindQuotes" >> FindQuotes()
    tables["sources"] = tables["quotes"] | "Sources" >> Sources(actors["actors"])
    tables["outlets"] = {"articles": tables["articles"], "quotes": tables["quotes"],
                         "article_actors": article_actors} | "Outlets" >> OutletStats()
    counts = read.counts | "ProgressFiles" >> CountProgress({"files": None})
    return (tables, counts, stats) | "WriteTables" >> WriteTables(
        opts.output, run_info["run_id"], run_info, partitioned=PARTITIONED,
        batched=(MENTIONS, KEYPHRASES))  # one list of rows an article


def _versions():
    # from the installed metadata: importing spaCy here would cost the
    # launcher about 1.5 s and memory that it never uses
    from importlib.metadata import version
    return {"python": platform.python_version(), "apache_beam": beam.__version__,
            **{name: version(name) for name in ("spacy", "pyarrow", "pandas")}}


@contextlib.contextmanager
def _no_ipython_probe():
    """Beam asks whether it runs inside IPython as it applies each transform
    and once the run ends, and asks by importing IPython: 0.5 s of the
    launcher's start-up wherever IPython is installed. Outside IPython the
    answer is no, and IPython is then not imported yet (a running shell
    imported it); in that case, and during the run only, the answer is
    given without the import."""
    if "IPython" in sys.modules:
        yield
        return
    from apache_beam import pipeline
    from apache_beam.runners.direct import direct_runner
    from apache_beam.utils import interactive_utils
    probes = [(module, module.is_in_ipython)
              for module in (interactive_utils, pipeline, direct_runner)]
    for module, _ in probes:
        module.is_in_ipython = _not_in_ipython
    try:
        yield
    finally:
        for module, probe in probes:
            module.is_in_ipython = probe


def _not_in_ipython():
    return False


@contextlib.contextmanager
def _memoized_graph_introspection():
    """Two of Beam's look-ups, answered once per object while the job is
    built and run: about 0.7 s of the 1.2-1.3 s the launcher took to build
    the graph and translate it (BENCHMARKS.md, fifteenth session).

    - `PipelineOptions.view_as` builds a fresh view of the options (an
      argparse parser, about 0.5 ms) each time Beam applies a transform,
      infers an output type or compares type hints: 991 views for this
      job's graph. A view holds nothing of its own (its values live in the
      options' shared dictionary), so each options object hands out one
      view per class.
    - `userstate.get_dofn_specs` reads the signature of every method of a
      DoFn (`inspect.signature`, about 30 a DoFn) to find state and timer
      parameters, twice as its ParDo is made and more times as the graph is
      translated: 768 calls for the job's 128 DoFns. A DoFn's methods do not
      change, so each DoFn's answer is kept.

    Both caches hold their objects, so no id is reused while they last.
    The patch is process-wide while it lasts: runs in one process should
    not overlap (Beam's construction is not thread-safe either)."""
    view_as, dofn_specs = PipelineOptions.view_as, userstate.get_dofn_specs
    views, specs = {}, {}

    def shared_view(options, cls):
        key = (id(options), cls)
        if key not in views:
            views[key] = (options, view_as(options, cls))
        return views[key][1]

    def kept_dofn_specs(dofn):
        if id(dofn) not in specs:
            specs[id(dofn)] = (dofn, dofn_specs(dofn))
        return specs[id(dofn)][1]

    PipelineOptions.view_as, userstate.get_dofn_specs = shared_view, kept_dofn_specs
    try:
        yield
    finally:
        PipelineOptions.view_as, userstate.get_dofn_specs = view_as, dofn_specs


def make_options(argv):
    options = PipelineOptions(argv)
    standard = options.view_as(StandardOptions)
    if standard.runner is None:
        # Local default: FnApiRunner, one process per core. DirectRunner
        # would first try to download the Prism binary.
        direct = options.view_as(DirectOptions)
        given = " ".join(argv or [])
        if "direct_num_workers" not in given:
            direct.direct_num_workers = os.cpu_count() or 1
        if "direct_running_mode" not in given:
            direct.direct_running_mode = "multi_processing" \
                if direct.direct_num_workers > 1 else "in_memory"
    options.view_as(SetupOptions).save_main_session = False
    return options


def run(argv=None):
    """Build and run the job; returns the run summary (run.json) as a dict."""
    workers = local_workers.take_started()  # begun by the command line, if it was
    try:
        options = make_options(argv)
        opts = options.view_as(CorpusStatsOptions)
        if not opts.input or not opts.output:
            # checked here, not by argparse: Beam parses every PipelineOptions
            # class for any pipeline, tests' TestPipelines included
            raise SystemExit("corpus-stats: --input and --output are required")
        if not beam.io.filesystems.FileSystems.get_scheme(opts.output):
            opts.output = os.path.abspath(opts.output)  # workers may run elsewhere
        check_model(opts.spacy_model)
        files, skipped = expand_inputs(opts.input)
        prepare_output(opts.output, opts.overwrite)
        run_info = {
            "run_id": time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8],
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "input": opts.input, "output": opts.output, "skipped_files": skipped,
            "options": {k: v for k, v in opts.get_all_options(drop_default=False).items()
                        if k in ("spacy_model", "entity_labels", "aliases", "max_chars",
                                 "batch_size", "period", "min_pair_articles",
                                 "max_actors_per_article", "topics", "topics_replace",
                                 "quotes_parser", "overwrite", "prefork", "runner",
                                 "direct_num_workers", "direct_running_mode")},
            "model": opts.spacy_model, "versions": _versions(),
        }
        runner, workers = _runner(options, opts, workers)
        started = time.time()
        with _no_ipython_probe(), _memoized_graph_introspection(), \
                beam.Pipeline(runner=runner, options=options) as p:
            build(p, opts, files, run_info)
        with beam.io.filesystems.FileSystems.open(join(opts.output, RUN_FILE)) as fh:
            summary = json.loads(fh.read())
        summary["seconds"] = round(time.time() - started, 1)
        return summary
    finally:
        if workers is not None:
            workers.close()


def _runner(options, opts, preparation):
    """The runner for `beam.Pipeline` (None: Beam's, from --runner) and the
    worker preparation it uses (`local_workers.Preparation`, or None). The
    local default is the FnApiRunner (DirectRunner would first try to
    download the Prism binary), its multi-process workers forked from a
    preparation unless --no-prefork; a `preparation` begun for a run that
    does not use it is stopped."""
    standard = options.view_as(StandardOptions)
    if "DaskRunner" in (standard.runner or ""):
        from pipelines.runner_compat import patch_dask_runner
        patch_dask_runner()
    direct = options.view_as(DirectOptions)
    if (standard.runner is None and opts.prefork and local_workers.supported()
            and direct.direct_running_mode == "multi_processing"):
        preparation = preparation or local_workers.Preparation()
        preparation.configure(opts.spacy_model, opts.quotes_parser,
                              direct.direct_num_workers or os.cpu_count() or 1)
        return local_workers.prefork_runner(preparation), preparation
    if preparation is not None:
        preparation.close()
    if standard.runner is not None:
        return None, None
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    local_workers.tune_malloc()
    return FnApiRunner(), None


def main(argv=None):
    """`corpus-stats [--quiet|--verbose] --input ... --output ...`, or the
    subcommands `corpus-stats report OUT` and `corpus-stats export-graph OUT`
    (progress, log filtering and the summary table: pipelines/console.py)."""
    from pipelines import console
    argv = list(sys.argv[1:] if argv is None else argv)
    local_workers.start(argv)  # unless begun already (`python -m`, pipelines/cli.py)
    if argv and argv[0] in console.SUBCOMMANDS:
        return console.SUBCOMMANDS[argv[0]](argv[1:])
    return console.run_with_progress(run, argv)


if __name__ == "__main__":
    sys.exit(main())
