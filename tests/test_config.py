"""Config discovery, precedence, validation and the merge with CLI flags (bot/config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hublint.config import ConfigError, FileConfig, load_config, merge, parse_config
from hublint.lint import LintConfig, selected_rules
from hublint.rules.model import Severity
from hublint.rules.vocab.hl101_embedding_vocab_mismatch import EmbeddingVocabMismatch


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def with_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give HL101 a numeric option, so option handling is tested whatever thresholds the catalogue has today."""
    monkeypatch.setattr(EmbeddingVocabMismatch, "options", {"max_share": 0.1, "min_rows": 8})


# --- discovery and precedence ---------------------------------------------------------------------------


def test_no_config_anywhere_gives_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path) == FileConfig()
    assert merge(FileConfig()) == LintConfig()


def test_pyproject_tool_section_is_found_from_a_subdirectory(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n\n[tool.hublint]\nignore = ["HL105"]\n')
    adapter = tmp_path / "adapters" / "mine"
    adapter.mkdir(parents=True)
    config = load_config(adapter)
    assert config.path == path
    assert config.ignore == ("HL105",)


def test_hublint_toml_wins_over_pyproject_in_the_same_directory(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.hublint]\nignore = ["HL105"]\n')
    path = write(tmp_path / ".hublint.toml", 'ignore = ["HL103"]\n')
    config = load_config(tmp_path)
    assert (config.path, config.ignore) == (path, ("HL103",))


def test_nearest_directory_wins(tmp_path: Path) -> None:
    write(tmp_path / ".hublint.toml", 'ignore = ["HL103"]\n')
    inner = write(tmp_path / "inner" / "pyproject.toml", '[tool.hublint]\nignore = ["HL104"]\n')
    assert load_config(tmp_path / "inner").path == inner


def test_pyproject_without_a_hublint_section_does_not_stop_the_search(tmp_path: Path) -> None:
    outer = write(tmp_path / ".hublint.toml", 'select = ["HL1"]\n')
    write(tmp_path / "inner" / "pyproject.toml", "[tool.ruff]\nline-length = 100\n")
    assert load_config(tmp_path / "inner").path == outer


def test_hublint_toml_may_use_a_tool_section(tmp_path: Path) -> None:
    write(tmp_path / ".hublint.toml", '[tool.hublint]\nfail-on = "warning"\n')
    assert load_config(tmp_path).fail_on == "warning"


def test_start_defaults_to_the_cwd_and_may_be_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / ".hublint.toml", "bot = false\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(None).path == path
    assert load_config(write(tmp_path / "adapter_config.json", "{}")).path == path


# --- what the keys mean -------------------------------------------------------------------------------------


def test_all_keys_parse_and_merge_into_a_lint_config(tmp_path: Path, with_threshold: None) -> None:
    write(
        tmp_path / "pyproject.toml",
        """
[tool.hublint]
select = ["HL101", "HL102", "HL103"]
extend-select = ["resized-vocab-without-tokenizer"]
ignore = ["untrained-new-tokens"]
fail-on = "warning"
bot = false

[tool.hublint.severity]
HL105 = "info"
embedding-vocab-mismatch = "warning"

[tool.hublint.rules.embedding-vocab-mismatch]
max_share = 0.2
""",
    )
    config = load_config(tmp_path)
    assert config.select == ("HL101", "HL102", "HL103")
    assert config.fail_on == "warning"
    assert config.bot is False
    assert config.severity == {"HL105": Severity.INFO, "HL101": Severity.WARNING}
    assert config.options == {"HL101": {"max_share": 0.2}}

    lint = merge(config)
    assert lint.select == {"HL101", "HL102", "HL103", "resized-vocab-without-tokenizer"}
    assert lint.ignore == {"untrained-new-tokens"}
    enabled = selected_rules(lint)
    assert [r.code for r in enabled] == ["HL101", "HL102", "HL105"]
    assert enabled[0].settings == {"max_share": 0.2, "min_rows": 8}


def test_an_int_is_accepted_for_a_float_option(tmp_path: Path, with_threshold: None) -> None:
    write(tmp_path / ".hublint.toml", "[rules.HL101]\nmax_share = 1\n")
    assert load_config(tmp_path).options == {"HL101": {"max_share": 1}}


def test_cli_select_replaces_and_cli_ignore_adds() -> None:
    file_config = FileConfig(select=("HL1",), extend_select=("HL2",), ignore=("HL105",))
    lint = merge(file_config, select=["HL101,HL102"], ignore=["HL102", "HL103"])
    assert lint.select == {"HL101", "HL102"}
    assert lint.ignore == {"HL105", "HL102", "HL103"}
    assert [r.code for r in selected_rules(lint)] == ["HL101"]


def test_extend_select_without_select_keeps_every_rule() -> None:
    assert merge(FileConfig(extend_select=("HL1",))).select == frozenset()


def test_bot_defaults_to_true(tmp_path: Path) -> None:
    write(tmp_path / ".hublint.toml", 'ignore = ["HL105"]\n')
    assert load_config(tmp_path).bot is True


def test_parse_config_reads_text_fetched_elsewhere() -> None:
    """The Hub side reads a repo's own .hublint.toml over HTTP and parses the text."""
    assert parse_config("bot = false\n", Path(".hublint.toml")) == FileConfig(path=Path(".hublint.toml"), bot=False)
    assert parse_config('[project]\nname = "x"\n', Path("pyproject.toml")) is None


# --- errors: one line, naming the file and the key -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('selcet = ["HL101"]', "selcet unknown key"),
        ('select = ["HL999"]', "select names unknown rule code or prefix 'HL999'"),
        ('select = ["XY"]', "select names unknown rule code or prefix 'XY'"),
        ('select = [""]', "select names unknown rule code or prefix ''"),
        ("select = []", "select is empty"),
        ('select = "HL101"', "select must be a list"),
        ('ignore = ["no-such-rule"]', "ignore names unknown rule code or prefix 'no-such-rule'"),
        ('extend-select = ["HL9"]', "extend-select names unknown rule code or prefix 'HL9'"),
        ('fail-on = "fatal"', "fail-on must be one of error, warning, info, never, not 'fatal'"),
        ('bot = "no"', "bot must be true or false"),
        (
            '[bot]\nactions = {HL402 = "discussion"}',
            "bot.actions.HL402 must be discuss, pr or report, not 'discussion'",
        ),
        ('[bot]\nactions = {HL999 = "pr"}', "bot.actions.HL999 is not a rule code or name"),
        ("[bot]\nactoins = {}", "bot.actoins is an unknown key"),
        ('[bot]\nenabled = "no"', "bot.enabled must be true or false"),
        ('[severity]\nHL101 = "critical"', "severity.HL101 must be error, warning or info, not 'critical'"),
        ('[severity]\nHL999 = "error"', "severity.HL999 is not a rule code or name"),
        ('[severity]\nHL101 = "info"\nembedding-vocab-mismatch = "error"', "sets HL101 a second time"),
        ('severity = "error"', "severity must be a table"),
        ("[rules.HL101]\nmax_sahre = 0.2", "rules.HL101 is invalid: HL101 has no option max_sahre"),
        ("[rules.HL101]\nmax_share = '20%'", "rules.HL101.max_share must be float, not '20%'"),
        ("[rules.HL101]\nmin_rows = 8.5", "rules.HL101.min_rows must be int, not 8.5"),
        ("[rules.HL101]\nmax_share = nan", "rules.HL101.max_share must be a finite number, not nan"),
        ("[rules.HL101]\nmax_share = -inf", "rules.HL101.max_share must be a finite number, not -inf"),
        ("[rules.HL101]\nmin_rows = true", "rules.HL101.min_rows must be int, not True"),
        ("[rules.HL999]\nx = 1", "rules.HL999 is not a rule code or name"),
        ("rules = 3", "rules must be a table"),
        ("[rules]\nHL101 = 3", "rules.HL101 must be a table"),
    ],
)
def test_mistakes_are_one_line_errors_naming_file_and_key(
    tmp_path: Path, with_threshold: None, text: str, expected: str
) -> None:
    path = write(tmp_path / ".hublint.toml", text + "\n")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_errors_in_pyproject_name_the_full_key(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.hublint]\nignore = ["HL101"]\nextend-ignore = ["HL102"]\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml: tool\.hublint\.extend-ignore unknown key"):
        load_config(tmp_path)


