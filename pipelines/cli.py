"""The `corpus-stats` command (setup.py's console script).

It begins the preparation of the local runner's workers
(pipelines/local_workers.py) before it imports the job, whose import of
Beam takes about a second; the rest is `pipelines.corpus_stats.main`."""
import sys


def main():
    from pipelines import local_workers
    local_workers.start(sys.argv[1:])
    from pipelines.corpus_stats import main as corpus_stats_main
    return corpus_stats_main()
