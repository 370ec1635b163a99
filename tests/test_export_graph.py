"""export-graph: GEXF and GraphML with actor and pair attributes, re-read
with networkx (exact, on a hand-made output; tests/test_report.py checks the
sample_data output against its tables)."""
import xml.etree.ElementTree as ET

import networkx as nx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.corpus_stats import main
from pipelines.export_graph import export_graph
from transforms.schemas import TABLES


def _write(out, name, rows):
    (out / name).mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=TABLES[name].schema),
                   out / name / "part-00000-of-00001.parquet")


@pytest.fixture()
def tiny(tmp_path):
    """A hand-made output: three actors, two pairs (one without scores)."""
    out = tmp_path / "out"
    _write(out, "actors", [
        {"actor_id": "GPE:china", "name": "China", "type": "GPE", "n_articles": 3,
         "n_mentions": 7, "aliases": ["China"]},
        {"actor_id": "PERSON:xi_jinping", "name": "Xi Jinping", "type": "PERSON",
         "n_articles": 2, "n_mentions": 4, "aliases": ["Xi Jinping", "Xi"]},
        {"actor_id": "ORG:nato", "name": "NATO", "type": "ORG", "n_articles": 1,
         "n_mentions": 1, "aliases": ["NATO"]},
        {"actor_id": "LOC:alone", "name": "Alone", "type": "LOC", "n_articles": 1,
         "n_mentions": 1, "aliases": ["Alone"]},
    ])
    _write(out, "comentions", [
        {"actor_a": "GPE:china", "actor_b": "PERSON:xi_jinping", "name_a": "China",
         "name_b": "Xi Jinping", "type_a": "GPE", "type_b": "PERSON", "n_articles": 2,
         "n_sentences": 3, "pmi": 0.5, "npmi": 0.25, "llr": 1.5},
        {"actor_a": "GPE:china", "actor_b": "ORG:nato", "name_a": "China", "name_b": "NATO",
         "type_a": "GPE", "type_b": "ORG", "n_articles": 1, "n_sentences": 0,
         "pmi": None, "npmi": None, "llr": None},
    ])
    return out


@pytest.mark.parametrize("fmt", ["gexf", "graphml"])
def test_tiny_graph_exact(tiny, fmt):
    path, _ = export_graph(tiny, fmt)
    assert path == str(tiny / f"comentions.{fmt}")
    g = nx.read_gexf(path) if fmt == "gexf" else nx.read_graphml(path)
    assert sorted(g.nodes) == ["GPE:china", "ORG:nato", "PERSON:xi_jinping"]  # not LOC:alone
    assert g.number_of_edges() == 2
    xi = g.nodes["PERSON:xi_jinping"]
    assert (xi["name"], xi["type"], int(xi["n_articles"]), int(xi["n_mentions"])) == \
        ("Xi Jinping", "PERSON", 2, 4)
    assert xi["label"] == "Xi Jinping"
    e = g.edges["GPE:china", "PERSON:xi_jinping"]
    assert (int(e["n_articles"]), int(e["n_sentences"])) == (2, 3)
    assert (float(e["pmi"]), float(e["npmi"]), float(e["llr"])) == (0.5, 0.25, 1.5)
    assert float(e["weight"]) == 2.0
    nato = g.edges["GPE:china", "ORG:nato"]
    assert int(nato["n_articles"]) == 1 and "pmi" not in nato and "llr" not in nato


def test_gexf_is_valid_xml_with_declared_attributes(tiny):
    path, _ = export_graph(tiny, "gexf", min_articles=2)
    root = ET.parse(path).getroot()
    ns = {"g": root.tag.split("}")[0][1:]}
    titles = {a.get("title") for a in root.iterfind(".//g:attribute", ns)}
    assert {"name", "type", "n_articles", "n_mentions", "n_sentences", "pmi",
            "npmi", "llr"} <= titles
    assert len(root.findall(".//g:node", ns)) == 2
    assert len(root.findall(".//g:edge", ns)) == 1


def test_command(tiny, tmp_path):
    target = tmp_path / "net.graphml"
    assert main(["export-graph", str(tiny), "--format", "graphml", "-o", str(target),
                 "--min-articles", "2"]) == 0
    g = nx.read_graphml(target)
    assert list(g.edges) == [("GPE:china", "PERSON:xi_jinping")]
    assert main(["export-graph", str(tiny), "--top", "1"]) == 0
    assert nx.read_gexf(tiny / "comentions.gexf").number_of_edges() == 1
    with pytest.raises(SystemExit):
        main(["export-graph", str(tiny), "--format", "dot"])
