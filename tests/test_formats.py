"""Every output format on results of real rules run on builder snapshots: golden files byte for byte (regenerate
with `pytest --update-goldens`), then what each format promises (SARIF schema, GitHub's caps, inert Markdown)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hublint import prose, rules
from hublint.cli.action import MARKER
from hublint.discussions import Fingerprint, update_body
from hublint.lint import LintConfig, LintResult, run_rules, selected_rules
from hublint.render import FORMATS, discussion, github, markdown, render, sarif
from hublint.render.action import pr_comment, step_summary
from hublint.render.loading import loading_code
from hublint.rules.model import Severity
from tests import builders as b

VERSION = "0.1.0"  # fixed, not hublint.__version__: the golden files must not change with a release
# The OASIS schema, copied from shared/data so the test can never skip.
SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
SEED_TENSORS = {
    **b.lora_tensors(layers=2),
    f"{b.PREFIX}model.embed_tokens.weight": (33004, 4096),
    f"{b.PREFIX}lm_head.weight": (33004, 4096),
}
HOSTILE = "evil | <img src=x> @user [link](http://x) #1 `tick\nnext line"


def lint(snapshot: Any, **config: Any) -> LintResult:
    """The vocabulary family only, so these fixtures keep the exact findings the format tests are about."""
    lint_config = LintConfig(**{"select": frozenset({"HL1"}), **config})
    return run_rules(snapshot, selected_rules(lint_config), lint_config)


def seed(target: str = "someone/adapter", source: str = "hub", rows: int = 33004, **config: Any) -> LintResult:
    """The seed case: 33004 saved rows on a 32000-row base, no tokenizer -> HL101 error, HL105 warning."""
    config_json = b.lora_config(modules_to_save=["lm_head", "embed_tokens"])
    tensors = {**SEED_TENSORS, **{name: (rows, 4096) for name, shape in SEED_TENSORS.items() if shape[0] == 33004}}
    result = lint(b.snapshot(config_json, tensors, target=target, source=source), **config)
    assert [f.rule for f in result.findings] == ["HL101", "HL105"]
    return result


def grown_tokenizer(target: str = "models/grown", source: str = "local") -> LintResult:
    """Five new tokens and no saved embeddings -> HL102 error (tokenizer file), HL103 warning."""
    result = lint(b.snapshot(tok=b.tokenizer(b.added_tokens(32000, 5)), target=target, source=source))
    assert [f.rule for f in result.findings] == ["HL102", "HL103"]
    return result


def clean(target: str = "someone/clean") -> LintResult:
    result = lint(b.snapshot(target=target))
    assert result.findings == []
    return result


def gated(target: str = "someone/on-gated-base") -> LintResult:
    result = lint(b.snapshot(base=b.base_facts(status="gated"), target=target))
    assert result.skipped
    return result


def with_message(result: LintResult, index: int, message: str) -> LintResult:
    result.findings[index] = dataclasses.replace(result.findings[index], message=message)
    return result


def unlinted(target: str = "someone/missing") -> LintResult:
    return LintResult(target, "hub", None, error="repository not found (HTTP 404)")


# --- Golden files: every format, from fixed inputs, byte for byte --------------------------------------------------

GOLDEN_CASES: dict[str, Callable[[], list[LintResult]]] = {
    "seed": lambda: [seed()],
    "clean": lambda: [clean()],
}
GOLDEN_SUFFIX = {"text": "txt", "json": "json", "sarif": "sarif.json", "github": "github.txt", "markdown": "md"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_check_formats(case: str, fmt: str, golden: Callable[[str, str], None]) -> None:
    golden(f"check_{case}.{GOLDEN_SUFFIX[fmt]}", render(GOLDEN_CASES[case](), fmt, version=VERSION))


def test_golden_github_for_local_targets(golden: Callable[[str, str], None]) -> None:
    results = [seed("models/seed", "local"), grown_tokenizer()]
    golden("check_local.github.txt", github.render(results, version=VERSION))


def test_golden_discussion(golden: Callable[[str, str], None]) -> None:
    top, *others = seed().findings
    golden("discussion_seed_title.txt", discussion.title(top) + "\n")
    markers = Fingerprint.of([top]).markers()
    golden("discussion_seed_body.md", discussion.body(top, others, markers=markers, version=VERSION) + "\n")


def test_golden_discussion_update(golden: Callable[[str, str], None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("hublint.discussions.__version__", VERSION)
    before = [seed(rows=33024).findings[0], grown_tokenizer().findings[0]]
    after = seed().findings
    body = update_body(Fingerprint.of(before), Fingerprint.of(after), after)
    assert "**Changed:** [HL101]" in body and "**New:** [HL105]" in body and "**Fixed:** [HL102]" in body
    golden("discussion_update.md", body + "\n")


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_pull_request_comment_and_step_summary(case: str, golden: Callable[[str, str], None]) -> None:
    results = GOLDEN_CASES[case]()
    golden(f"step_summary_{case}.md", step_summary(results, version=VERSION))
    golden(f"pr_comment_{case}.md", pr_comment(results, marker=MARKER.format(key="."), version=VERSION))


def test_golden_pull_request_comment_with_a_target_that_could_not_be_linted(golden: Callable[[str, str], None]) -> None:
    body = pr_comment([seed(), clean(), unlinted()], marker=MARKER.format(key="."), version=VERSION)
    golden("pr_comment_seed_clean_unlinted.md", body)


# --- SARIF -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def render_sarif(results: list[LintResult], validator: jsonschema.Draft7Validator) -> dict[str, Any]:
    log = json.loads(sarif.render(results, version=VERSION))
    validator.validate(log)
    assert_github_subset(log)
    return log


def assert_github_subset(log: dict[str, Any]) -> None:
    """What GitHub code scanning requires beyond the schema (research/github.md, SARIF section)."""
    assert log["version"] == "2.1.0" and log["$schema"]
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "hublint" and driver["version"] == VERSION
    for rule in driver["rules"]:
        assert 0 < len(rule["shortDescription"]["text"]) <= 1024
        assert 0 < len(rule["fullDescription"]["text"]) <= 1024
        assert rule["help"]["text"] and len(rule["name"]) <= 255
    for result in run["results"]:
        assert result["message"]["text"]
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.startswith("file:///") or "://" not in uri, "GitHub takes repo-relative or file: URIs only"
        assert re.fullmatch(r"[0-9a-f]{64}", result["partialFingerprints"]["hublint/v1"])
        # Left to upload-sarif, which hashes only text files that carry a region.
        assert "primaryLocationLineHash" not in result["partialFingerprints"]


def results_by_rule(log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {result["ruleId"]: result for result in log["runs"][0]["results"]}


def test_sarif_valid_with_findings_from_several_rules(validator: jsonschema.Draft7Validator) -> None:
    info = seed("someone/info", severity={"HL105": Severity.INFO})
    log = render_sarif([seed(), grown_tokenizer(), info, gated(), clean()], validator)
    run = log["runs"][0]
    assert {r["ruleId"] for r in run["results"]} == {"HL101", "HL102", "HL103", "HL105"}
    assert [r["level"] for r in run["results"]] == ["error", "warning", "error", "warning", "error", "note"]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]


def test_sarif_valid_with_no_findings(validator: jsonschema.Draft7Validator) -> None:
    log = render_sarif([clean()], validator)
    run = log["runs"][0]
    assert run["results"] == []
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == [r.code for r in rules.ALL_RULES]
    assert "originalUriBaseIds" not in run  # no local target, nothing to resolve against


def test_sarif_rule_metadata(validator: jsonschema.Draft7Validator) -> None:
    log = render_sarif([clean()], validator)
    levels = {"error": "error", "warning": "warning", "info": "note"}
    for rule_class, rule in zip(rules.ALL_RULES, log["runs"][0]["tool"]["driver"]["rules"], strict=True):
        assert rule["id"] == rule_class.code and rule["name"] == rule_class.name
        assert rule["shortDescription"]["text"] == prose.rule_summary(rule_class.code)
        assert rule["help"]["markdown"] == prose.rule_doc(rule_class.code)
        assert rule["helpUri"] == prose.rule_url(rule_class.code)
        assert rule["defaultConfiguration"]["level"] == levels[rule_class.severity.value]
        assert rule["properties"]["category"] == rule_class.category.value
    hl101 = log["runs"][0]["tool"]["driver"]["rules"][0]
    assert hl101["fullDescription"]["text"].startswith("Every saved tensor whose size along one axis")


def test_sarif_locations(validator: jsonschema.Draft7Validator) -> None:
    local = grown_tokenizer("./models/grown")
    local_seed = seed(".", "local")
    hub = seed()
    log = render_sarif([local, local_seed, hub], validator)
    run = log["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == Path.cwd().as_uri() + "/"
    hl102, _, local_hl101, _, hub_hl101, _ = run["results"]

    text_file = hl102["locations"][0]["physicalLocation"]
    assert text_file["artifactLocation"] == {"uri": "models/grown/tokenizer_config.json", "uriBaseId": "%SRCROOT%"}
    assert text_file["region"] == {"startLine": 1}

    weights = local_hl101["locations"][0]["physicalLocation"]
    assert weights["artifactLocation"] == {"uri": "adapter_model.safetensors", "uriBaseId": "%SRCROOT%"}
    assert "region" not in weights  # upload-sarif must not hash a weights file

    on_hub = hub_hl101["locations"][0]["physicalLocation"]
    assert on_hub["artifactLocation"]["uri"] == "adapter_model.safetensors"
    assert "uriBaseId" not in on_hub["artifactLocation"] and "region" not in on_hub
    assert hub_hl101["properties"]["hubId"] == "someone/adapter"
    assert hub_hl101["properties"]["revision"] == "1" * 40
    assert hub_hl101["message"]["text"].startswith("someone/adapter: The adapter's embedding matrices have 33004")
    assert hub_hl101["properties"]["details"]["adapter_rows"] == 33004


def test_sarif_repo_wide_findings_anchor_at_the_adapter_config(validator: jsonschema.Draft7Validator) -> None:
    result = grown_tokenizer()
    result.findings[0] = dataclasses.replace(result.findings[0], file=None)
    location = render_sarif([result], validator)["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "models/grown/adapter_config.json"
    assert location["region"] == {"startLine": 1}


def test_sarif_absolute_target_inside_the_cwd_is_repo_relative(
    validator: jsonschema.Draft7Validator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inside = grown_tokenizer(str(tmp_path / "my adapter"))
    outside = grown_tokenizer("/elsewhere/adapter")
    run = render_sarif([inside, outside], validator)["runs"][0]
    inside_uri, _, outside_uri, _ = (r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"])
    assert inside_uri == {"uri": "my%20adapter/tokenizer_config.json", "uriBaseId": "%SRCROOT%"}
    assert outside_uri == {"uri": "file:///elsewhere/adapter/tokenizer_config.json"}


def test_sarif_fingerprints_ignore_the_revision_and_separate_repos(validator: jsonschema.Draft7Validator) -> None:
    def fingerprints(result: LintResult) -> list[str]:
        log = render_sarif([result], validator)
        return [r["partialFingerprints"]["hublint/v1"] for r in log["runs"][0]["results"]]

    pinned = fingerprints(seed("someone/adapter@v2"))
    assert pinned == fingerprints(seed("someone/adapter"))
    assert len(set(pinned)) == 2
    assert set(pinned).isdisjoint(fingerprints(seed("other/adapter")))
    assert fingerprints(grown_tokenizer("models/grown")) == fingerprints(grown_tokenizer("./models/grown/"))


def test_sarif_carries_the_fix_and_its_code(validator: jsonschema.Draft7Validator) -> None:
    result = seed()
    hl101 = results_by_rule(render_sarif([result], validator))["HL101"]
    recipe = result.findings[0].fix.recipe
    assert hl101["properties"]["fix"]["code"] == loading_code(recipe)
    assert "33004" in hl101["properties"]["fix"]["code"]
    assert "\nFix: Resize the base model's embeddings to exactly 33004 rows" in hl101["message"]["text"]
    assert "```python\n" in hl101["message"]["markdown"]


def test_sarif_reports_skipped_rules_as_notifications(validator: jsonschema.Draft7Validator) -> None:
    result = gated()
    invocation = render_sarif([result], validator)["runs"][0]["invocations"][0]
    notified = [n["associatedRule"]["id"] for n in invocation["toolExecutionNotifications"]]
    assert notified == [s.rule for s in result.skipped]
    assert invocation["executionSuccessful"] is True


# --- GitHub workflow commands --------------------------------------------------------------------------------------


def test_github_annotations_for_a_local_target() -> None:
    info = seed("models/seed", "local", severity={"HL105": Severity.INFO})
    lines = github.render([grown_tokenizer(), info], version=VERSION).splitlines()
    assert lines[0].startswith(
        "::error file=models/grown/tokenizer_config.json,title=HL102 tokenizer-exceeds-embeddings::The repo's"
    )
    assert lines[1].startswith("::warning file=models/grown/tokenizer_config.json,title=HL103 untrained-new-tokens::")
    assert lines[2].startswith(
        "::error file=models/seed/adapter_model.safetensors,title=HL101 embedding-vocab-mismatch::"
    )
    assert lines[3].startswith("::notice file=models/seed/adapter_model.safetensors,title=HL105 ")
    assert "%0AFix: Resize the base model's embeddings to exactly 33004 rows" in lines[2]
    assert len(lines) == 4


def test_github_annotation_for_the_repo_root_matches_the_contract() -> None:
    line = github.render([seed(".", "local")], version=VERSION).splitlines()[0]
    assert line.startswith("::error file=adapter_model.safetensors,title=HL101 embedding-vocab-mismatch::")


def test_github_hub_targets_name_the_repo_in_the_message() -> None:
    line = github.render([seed()], version=VERSION).splitlines()[0]
    assert line.startswith(
        "::error title=HL101 embedding-vocab-mismatch::someone/adapter (adapter_model.safetensors): "
    )


def test_github_escaping() -> None:
    assert github.escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    result = with_message(grown_tokenizer("dir,with:odd%chars"), 0, "100% broken\n::error::injected")
    output = github.render([result], version=VERSION)
    lines = output.splitlines()
    assert len(lines) == 2 and all(line.startswith(("::error ", "::warning ")) for line in lines)
    assert lines[0].startswith(
        "::error file=dir%2Cwith%3Aodd%25chars/tokenizer_config.json,title=HL102 tokenizer-exceeds-embeddings"
        "::100%25 broken%0A::error::injected%0AFix: "
    )


def test_github_caps_errors_and_warnings_at_ten_per_step() -> None:
    results = [seed(f"models/a{i}", "local") for i in range(15)]
    lines = github.render(results, version=VERSION).splitlines()
    assert sum(line.startswith("::error ") for line in lines) == 10
    assert sum(line.startswith("::warning ") for line in lines) == 10
    assert lines[-1].startswith("::notice title=hublint::")
    assert "10 more findings not shown as annotations (5 error, 5 warning)" in lines[-1]
    assert len(lines) == 21
    assert "file=models/a9/" in lines[-3] and "a10" not in "".join(lines[:-1])


def test_github_count_line_takes_one_of_the_ten_notice_slots() -> None:
    results = [seed(f"models/a{i}", "local", severity={"HL105": Severity.INFO}) for i in range(12)]
    lines = github.render(results, version=VERSION).splitlines()
    assert sum(line.startswith("::error ") for line in lines) == 10
    assert sum(line.startswith("::notice ") for line in lines) == 10
    assert "5 more findings not shown as annotations (2 error, 3 notice)" in lines[-1]


def test_github_no_findings_prints_nothing() -> None:
    assert github.render([clean(), gated()], version=VERSION) == ""


# --- Markdown ------------------------------------------------------------------------------------------------------


def to_html(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    # CommonMark passes raw HTML through, as GitHub does before sanitising: injected tags would show here.
    return markdown_it.MarkdownIt("commonmark").enable("table").render(text)


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| Severity")]


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_report() -> None:
    result = seed()
    text = markdown.render([result, grown_tokenizer(), clean()], version=VERSION)
    assert text.startswith("## hublint 0.1.0\n\n**2 errors**, 2 warnings and 0 info in 3 targets.\n")
    assert "### `someone/adapter` at `111111111111`" in text
    assert "### `someone/clean` at `111111111111`\n\nNo findings.\n" in text
    assert "| Severity | Rule | Message | File |" in text
    assert len(table_rows(text)) == 4 and all(unescaped_pipes(row) == 5 for row in table_rows(text))
    assert "[HL101](https://github.com/hublint/hublint/blob/main/templates/rules/HL101.md)" in text
    assert "<summary>How to fix HL101 embedding-vocab-mismatch</summary>" in text
    assert "```python\n" + loading_code(result.findings[0].fix.recipe).rstrip() + "\n```" in text
    assert "\n\n\n" not in text and text.endswith("No findings.\n")
    html = to_html(text)
    assert html.count("<table>") == 2 and html.count("<details>") == 4


def test_markdown_no_findings() -> None:
    text = markdown.render([clean()], version=VERSION)
    assert "No findings in 1 target." in text and "<details>" not in text


def test_markdown_escapes_repo_provided_strings() -> None:
    result = with_message(seed("evil/<img src=x>|@admin"), 1, HOSTILE)
    result.findings[1] = dataclasses.replace(result.findings[1], file="a|b`<script>.safetensors")
    result.skipped.append(dataclasses.replace(gated().skipped[0], reason="see [here](http://x) @admin <b>"))
    text = markdown.render([result], version=VERSION)

    outside_blocks = re.sub(r"^(`{3,})python\n.*?^\1$", "", text, flags=re.M | re.S)
    outside_code = re.sub(r"(`+).+?\1", "", outside_blocks.replace("\\`", ""))
    assert not re.search(r"(?<!\\)<(?!/?(details|summary)>)", outside_code), "raw HTML from the repo"
    assert not re.search(r"(?<!\\)\[(?!HL\d{3}\])", outside_code), "a link from the repo"
    assert "@user" not in outside_code and "@admin" not in outside_code
    assert all(unescaped_pipes(row) == 5 for row in table_rows(text))

    html = to_html(text)
    assert "<img" not in html and "<script" not in html and "<b>" not in html
    assert not re.search(r'href="(?!https://github.com/hublint/hublint/blob/main/templates/rules/)', html)
    hostile_row = re.search(r"<tr>\s*<td>:warning: warning</td>.*?</tr>", html, re.S)
    assert hostile_row and hostile_row.group(0).count("<td>") == 4
    assert "evil | &lt;img src=x&gt; @\u200buser [link](http:\u200b//x) #\u200b1 `tick next line" in html


def test_markdown_code_spans_and_blocks() -> None:
    assert markdown.code_span("plain") == "`plain`"
    assert markdown.code_span("a`b") == "``a`b``"
    assert markdown.code_span("`x") == "`` `x ``"
    assert markdown.code_span("a|b", table=True) == "`a\\|b`"
    assert markdown.code_span("two\nlines") == "`two lines`"
    assert markdown.escape("keep `foo|bar` as code", table=True) == "keep `foo\\|bar` as code"
    assert markdown.code_block("x = '```'\n").startswith("````python\nx = '```'\n````")