def test_invalid_toml(tmp_path: Path) -> None:
    write(tmp_path / ".hublint.toml", "select = [\n")
    with pytest.raises(ConfigError, match=r"\.hublint\.toml: invalid TOML"):
        load_config(tmp_path)


def test_mixing_top_level_keys_and_a_tool_section(tmp_path: Path) -> None:
    write(tmp_path / ".hublint.toml", 'ignore = ["HL101"]\n[tool.hublint]\nselect = ["HL1"]\n')
    with pytest.raises(ConfigError, match="not both"):
        load_config(tmp_path)


@pytest.mark.parametrize(("flag", "values"), [("--select", ["HL101,HL77"]), ("--ignore", ["nope"])])
def test_unknown_codes_in_flags(flag: str, values: list[str]) -> None:
    kwargs = {flag.lstrip("-"): values}
    with pytest.raises(ConfigError, match=f"^{flag}: unknown rule code or prefix"):
        merge(FileConfig(), **kwargs)


def test_the_operator_sets_bot_actions_by_code_or_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hublint.cli import main
    from hublint.rules.model import BotAction

    text = '[tool.hublint.bot]\nactions = {HL402 = "report", card-base-model-disagrees = "report", HL203 = "pr"}\n'
    write(tmp_path / "pyproject.toml", text)
    config = load_config(tmp_path)
    assert config.bot is True
    assert config.bot_actions == {"HL402": BotAction.REPORT, "HL404": BotAction.REPORT, "HL203": BotAction.PR}
    monkeypatch.chdir(tmp_path)
    assert main(["rules"]) == 0
    rows = {line.split()[0]: line.split()[-1] for line in capsys.readouterr().out.splitlines()[1:]}
    assert (rows["HL101"], rows["HL402"], rows["HL203"], rows["HL501"]) == ("discuss", "report", "pr", "report")
