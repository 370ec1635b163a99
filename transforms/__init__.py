"""Beam transforms for news-corpus statistics.

One module per concept; `pipelines/` wires them together. Nothing here
imports `pipelines`.
"""
