"""The HTML report: self-contained, every section drawn, and rendered by a
real headless browser (Debian's chromium) into a screenshot that is not blank."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.corpus_stats import main, run
from pipelines.report import SECTIONS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if not (ROOT / "sample_data").is_dir():
        pytest.skip("sample_data/ is not present")
    out = tmp_path_factory.mktemp("report") / "out"
    run(["--input", str(ROOT / "sample_data"), "--output", str(out),
         "--direct_num_workers=1"])
    assert main(["report", str(out)]) == 0  # the subcommand, default file
    path = out / "report.html"
    return out, path, path.read_text("utf-8")


def test_self_contained_and_complete(report):
    out, path, page = report
    # nothing is fetched at view time: no scripts, no external src/href
    assert "<script" not in page.lower()
    external = re.findall(r'(?:src|href)="(?!data:|#)([^"]*)"', page)
    assert external == []
    assert "url(" not in page and "@import" not in page
    for key, title in SECTIONS:
        assert f'<section id="{key}"><h2>{title}</h2>' in page
    assert "section failed" not in page
    assert "No errors" not in page  # sample_data has a broken file
    # top actors, network, actors over time, topics, outlets, sources
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', page)) == 6
    from pipelines import load_tables
    t = load_tables(out, ["comentions", "sources"])
    top = t.comentions.sort_values(["n_articles", "n_sentences"]).iloc[-1]
    assert f"<td>{top.name_a}</td><td>{top.name_b}</td><td class=\"n\">{top.n_articles}<" in page
    assert f"{len(t.sources)} sources; {t.sources.speaker_id.isna().sum()} unnamed" in page
    assert "broken.jsonl" in page


def test_html_option(report, tmp_path):
    out = report[0]
    target = tmp_path / "r.html"
    from pipelines.report import main as report_main
    assert report_main([str(out), "--html", str(target), "--top-pairs", "10"]) == 0
    page = target.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>")
    assert len(re.findall(r'src="data:image/png;base64,', page)) == 6


def test_headless_chromium_renders_it(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium); "
                    "the browser rendering test cannot run")
    from PIL import Image
    png = tmp_path / "shot.png"
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={png}", "--window-size=1400,3000", report[1].as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.is_file(), proc.stderr[-2000:]
    img = Image.open(png).convert("RGB")
    assert img.size == (1400, 3000)
    # not blank: many colours, and a good share of non-white pixels
    small = img.resize((350, 750))
    raw = small.tobytes()
    pixels = [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]
    non_white = sum(1 for p in pixels if min(p) < 230)
    assert non_white > 0.05 * len(pixels)
    assert len(set(pixels)) > 200
    # the actor-type colours of the plots are on screen (PERSON blue, GPE green)
    assert (31, 119, 180) in set(pixels) or any(
        abs(p[0] - 31) < 8 and abs(p[1] - 119) < 8 and abs(p[2] - 180) < 8 for p in pixels)


def test_export_graph_of_sample_output(report, tmp_path):
    """export-graph on the same output: the graph is the comentions table."""
    import networkx as nx
    from pipelines import load_tables
    out = report[0]
    t = load_tables(out, ["actors", "comentions"])
    target = tmp_path / "net.graphml"
    assert main(["export-graph", str(out), "--format", "graphml", "-o", str(target),
                 "--min-articles", "2"]) == 0
    g = nx.read_graphml(target)
    strong = t.comentions[t.comentions.n_articles >= 2]
    assert g.number_of_edges() == len(strong)
    assert g.number_of_nodes() == len(set(strong.actor_a) | set(strong.actor_b))
    top = strong.sort_values("n_articles").iloc[-1]
    assert int(g.edges[top.actor_a, top.actor_b]["n_articles"]) == top.n_articles
    actors = t.actors.set_index("actor_id")
    for node, data in g.nodes(data=True):
        assert data["type"] == actors.type[node]
        assert int(data["n_mentions"]) == actors.n_mentions[node]
    gexf = tmp_path / "all.gexf"
    assert main(["export-graph", str(out), "-o", str(gexf)]) == 0
    assert nx.read_gexf(gexf).number_of_edges() == len(t.comentions)
