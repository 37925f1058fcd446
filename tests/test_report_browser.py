"""The report as a person sees it: Debian's Chromium driven by Playwright opens the pages from file://.

Desktop and phone widths; no console errors and no request that leaves file://; the numbers on the page are
the store's; the filter and the search work; without JavaScript everything but them still shows; axe-core
(vendored in tests/vendor/) finds no serious or critical accessibility violation. Screenshots are kept in
test-artifacts/report/ for a person to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hublint.cli import main
from hublint.report.model import load
from hublint.store import Store
from tests.builders import fill_store

playwright = pytest.importorskip("playwright.sync_api")
if shutil.which("chromium") is None:
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "report"
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PAGES = (
    "index.html",
    "owner/owner-00000.html",
    "owner/owner-00000-2.html",
    "rule/HL101.html",
    "base/base-org--model-00.html",
    "owners/index.html",
    "repos.html",
)


@dataclass(frozen=True)
class Site:
    root: Path
    statuses: dict[str, int]
    owner_rows: int  # repos of owner-00000
    owner_hl101: int  # of which HL101 fires on


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """300 repos of 2 owners (so an owner's repos take two pages), with history, runs and discussions."""
    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp / 'crawl.db'}"
    fill_store(url, 300, owners=2, bases=3)
    assert main(["report", "--db", url, "--out", str(tmp / "site")]) == 0
    with Store(url) as store:
        report = load(store)
    mine = [r for r in report.repos if r.owner == "owner-00000"]
    hl101 = sum(1 for r in mine if any(f["rule"] == "HL101" for f in r.findings))
    return Site(tmp / "site", report.status_counts(), len(mine), hl101)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@dataclass
class Visit:
    page: object
    problems: list[str]


def open_page(browser, site: Site, path: str, width: str, *, javascript: bool = True, csp: bool = True) -> Visit:
    context = browser.new_context(viewport=WIDTHS[width], java_script_enabled=javascript, bypass_csp=not csp)
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: None if r.url.startswith("file://") else problems.append(f"request {r.url}"))
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
    page.goto((site.root / path).as_uri())
    page.wait_for_load_state("load")
    return Visit(page, problems)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", PAGES)
def test_each_page_renders_offline_without_errors_and_passes_axe(browser, site: Site, path: str, width: str) -> None:
    visit = open_page(browser, site, path, width, csp=False)  # the pages' CSP would refuse axe's inline script
    page = visit.page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{width}-{path.replace('/', '_')}.png"), full_page=True)
    assert visit.problems == []
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"{path} scrolls sideways by {overflow}px at {width} width"
    page.add_script_tag(content=AXE)  # axe reads the stylesheets itself: file:// refuses it, in the console
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
    page.context.close()


def test_the_overview_shows_the_stores_counts_and_its_charts(browser, site: Site) -> None:
    visit = open_page(browser, site, "index.html", "desktop")
    page = visit.page
    assert visit.problems == []  # under the pages' own Content-Security-Policy
    assert page.inner_text("#count-broken") == str(site.statuses["error"])
    linted = sum(site.statuses[s] for s in ("error", "warning", "info", "clean"))
    assert page.inner_text("#count-linted") == str(linted)
    assert page.inner_text("#count-owners") == "2"
    widths = page.eval_on_selector_all("figure.chart img", "images => images.map(i => i.naturalWidth)")
    assert len(widths) >= 4 and all(w > 100 for w in widths)  # every chart's SVG loaded and drawn
    page.context.close()


def test_the_filter_narrows_an_owners_table(browser, site: Site) -> None:
    page = open_page(browser, site, "owner/owner-00000.html", "phone").page
    rows = page.locator("#repo-table tbody tr")
    assert rows.count() == 100  # the first page of 150 repos
    page.fill("#filter", "HL101")
    visible = page.locator("#repo-table tbody tr:visible").count()
    assert 0 < visible < 100
    assert page.inner_text("#filter-count") == f"{visible} of 100 repos"
    page.fill("#filter", "")
    assert page.locator("#repo-table tbody tr:visible").count() == 100
    page.context.close()


def test_the_search_page_finds_repos_across_every_owner(browser, site: Site) -> None:
    page = open_page(browser, site, "repos.html", "desktop").page
    page.fill("#search", "error")
    assert page.inner_text("#search-count").startswith(f"{site.statuses['error']} of 300 repos")
    page.fill("#search", "owner-00001 hl101")
    found = page.locator("#search-table tbody tr").count()
    assert found == site.owner_hl101 or found > 0
    page.locator("#search-table tbody a").first.click()
    page.wait_for_load_state("load")
    assert "/owner/owner-00001" in page.url and "#repo-" in page.url
    page.context.close()


def test_without_javascript_everything_but_the_filter_shows(browser, site: Site) -> None:
    page = open_page(browser, site, "owner/owner-00000.html", "desktop", javascript=False).page
    assert page.locator("#repo-table tbody tr:visible").count() == 100
    assert not page.locator("#filter").is_visible()
    page.goto((site.root / "repos.html").as_uri())
    assert "Searching needs JavaScript" in page.inner_text("main")
    page.context.close()
