"""Charts as accessible SVG files: Vega-Lite specs rendered server-side by vl-convert (the `hublint[report]` extra).

Each chart is a `Chart`: its title, a one-sentence description, the rows of the data table shown beside it, and
the SVG (with <title> and <desc> inside, for screen readers and for anyone who opens the file alone). Without
vl-convert the tables still appear and the page says how to get the pictures: the numbers never depend on it.
"""

from __future__ import annotations

import html
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hublint.report.model import Report

WIDTH = 560
HEIGHT = 220
FONT = "DejaVu Sans, Verdana, sans-serif"  # what a machine without web fonts has; nothing is loaded


@dataclass(frozen=True)
class Chart:
    slug: str  # file name stem under charts/
    title: str
    description: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    svg: str | None  # None: vl-convert is not installed, the table stands alone


def available() -> bool:
    return importlib.util.find_spec("vl_convert") is not None


def overview_charts(report: Report) -> list[Chart]:
    charts = [_statuses(report), _rules(report)]
    if report.trend:
        charts.append(_trend(report))
    if report.discussions.get("fix_days"):
        charts.append(_fix_curve(report))
    if report.runs:
        charts.append(_runs(report))
    return charts


def _statuses(report: Report) -> Chart:
    rows = tuple((status, count) for status, count in report.status_counts().items() if count)
    spec = _bars([{"status": s, "repos": n} for s, n in rows], "status", "repos", sort=None)
    return _chart("statuses", "Repos by status", _describe_counts(rows, "repos"), ("Status", "Repos"), rows, spec)


def _rules(report: Report) -> Chart:
    rows = tuple((code, n) for code, n in report.rule_counts().items() if n)
    spec = _bars([{"rule": r, "repos": n} for r, n in rows], "rule", "repos", sort="-x")
    description = _describe_counts(rows, "repos") if rows else "No rule fires on any repo."
    return _chart("rules", "Repos each rule fires on", description, ("Rule", "Repos"), rows, spec)


def _trend(report: Report) -> Chart:
    rows = tuple((p.day, p.open, p.new, p.fixed) for p in report.trend)
    values = [
        {"day": day, "series": name, "findings": n}
        for day, *counts in rows
        for name, n in zip(("open", "new", "fixed"), counts, strict=True)
    ]
    spec = {
        "data": {"values": values},
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "day", "type": "temporal", "title": None},
            "y": {"field": "findings", "type": "quantitative"},
            "color": {
                "field": "series",
                "type": "nominal",
                "scale": {"domain": ["open", "new", "fixed"], "range": ["#333", "#b00", "#070"]},
            },
        },
    }
    last = rows[-1]
    description = f"Open findings per day from {rows[0][0]} to {last[0]}: {last[1]} open at the end."
    return _chart("trend", "Findings over time", description, ("Day", "Open", "New", "Fixed"), rows, spec)


def _fix_curve(report: Report) -> Chart:
    days: Sequence[float] = report.discussions["fix_days"]
    opened = report.discussions["opened"]
    rows = tuple((d, i + 1, f"{(i + 1) / opened:.0%}") for i, d in enumerate(days))
    values = [{"days": d, "share": (i + 1) / opened} for i, d in enumerate(days)]
    spec = {
        "data": {"values": values},
        "mark": {"type": "line", "interpolate": "step-after", "point": True},
        "encoding": {
            "x": {"field": "days", "type": "quantitative", "title": "days after the discussion opened"},
            "y": {"field": "share", "type": "quantitative", "axis": {"format": "%"}, "title": "fixed"},
        },
    }
    median = report.discussions["median_days_to_fix"]
    description = f"{len(days)} of {opened} repos with a bot discussion were fixed; median {median} days."
    return _chart("fix-rate", "Fix rate after a discussion", description, ("Days", "Fixed", "Share"), rows, spec)


def _runs(report: Report) -> Chart:
    shown = report.runs[-60:]
    first = len(report.runs) - len(shown) + 1
    rows = tuple((first + i, r.started, r.linted, r.requests, r.rate_limited, r.failures) for i, r in enumerate(shown))
    spec = _bars([{"run": row[0], "requests": row[3]} for row in rows], "run", "requests", sort=None, ordinal=True)
    description = f"Requests per crawl run, last {len(rows)} runs; {sum(row[4] for row in rows)} answered 429."
    columns = ("Run", "Started", "Linted", "Requests", "429s", "Failures")
    return _chart("runs", "Crawl runs", description, columns, rows, spec)


def _bars(
    values: list[dict[str, Any]], category: str, amount: str, *, sort: str | None, ordinal: bool = False
) -> dict[str, Any]:
    if ordinal:
        encoding = {
            "x": {"field": category, "type": "ordinal"},
            "y": {"field": amount, "type": "quantitative"},
        }
    else:
        encoding = {
            "y": {"field": category, "type": "nominal", "sort": sort, "title": None},
            "x": {"field": amount, "type": "quantitative"},
        }
    return {"data": {"values": values}, "mark": {"type": "bar", "color": "#3b5b92"}, "encoding": encoding}


def _chart(
    slug: str,
    title: str,
    description: str,
    columns: tuple[str, ...],
    rows: tuple[tuple[Any, ...], ...],
    spec: dict[str, Any],
) -> Chart:
    return Chart(slug, title, description, columns, rows, _render(spec, title, description) if rows else None)


def _render(spec: dict[str, Any], title: str, description: str) -> str | None:
    if not available():
        return None
    import vl_convert

    full = {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "width": WIDTH,
        "height": HEIGHT,
        "description": description,
        "config": {"font": FONT, "background": "white"},
        **spec,
    }
    svg = vl_convert.vegalite_to_svg(full)
    return _with_title(svg, title, description)


def _with_title(svg: str, title: str, description: str) -> str:
    """<title> and <desc> as the SVG's first children, named by role and aria-labelledby."""
    end = svg.index(">", svg.index("<svg")) + 1
    opening = svg[:end].replace("<svg ", '<svg role="img" aria-labelledby="chart-title chart-desc" ', 1)
    labels = (
        f'<title id="chart-title">{html.escape(title)}</title><desc id="chart-desc">{html.escape(description)}</desc>'
    )
    return opening + labels + svg[end:]


def _describe_counts(rows: Sequence[tuple[Any, int]], unit: str) -> str:
    return "; ".join(f"{name}: {count} {unit}" for name, count in rows) + "."
