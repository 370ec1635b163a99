"""One self-contained HTML report of an output folder.

    corpus-stats report out                  # -> out/report.html
    python -m pipelines.report out --html /tmp/report.html

Plots are drawn with matplotlib (Agg) and embedded as base64 PNG images,
and the page has no scripts and no external links: it opens offline, in any
browser, and can be mailed as one file. Sections: run summary, top actors,
the co-mention network of the strongest pairs (edge width = articles naming
both, node colour = actor type, node size = articles), actors and topics
over time, outlets by articles and quotes, most quoted sources, errors.
"""
import argparse
import base64
import html
import io
import os
import sys
import time

TYPE_COLOURS = {"PERSON": "#1f77b4", "ORG": "#ff7f0e", "GPE": "#2ca02c",
                "LOC": "#9467bd", "NORP": "#d62728"}
OTHER_COLOUR = "#7f7f7f"
PERIOD_FREQ = {"day": "D", "week": "W-MON", "month": "M"}

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1200px;color:#222;line-height:1.4;padding:0 16px}
h1{margin-bottom:4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
.meta{color:#555;font-size:14px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block;margin:8px 0}
.note{color:#666;font-size:13px}.bad{color:#b00020;font-weight:bold}.ok{color:#0a7d32}
nav a{margin-right:12px;font-size:14px}
"""


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 10, "axes.spines.top": False,
                         "axes.spines.right": False, "figure.dpi": 100})
    return plt


def _img(fig, alt):
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _esc(v):
    if v is None:
        return ""
    try:
        if v != v:
            return ""
    except (TypeError, ValueError):
        pass
    return html.escape(str(v))


def _table(df, numeric=()):
    head = "".join(f"<th>{_esc(c)}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = "".join(
            f'<td class="n">{_esc(v)}</td>' if c in numeric else f"<td>{_esc(v)}</td>"
            for c, v in zip(df.columns, rec))
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _none(what):
    return f'<p class="note">No {html.escape(what)} in this output.</p>'


def _legend_handles(types):
    from matplotlib.patches import Patch
    return [Patch(color=TYPE_COLOURS.get(t, OTHER_COLOUR), label=t) for t in types]


def section_summary(t):
    run = t.run or {}
    rows = run.get("rows") or {name: len(df) for name, df in t.items()}
    parts = []
    meta = []
    for key, label in (("run_id", "run"), ("started", "started (UTC)"),
                       ("seconds", "seconds"), ("model", "spaCy model")):
        if run.get(key) is not None:
            meta.append(f"{label}: <b>{_esc(run[key])}</b>")
    if run.get("input"):
        meta.append("input: <b>" + _esc(", ".join(map(str, run["input"]))) + "</b>")
    parts.append(f'<p class="meta">{" · ".join(meta)}</p>')
    if "records_read" in run:
        ok = run.get("accounting_ok")
        cls, word = ("ok", "ok") if ok else ("bad", "MISMATCH")
        parts.append(
            f'<p>{run.get("input_files", "?")} files, {run["records_read"]} records read = '
            f'{rows.get("articles", 0)} articles + {rows.get("errors", 0)} errors: '
            f'<span class="{cls}">{word}</span></p>')
    arts = t.get("articles")
    if arts is not None and len(arts):
        dup = int(arts["duplicate_of"].notna().sum())
        dated = arts["published"].dropna()
        span = (f"{dated.min():%Y-%m-%d} to {dated.max():%Y-%m-%d}" if len(dated)
                else "no dates")
        parts.append(f"<p>{len(arts) - dup} analysed articles, {dup} exact duplicates; "
                     f"published {span} ({len(arts) - len(dated)} undated).</p>")
    import pandas as pd
    parts.append(_table(pd.DataFrame({"table": list(rows), "rows": list(rows.values())}),
                        numeric=("rows",)))
    return parts


def section_top_actors(t, n=25):
    plt = _plt()
    actors = t.get("actors")
    if actors is None or not len(actors):
        return [_none("actors")]
    top = actors.sort_values(["n_articles", "n_mentions", "actor_id"],
                             ascending=[False, False, True]).head(n).iloc[::-1]
    fig, ax = plt.subplots(figsize=(11, 0.32 * len(top) + 1.2))
    colours = [TYPE_COLOURS.get(str(x), OTHER_COLOUR) for x in top["type"]]
    ax.barh([str(x) for x in top["name"]], top["n_articles"].astype(int), color=colours)
    for y, (a, m) in enumerate(zip(top["n_articles"], top["n_mentions"])):
        ax.text(int(a), y, f" {int(a)} art. / {int(m)} mentions", va="center", fontsize=8,
                color="#444")
    ax.set_xlabel("articles naming the actor")
    ax.set_title(f"Top {len(top)} actors by number of articles")
    ax.margins(x=0.18)
    types = [x for x in TYPE_COLOURS if x in set(map(str, top["type"]))]
    ax.legend(handles=_legend_handles(types), loc="lower right", frameon=False)
    counts = actors["type"].astype(str).value_counts()
    note = ", ".join(f"{k}: {v}" for k, v in counts.items())
    return [_img(fig, "top actors"),
            f'<p class="note">{len(actors)} actors in all ({html.escape(note)}).</p>']


def section_network(t, n_pairs=60):
    import networkx as nx
    plt = _plt()
    pairs = t.get("comentions")
    if pairs is None or not len(pairs):
        return [_none("co-mention pairs")]
    top = pairs.sort_values(["n_articles", "n_sentences", "actor_a", "actor_b"],
                            ascending=[False, False, True, True]).head(n_pairs)
    actors = t.get("actors")
    n_art = {} if actors is None else dict(zip(actors["actor_id"], actors["n_articles"]))
    g = nx.Graph()
    for r in top.itertuples(index=False):
        g.add_node(r.actor_a, name=str(r.name_a), type=str(r.type_a))
        g.add_node(r.actor_b, name=str(r.name_b), type=str(r.type_b))
        g.add_edge(r.actor_a, r.actor_b, n=int(r.n_articles))
    # Kamada-Kawai spreads nodes evenly (readable labels); spring layout
    # is the fallback when scipy is missing
    try:
        pos = nx.kamada_kawai_layout(g)
    except ImportError:
        pos = nx.spring_layout(g, seed=7, k=1.6 / max(1, len(g)) ** 0.5, iterations=200)
    fig, ax = plt.subplots(figsize=(13, 9.5))
    ns = [e[2]["n"] for e in g.edges(data=True)]
    hi = max(ns)
    nx.draw_networkx_edges(g, pos, ax=ax, width=[0.6 + 7.0 * n / hi for n in ns],
                           edge_color="#8c8c8c", alpha=0.55)
    nodes = list(g.nodes)
    size_hi = max([int(n_art.get(a, 1)) for a in nodes] or [1])
    nx.draw_networkx_nodes(
        g, pos, ax=ax, nodelist=nodes,
        node_color=[TYPE_COLOURS.get(g.nodes[a]["type"], OTHER_COLOUR) for a in nodes],
        node_size=[120 + 900 * int(n_art.get(a, 1)) / size_hi for a in nodes],
        edgecolors="white", linewidths=1.0)
    for a, (x, y) in pos.items():
        ax.text(x, y, g.nodes[a]["name"], fontsize=9, ha="center", va="bottom",
                zorder=5, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none",
                                    alpha=0.75),
                transform=ax.transData).set_position((x, y + 0.045))
    types = [x for x in TYPE_COLOURS if x in {g.nodes[a]["type"] for a in nodes}]
    ax.legend(handles=_legend_handles(types), loc="upper left", frameon=False)
    ax.set_title(f"The {len(top)} strongest co-mention pairs "
                 f"(edge width = articles naming both, max {hi}; node size = articles)")
    ax.axis("off")
    ax.margins(0.06)
    shown = top[["name_a", "name_b", "n_articles", "n_sentences", "npmi", "llr"]].head(20).copy()
    shown["npmi"] = shown["npmi"].round(3)
    shown["llr"] = shown["llr"].round(1)
    return [_img(fig, "co-mention network"),
            f'<p class="note">{len(pairs)} pairs in all. Strongest 20:</p>',
            _table(shown, numeric=("n_articles", "n_sentences", "npmi", "llr"))]


def _period_of(ts, period):
    ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    freq = PERIOD_FREQ.get(period, "M")
    return ts.dt.to_period(freq).dt.start_time


def section_actors_over_time(t, period, n=8):
    plt = _plt()
    men, arts = t.get("mentions"), t.get("articles")
    if men is None or arts is None or not len(men):
        return [_none("mentions")]
    dated = arts.loc[arts["published"].notna(), ["article_id", "published"]]
    if not len(dated):
        return [_none("dated articles")]
    pairs = men[["article_id", "actor_id"]].drop_duplicates().merge(dated, on="article_id")
    if not len(pairs):
        return [_none("mentions in dated articles")]
    pairs["period"] = _period_of(pairs["published"], period)
    top = pairs["actor_id"].value_counts().head(n).index
    counts = (pairs[pairs["actor_id"].isin(top)]
              .groupby(["period", "actor_id"]).size().unstack(fill_value=0))
    all_periods = sorted(pairs["period"].unique())
    counts = counts.reindex(all_periods, fill_value=0)[list(top)]
    names = {} if t.get("actors") is None else dict(zip(t.actors["actor_id"], t.actors["name"]))
    fig, ax = plt.subplots(figsize=(12, 5))
    for aid in counts.columns:
        ax.plot(counts.index, counts[aid], marker="o", label=str(names.get(aid, aid)))
    ax.set_ylabel("articles naming the actor")
    ax.set_title(f"Top {len(counts.columns)} actors per {period} (dated articles)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.autofmt_xdate()
    return [_img(fig, "actors over time")]


def section_topics_over_time(t, n=8):
    plt = _plt()
    tbp = t.get("topics_by_period")
    if tbp is None or not len(tbp):
        return [_none("topics")]
    dated = tbp[tbp["period"].notna()].copy()
    undated = tbp[tbp["period"].isna()]
    if not len(dated):
        return [_none("dated topics")]
    dated["label"] = dated["label"].astype(str)
    top = dated.groupby("label")["n_articles"].sum().sort_values(ascending=False).head(n).index
    table = (dated[dated["label"].isin(top)]
             .pivot_table(index="period", columns="label", values="n_articles",
                          aggfunc="sum", fill_value=0)[list(top)])
    fig, ax = plt.subplots(figsize=(12, 5))
    bottom = None
    labels = [p.strftime("%Y-%m-%d") for p in table.index]
    cmap = plt.get_cmap("tab10")
    for i, label in enumerate(table.columns):
        vals = table[label].astype(int).values
        ax.bar(labels, vals, bottom=bottom, label=label, color=cmap(i % 10))
        bottom = vals if bottom is None else bottom + vals
    ax.set_ylabel("articles with the topic")
    ax.set_title("Topics per period (first day of the period; an article can have several)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    note = (f'<p class="note">Undated articles: {int(undated["n_articles"].sum())} '
            f'topic assignments not shown.</p>' if len(undated) else "")
    return [_img(fig, "topics over time"), note]


def section_outlets(t, n=25):
    plt = _plt()
    outlets = t.get("outlets")
    if outlets is None or not len(outlets):
        return [_none("outlets")]
    o = outlets.copy()
    o["outlet"] = o["outlet"].astype(object).where(o["outlet"].notna(), "(no outlet)")
    o = o.sort_values(["n_articles", "n_quotes", "outlet"],
                      ascending=[False, False, True]).head(n).iloc[::-1]
    import numpy as np
    y = np.arange(len(o))
    fig, (ax1, ax2) = plt.subplots(1, 2, sharey=True, figsize=(12, 0.34 * len(o) + 1.3))
    for ax, col, colour, title in ((ax1, "n_articles", "#4c72b0", "analysed articles"),
                                   (ax2, "n_quotes", "#dd8452", "quotes")):
        vals = o[col].astype(int)
        ax.barh(y, vals, color=colour)
        for yy, v in zip(y, vals):
            ax.text(v, yy, f" {v}", va="center", fontsize=8, color="#444")
        ax.set_title(f"Outlets by {title}")
        ax.margins(x=0.12)
    ax1.set_yticks(y)
    ax1.set_yticklabels([str(x) for x in o["outlet"]])
    shown = o.iloc[::-1][["outlet", "n_articles", "n_duplicates", "n_quotes", "n_actors"]]
    return [_img(fig, "outlets"),
            _table(shown, numeric=("n_articles", "n_duplicates", "n_quotes", "n_actors"))]


def section_sources(t, n=25):
    plt = _plt()
    src = t.get("sources")
    if src is None or not len(src):
        return [_none("quoted sources")]
    top = src.sort_values(["n_quotes", "n_articles", "speaker"],
                          ascending=[False, False, True]).head(n).iloc[::-1]
    named = top["speaker_id"].notna()
    fig, ax = plt.subplots(figsize=(11, 0.32 * len(top) + 1.2))
    import pandas as pd
    labels = [str(s) + ("" if pd.isna(a) else f" ({a})")
              for s, a in zip(top["speaker"], top["affiliation"])]
    ax.barh(labels, top["n_quotes"].astype(int),
            color=["#1f77b4" if x else "#bbbbbb" for x in named])
    ax.set_xlabel("quotes and attributions")
    ax.set_title(f"Most quoted {len(top)} sources (grey: unnamed sources)")
    return [_img(fig, "most quoted sources"),
            f'<p class="note">{len(src)} sources; '
            f'{int(src["speaker_id"].isna().sum())} unnamed.</p>']


def section_errors(t):
    import pandas as pd
    err = t.get("errors")
    if err is None or not len(err):
        return ['<p class="ok">No errors: every record became an article.</p>']
    by = (err.assign(stage=err["stage"].astype(str), error_type=err["error_type"].astype(str))
          .groupby(["stage", "error_type"]).size().reset_index(name="records"))
    first = err[["source_file", "record", "stage", "error_type", "message"]].head(50).copy()
    first["source_file"] = first["source_file"].map(
        lambda s: os.path.basename(str(s)) if s is not None and s == s else "")
    more = f" (first 50 of {len(err)})" if len(err) > 50 else ""
    return [f"<p>{len(err)} records could not become articles.</p>",
            _table(by, numeric=("records",)), f"<h3>Error records{more}</h3>",
            _table(pd.DataFrame(first), numeric=("record",))]


SECTIONS = [("summary", "Run"), ("actors", "Top actors"),
            ("network", "Co-mention network"), ("actors-time", "Actors over time"),
            ("topics-time", "Topics over time"), ("outlets", "Outlets"),
            ("sources", "Most quoted sources"), ("errors", "Errors")]


def render(out, top_pairs=60):
    """The report of output folder `out` as one HTML string."""
    from pipelines.load import load_tables
    t = load_tables(out)
    period = ((t.run or {}).get("options") or {}).get("period") or "month"
    builders = {
        "summary": lambda: section_summary(t),
        "actors": lambda: section_top_actors(t),
        "network": lambda: section_network(t, top_pairs),
        "actors-time": lambda: section_actors_over_time(t, period),
        "topics-time": lambda: section_topics_over_time(t),
        "outlets": lambda: section_outlets(t),
        "sources": lambda: section_sources(t),
        "errors": lambda: section_errors(t),
    }
    body = []
    for key, title in SECTIONS:
        try:
            parts = builders[key]()
        except Exception as exc:  # one bad section must not lose the report
            parts = [f'<p class="bad">This section failed: {_esc(type(exc).__name__)}: '
                     f'{_esc(exc)}</p>']
        body.append(f'<section id="{key}"><h2>{html.escape(title)}</h2>{"".join(parts)}</section>')
    nav = "".join(f'<a href="#{k}">{html.escape(v)}</a>' for k, v in SECTIONS)
    made = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>newsbeam report: {_esc(out)}</title><style>{CSS}</style></head><body>"
            f"<h1>newsbeam corpus report</h1>"
            f'<p class="meta">Output folder {_esc(os.path.abspath(str(out)) if "://" not in str(out) else out)}'
            f" · report made {made}</p><nav>{nav}</nav>{''.join(body)}</body></html>")


def write_report(out, path=None, top_pairs=60):
    path = path or os.path.join(str(out), "report.html")
    page = render(out, top_pairs)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="corpus-stats report",
        description="Write one self-contained HTML report (plots inline) of a "
                    "corpus-stats output folder.")
    parser.add_argument("out", help="output folder of corpus-stats")
    parser.add_argument("--html", default=None,
                        help="file to write (default OUT/report.html)")
    parser.add_argument("--top-pairs", type=int, default=60,
                        help="co-mention pairs drawn in the network (default %(default)s)")
    args = parser.parse_args(argv)
    started = time.time()
    path = write_report(args.out, args.html, args.top_pairs)
    print(f"report: {path} ({os.path.getsize(path) / 1e3:.0f} kB, "
          f"{time.time() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
