"""Any string a repo can hold, through every renderer: the output stays valid and inert.

Property-based (Hypothesis): strings built from the characters and fragments that break outputs (controls, ESC,
bidi overrides, lone surrogates, Markdown and HTML syntax, mentions, math, bare domains) go into every field a repo
controls. Invariants: strict JSON parses and keeps the string; Markdown rendered as the Hub and GitHub would has no
raw HTML, foreign link, mention, issue reference or math; text and annotations hold no control character; everything
encodes as UTF-8, so it prints. Then the same end to end through `hublint check` and `hublint discuss`.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hublint.cli import main
from hublint.discussions import Fingerprint, update_body
from hublint.lint import LintResult, Skipped
from hublint.render import discussion, github, markdown, render, text
from hublint.render.action import pr_comment
from hublint.render.safe import dumps, visible
from hublint.rules.model import Category, Finding, Fix, LoadRecipe, Severity
from tests.builders import lora_config
from tests.test_hostile_inputs import Q_PROJ, adapter_dir

markdown_it = pytest.importorskip("markdown_it")
dollarmath = pytest.importorskip("mdit_py_plugins.dollarmath")
pytest.importorskip("linkify_it")

VERSION = "0.1.0"
OUR_LINKS = re.compile(r"https://github\.com/hublint/hublint(/|$)")
FRAGMENTS = [
    "\x1b[2J", "\x1b]0;title\x07", "\x9b", "\x00", "\r", "\n", "\t", "\x85", "\u2028", "\u202e", "\u2066", "\u2069",
    "\ud800", "\udfff", "$", "$x$", "$$", "\\", "`", "```", "|", "<img src=x>", "<script>", "&lt;", "@admin", "#1",
    "[a](http://e)", "![i](x)", "http://evil.com", "www.evil.com", "evil.com", "a@b.io", "*", "_", "~~", ".", " ",
]  # fmt: skip
hostile = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.characters(exclude_categories=[])), max_size=24).map(
    "".join
)
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
MARKDOWN = markdown_it.MarkdownIt("commonmark", {"linkify": True}).enable(["table", "linkify"])
MARKDOWN.use(dollarmath.dollarmath_plugin)
OUR_TAGS = {"p", "h2", "h3", "table", "thead", "tbody", "tr", "th", "td", "details", "summary", "code", "pre"}
OUR_TAGS |= {"ul", "li", "a", "strong", "sub", "em", "br"}
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def hostile_result(value: str, other: str) -> LintResult:
    """Every field a repo controls holds a hostile string; a non-finite number sits in the details."""
    recipe = LoadRecipe(base_model=value, adapter=other, resize_embeddings_to=33004)
    finding = Finding(
        "HL101",
        "embedding-vocab-mismatch",
        Category.VOCAB,
        Severity.ERROR,
        f"The base model {value} has rows",
        other,
        {
            **{"adapter_rows": 33004, "base_rows": 32000, "tokenizer_size": None, "load_error": "size mismatch"},
            **{"tensors": {value: [33004, 4096]}, "name": value, "share": math.nan, "rows": math.inf},
        },
        Fix(f"Resize {other}", recipe),
    )
    warning = Finding("HL404", "card-base-model-disagrees", Category.METADATA, Severity.WARNING, value, None, {})
    return LintResult(f"owner/{other}", "hub", value, [finding, warning], [Skipped("HL403", value)])


def assert_printable(output: str) -> None:
    output.encode("utf-8")  # a lone surrogate would raise here, as it would when printed


def assert_inert_markdown(document: str) -> None:
    assert_printable(document)
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", document), "a bidi control reached the Markdown"
    html = MARKDOWN.render(document)
    assert {tag.lower() for tag in re.findall(r"<([a-zA-Z][\w-]*)", html)} <= OUR_TAGS, "raw HTML from the repo"
    assert all(OUR_LINKS.match(href) for href in re.findall(r'href="([^"]*)"', html)), "a link from the repo"
    assert "math" not in html, "$…$ became math"
    outside_code = re.sub(r"<code[^>]*>.*?</code>", "", html, flags=re.S)
    assert not re.search(r"@\w", outside_code), "a mention"
    assert not re.search(r"#\d", outside_code), "an issue reference"


def as_json_reads(value: str) -> str:
    """`value` as any JSON reader sees it: two adjacent surrogate escapes are one character, lone ones stay."""
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def strict_loads(document: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(document, parse_constant=refuse)


# Where each JSON format keeps the first finding's details.
DETAILS = {
    "json": lambda document: document["results"][0]["findings"][0]["details"],
    "sarif": lambda document: document["runs"][0]["results"][0]["properties"]["details"],
}


@pytest.mark.parametrize("fmt", DETAILS)
@PROPERTY
@given(value=hostile, other=hostile)
def test_json_formats_are_strict_and_keep_every_string(fmt: str, value: str, other: str) -> None:
    output = render([hostile_result(value, other)], fmt, version=VERSION)
    assert_printable(output)
    details = DETAILS[fmt](strict_loads(output))
    # Compared as ascii(): a failure report holding a lone surrogate could not travel back from an xdist worker.
    assert ascii([details["name"], *details["tensors"]]) == ascii([as_json_reads(value)] * 2)
    assert (details["share"], details["rows"]) == ("NaN", "Infinity")


@PROPERTY
@given(hostile, hostile)
def test_text_holds_no_control_character(value: str, other: str) -> None:
    output = text.render([hostile_result(value, other)], version=VERSION)
    assert_printable(output)
    assert not UNSAFE.search(output.replace("\n", "")), "a control character reached the terminal"
    assert f"    The base model {visible(value)} has rows\n" in output


@PROPERTY
@given(hostile, hostile)
def test_annotations_stay_one_command_per_line(value: str, other: str) -> None:
    output = github.render([hostile_result(value, other)], version=VERSION)
    assert_printable(output)
    lines = output.splitlines()
    assert len(lines) == 2 and all(line.startswith(("::error title=", "::warning title=")) for line in lines)
    assert not UNSAFE.search(output.replace("\n", ""))


@PROPERTY
@given(hostile, hostile)
def test_markdown_report_and_pull_request_comment_are_inert(value: str, other: str) -> None:
    result = hostile_result(value, other)
    report = markdown.render([result], version=VERSION)
    assert_inert_markdown(report)
    rows = re.findall(r"<tr>(.*?)</tr>", MARKDOWN.render(report), re.S)
    assert all(row.count("<td>") in (0, 4) for row in rows), "a repo string broke the table"
    assert_inert_markdown(pr_comment([result, LintResult(other, "hub", None, error=value)], marker="", version=VERSION))


@PROPERTY
@given(hostile, hostile)
def test_discussion_posts_are_inert(value: str, other: str) -> None:
    top, *others = hostile_result(value, other).findings
    body = discussion.body(top, others, markers=Fingerprint.of([top]).markers(), version=VERSION)
    assert_inert_markdown(body)
    assert body.endswith(Fingerprint.of([top]).markers()), "a repo string swallowed the markers"
    assert_inert_markdown(update_body(Fingerprint.of(others), Fingerprint.of([top]), [top, *others]))
    assert not UNSAFE.search(discussion.title(top))


@pytest.mark.parametrize(
    ("text_in", "shown"),
    [
        ("a$x$b", "a\\$x\\$b"),
        ("see evil.com now", "see evil.\u200bcom now"),
        ("x\u202eexe.txt", "x\\<U+202E\\>exe.\u200btxt"),
        ("bell\x07", "bell\\\\x07"),
        ("0.15 and 19.95 %", "0.15 and 19.95 %"),
    ],
)
def test_markdown_neutralises_math_bidi_domains_and_controls(text_in: str, shown: str) -> None:
    assert markdown.escape(text_in) == shown


def test_strict_dumps() -> None:
    assert dumps({"n": [math.nan, -math.inf, 1.5], "s": "x\ud800"}, indent=None) == (
        '{"n": ["NaN", "-Infinity", 1.5], "s": "x\\ud800"}'
    )


# --- end to end: the CLI prints every format, whatever the repo holds ----------------------------------------------


def hostile_adapter(tmp_path: Path) -> Path:
    """A base id with a lone surrogate, ESC and a bidi override, and a tensor name with a forged CI command."""
    name = f"{Q_PROJ}\x1b]0;pwned\x07\u202e\ud800\n::error::forged.lora_A.weight"
    header = {name: {"dtype": "F32", "shape": [4, 64], "data_offsets": [0, 1024]}}
    return adapter_dir(tmp_path, lora_config(base_model_name_or_path="./x\ud800\x1b[2J\u202e"), header)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github", "markdown"])
def test_every_format_prints_a_repo_full_of_unprintable_strings(tmp_path: Path, fmt: str) -> None:
    """In a real process with a real stdout: nothing the repo holds can stop the report from printing."""
    command = [sys.executable, "-m", "hublint.cli", "check", str(hostile_adapter(tmp_path)), "--format", fmt]
    command += ["--endpoint", "http://127.0.0.1:9", "--no-cache"]
    done = subprocess.run(command, capture_output=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 1, done.stderr.decode(errors="replace")
    out = done.stdout.decode("utf-8")  # strict: valid UTF-8
    assert "HL402" in out and "\x1b" not in out and "\u202e" not in out
    if fmt in ("json", "sarif"):
        strict_loads(out)
    if fmt in ("text", "github"):
        assert not UNSAFE.search(out.replace("\n", ""))
        assert not any(line.startswith("::error::") for line in out.splitlines())


def test_a_non_finite_threshold_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = adapter_dir(tmp_path)
    (directory / ".hublint.toml").write_text("[rules.HL202]\nmax_share = nan\n")
    assert main(["check", str(directory), "--endpoint", "http://127.0.0.1:9", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err == f"hublint: {directory / '.hublint.toml'}: rules.HL202.max_share must be a finite number, not nan\n"
