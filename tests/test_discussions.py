"""The Hub bot (`hublint discuss`) against the emulator, driven through the real huggingface_hub client."""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from hublint import __version__
from hublint.check import Checker
from hublint.cli import main
from hublint.discussions import (
    Action,
    BotOptions,
    DiscussionBot,
    Fingerprint,
    as_owner_configured,
    finding_key,
    repo_wishes,
    update_body,
)
from hublint.emulator.samples import (
    CLEAN_ADAPTER,
    PADDED_ADAPTER,
    SEED_ADAPTER,
    lora_tensors,
    write_safetensors,
    write_tokenizer_files,
)
from hublint.emulator.server import Emulator, Faults
from hublint.errors import DiscussionsDisabled, HubAuthError, HubError, HubRateLimited, HubUnavailable
from hublint.hub import Discussion, DiscussionMessage, HubClient, HubDiscussions, Retry
from hublint.lint import LintConfig
from hublint.local import LocalRepo
from hublint.render.discussion import title
from hublint.rules.model import Category, Finding, Severity

BOT, OWNER = "hublint-bot", "owner-name"
HOSTILE_BASE = "x/y<script>@admin[a](http://e)"
HOSTILE_CARD_BASE = "evil/<img src=x onerror=alert(1)>@owner"
HOSTILE_TOKEN = "``` <script>alert(1)</script> @admin [a](http://e) `"
OUR_LINKS = "https://github.com/hublint/hublint"


@pytest.fixture
def hub_tokens() -> dict[str, str]:
    return {"hf_bot": BOT, "hf_owner": OWNER}


@pytest.fixture(autouse=True)
def no_base_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBLINT_NO_CACHE", "1")


# -- helpers --------------------------------------------------------------------------------------------------------


