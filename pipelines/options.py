"""Every command-line option of the corpus-stats job, in one place.

These are Beam PipelineOptions, so the standard Beam flags (--runner,
--setup_file, --direct_num_workers, ...) pass through unchanged.
"""
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.actors import LABELS
from transforms.nlp import DEFAULT_MODEL


class CorpusStatsOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            "--input", nargs="+", action="extend", required=True,
            help="Input files, folders or globs (several allowed): .jsonl/.json "
                 "(optionally .gz), .csv, .parquet, .txt (one article per file).")
        parser.add_argument(
            "--output", required=True,
            help="Output folder; each table is a sub-folder of Parquet files.")
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
            "--batch-size", "--batch_size", dest="batch_size", type=int, default=64,
            help="Texts per nlp.pipe batch (default %(default)s).")
