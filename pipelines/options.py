"""Every command-line option of the corpus-stats job, in one place.

These are Beam PipelineOptions, so the standard Beam flags (--runner,
--setup_file, --direct_num_workers, ...) pass through unchanged.
"""
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.actors import LABELS
from transforms.comentions import (DEFAULT_MAX_ACTORS, DEFAULT_MIN_PAIR_ARTICLES,
                                   DEFAULT_PERIOD, PERIODS)
from transforms.nlp import DEFAULT_MODEL


class CorpusStatsOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--input", nargs="+", action="extend",
            help="Input files, folders or globs (several allowed): .jsonl/.json "
                 "(optionally .gz), .csv, .parquet, .txt (one article per file).")
        parser.add_argument(
            "--output",
            help="Output folder; each table is a sub-folder of Parquet files.")
        parser.add_argument(
            "--overwrite", action="store_true", default=False,
            help="Replace --output even if it holds files corpus-stats did not write.")
        parser.add_argument(
            "--spacy-model", "--spacy_model", dest="spacy_model", default=DEFAULT_MODEL,
            help=f"Installed spaCy pipeline with NER (default {DEFAULT_MODEL}; "
                 "en_core_web_sm/md/lg work too).")
        parser.add_argument(
            "--entity-labels", "--entity_labels", dest="entity_labels", default=",".join(LABELS),
            help="Comma-separated entity labels kept as actors (default %(default)s).")
        parser.add_argument(
            "--aliases", default=None,
            help="CSV file (alias,actor_id,name) of extra name aliases; its rows "
                 "win over the shipped transforms/data/aliases.csv.")
        parser.add_argument(
            "--max-chars", "--max_chars", dest="max_chars", type=int, default=1_000_000,
            help="Characters of each article given to the NER model (default %(default)s).")
        parser.add_argument(
            "--quotes-parser", "--quotes_parser", dest="quotes_parser", action="store_true",
            default=False,
            help="Run spaCy's full pipeline with the dependency parser, which finds "
                 "about 2 F1 points more quotes for about twice the NLP time.")
        parser.add_argument(
            "--no-prefork", "--no_prefork", dest="prefork", action="store_false",
            default=True,
            help="Local runs: start each worker as a fresh Python process, as Beam "
                 "does, instead of forking it from a process that has Beam, the "
                 "job's modules and the model loaded (pipelines/local_workers.py; "
                 "Linux only).")
        parser.add_argument(
            "--batch-size", "--batch_size", dest="batch_size", type=int, default=64,
            help="Texts per nlp.pipe batch (default %(default)s).")
        parser.add_argument(
            "--period", choices=PERIODS, default=DEFAULT_PERIOD,
            help="Time period of comentions_by_period and topics_by_period "
                 "(default %(default)s).")
        parser.add_argument(
            "--topics", default=None,
            help="Topic vocabulary file in the format of transforms/data/iptc_topics.txt "
                 "('[code] label' then 'weight: term; term; ...' lines); its topics "
                 "are added to the IPTC ones (same code: terms added).")
        parser.add_argument(
            "--topics-replace", "--topics_replace", dest="topics_replace",
            action="store_true",
            help="Use only the --topics FILE topics, not the shipped IPTC ones.")
        parser.add_argument(
            "--min-pair-articles", "--min_pair_articles", dest="min_pair_articles", type=int,
            default=DEFAULT_MIN_PAIR_ARTICLES,
            help="Co-mention pairs in fewer articles than this keep their counts "
                 "but get null PMI/NPMI/LLR (default %(default)s).")
        parser.add_argument(
            "--max-actors-per-article", "--max_actors_per_article",
            dest="max_actors_per_article", type=int, default=DEFAULT_MAX_ACTORS,
            help="Co-mention pairs of an article use only its this many most "
                 "mentioned actors (default %(default)s).")
