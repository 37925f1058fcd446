"""Shared fixtures. huggingface_hub reads its settings at import time, so they are set before any test imports it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Never send a real token to a local server, and keep downloads on plain HTTP (the emulator has no Xet CAS).
os.environ["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ.pop("HF_HUB_OFFLINE", None)

from hublint.emulator.faults import Faults, Hostile
from hublint.emulator.samples import build_samples
from hublint.emulator.server import Emulator


@pytest.fixture
def hub_tokens() -> dict[str, str]:
    """Bearer tokens the `emulator` fixture accepts, mapped to user names."""
    return {"hf_alice": "alice", "hf_bob": "bob", "hf_demo_user": "demo-user"}


@pytest.fixture
def hub_root(tmp_path: Path) -> Path:
    """A fresh repos directory holding the sample repos (sparse files: ~1 MB on disk)."""
    root = tmp_path / "hub"
    build_samples(root)
    return root


@pytest.fixture
def emulator(hub_root: Path, hub_tokens: dict[str, str]) -> Iterator[Emulator]:
    with Emulator(hub_root, tokens=hub_tokens) as emu:
        yield emu


@pytest.fixture
def hostile_emulator(hub_root: Path, hub_tokens: dict[str, str]) -> Iterator[Callable[..., Emulator]]:
    """Starts the sample Hub misbehaving as told, e.g. `hostile_emulator(Hostile("*/config.json", "truncate"))`;
    every emulator it started stops after the test (modes: `hublint.emulator.faults.HOSTILE_MODES`)."""
    started: list[Emulator] = []

    def start(*rules: Hostile) -> Emulator:
        started.append(Emulator(hub_root, tokens=hub_tokens, faults=Faults(hostile=rules)).start())
        return started[-1]

    yield start
    for emulator in started:
        emulator.stop()


GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens", action="store_true", help="rewrite tests/golden/ with the output of this run (then review)"
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """`golden(name, text)`: `text` must equal tests/golden/<name> byte for byte; `--update-goldens` rewrites it."""
    update = request.config.getoption("--update-goldens")

    def compare(name: str, text: str) -> None:
        path = GOLDEN_DIR / name
        if update:
            path.write_bytes(text.encode("utf-8"))
        assert path.exists(), f"no golden file {name}: run pytest --update-goldens, then review the new file"
        # Decoded, not read as text: no newline translation, so equal strings are equal bytes (and diffs readable).
        expected = path.read_bytes().decode("utf-8")
        assert text == expected, f"{name} differs from its golden file (pytest --update-goldens accepts the change)"

    return compare
