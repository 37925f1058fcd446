"""The crawl store against hostile strings and broken databases, on a real SQLite file and the local PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from hublint.cli import main
from hublint.store import ESCAPED, FindingRecord, LintRecord, Store, StoreError, escape_text, meta, unescape_text
from tests.test_store import NOW, listing, url  # noqa: F401  (url: the sqlite/postgresql fixture)

# What a repo can put in a string: a lone surrogate is a valid JSON escape, NUL too; the marker itself; plain text.
HOSTILE_STRINGS = ["x\ud800", "\udfff", "a\x00b", "\x00", ESCAPED + "not escaped", ESCAPED, "plain", "", "ü \u202e"]


@given(st.text(alphabet=st.characters(codec=None), max_size=40))
def test_escaping_round_trips_every_string_and_stores_only_utf8_without_nul(text: str) -> None:
    """Invariant: unescape(escape(s)) == s for every Python string, and the stored form encodes as UTF-8, NUL-free."""
    stored = escape_text(text)
    assert unescape_text(stored) == text
    assert "\x00" not in stored
    stored.encode("utf-8")


def test_repo_strings_round_trip_through_the_store(url: str) -> None:  # noqa: F811
    """Every hostile string, as repo id, finding message, file and error, is stored and read back unchanged."""
    with Store(url) as store:
        for n, text in enumerate(HOSTILE_STRINGS):
            store.note_listed([listing(f"evil/{n}{text}")], NOW)
        for text in HOSTILE_STRINGS:
            claim = store.claim("w", NOW, 60)
            assert claim is not None
            found = FindingRecord(f"HL101.{text}", "HL101", "error", f"tensor {text} is odd", text)
            if text.startswith("x"):
                lint = LintRecord(1, 10, 0.1, error=f"failed on {text}")
                assert store.record_failure(claim, "w", lint, retry_at=None, now=NOW)
            else:
                assert store.record_lint(claim, "w", LintRecord(1, 10, 0.1, findings=[found]), NOW)
        assert {row.repo for row in store.results()} == {f"evil/{n}{t}" for n, t in enumerate(HOSTILE_STRINGS)}
        surrogate = store.repo("evil/0x\ud800")
        assert (surrogate.status, surrogate.last_error) == ("failed", "failed on x\ud800")
        [nul] = store.finding_history("evil/2a\x00b")
        assert (nul.message, nul.file, nul.fingerprint) == ("tensor a\x00b is odd", "a\x00b", "HL101.a\x00b")


@pytest.mark.parametrize("version", ["one", "", "²", "9" * 5000])
def test_a_non_numeric_schema_version_is_one_clear_error(tmp_path: Path, capsys, version: str) -> None:
    path = tmp_path / "crawl.db"
    with Store(f"sqlite:///{path}") as store, store.engine.begin() as connection:
        connection.execute(sa.update(meta).values(value=version))
    with pytest.raises(StoreError, match="not a number"):
        Store(f"sqlite:///{path}")
    assert main(["crawl", "--db", str(path), "--endpoint", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hublint: the database's schema version is") and err.count("\n") == 1


def test_a_locked_sqlite_database_is_a_clear_error_within_seconds(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    Store(f"sqlite:///{path}").close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock and does not let go
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked"):
            Store(f"sqlite:///{path}")
        assert time.monotonic() - started < 10
    finally:
        holder.execute("ROLLBACK")
        holder.close()
