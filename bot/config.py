"""Project configuration: `[tool.hublint]` in pyproject.toml or a `.hublint.toml`, merged with CLI flags.

Every mistake is a `ConfigError` naming the file and the key: a typo in a config must never silently
lint with defaults (an ignored `ignore` is as bad as a crash, and much harder to notice).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hublint import rules
from hublint.errors import ConfigError
from hublint.lint import LintConfig
from hublint.rules.model import BotAction, Rule, Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

HUBLINT_TOML = ".hublint.toml"
PYPROJECT = "pyproject.toml"
FAIL_ON = ("error", "warning", "info", "never")
_KEYS = ("select", "extend-select", "ignore", "severity", "fail-on", "rules", "bot")


@dataclass(frozen=True)
class FileConfig:
    """What a config file says. `select is None` means the file does not narrow the rules."""

    path: Path | None = None
    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=dict)  # code -> severity
    fail_on: str | None = None
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # code -> rule options
    bot: bool = True  # `bot = false`: the Hub bot must not open discussions on this repo
    # `[tool.hublint.bot] actions = {HL402 = "report"}`: the operator's changes to the rules' bot actions
    bot_actions: Mapping[str, BotAction] = field(default_factory=dict)


def load_config(start: Path | None = None) -> FileConfig:
    """The nearest config at or above `start` (default: the CWD); `.hublint.toml` wins in one directory.

    A pyproject.toml without `[tool.hublint]` does not count, so the search goes on past it (as ruff does).
    """
    directory = (start or Path.cwd()).resolve()
    if not directory.is_dir():
        directory = directory.parent
    for candidate in (directory, *directory.parents):
        for name in (HUBLINT_TOML, PYPROJECT):
            path = candidate / name
            if path.is_file():
                config = parse_config(_read(path), path)
                if config is not None:
                    return config
    return FileConfig()


def parse_config(text: str, path: Path) -> FileConfig | None:
    """Parse one file's text; None for a pyproject.toml without `[tool.hublint]`.

    Separate from load_config so the Hub side can check a repo's own `.hublint.toml` fetched over HTTP.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:  # `a = [[[[...`: tomllib recurses once per level
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None
    tool = document.get("tool")
    nested = isinstance(tool, dict) and "hublint" in tool
    if path.name == PYPROJECT and not nested:
        return None
    if nested:
        table, prefix = tool["hublint"], "tool.hublint."
        if path.name != PYPROJECT and set(document) != {"tool"}:
            raise ConfigError(f"{path}: use either top-level keys or [tool.hublint], not both")
    else:
        table, prefix = document, ""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {prefix.rstrip('.')} must be a table")
    return _Parser(path, prefix).parse(table)


def merge(file_config: FileConfig, select: Sequence[str] | None = None, ignore: Sequence[str] = ()) -> LintConfig:
    """CLI flags over the file: `--select` replaces the file's select (and extend-select), `--ignore` adds.

    Flag values may be comma-separated ("HL101,HL2"), as `--select` takes them on the command line.
    """
    cli_select = _split(select) if select is not None else None
    cli_ignore = _split(ignore)
    for flag, codes in (("--select", cli_select or ()), ("--ignore", cli_ignore)):
        for code in codes:
            if not _is_selector(code):
                raise ConfigError(f"{flag}: unknown rule code or prefix {code!r} (see `hublint rules`)")
    if cli_select is not None:
        chosen: frozenset[str] = frozenset(cli_select)
    elif file_config.select is not None:
        chosen = frozenset((*file_config.select, *file_config.extend_select))
    else:
        chosen = frozenset()  # every rule: extend-select cannot add to "all"
    return LintConfig(
        select=chosen,
        ignore=frozenset((*file_config.ignore, *cli_ignore)),
        severity=dict(file_config.severity),
        options={code: dict(options) for code, options in file_config.options.items()},
    )


