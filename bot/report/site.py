"""Write the static site: overview, owners (paginated), one page per owner, rule and base model, badges, charts,
a search page, and `report.json` beside `index.html`. Every page opens from file:// and loads nothing from the
network; HTML goes through templates/report/ with autoescaping on, so repo-provided text is always inert.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup

from hublint import __version__, prose, rules
from hublint.policy import KINDS
from hublint.render.safe import dumps, visible_lines
from hublint.report import charts
from hublint.report.model import RepoEntry, Report

REPOS_PER_PAGE = 100  # an owner page: each repo carries its findings and loading code
OWNERS_PER_PAGE = 1000
TOP_OWNERS = 200  # on the overview, which must stay under 1 MB at 100,000 repos
TOP_BASES = 60
EXAMPLES = 500  # repos listed on a rule or base page; report.json has them all
ASSETS = ("style.css", "filter.js", "search.js")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class SiteStats:
    pages: int
    overview_bytes: int


def write_site(report: Report, out: Path) -> SiteStats:
    out.mkdir(parents=True, exist_ok=True)
    writer = _Writer(report, out)
    writer.write_all()
    return SiteStats(writer.pages, (out / "index.html").stat().st_size)


def file_slug(name: str) -> str:
    """A file name from a Hub name: only [A-Za-z0-9._-], never `.` or `..`; `/` becomes `--`."""
    slug = _UNSAFE.sub("_", name.replace("/", "--"))
    return slug if slug.strip(".") else f"_{slug}"


@functools.cache
def badge_svg(status: str, findings: int) -> str:
    text, color = _badge_words(status, findings)
    left, right = 58, 12 + 7 * len(text)
    return _environment().get_template("badge.svg.j2").render(text=text, color=color, left=left, right=right)


def repo_links(report: Report) -> dict[str, str]:
    """Each repo's place in the site, relative to its root: `owner/<owner>[-N].html#repo-...`."""
    links = {}
    for owner, entries in report.by_owner().items():
        for i, entry in enumerate(sorted(entries, key=_worst_first)):
            links[entry.id] = f"owner/{_owner_page(owner, i // REPOS_PER_PAGE + 1)}#{_anchor(entry.id)}"
    return links