def discuss(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], *argv: str, token: str | None = "hf_bot"
) -> tuple[int, str, str]:
    token_args = ["--token", token] if token else []
    code = main(["discuss", *argv, "--endpoint", emulator.url, *token_args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def clone(hub_root: Path, source: str, target: str) -> str:
    shutil.copytree(hub_root / source, hub_root / target)
    return target


def threads(emulator: Emulator, repo_id: str) -> list[Discussion]:
    with HubClient(emulator.url, token=False) as client:
        return HubDiscussions(client).list(repo_id)


def thread(emulator: Emulator, repo_id: str, num: int) -> Discussion:
    with HubClient(emulator.url, token=False) as client:
        return HubDiscussions(client).details(repo_id, num)


def make_bot(emulator: Emulator, options: BotOptions | None = None) -> DiscussionBot:
    """A bot that gives up at the first server error (the CLI's client retries 5xx with backoff)."""
    client = HubClient(emulator.url, "hf_bot", retry=Retry(attempts=1))
    return DiscussionBot(Checker(client, LintConfig()), options)


def grow_lm_head(hub_root: Path, repo_id: str, rows: int) -> None:
    """Rewrite a tiny padded adapter so its lm_head has `rows` rows while embed_tokens keeps 384."""
    saved = {"embed_tokens": 384, "lm_head": rows}
    tensors = lora_tensors(layers=2, hidden=64, rank=8, targets=["q_proj", "v_proj"], saved=saved, dtype="F32")
    write_safetensors(hub_root / repo_id / "adapter_model.safetensors", dict(sorted(tensors.items())), {"format": "pt"})


def set_card(hub_root: Path, repo_id: str, front_matter: dict[str, object]) -> None:
    lines = [f"{key}: {json.dumps(value)}" for key, value in front_matter.items()]  # JSON scalars are YAML
    (hub_root / repo_id / "README.md").write_text("---\n" + "\n".join(lines) + "\n---\n\n# Adapter\n")


def to_html(markdown: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    # CommonMark passes raw HTML through, as the Hub's renderer sees it before sanitising: injected tags show here.
    return markdown_it.MarkdownIt("commonmark").render(markdown)


def hublint_lines(err: str) -> list[str]:
    """hublint's own stderr lines: the in-process emulator's server thread may log a connection the client
    dropped (socketserver prints those to stderr too)."""
    return [line for line in err.splitlines() if line.startswith("hublint:")]


def python_block(body: str) -> str:
    match = re.search(r"^(`{3,})python\n(.*?)^\1$", body, re.M | re.S)
    assert match, body
    return match.group(2)


# -- dry run, dedup, golden -----------------------------------------------------------------------------------------


def test_dry_run_prints_each_plan_and_posts_nothing(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = discuss(emulator, capsys, SEED_ADAPTER, PADDED_ADAPTER, CLEAN_ADAPTER)
    assert code == 0 and hublint_lines(err) == []
    assert f"== {SEED_ADAPTER}: would open a discussion\n" in out
    assert "title: [bot] Loading this adapter fails: its embeddings have 33004 rows, the base model 32000\n" in out
    assert f"== {PADDED_ADAPTER}: skipped: the cap of 1 new discussion(s) per owner per run is reached" in out
    assert f"== {CLEAN_ADAPTER}: nothing to do: no findings at or above error that break loading or generation\n" in out
    # The volume by action and rule; the padded adapter's HL101 is report-only this run: the per-owner cap held it.
    assert out.endswith(
        "would post: discussions: 1 (HL101 1); pull requests: 0;"
        " report only: 2 (HL101 1, HL202 2, HL203 1, HL204 1, HL501 1, HL502 2)\n"
        "dry run: 1 to open, 0 to comment, 1 skipped, 1 with nothing to do, 0 failed; pass --post to post\n"
    )
    assert "```python\n" in out and "hf_bot" not in out
    assert all(threads(emulator, repo) == [] for repo in (SEED_ADAPTER, PADDED_ADAPTER, CLEAN_ADAPTER))


def test_two_runs_leave_exactly_one_discussion_on_each_broken_repo(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    repos = [SEED_ADAPTER, PADDED_ADAPTER, CLEAN_ADAPTER]
    code, out, _ = discuss(emulator, capsys, *repos, "--post", "--max-per-owner", "5")
    assert code == 0 and out.endswith("2 opened, 0 commented, 0 skipped, 1 with nothing to do, 0 failed\n")
    code, out, _ = discuss(emulator, capsys, *repos, "--post", "--max-per-owner", "5")
    assert code == 0 and out.count("nothing to do: discussion #1 is up to date") == 2

    for repo in (SEED_ADAPTER, PADDED_ADAPTER):
        [opened] = threads(emulator, repo)
        assert (opened.author, opened.status, opened.num) == (BOT, "open", 1)
        assert opened.title.startswith("[bot] Loading this adapter fails: its embeddings have ")
        [body] = thread(emulator, repo, 1).messages
        assert "<!-- hublint:fingerprint=" in body.text and "feel free to close" in body.text.lower()
    assert threads(emulator, CLEAN_ADAPTER) == []


def test_a_dry_run_without_a_token_recognises_the_bot_by_its_marker(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    discuss(emulator, capsys, SEED_ADAPTER, "--post")
    code, out, _ = discuss(emulator, capsys, SEED_ADAPTER, token=None)
    assert code == 0 and f"== {SEED_ADAPTER}: nothing to do: discussion #1 is up to date\n" in out


def test_golden_seed_body(
    emulator: Emulator, golden: Callable[[str, str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("hublint.discussions.__version__", "0.1.0")  # the golden file must not change with a release
    report = make_bot(emulator).handle(SEED_ADAPTER)
    assert report.action is Action.OPEN and report.body is not None
    golden("discussion_seed.md", report.body + "\n")

    posted = make_bot(emulator, BotOptions(post=True)).handle(SEED_ADAPTER)
    assert posted.posted and thread(emulator, SEED_ADAPTER, 1).messages[0].text == report.body


# -- comments on change -----------------------------------------------------------------------------------------------


def test_a_changed_repo_gets_one_comment_then_nothing(
    emulator: Emulator, hub_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    discuss(emulator, capsys, PADDED_ADAPTER, "--post")
    grow_lm_head(hub_root, PADDED_ADAPTER, 448)  # HL101's shapes change and HL104 appears

    code, out, _ = discuss(emulator, capsys, PADDED_ADAPTER, "--post")
    assert code == 0 and f"commented on discussion #1: {emulator.url}/{PADDED_ADAPTER}/discussions/1" in out
    _, comment = thread(emulator, PADDED_ADAPTER, 1).messages
    assert comment.author == BOT
    assert "- **Changed:** [HL101]" in comment.text and "- **New:** [HL104]" in comment.text
    assert "EMBEDDING_ROWS = 384" in python_block(comment.text)

    code, out, _ = discuss(emulator, capsys, PADDED_ADAPTER, "--post")
    assert code == 0 and "nothing to do: discussion #1 is up to date" in out
    assert len(thread(emulator, PADDED_ADAPTER, 1).messages) == 2 and len(threads(emulator, PADDED_ADAPTER)) == 1


def finding(rule: str, rows: int, file: str = "adapter_model.safetensors") -> Finding:
    return Finding(rule, "some-name", Category.VOCAB, Severity.ERROR, f"{rows} rows", file, {"rows": rows})


def test_the_update_names_changed_new_and_fixed_findings() -> None:
    before = [finding("HL101", 384), finding("HL104", 384)]
    after = [finding("HL101", 448), finding("HL102", 7, "tokenizer_config.json")]
    body = update_body(Fingerprint.of(before), Fingerprint.of(after), after)
    assert "- **Changed:** [HL101]" in body and "448 rows" in body
    assert "- **New:** [HL102]" in body
    assert "- **Fixed:** [HL104](https://github.com/hublint/hublint/blob/main/templates/rules/HL104.md)" in body
    assert Fingerprint.of(after).markers() in body


def test_fingerprints_ignore_wording_and_markers_trust_only_the_author() -> None:
    reworded = Finding("HL101", "x", Category.VOCAB, Severity.ERROR, "new words", "f", {"rows": 1, "why": "other"})
    original = Finding("HL101", "x", Category.VOCAB, Severity.ERROR, "old words", "f", {"rows": 1, "why": "text"})
    assert Fingerprint.of([reworded]) == Fingerprint.of([original]) and finding_key(reworded) == finding_key(original)
    assert Fingerprint.of([finding("HL101", 2)]).digest != Fingerprint.of([finding("HL101", 3)]).digest
    pair = [finding("HL106", 2), finding("HL106", 3)]  # one rule, one file: only the details tell them apart
    assert Fingerprint.of(pair) == Fingerprint.of(pair[::-1]) and len(Fingerprint.of(pair).keys) == 2

    older, newer, forged = (Fingerprint.of([finding("HL101", n)]) for n in (1, 2, 3))
    messages = (
        DiscussionMessage(BOT, "hello\n" + older.markers()),
        DiscussionMessage(BOT, "update\n" + newer.markers()),
        DiscussionMessage("someone", forged.markers()),
    )
    assert Fingerprint.latest_in(Discussion(1, "[bot] x", "open", BOT, messages)) == newer
    assert Fingerprint.latest_in(Discussion(1, "[bot] x", "open", BOT, messages[:1])) == older
    assert Fingerprint.latest_in(Discussion(1, "[bot] x", "open", BOT, ())) is None


def test_titles_name_the_problem_with_numbers_only() -> None:
    bare = Finding("HL101", "embedding-vocab-mismatch", Category.VOCAB, Severity.ERROR, "m", None, {})
    seeded = dataclasses.replace(bare, details={"adapter_rows": 33004, "base_rows": 32000, "note": "@x <y>"})
    assert title(seeded) == "[bot] Loading this adapter fails: its embeddings have 33004 rows, the base model 32000"
    assert title(bare) == "[bot] hublint found a problem in this adapter: HL101 embedding-vocab-mismatch"
    unknown = dataclasses.replace(bare, rule="HL999", name="future-rule", details={"n": 5})
    assert title(unknown) == "[bot] hublint found a problem in this adapter: HL999 future-rule"


# -- etiquette: opt-outs, closed and foreign discussions, disabled discussions, caps ---------------------------------


def test_the_card_opt_out_is_respected(emulator: Emulator, hub_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = clone(hub_root, PADDED_ADAPTER, "quiet/padded")
    set_card(hub_root, repo, {"base_model": "demo-bases/tiny-llama", "hublint": False})
    code, out, _ = discuss(emulator, capsys, repo, "--post")
    assert code == 0 and f"== {repo}: skipped: the model card says `hublint: false`" in out
    assert threads(emulator, repo) == []


def test_a_hublint_toml_opts_out_or_narrows_what_is_reported(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("---\nlibrary_name: peft\n---\n")
    (tmp_path / ".hublint.toml").write_text("bot = false\n")
    assert repo_wishes(LocalRepo(tmp_path)).opt_out == "its .hublint.toml says `bot = false`"

    (tmp_path / ".hublint.toml").write_text('ignore = ["HL101"]\n[severity]\nHL104 = "warning"\n')
    wishes = repo_wishes(LocalRepo(tmp_path))
    assert wishes.opt_out is None
    kept = as_owner_configured([finding("HL101", 1), finding("HL104", 1), finding("HL102", 1)], wishes.config)
    assert [(f.rule, f.severity) for f in kept] == [("HL102", Severity.ERROR), ("HL104", Severity.WARNING)]

    (tmp_path / ".hublint.toml").write_text("bot = 'maybe'\n")
    assert "cannot be used" in (repo_wishes(LocalRepo(tmp_path)).opt_out or "")


def test_a_hublint_toml_on_the_hub_opts_out(
    emulator: Emulator, hub_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = clone(hub_root, PADDED_ADAPTER, "quiet/padded")
    (hub_root / repo / ".hublint.toml").write_text("bot = false\n")
    code, out, _ = discuss(emulator, capsys, repo, "--post")
    assert code == 0 and f"== {repo}: skipped: its .hublint.toml says `bot = false`" in out


def test_a_closed_discussion_is_respected(
    emulator: Emulator, hub_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = clone(hub_root, PADDED_ADAPTER, f"{OWNER}/padded")
    discuss(emulator, capsys, repo, "--post")
    HfApi(endpoint=emulator.url, token="hf_owner").change_discussion_status(repo, 1, "closed")
    grow_lm_head(hub_root, repo, 448)
    code, out, _ = discuss(emulator, capsys, repo, "--post")
    assert code == 0 and f"== {repo}: skipped: its owner closed hublint's discussion #1" in out
    [closed] = threads(emulator, repo)
    assert closed.status == "closed" and len(thread(emulator, repo, 1).messages) == 1  # no comment after closing


def test_the_bot_never_opens_a_second_discussion(emulator: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    HfApi(endpoint=emulator.url, token="hf_bot").create_discussion(SEED_ADAPTER, "Hello", description="hi")
    code, out, _ = discuss(emulator, capsys, SEED_ADAPTER, "--post")
    assert code == 0 and "skipped: hublint's account opened #1 without a hublint marker" in out
    assert len(threads(emulator, SEED_ADAPTER)) == 1


def test_disabled_discussions_are_a_skip_and_the_next_repo_goes_on(
    emulator: Emulator, hub_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = clone(hub_root, PADDED_ADAPTER, "closed-tab/padded")
    (hub_root / closed / ".hub.json").write_text(json.dumps({"discussions_disabled": True}))
    code, out, err = discuss(emulator, capsys, closed, PADDED_ADAPTER, "--post")
    assert code == 0 and hublint_lines(err) == []
    assert f"== {closed}: skipped: the Hub refuses discussions there (HTTP 403: " in out
    assert f"== {PADDED_ADAPTER}: opened discussion #1" in out
    assert threads(emulator, closed) == []


def test_caps_per_run_and_per_owner(emulator: Emulator, hub_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repos = [clone(hub_root, PADDED_ADAPTER, name) for name in ("a/one", "a/two", "b/one", "c/one")]
    for post in ([], ["--post"]):
        code, out, _ = discuss(emulator, capsys, *repos, "--max-new", "2", *post)
        assert code == 0
        assert "== a/two: skipped: the cap of 1 new discussion(s) per owner per run is reached for a\n" in out
        assert "== c/one: skipped: the cap of 2 new discussion(s) per run is reached\n" in out
    assert [len(threads(emulator, repo)) for repo in repos] == [1, 0, 1, 0]


# -- escaping ---------------------------------------------------------------------------------------------------------


def make_hostile_repos(hub_root: Path) -> tuple[str, str]:
    base = clone(hub_root, CLEAN_ADAPTER, "hostile/base")
    config_path = hub_root / base / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "base_model_name_or_path": HOSTILE_BASE}))
    set_card(hub_root, base, {"base_model": HOSTILE_CARD_BASE, "library_name": "peft"})
    tokens = clone(hub_root, CLEAN_ADAPTER, "hostile/tokens")
    write_tokenizer_files(hub_root / tokens, {32000: HOSTILE_TOKEN, 32001: "````", 32002: "`@admin`"})
    return base, tokens


def assert_inert(markdown: str) -> None:
    rendered = to_html(markdown)
    assert "<script" not in rendered and "<img" not in rendered
    assert all(href.startswith(OUR_LINKS) for href in re.findall(r'href="([^"]*)"', rendered))
    outside_code = re.sub(r"<code>.*?</code>", "", rendered, flags=re.S)
    assert "@admin" not in outside_code and "@owner" not in outside_code and "http://e" not in outside_code
    # No repo string opened a fence or a span that swallowed the rest: the hidden markers still end the post.
    assert re.search(r"<!-- hublint:findings=[^\n]* -->\n?$", rendered)


@pytest.fixture
def hl402_discussed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HL402 goes as a pull request by default; the operator's config makes it a discussion, whose body shows the
    repo's own strings (the config's base_model_name_or_path)."""
    (tmp_path / "operator").mkdir()
    (tmp_path / "operator" / ".hublint.toml").write_text('[bot]\nactions = {HL402 = "discuss"}\n')
    monkeypatch.chdir(tmp_path / "operator")


@pytest.mark.usefixtures("hl402_discussed")
def test_hostile_repo_strings_reach_the_post_only_as_inert_text(
    emulator: Emulator, hub_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, tokens = make_hostile_repos(hub_root)
    code, out, _ = discuss(emulator, capsys, base, tokens, "--post", "--max-per-owner", "2")
    assert code == 0 and out.count("opened discussion #1") == 2

    titles = {repo: threads(emulator, repo)[0].title for repo in (base, tokens)}
    assert titles == {
        base: "[bot] This adapter doesn't name its base model: base_model_name_or_path is not a Hub id",
        tokens: "[bot] This adapter's tokenizer has token ids past its 32000 embedding rows",
    }
    base_body, token_body = (thread(emulator, repo, 1).messages[0].text for repo in (base, tokens))
    assert_inert(base_body)
    assert_inert(token_body)
    assert "is a relative path ('x/y\\<script\\>@\u200badmin\\[a\\](http:\u200b//e)')" in base_body
    spans = [html.unescape(s) for s in re.findall(r"<code>(.*?)</code>", to_html(token_body), re.S)]
    assert HOSTILE_TOKEN in spans, "the token shows verbatim, as code"


@pytest.mark.usefixtures("hl402_discussed")
def test_a_dry_run_shows_repo_controls_visibly(
    emulator: Emulator, hub_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The terminal of whoever runs the bot never receives a repo's escape sequences or bidi overrides."""
    repo = clone(hub_root, PADDED_ADAPTER, "hostile/controls")
    (hub_root / repo / ".hublint.toml").write_text('"\\u001b]0;pwned\\u0007\\u202e" = 1\n')
    base = clone(hub_root, CLEAN_ADAPTER, "hostile/base-controls")
    config_path = hub_root / base / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "base_model_name_or_path": "./x\x1b[2J\u2066\ud800"}))
    code, out, _ = discuss(emulator, capsys, repo, base, "--max-per-owner", "2")
    assert code == 0 and "\x1b" not in out and "\x07" not in out and "\u202e" not in out and "\u2066" not in out
    assert f"== {repo}: skipped: its .hublint.toml cannot be used (" in out and "\\x1b]0;pwned\\x07<U+202E>" in out
    assert "./x\\\\x1b\\[2J\\<U+2066\\>\\\\ud800" in out  # Markdown-escaped in the body, as posted
    out.encode("utf-8")


# -- errors -----------------------------------------------------------------------------------------------------------


def test_a_bad_token_fails_each_repo_in_one_line_and_is_never_shown(
    emulator: Emulator, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hf_wrong_secret_0123456789"
    with caplog.at_level(logging.DEBUG):
        code, out, err = discuss(emulator, capsys, SEED_ADAPTER, PADDED_ADAPTER, "--post", token=secret)
    assert code == 2
    lines = hublint_lines(err)
    assert len(lines) == 2 and all("HTTP 401" in line and "token" in line for line in lines)
    assert out.endswith("0 opened, 0 commented, 0 skipped, 0 with nothing to do, 2 failed\n")
    assert secret not in out + err + caplog.text
    assert threads(emulator, SEED_ADAPTER) == []


def test_a_rate_limit_fails_in_one_line_and_the_retry_posts_once(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    repos = [SEED_ADAPTER, PADDED_ADAPTER]
    emulator.set_faults(Faults(rate_limit=(0, 60)))
    code, _, err = discuss(emulator, capsys, *repos, "--post", "--max-per-owner", "5")
    lines = hublint_lines(err)
    assert code == 2 and len(lines) == 2 and all(re.search(r"HTTP 429|rate limit", line) for line in lines)

    emulator.set_faults(Faults())
    for _ in range(2):
        code, _, err = discuss(emulator, capsys, *repos, "--post", "--max-per-owner", "5")
        assert code == 0 and hublint_lines(err) == []
    assert [len(threads(emulator, repo)) for repo in repos] == [1, 1]


def test_a_server_error_fails_one_repo_and_the_next_goes_on(emulator: Emulator) -> None:
    bot = make_bot(emulator, BotOptions(post=True, max_per_owner=5))
    emulator.set_faults(Faults(error_rate=1.0))
    failed = bot.handle(SEED_ADAPTER)
    assert failed.action is Action.ERROR and re.search(r"HTTP 50[023]", failed.reason) and "\n" not in failed.reason
    emulator.set_faults(Faults())
    assert bot.handle(PADDED_ADAPTER).posted
    assert bot.handle(SEED_ADAPTER).posted  # the retry
    assert bot.handle(SEED_ADAPTER).action is Action.NOTHING
    assert [len(threads(emulator, repo)) for repo in (SEED_ADAPTER, PADDED_ADAPTER)] == [1, 1]


def test_a_create_that_failed_after_it_was_written_is_not_duplicated(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = make_bot(emulator, BotOptions(post=True))
    real_create = bot.hub.create

    def create_then_fail(repo_id: str, title: str, body: str) -> int:
        real_create(repo_id, title, body)
        raise HubUnavailable(f"{repo_id}: HTTP 502 from the Hub")

    monkeypatch.setattr(bot.hub, "create", create_then_fail)
    assert bot.handle(SEED_ADAPTER).action is Action.ERROR
    assert make_bot(emulator, BotOptions(post=True)).handle(SEED_ADAPTER).action is Action.NOTHING
    assert len(threads(emulator, SEED_ADAPTER)) == 1


def test_community_errors_map_to_one_line_hub_errors(emulator: Emulator, hub_root: Path) -> None:
    def error(call: object) -> HubError:
        with pytest.raises(HubError) as caught:
            call()  # type: ignore[operator]
        assert "\n" not in str(caught.value)
        return caught.value

    bad = HubDiscussions(HubClient(emulator.url, token="hf_nope"))
    assert isinstance(error(bad.whoami), HubAuthError) and "HTTP 401" in str(error(bad.whoami))
    bot = HubDiscussions(HubClient(emulator.url, token="hf_bot"))
    (hub_root / SEED_ADAPTER / ".hub.json").write_text(json.dumps({"discussions_disabled": True}))
    disabled = error(lambda: bot.create(SEED_ADAPTER, "[bot] title", "body"))
    assert isinstance(disabled, DiscussionsDisabled) and "HTTP 403: Discussions are disabled" in str(disabled)
    assert disabled.permanent
    emulator.set_faults(Faults(rate_limit=(0, 60)))
    limited = error(lambda: bot.list(SEED_ADAPTER))
    assert isinstance(limited, HubRateLimited) and re.search(r"asks to wait \d+ s \(HTTP 429\)", str(limited))
    assert not limited.permanent
    emulator.set_faults(Faults(error_rate=1.0))
    failing = HubDiscussions(HubClient(emulator.url, token="hf_bot", retry=Retry(attempts=2)))  # a fresh rate limit
    unavailable = error(lambda: failing.list(SEED_ADAPTER))
    assert isinstance(unavailable, HubUnavailable) and re.search(r"HTTP 50[023] from ", str(unavailable))


@pytest.fixture
def recording_hub() -> Iterator[tuple[str, list[str]]]:
    """A server that answers whoami and records every User-Agent."""
    agents: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            agents.append(self.headers.get("User-Agent", ""))
            body = json.dumps({"type": "user", "name": "recorded"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", agents
    server.shutdown()
    server.server_close()


def test_the_user_agent_names_hublint_and_its_version(recording_hub: tuple[str, list[str]]) -> None:
    url, agents = recording_hub
    hub = HubDiscussions(HubClient(url, token="hf_token"))
    assert hub.whoami() == "recorded" and hub.whoami() == "recorded"
    assert len(agents) == 1, "whoami is cached"
    assert f"hublint/{__version__}" in agents[0]


# -- the posted code really loads the adapter -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def peft_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    from tests import peft_factory as pf

    root = tmp_path_factory.mktemp("peft-hub")
    pf.build_all(root)
    with Emulator(root, tokens={"hf_bot": BOT}) as emulator:
        yield emulator


@pytest.mark.peft
def test_the_posted_python_block_loads_the_adapter(
    peft_hub: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_e2e_peft import runtime_env

    repo = "hl-test/padded-resize"
    code, out, _ = discuss(peft_hub, capsys, repo, "--post")
    assert code == 0 and "opened discussion #1" in out
    body = HfApi(endpoint=peft_hub.url, token=False).get_discussion_details(repo, 1).events[0].content

    program = tmp_path / "load.py"
    program.write_text(python_block(body) + "\nassert model.get_input_embeddings().weight.shape[0] == 1024\n")
    env = runtime_env(peft_hub, tmp_path)
    run = subprocess.run([sys.executable, str(program)], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]

    # The error the post quotes is the one a plain load really raises.
    naive = (
        "from peft import PeftModel\nfrom transformers import AutoModelForCausalLM\n"
        f"PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained('hl-bases/tiny-llama'), {repo!r})\n"
    )
    run = subprocess.run([sys.executable, "-c", naive], env=env, capture_output=True, text=True, timeout=300)
    quoted = re.search(r"size mismatch for …: (copying a param with shape .*\.)\n", body)
    assert quoted and run.returncode != 0 and quoted.group(1) in run.stderr, run.stderr[-3000:]


# -- what became of the bot's discussions (the dashboard's fix rate) ------------------------------------------------


def test_the_crawl_re_reads_open_discussions_and_records_each_status_change(
    emulator: Emulator, hub_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hublint.discussion_status import refresh_open_discussions
    from hublint.store import DiscussionRecord, Store

    repos = [clone(hub_root, PADDED_ADAPTER, f"{OWNER}/status-{n}") for n in range(3)]
    for repo in repos:
        discuss(emulator, capsys, repo, "--post")
    HfApi(endpoint=emulator.url, token="hf_owner").change_discussion_status(repos[0], 1, "closed")
    shutil.rmtree(hub_root / repos[1])  # the owner deleted the repo
    with Store(f"sqlite:///{tmp_path / 'crawl.db'}") as store, HubClient(emulator.url, token=False) as client:
        for repo in repos:
            store.save_discussion(DiscussionRecord(repo, 1, "f" * 64, "open"), "test", now=1.0)
        summary = refresh_open_discussions(store, HubDiscussions(client), worker="test", limit=10, now=2.0)
        assert (summary.checked, summary.changed, summary.failed) == (3, 2, 0)
        assert [store.discussion(repo).status for repo in repos] == ["closed", "deleted", "open"]
        events = [(e.repo, e.status) for e in store.discussion_events() if e.at == 2.0]
        assert sorted(events) == sorted([(repos[0], "closed"), (repos[1], "deleted")])
        again = refresh_open_discussions(store, HubDiscussions(client), worker="test", limit=10, now=3.0)
        assert (again.checked, again.changed) == (1, 0)  # only the one still open, and one request for it