@dataclass(frozen=True)
class _Parser:
    path: Path
    prefix: str

    def parse(self, table: Mapping[str, Any]) -> FileConfig:
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise self.error(unknown[0], f"unknown key (known: {', '.join(sorted(_KEYS))})")
        select = self.selectors(table, "select") if "select" in table else None
        if select == ():
            # An empty set means "every rule" to LintConfig; say so rather than guess what was meant.
            raise self.error("select", "is empty; list at least one code, or use `ignore`")
        fail_on = table.get("fail-on")
        if fail_on is not None and fail_on not in FAIL_ON:
            raise self.error("fail-on", f"must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
        bot, bot_actions = self.bot(table.get("bot", True))
        return FileConfig(
            path=self.path,
            select=select,
            extend_select=self.selectors(table, "extend-select"),
            ignore=self.selectors(table, "ignore"),
            severity=self.severities(table.get("severity", {})),
            fail_on=fail_on,
            options=self.rule_options(table.get("rules", {})),
            bot=bot,
            bot_actions=bot_actions,
        )

    def bot(self, value: object) -> tuple[bool, dict[str, BotAction]]:
        """`bot = false` (a repo's opt-out), or a table: `enabled = false`, `actions = {CODE = "discuss|pr|report"}`."""
        if isinstance(value, bool):
            return value, {}
        if not isinstance(value, dict):
            raise self.error("bot", f"must be true or false (or a table of bot settings), not {value!r}")
        unknown = sorted(set(value) - {"enabled", "actions"})
        if unknown:
            raise self.error(f"bot.{unknown[0]}", "is an unknown key (known: actions, enabled)")
        enabled = value.get("enabled", True)
        if not isinstance(enabled, bool):
            raise self.error("bot.enabled", f"must be true or false, not {enabled!r}")
        actions = value.get("actions", {})
        if not isinstance(actions, dict):
            raise self.error("bot.actions", "must be a table of rule code or name = discuss, pr or report")
        result: dict[str, BotAction] = {}
        choices = {a.value for a in BotAction}
        for key, action in actions.items():
            code = self.rule("bot.actions", key).code
            if action not in choices:
                raise self.error(f"bot.actions.{key}", f"must be discuss, pr or report, not {action!r}")
            result[code] = BotAction(action)
        return enabled, result

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.prefix}{key} {problem}")

    def selectors(self, table: Mapping[str, Any], key: str) -> tuple[str, ...]:
        values = table.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.error(key, "must be a list of rule codes, names or prefixes")
        for value in values:
            if not _is_selector(value):
                raise self.error(key, f"names unknown rule code or prefix {value!r} (see `hublint rules`)")
        return tuple(v.strip() for v in values)

    def rule(self, key: str, code_or_name: str) -> type[Rule]:
        try:
            return rules.get(code_or_name)
        except KeyError:
            raise self.error(f"{key}.{code_or_name}", "is not a rule code or name (see `hublint rules`)") from None

    def severities(self, table: object) -> dict[str, Severity]:
        if not isinstance(table, dict):
            raise self.error("severity", "must be a table of rule code or name = severity")
        result: dict[str, Severity] = {}
        for key, value in table.items():
            code = self.rule("severity", key).code
            if value not in {s.value for s in Severity}:
                raise self.error(f"severity.{key}", f"must be error, warning or info, not {value!r}")
            if code in result:
                raise self.error(f"severity.{key}", f"sets {code} a second time")
            result[code] = Severity(value)
        return result

    def rule_options(self, table: object) -> dict[str, dict[str, Any]]:
        if not isinstance(table, dict):
            raise self.error("rules", "must be a table of per-rule option tables")
        result: dict[str, dict[str, Any]] = {}
        for key, options in table.items():
            rule_class = self.rule("rules", key)
            if not isinstance(options, dict):
                raise self.error(f"rules.{key}", "must be a table of option = value")
            if rule_class.code in result:
                raise self.error(f"rules.{key}", f"configures {rule_class.code} a second time")
            self.check_options(f"rules.{key}", rule_class, options)
            result[rule_class.code] = dict(options)
        return result

    def check_options(self, key: str, rule_class: type[Rule], options: Mapping[str, Any]) -> None:
        try:
            rule_class(options)  # the rule itself knows its option names
        except ValueError as exc:
            raise self.error(key, f"is invalid: {exc}") from None
        for name, value in options.items():
            default = rule_class.options[name]
            if default is not None and not _same_kind(value, default):
                raise self.error(f"{key}.{name}", f"must be {type(default).__name__}, not {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                # TOML allows nan and inf; either would silently turn a threshold off (nothing compares above nan).
                raise self.error(f"{key}.{name}", f"must be a finite number, not {value!r}")


def _same_kind(value: object, default: object) -> bool:
    """A threshold keeps its default's type; an int is fine where a float is expected, a bool is not."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def _is_selector(value: str) -> bool:
    """A code, a rule name, a code prefix such as HL1, or ALL: the forms bot.lint.selected_rules accepts."""
    key = value.strip().upper()
    if not key:
        return False
    return key == "ALL" or any(r.code.startswith(key) or r.name.upper() == key for r in rules.ALL_RULES)


def _split(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