class _Writer:
    def __init__(self, report: Report, out: Path) -> None:
        self.report, self.out = report, out
        self.pages = 0
        self._folders: set[Path] = set()
        self.owners = report.by_owner()
        self.owner_rows = [  # the overview's top owners and the owners' index, tallied once
            {"name": owner, "page": _owner_page(owner, 1), **_tally(entries)} for owner, entries in self.owners.items()
        ]
        self.bases = report.by_base()
        self.common = {"generated": report.generated.strftime("%Y-%m-%d %H:%M UTC"), "version": __version__}

    def write_all(self) -> None:
        for asset in ASSETS:
            shutil.copyfile(prose.template_dir() / "report" / asset, self.out / asset)
        self.out.joinpath("report.json").write_text(dumps(self.report.to_json(), indent=None), "utf-8")
        self._overview()
        self._owner_index()
        for owner, entries in self.owners.items():
            self._owner(owner, entries)
        by_rule = self.report.by_rule()
        for rule in rules.ALL_RULES:  # every rule has its page: the overview links them all
            self._rule(rule.code, by_rule.get(rule.code, []))
        for base, entries in self.bases.items():
            self._base(base, entries)
        self._badges()
        self._search()

    def _page(self, path: str, template: str, **context: Any) -> None:
        root = "../" * path.count("/")
        self._write(path, _environment().get_template(template).render(root=root, **self.common, **context))
        self.pages += 1

    def _write(self, path: str, text: str) -> None:
        with open(self._target(path), "w", encoding="utf-8") as file:
            file.write(text)

    def _link(self, source: Path, path: str) -> None:
        target = self._target(path)
        target.unlink(missing_ok=True)  # a site written over an older one
        os.link(source, target)

    def _target(self, path: str) -> Path:
        target = self.out / path
        if target.parent not in self._folders:  # one mkdir per folder: at 100,000 badges the calls add up
            target.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(target.parent)
        return target

    def _overview(self) -> None:
        drawn = charts.overview_charts(self.report)
        (self.out / "charts").mkdir(exist_ok=True)
        for chart in drawn:
            if chart.svg:
                (self.out / "charts" / f"{chart.slug}.svg").write_text(chart.svg, "utf-8")
        owners = sorted(self.owner_rows, key=lambda o: (-o["broken"], -o["warning"], o["name"]))
        bases = sorted(self._base_rows(), key=lambda b: (-b["broken"], -b["repos"], b["name"]))
        self._page(
            "index.html",
            "index.html.j2",
            summary=self._summary(),
            discussions=self.report.discussions,
            last_run=self.report.runs[-1] if self.report.runs else None,
            bot_volume=self._bot_volume(),
            charts=drawn,
            charts_available=charts.available(),
            rules=self._rule_rows(),
            top_owners=owners[:TOP_OWNERS],
            bases=bases[:TOP_BASES],
        )

    def _summary(self) -> dict[str, Any]:
        counts = self.report.status_counts()
        linted = self.report.linted_count()
        runs = self.report.runs
        requests, linted_by_runs = sum(r.requests for r in runs), sum(r.linted for r in runs)
        per_adapter = f"{requests / linted_by_runs:.1f} requests per adapter over all runs." if linted_by_runs else ""
        return {
            "linted": linted,
            "broken": counts["error"],
            "warning": counts["warning"],
            "owners": len(self.owners),
            "error_share": f"{counts['error'] / linted:.1%}" if linted else "–",
            "requests_per_adapter": per_adapter,
        }

    def _bot_volume(self) -> list[dict[str, Any]]:
        """What the bot did by kind of action — in the last run ("–" when it ran without the bot) and in all runs
        that ran it — with the rules."""
        runs = [run for run in self.report.runs if run.volume]
        if not runs:
            return []
        last = self.report.runs[-1].volume
        rows = []
        for kind, label in KINDS.items():
            per_rule: Counter[str] = Counter()
            for run in runs:
                per_rule.update(run.volume[kind]["rules"])
            rows.append(
                {
                    "kind": label,
                    "last": last[kind]["repos"] if last else "–",
                    "all": sum(run.volume[kind]["repos"] for run in runs),
                    "rules": ", ".join(f"{code} {n}" for code, n in sorted(per_rule.items())),
                }
            )
        return rows

    def _rule_rows(self) -> list[dict[str, Any]]:
        counts = self.report.rule_counts()
        return [
            {
                "code": r.code,
                "name": r.name,
                "category": r.category.value,
                "severity": r.severity.value,
                "repos": counts[r.code],
            }
            for r in rules.ALL_RULES
        ]

    def _base_rows(self) -> list[dict[str, Any]]:
        return [
            {"name": base, "page": f"{file_slug(base)}.html", **_tally(entries)} for base, entries in self.bases.items()
        ]

    def _owner_index(self) -> None:
        rows = self.owner_rows
        for page, chunk in _pages(rows, OWNERS_PER_PAGE):
            name = _numbered("index", page)
            self._page(
                f"owners/{name}",
                "owners.html.j2",
                owners=chunk,
                total=len(rows),
                page=page,
                pages=_count_pages(rows, OWNERS_PER_PAGE),
                page_name=functools.partial(_numbered, "index"),
            )

    def _owner(self, owner: str, entries: list[RepoEntry]) -> None:
        ordered = sorted(entries, key=_worst_first)
        tally = _tally(entries)
        pages = _count_pages(ordered, REPOS_PER_PAGE)
        for page, chunk in _pages(ordered, REPOS_PER_PAGE):
            self._page(
                f"owner/{_owner_page(owner, page)}",
                "owner.html.j2",
                owner=owner,
                repo_count=len(entries),
                broken=tally["broken"],
                warning=tally["warning"],
                repos=[self._repo_view(e) for e in chunk],
                page=page,
                pages=pages,
                page_name=lambda n, owner=owner: _owner_page(owner, n),
            )

    def _rule(self, code: str, entries: list[RepoEntry]) -> None:
        rule = rules.get(code)
        bases = Counter(e.base_model for e in entries if e.base_model)
        self._page(
            f"rule/{code}.html",
            "rule.html.j2",
            code=code,
            name=rule.name,
            count=len(entries),
            doc=_markdown(prose.rule_doc(code)),
            examples_cut=len(entries) > EXAMPLES,
            bases=[{"name": b, "page": f"{file_slug(b)}.html", "repos": n} for b, n in bases.most_common(10)],
            repos=[self._repo_view(e) for e in sorted(entries, key=_worst_first)[:EXAMPLES]],
        )

    def _base(self, base: str, entries: list[RepoEntry]) -> None:
        counts = Counter(rule for e in entries for rule in {f["rule"] for f in e.findings})
        self._page(
            f"base/{file_slug(base)}.html",
            "base_model.html.j2",
            name=base,
            count=len(entries),
            broken=_tally(entries)["broken"],
            examples_cut=len(entries) > EXAMPLES,
            rules=[{"code": code, "repos": n} for code, n in sorted(counts.items())],
            repos=[self._repo_view(e) for e in sorted(entries, key=_worst_first)[:EXAMPLES]],
        )

    def _badges(self) -> None:
        # A handful of distinct badges for 100,000 repos: each is written once, the other repos' files are hard
        # links to it (one system call instead of create, write and close; Pages' upload dereferences them).
        first: dict[str, Path] = {}
        for entry in self.report.repos:
            text = badge_svg(entry.status, len(entry.findings))
            path = f"badges/{_badge_path(entry)}"
            if text in first:
                with contextlib.suppress(OSError):
                    self._link(first[text], path)
                    continue
            self._target(path).unlink(missing_ok=True)  # an older site's link: writing through it changes others
            self._write(path, text)
            first[text] = self.out / path

    def _search(self) -> None:
        index = [[e.id, e.status, " ".join(e.rules), self._links[e.id]] for e in self.report.repos]
        script = (
            "window.HUBLINT_REPOS = "
            + json.dumps(index, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")
            + ";\n"
        )
        (self.out / "search-index.js").write_text(script, "utf-8")
        self._page("repos.html", "repos.html.j2", limit=200)

    @functools.cached_property
    def _links(self) -> dict[str, str]:
        return repo_links(self.report)

    def _repo_view(self, entry: RepoEntry) -> dict[str, Any]:
        text, _ = _badge_words(entry.status, len(entry.findings))
        badge = _badge_path(entry)
        return {
            "id": entry.id,
            "anchor": _anchor(entry.id),
            "link": self._links[entry.id],
            "status": entry.status,
            "revision": entry.revision,
            "rules": entry.rules,
            "findings": entry.findings,
            "base_model": entry.base_model,
            "base_page": f"{file_slug(entry.base_model)}.html" if entry.base_model else None,
            "discussion_text": _discussion_text(entry.discussion),
            "acknowledged": entry.acknowledged,
            "ignored": entry.ignored,
            "error": entry.error,
            "history": entry.history,
            "badge": badge,
            "badge_text": text,
            "badge_markdown": f"![hublint](badges/{badge})",
        }


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(prose.template_dir() / "report"),
        autoescape=True,  # every page and badge: repo names, messages and code are text, never markup
        finalize=_inert,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _inert(value: Any) -> Any:
    """Every string a page shows, before escaping: controls, bidi overrides and lone surrogates (which UTF-8 cannot
    even hold) shown as `\x1b`, `<U+202E>`, `\ud800`, so no stored repo string can reorder a line or break a page."""
    return visible_lines(value) if isinstance(value, str) and not isinstance(value, Markup) else value


@functools.cache
def _markdown(text: str) -> Markup:
    # Our own rule docs, but raw HTML stays off all the same: the docs are Markdown, not a way into the page.
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    return Markup(html.replace("<pre>", '<pre tabindex="0">'))  # a block that scrolls sideways takes the keyboard


def _badge_words(status: str, findings: int) -> tuple[str, str]:
    plural = "s" if findings != 1 else ""
    return {
        "error": (f"{findings} finding{plural}, broken", "#a00000"),
        "warning": (f"{findings} warning{plural}", "#7a4a00"),
        "info": ("passing", "#1d6b2f"),
        "clean": ("passing", "#1d6b2f"),
    }.get(status, (status, "#555555"))


def _badge_path(entry: RepoEntry) -> str:
    owner, _, name = entry.id.partition("/")
    return f"{file_slug(owner)}/{file_slug(name)}.svg"


def _discussion_text(discussion: dict[str, Any] | None) -> str:
    if discussion is None:
        return "No bot discussion."
    return f"Bot discussion #{discussion['num']}: {discussion['status']}."


def _tally(entries: Iterable[RepoEntry]) -> dict[str, int]:
    counts = Counter(e.status for e in entries)
    return {"repos": sum(counts.values()), "broken": counts["error"], "warning": counts["warning"]}


_ORDER = {"error": 0, "warning": 1, "failed": 2, "info": 3, "clean": 4, "pending": 5, "skipped": 6}


def _worst_first(entry: RepoEntry) -> tuple[int, str]:
    return _ORDER.get(entry.status, 9), entry.id


def _anchor(repo_id: str) -> str:
    return "repo-" + file_slug(repo_id)


def _owner_page(owner: str, page: int) -> str:
    return _numbered(file_slug(owner), page)


def _numbered(stem: str, page: int) -> str:
    return f"{stem}.html" if page == 1 else f"{stem}-{page}.html"


def _count_pages(items: Sequence[Any], size: int) -> int:
    return max(1, math.ceil(len(items) / size))


def _pages(items: Sequence[Any], size: int) -> Iterable[tuple[int, Sequence[Any]]]:
    for page in range(_count_pages(items, size)):
        yield page + 1, items[page * size : (page + 1) * size]
