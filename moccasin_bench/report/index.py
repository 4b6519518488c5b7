"""The index page: a small list of blocks (headings, paragraphs, tables, figures) rendered
twice, as markdown (index.md: renders on GitHub and in editors) and as HTML (index.html:
open it in a browser)."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from moccasin_bench.report.style import Figure
from moccasin_bench.report.table import markdown_table


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    strong: bool = False


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Links:
    items: Sequence[tuple[str, str]]  # (label, relative path)


@dataclass(frozen=True)
class FigureBlock:
    figure: Figure


Block = Heading | Paragraph | Table | Links | FigureBlock


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def to_markdown(blocks: Sequence[Block], base: Path) -> str:
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text + "\n")
        elif isinstance(b, Paragraph):
            out.append((f"**{b.text}**" if b.strong else b.text) + "\n")
        elif isinstance(b, Table):
            out.append(markdown_table(b.header, b.rows))
        elif isinstance(b, Links):
            out.append(" · ".join(f"[{label}]({path})" for label, path in b.items) + "\n")
        elif isinstance(b, FigureBlock):
            f = b.figure
            png, svg = _rel(f.png, base), _rel(f.svg, base)
            out.append(f"### {f.title}\n\n![{f.title}]({png})\n\n{f.caption} ([PNG]({png}), [SVG]({svg}))\n")
    return "\n".join(out)


CSS = """body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}img{max-width:100%;border:1px solid #eee}
.strong{background:#fff4d6;border-left:4px solid #e0a800;padding:.6em 1em}figure{margin:2em 0}
figcaption{font-size:13px;color:#444;max-width:1000px}"""


def to_html(blocks: Sequence[Block], base: Path, title: str) -> str:
    e = html.escape
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{CSS}</style></head><body>"
    ]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            text = _inline_code(e(b.text))
            out.append(f"<p class='strong'>{text}</p>" if b.strong else f"<p>{text}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{e(str(h))}</th>" for h in b.header)
            rows = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in b.rows)
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(b, Links):
            out.append("<p>" + " · ".join(f"<a href='{e(p)}'>{e(label)}</a>" for label, p in b.items) + "</p>")
        elif isinstance(b, FigureBlock):
            f = b.figure
            png, svg = e(_rel(f.png, base)), e(_rel(f.svg, base))
            out.append(
                f"<figure id='{e(f.stem)}'><h3>{e(f.title)}</h3><a href='{svg}'><img src='{png}' alt='{e(f.title)}'></a>"
                f"<figcaption>{e(f.caption)} (<a href='{png}'>PNG</a>, <a href='{svg}'>SVG</a>)</figcaption></figure>"
            )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _inline_code(text: str) -> str:
    """`x` -> <code>x</code> (the paragraphs use markdown's backticks)."""
    parts = text.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def write_index(blocks: Sequence[Block], out_dir: Path, title: str) -> tuple[Path, Path]:
    md, page = out_dir / "index.md", out_dir / "index.html"
    md.write_text(f"# {title}\n\n" + to_markdown(blocks, out_dir))
    page.write_text(to_html([Heading(title, 1), *blocks], out_dir, title))
    return md, page
