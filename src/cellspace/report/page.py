"""HTML building blocks of the report: sections, tables, inline images, the page itself.

Everything is inline (CSS, PNG as data URIs, SVG as markup): the page opens offline and can be
mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #222; background: #fafafa; }
header { background: #243b53; color: #fff; padding: 1.2em 2em; }
header h1 { margin: 0 0 .2em 0; font-size: 1.6em; }
header p { margin: 0; opacity: .85; }
nav { padding: .6em 2em; background: #eef2f6; border-bottom: 1px solid #d9e2ec; }
nav a { margin-right: 1.2em; color: #243b53; text-decoration: none; font-weight: 600; }
main { padding: 0 2em 2em 2em; max-width: 1200px; }
section { background: #fff; border: 1px solid #e4e7eb; border-radius: 6px; padding: 1em 1.5em;
          margin-top: 1.2em; }
h2 { margin-top: 0; color: #243b53; }
h3 { color: #334e68; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0; font-size: .92em; }
th, td { border: 1px solid #d9e2ec; padding: .25em .6em; text-align: left; }
th { background: #f0f4f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: .5em 1em .5em 0; vertical-align: top; }
figure img { max-width: 520px; height: auto; border: 1px solid #eee; }
figure.wide img { max-width: 100%; }
figcaption { font-size: .85em; color: #52606d; text-align: center; }
.note { color: #7b8794; font-style: italic; }
footer { color: #7b8794; font-size: .8em; padding: 1em 2em; }
"""


@dataclass
class Section:
    """One ``<section id=...>`` of the page, listed in the navigation bar."""

    id: str
    title: str
    body: str


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def png_figure(path: Path, caption: str, wide: bool = False) -> str:
    """A PNG file as an inline ``<figure>`` (base64 data URI)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    cls = ' class="wide"' if wide else ""
    return (f'<figure{cls}><img src="data:image/png;base64,{data}" alt="{esc(caption)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def svg_figure(fig, caption: str) -> str:
    """A Matplotlib figure as inline SVG markup in a ``<figure>`` (closes the figure)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML declaration and DOCTYPE
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def _cell(value: object, digits: int) -> str:
    if isinstance(value, float):
        text = "" if pd.isna(value) else f"{value:.{digits}f}"
        return f'<td class="num">{text}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value:,}</td>'
    return f"<td>{esc(value)}</td>"


def table(df: pd.DataFrame, digits: int = 3, index: bool = False) -> str:
    """A data frame as an HTML table; floats with ``digits`` decimals, integers with commas."""
    frame = df.reset_index() if index else df
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for rec in frame.itertuples(index=False):
        vals = [v.item() if hasattr(v, "item") else v for v in rec]
        rows.append("<tr>" + "".join(_cell(v, digits) for v in vals) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_page(title: str, subtitle: str, sections: list[Section], footer: str = "") -> str:
    """The whole HTML document."""
    nav = "".join(f'<a href="#{esc(s.id)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{esc(s.id)}"><h2>{esc(s.title)}</h2>{s.body}</section>'
                   for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main><footer>{esc(footer)}</footer></body></html>\n"
    )
