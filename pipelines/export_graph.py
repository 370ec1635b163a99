"""The co-mention network of an output folder, for Gephi and friends.

    corpus-stats export-graph out --format gexf            # -> out/comentions.gexf
    python -m pipelines.export_graph out --format graphml --min-articles 2 -o net.graphml

Nodes are actors (id = actor_id) with attributes ``label`` and ``name``
(the actor's name), ``type`` (PERSON, ORG, GPE, LOC, NORP), ``n_articles``
and ``n_mentions``; edges are the `comentions` rows with ``n_articles``,
``n_sentences``, ``pmi``, ``npmi``, ``llr`` (left out where null) and
``weight`` = n_articles. Only actors on at least one exported edge are nodes.
"""
import argparse
import math
import os
import sys

FORMATS = ("gexf", "graphml")


def _value(v):
    if v is None:
        return None
    try:
        if v != v:  # NaN / NA
            return None
    except (TypeError, ValueError):
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def build_graph(tables, min_articles=1, top=None):
    """networkx Graph from load_tables() output (`actors`, `comentions`):
    pairs in at least `min_articles` articles, optionally only the `top`
    pairs by n_articles (ties: n_sentences, then ids)."""
    import networkx as nx
    pairs = tables["comentions"]
    pairs = pairs[pairs["n_articles"] >= min_articles]
    pairs = pairs.sort_values(["n_articles", "n_sentences", "actor_a", "actor_b"],
                              ascending=[False, False, True, True])
    if top is not None:
        pairs = pairs.head(top)
    actors = tables["actors"].set_index("actor_id")
    g = nx.Graph()
    for row in pairs.itertuples(index=False):
        for aid, name, typ in ((row.actor_a, row.name_a, row.type_a),
                               (row.actor_b, row.name_b, row.type_b)):
            if aid in g:
                continue
            attrs = {"label": str(name), "name": str(name), "type": str(typ)}
            if aid in actors.index:
                a = actors.loc[aid]
                attrs.update(name=str(a["name"]), label=str(a["name"]), type=str(a["type"]),
                             n_articles=int(a["n_articles"]), n_mentions=int(a["n_mentions"]))
            g.add_node(str(aid), **attrs)
        edge = {"weight": float(row.n_articles)}
        for col in ("n_articles", "n_sentences", "pmi", "npmi", "llr"):
            v = _value(getattr(row, col))
            if v is not None:
                edge[col] = int(v) if col.startswith("n_") else float(v)
        g.add_edge(str(row.actor_a), str(row.actor_b), **edge)
    return g


def export_graph(out, fmt="gexf", path=None, min_articles=1, top=None):
    """Write the co-mention network of output folder `out`; returns
    (path, graph)."""
    import networkx as nx
    from pipelines.load import load_tables
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    g = build_graph(load_tables(out, ["actors", "comentions"]), min_articles, top)
    path = path or os.path.join(str(out), f"comentions.{fmt}")
    if fmt == "gexf":
        nx.write_gexf(g, path)
    else:
        nx.write_graphml(g, path)
    return path, g


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="corpus-stats export-graph",
        description="Write the co-mention network of a corpus-stats output "
                    "folder as GEXF or GraphML (for Gephi, Cytoscape, networkx).")
    parser.add_argument("out", help="output folder of corpus-stats")
    parser.add_argument("--format", choices=FORMATS, default="gexf")
    parser.add_argument("-o", "--output", default=None,
                        help="file to write (default OUT/comentions.FORMAT)")
    parser.add_argument("--min-articles", type=int, default=1,
                        help="keep pairs named together in at least this many "
                             "articles (default %(default)s: all pairs)")
    parser.add_argument("--top", type=int, default=None,
                        help="keep only the N pairs with most articles")
    args = parser.parse_args(argv)
    path, g = export_graph(args.out, args.format, args.output, args.min_articles, args.top)
    print(f"export-graph: {g.number_of_nodes()} actors, {g.number_of_edges()} "
          f"co-mention pairs -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
