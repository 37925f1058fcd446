"""Base-model facts (config, shapes, parameter count), fetched once per base commit and cached in memory and on disk.

Fail closed: a base that is absent or gated becomes facts with that status (rules say so as findings); a base that
could not be read because the Hub failed (5xx, 429, a timeout, a refused token) raises, so no rule that needs the
base is silently skipped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hublint.errors import HubError, HubGated, HubNotFound
from hublint.hub.client import HubClient
from hublint.rules.snapshot import BaseModelFacts
from hublint.snapshots import build_base_facts


class HubBaseFacts:
    """Base-model facts, fetched once per base commit and shared by every adapter and run.

    On disk: `<sha>.json` holds the facts of one commit (immutable, kept forever); `ref-<revision>.json` remembers
    which commit a branch pointed at, trusted for REF_TTL so a warm lint needs no request for its base at all.
    """

    REF_TTL = 3600.0

    def __init__(self, client: HubClient, cache_dir: Path | None = None) -> None:
        self.client = client
        self.cache_dir = cache_dir
        self._memory: dict[tuple[str, str | None], BaseModelFacts] = {}

    def facts(self, model_id: str, revision: str | None) -> BaseModelFacts:
        key = (model_id, revision)
        if key not in self._memory:
            self._memory[key] = self._fetch(model_id, revision)
        return self._memory[key]

    def _fetch(self, model_id: str, revision: str | None) -> BaseModelFacts:
        known = self._read(self._path(model_id, _ref_name(revision)))
        if known and time.time() - known.get("checked", 0) < self.REF_TTL:
            cached = self._cached_facts(model_id, known.get("sha"))
            if cached is not None:
                return cached
        try:
            repo = self.client.open_repo(model_id, revision)
            self._write(self._path(model_id, _ref_name(revision)), {"sha": repo.revision, "checked": time.time()})
            facts = self._cached_facts(model_id, repo.revision) or build_base_facts(repo, model_id)
        except HubNotFound as exc:
            return BaseModelFacts(model_id, revision, status="missing", message=str(exc))
        except HubGated as exc:
            return BaseModelFacts(model_id, revision, status="gated", message=str(exc))
        except HubError as exc:  # the Hub failed: the rules that need this base cannot run, and must not pass
            raise type(exc)(f"base model {model_id} could not be read: {exc}") from None
        if facts.available:
            self._write(self._path(model_id, facts.revision), facts_to_json(facts))
        return facts

    def _cached_facts(self, model_id: str, sha: object) -> BaseModelFacts | None:
        data = self._read(self._path(model_id, sha)) if isinstance(sha, str) else None
        try:
            return facts_from_json(data) if data else None
        except (ValueError, TypeError, KeyError):
            return None  # a damaged cache entry is refetched, never trusted

    def _path(self, model_id: str, name: str | None) -> Path | None:
        if self.cache_dir is None or not name:
            return None
        endpoint = hashlib.sha256(self.client.endpoint.encode()).hexdigest()[:12]
        return self.cache_dir / endpoint / model_id.replace("/", "--") / f"{name}.json"

    @staticmethod
    def _read(path: Path | None) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path is not None and path.is_file() else None
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    @staticmethod
    def _write(path: Path | None, data: dict[str, Any]) -> None:
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(data), encoding="utf-8")
            partial.replace(path)  # atomic: concurrent runs never see half a file
        except OSError:
            pass  # the cache is an optimisation; a read-only home must not fail the lint


def _ref_name(revision: str | None) -> str:
    return "ref-" + quote(revision or "main", safe="")


def facts_to_json(facts: BaseModelFacts) -> dict[str, Any]:
    data = dataclasses.asdict(facts)
    data["shapes"] = {k: list(v) for k, v in facts.shapes.items()}
    data["tokenizer_added_tokens"] = {str(k): v for k, v in facts.tokenizer_added_tokens.items()}
    return data


def facts_from_json(data: dict[str, Any]) -> BaseModelFacts:
    data = dict(data)
    data["shapes"] = {k: tuple(v) for k, v in data["shapes"].items()}
    data["tokenizer_added_tokens"] = {int(k): v for k, v in data["tokenizer_added_tokens"].items()}
    return BaseModelFacts(**data)
