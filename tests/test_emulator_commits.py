"""The emulator's commit, pull-request and organization endpoints, driven by the real huggingface_hub client."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from hublint.emulator.samples import CLEAN_ADAPTER
from hublint.emulator.server import Emulator
from hublint.hub import HubClient
from hublint.hub.discussions import HubDiscussions


def api(emulator: Emulator, token: str | None) -> HfApi:
    return HfApi(endpoint=emulator.url, token=token or False)


def test_create_commit_with_create_pr_opens_a_pull_request_served_at_its_ref(emulator: Emulator, tmp_path: Path):
    before = hf_hub_download(CLEAN_ADAPTER, "adapter_config.json", endpoint=emulator.url, cache_dir=tmp_path / "a")
    config = json.loads(Path(before).read_text())
    config["base_model_name_or_path"] = "org/fixed"
    readme = "---\nbase_model: org/fixed\n---\n# Card\n"
    info = api(emulator, "hf_bob").create_commit(
        CLEAN_ADAPTER,
        [
            CommitOperationAdd("adapter_config.json", json.dumps(config).encode()),
            CommitOperationAdd("README.md", readme.encode()),
        ],
        commit_message="[bot] Name the base model",
        commit_description="Why, and how to opt out.",
        create_pr=True,
    )
    assert info.pr_num is not None and info.pr_revision == f"refs/pr/{info.pr_num}"
    assert info.pr_url.endswith(f"/{CLEAN_ADAPTER}/discussions/{info.pr_num}")

    details = api(emulator, None).get_discussion_details(CLEAN_ADAPTER, info.pr_num)
    assert details.is_pull_request and details.author == "bob" and details.title == "[bot] Name the base model"
    assert details.events[0].content == "Why, and how to opt out."

    at_pr = hf_hub_download(
        CLEAN_ADAPTER, "adapter_config.json", revision=info.pr_revision, endpoint=emulator.url, cache_dir=tmp_path / "b"
    )
    assert json.loads(Path(at_pr).read_text())["base_model_name_or_path"] == "org/fixed"
    on_main = hf_hub_download(CLEAN_ADAPTER, "adapter_config.json", endpoint=emulator.url, cache_dir=tmp_path / "c")
    assert json.loads(Path(on_main).read_text()) == json.loads(Path(before).read_text())  # main is untouched


def test_commits_need_a_token_and_a_non_owner_cannot_push_to_main(emulator: Emulator):
    operation = [CommitOperationAdd("notes.txt", b"hello")]
    with pytest.raises(HfHubHTTPError) as anonymous:
        api(emulator, None).create_commit(CLEAN_ADAPTER, operation, commit_message="x", create_pr=True)
    assert anonymous.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as stranger:
        api(emulator, "hf_bob").create_commit(
            CLEAN_ADAPTER, [CommitOperationAdd("notes.txt", b"hi")], commit_message="x"
        )
    assert stranger.value.response.status_code == 403


def test_invalid_readme_metadata_is_refused_before_any_upload(emulator: Emulator):
    operation = [CommitOperationAdd("README.md", b"---\n- just\n- a list\n---\n")]
    with pytest.raises(ValueError, match="Invalid metadata"):
        api(emulator, "hf_bob").create_commit(CLEAN_ADAPTER, operation, commit_message="x", create_pr=True)


def test_organization_members_and_whoami_orgs(hub_root: Path, hub_tokens: dict[str, str]):
    with Emulator(hub_root, tokens=hub_tokens, orgs={"acme": ["alice"]}) as emu:
        assert [user.username for user in api(emu, None).list_organization_members("acme")] == ["alice"]
        assert [org["name"] for org in api(emu, "hf_alice").whoami()["orgs"]] == ["acme"]
        assert api(emu, "hf_bob").whoami()["orgs"] == []
        with pytest.raises(HfHubHTTPError):
            list(api(emu, None).list_organization_members("nobody"))


def test_organization_members_come_in_pages_that_both_clients_follow(hub_root: Path, hub_tokens: dict[str, str]):
    members = [f"member-{n:03d}" for n in range(250)]
    with Emulator(hub_root, tokens=hub_tokens, orgs={"big-org": members}) as emu:
        first = httpx2.get(f"{emu.url}/api/organizations/big-org/members")
        assert len(first.json()) == 100 and first.links["next"]["url"].startswith(emu.url)
        assert set(first.json()[0]) == {"user", "fullname", "avatarUrl", "type", "isPro"}  # what `User` reads
        assert [user.username for user in api(emu, None).list_organization_members("big-org")] == members
        with HubClient(emu.url, token=False) as client:
            assert HubDiscussions(client).members("big-org") == frozenset(members)  # the last page's too
            assert client.stats.http_requests == 3


@pytest.mark.parametrize("path", ["../escape.txt", ".hub.json", ".git/config", "a//b"])
def test_a_commit_cannot_write_outside_the_repo_or_its_settings(emulator: Emulator, path: str):
    """huggingface_hub refuses some of these itself; any other client's NDJSON meets the server's check."""
    lines = [
        {"key": "header", "value": {"summary": "x", "description": ""}},
        {"key": "file", "value": {"content": base64.b64encode(b"x").decode(), "path": path, "encoding": "base64"}},
    ]
    response = httpx2.post(
        f"{emulator.url}/api/models/{CLEAN_ADAPTER}/commit/main",
        params={"create_pr": "1"},
        headers={"Authorization": "Bearer hf_bob", "Content-Type": "application/x-ndjson"},
        content=b"".join(json.dumps(line).encode() + b"\n" for line in lines),
    )
    assert response.status_code == 400 and "Invalid path" in response.json()["error"]
