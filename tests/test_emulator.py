"""The Hub emulator, driven over HTTP by the real huggingface_hub client."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import (
    BadRequestError,
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import get_session, parse_ratelimit_headers

from hublint.emulator.faults import Hostile
from hublint.emulator.samples import (
    BASE_7B,
    CLEAN_ADAPTER,
    PADDED_ADAPTER,
    SEED_ADAPTER,
    TINY_BASE,
    build_samples,
    write_safetensors,
)
from hublint.emulator.server import Emulator, Faults

LLAMA2_7B_PARAMETERS = 6_738_415_616


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def write_settings(root: Path, repo_id: str, **settings: object) -> None:
    (root / repo_id / ".hub.json").write_text(json.dumps(settings))


def make_repo(root: Path, repo_id: str, files: dict[str, str], **settings: object) -> None:
    for name, content in files.items():
        path = root / repo_id / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    if settings:
        write_settings(root, repo_id, **settings)


def api(emulator: Emulator, token: str | bool = False) -> HfApi:
    return HfApi(endpoint=emulator.url, token=token)


# -- model info -----------------------------------------------------------------------------------------------------


def test_model_info_reports_sha_siblings_with_blobs_and_card(emulator: Emulator, hub_root: Path) -> None:
    info = api(emulator).model_info(SEED_ADAPTER, files_metadata=True)

    assert len(info.sha) == 40
    assert info.library_name == "peft"
    assert "peft" in info.tags
    assert info.card_data.base_model == BASE_7B
    siblings = {sibling.rfilename: sibling for sibling in info.siblings}
    assert set(siblings) == {
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "special_tokens_map.json",
        "tokenizer_config.json",
    }
    config_bytes = (hub_root / SEED_ADAPTER / "adapter_config.json").read_bytes()
    assert siblings["adapter_config.json"].size == len(config_bytes)
    assert siblings["adapter_config.json"].blob_id == git_blob_id(config_bytes)
    assert siblings["adapter_config.json"].lfs is None
    weights = siblings["adapter_model.safetensors"]
    assert weights.size == (hub_root / SEED_ADAPTER / "adapter_model.safetensors").stat().st_size > 2 * 10**9
    assert weights.lfs is not None and weights.lfs.size == weights.size and len(weights.lfs.sha256) == 64


def test_sha_follows_the_files_and_old_revisions_disappear(emulator: Emulator, hub_root: Path) -> None:
    client = api(emulator)
    before = client.model_info(CLEAN_ADAPTER).sha
    assert client.model_info(CLEAN_ADAPTER, revision=before).sha == before

    (hub_root / CLEAN_ADAPTER / "notes.txt").write_text("a new file")
    after = client.model_info(CLEAN_ADAPTER)

    assert after.sha != before
    assert "notes.txt" in {sibling.rfilename for sibling in after.siblings}
    with pytest.raises(RevisionNotFoundError):
        client.model_info(CLEAN_ADAPTER, revision=before)


def test_settings_file_is_not_a_repo_file_and_sets_hub_properties(emulator: Emulator, hub_root: Path) -> None:
    write_settings(hub_root, CLEAN_ADAPTER, gated="manual", tags=["custom"], lastModified="2024-01-02T03:04:05Z")

    info = api(emulator).model_info(CLEAN_ADAPTER)

    assert ".hub.json" not in {sibling.rfilename for sibling in info.siblings}
    assert info.gated == "manual"
    assert {"custom", "peft"} <= set(info.tags)
    assert info.last_modified.isoformat() == "2024-01-02T03:04:05+00:00"


def test_expand_returns_only_the_requested_properties(emulator: Emulator) -> None:
    info = api(emulator).model_info(BASE_7B, expand=["sha", "safetensors"])

    assert len(info.sha) == 40
    assert info.safetensors.total == LLAMA2_7B_PARAMETERS
    assert info.safetensors.parameters == {"BF16": LLAMA2_7B_PARAMETERS}
    assert info.siblings is None and info.tags is None and info.private is None


def test_unknown_expand_property_is_a_bad_request(emulator: Emulator) -> None:
    with pytest.raises(BadRequestError, match="expand"):
        api(emulator).model_info(BASE_7B, expand=["lastmodified"])


# -- listing --------------------------------------------------------------------------------------------------------


def test_list_models_follows_link_pagination_in_last_modified_order(hub_root: Path, hub_tokens: dict) -> None:
    for day, repo_id in enumerate([SEED_ADAPTER, PADDED_ADAPTER, CLEAN_ADAPTER], start=1):
        write_settings(hub_root, repo_id, lastModified=f"2024-05-0{day}T00:00:00Z")

    with Emulator(hub_root, tokens=hub_tokens, page_size=2) as emulator:
        models = list(api(emulator).list_models(filter="peft", expand=["sha", "lastModified", "siblings"]))
        pages = emulator.stats()["requests"]["list_models"]

    assert [model.id for model in models] == [CLEAN_ADAPTER, PADDED_ADAPTER, SEED_ADAPTER]
    assert pages == 2
    assert all(len(model.sha) == 40 for model in models)
    # As on the Hub (huggingface_hub issue #1814): listed siblings are names only, even when expanded.
    weights = next(s for s in models[0].siblings if s.rfilename == "adapter_model.safetensors")
    assert (weights.size, weights.blob_id, weights.lfs) == (None, None, None)


def test_listing_siblings_carry_rfilename_only_on_the_wire(hub_root: Path) -> None:
    with Emulator(hub_root) as emulator:
        params = {"filter": "peft", "expand[]": ["siblings", "sha"], "blobs": "true", "full": "true"}
        listed = get_session().get(f"{emulator.url}/api/models", params=params).json()

    assert listed and all(set(sibling) == {"rfilename"} for entry in listed for sibling in entry["siblings"])


def test_model_info_sibling_details_only_with_blobs(hub_root: Path) -> None:
    """The stingier reading of the Hub: `expand=siblings` alone gives names; `blobs=true` adds size, blobId, lfs."""
    with Emulator(hub_root) as emulator:
        url = f"{emulator.url}/api/models/{SEED_ADAPTER}"
        plain = get_session().get(url).json()["siblings"]
        expanded = get_session().get(url, params={"expand": "siblings"}).json()["siblings"]
        detailed = get_session().get(url, params={"blobs": "true"}).json()["siblings"]

    assert all(set(sibling) == {"rfilename"} for sibling in plain + expanded)
    weights = next(s for s in detailed if s["rfilename"] == "adapter_model.safetensors")
    assert set(weights) == {"rfilename", "size", "blobId", "lfs"}
    assert set(weights["lfs"]) == {"size", "sha256", "pointerSize"}
    config = next(s for s in detailed if s["rfilename"] == "adapter_config.json")
    assert set(config) == {"rfilename", "size", "blobId"}


def test_listing_link_points_back_at_the_emulator_with_total_count(hub_root: Path) -> None:
    with Emulator(hub_root, page_size=2) as emulator:
        response = get_session().get(f"{emulator.url}/api/models", params={"limit": 1})
        url = emulator.url

    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "5"
    assert response.links["next"]["url"].startswith(f"{url}/api/models?")
    assert len(response.json()) == 1


def test_list_models_filters_by_author_and_search_and_hides_private_repos(emulator: Emulator, hub_root: Path) -> None:
    write_settings(hub_root, PADDED_ADAPTER, private=True)

    anonymous = {model.id for model in api(emulator).list_models(author="demo-user")}
    as_owner = {model.id for model in api(emulator, "hf_demo_user").list_models(author="demo-user")}
    searched = [model.id for model in api(emulator).list_models(search="llama-2")]

    assert anonymous == {SEED_ADAPTER, CLEAN_ADAPTER}
    assert as_owner == {SEED_ADAPTER, PADDED_ADAPTER, CLEAN_ADAPTER}
    assert searched == [BASE_7B]


def test_new_repos_show_up_on_the_next_request(emulator: Emulator, hub_root: Path) -> None:
    make_repo(hub_root, "carol/fresh", {"adapter_config.json": "{}"})

    assert "carol/fresh" in {model.id for model in api(emulator).list_models(filter="peft")}


# -- files ----------------------------------------------------------------------------------------------------------


def test_hf_hub_download_heads_then_gets_into_the_cache(emulator: Emulator, hub_root: Path, tmp_path: Path) -> None:
    path = hf_hub_download(
        SEED_ADAPTER, "adapter_config.json", endpoint=emulator.url, cache_dir=tmp_path / "cache", token=False
    )

    expected = (hub_root / SEED_ADAPTER / "adapter_config.json").read_bytes()
    assert Path(path).read_bytes() == expected
    assert json.loads(expected)["r"] == 1024
    requests = emulator.stats()["requests"]
    assert requests["resolve_head"] == 1 and requests["resolve_get"] == 1


def test_parse_safetensors_file_metadata_reads_only_the_header(emulator: Emulator) -> None:
    metadata = api(emulator).parse_safetensors_file_metadata(SEED_ADAPTER, "adapter_model.safetensors")

    assert metadata.metadata == {"format": "pt"}
    assert metadata.tensors["base_model.model.model.embed_tokens.weight"].shape == [33004, 4096]
    assert metadata.tensors["base_model.model.lm_head.weight"].shape == [33004, 4096]
    assert metadata.tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"].shape == [1024, 4096]
    assert metadata.tensors["base_model.model.model.layers.31.self_attn.o_proj.lora_B.weight"].shape == [4096, 1024]
    assert emulator.stats()["bytes_sent"] <= 100_001


def test_get_safetensors_metadata_reads_the_sharded_base(emulator: Emulator) -> None:
    metadata = api(emulator).get_safetensors_metadata(BASE_7B)

    assert metadata.sharded
    assert set(metadata.files_metadata) == {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
    assert metadata.parameter_count == {"BF16": LLAMA2_7B_PARAMETERS}
    assert metadata.weight_map["lm_head.weight"] == "model-00002-of-00002.safetensors"
    assert metadata.metadata == {"total_size": 2 * LLAMA2_7B_PARAMETERS}


def test_resolve_serves_ranges_and_lfs_headers(emulator: Emulator, hub_root: Path) -> None:
    url = f"{emulator.url}/{SEED_ADAPTER}/resolve/main/adapter_model.safetensors"
    size = (hub_root / SEED_ADAPTER / "adapter_model.safetensors").stat().st_size
    session = get_session()

    head = session.head(url)
    first = session.get(url, headers={"Range": "bytes=0-7"})
    tail = session.get(url, headers={"Range": "bytes=-4"})
    past_end = session.get(url, headers={"Range": f"bytes={size}-"})

    assert head.status_code == 200
    assert head.headers["X-Linked-Size"] == head.headers["Content-Length"] == str(size)
    assert head.headers["ETag"] == head.headers["X-Linked-Etag"] and len(head.headers["ETag"].strip('"')) == 64
    assert head.headers["Accept-Ranges"] == "bytes"
    assert not [name for name in head.headers if name.lower().startswith("x-xet")]
    assert first.status_code == 206
    assert first.headers["Content-Range"] == f"bytes 0-7/{size}"
    assert int.from_bytes(first.content, "little") % 8 == 0  # the padded header length
    assert tail.status_code == 206 and tail.content == b"\0\0\0\0"
    assert tail.headers["Content-Range"] == f"bytes {size - 4}-{size - 1}/{size}"
    assert past_end.status_code == 416
    assert past_end.headers["Content-Range"] == f"bytes */{size}"


def test_resolve_cannot_escape_the_repo(emulator: Emulator, hub_root: Path) -> None:
    (hub_root / "secret.txt").write_text("not a repo file")

    response = get_session().get(f"{emulator.url}/{SEED_ADAPTER}/resolve/main/..%2F..%2Fsecret.txt")

    assert response.status_code == 404
    assert response.headers["X-Error-Code"] == "EntryNotFound"


def test_list_repo_tree_lists_folders_recursively_and_paginates(hub_root: Path) -> None:
    make_repo(hub_root, "carol/nested", {"README.md": "# hi", "sub/dir/a.json": "{}", "sub/b.json": "[]"})

    with Emulator(hub_root, page_size=2) as emulator:
        client = api(emulator)
        top = {entry.path: type(entry).__name__ for entry in client.list_repo_tree("carol/nested")}
        everything = [entry.path for entry in client.list_repo_tree("carol/nested", recursive=True)]
        inside = [entry.path for entry in client.list_repo_tree("carol/nested", path_in_repo="sub/dir")]
        with pytest.raises(EntryNotFoundError):
            list(client.list_repo_tree("carol/nested", path_in_repo="missing"))

    assert top == {"README.md": "RepoFile", "sub": "RepoFolder"}
    assert everything == ["README.md", "sub", "sub/b.json", "sub/dir", "sub/dir/a.json"]
    assert inside == ["sub/dir/a.json"]


def test_tree_reports_lfs_files(emulator: Emulator) -> None:
    files = {entry.path: entry for entry in api(emulator).list_repo_tree(BASE_7B)}

    shard = files["model-00002-of-00002.safetensors"]
    assert shard.lfs is not None and shard.lfs.size == shard.size > 3 * 10**9
    assert files["config.json"].lfs is None


# -- errors and access ----------------------------------------------------------------------------------------------


def test_missing_repo_file_and_revision_map_to_client_errors(emulator: Emulator, tmp_path: Path) -> None:
    client = api(emulator)
    cache = tmp_path / "cache"

    with pytest.raises(RepositoryNotFoundError):
        client.model_info("nobody/nothing")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("nobody/nothing", "config.json", endpoint=emulator.url, cache_dir=cache, token=False)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(BASE_7B, "missing.json", endpoint=emulator.url, cache_dir=cache, token=False)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(BASE_7B, "config.json", revision="v9", endpoint=emulator.url, cache_dir=cache, token=False)


def test_gated_repo_metadata_is_public_but_files_need_access(
    emulator: Emulator, hub_root: Path, tmp_path: Path
) -> None:
    write_settings(hub_root, BASE_7B, gated="manual", allowed_users=["alice"])
    cache = tmp_path / "cache"

    assert api(emulator).model_info(BASE_7B).gated == "manual"
    with pytest.raises(GatedRepoError):
        hf_hub_download(BASE_7B, "config.json", endpoint=emulator.url, cache_dir=cache, token=False)
    with pytest.raises(GatedRepoError):
        hf_hub_download(BASE_7B, "config.json", endpoint=emulator.url, cache_dir=cache, token="hf_bob")
    path = hf_hub_download(BASE_7B, "config.json", endpoint=emulator.url, cache_dir=cache, token="hf_alice")
    assert json.loads(Path(path).read_text())["vocab_size"] == 32000


def test_private_repo_is_invisible_except_to_its_owner(emulator: Emulator, hub_root: Path) -> None:
    write_settings(hub_root, CLEAN_ADAPTER, private=True)

    with pytest.raises(RepositoryNotFoundError):
        api(emulator).model_info(CLEAN_ADAPTER)
    with pytest.raises(RepositoryNotFoundError):
        api(emulator, "hf_bob").model_info(CLEAN_ADAPTER)
    assert api(emulator, "hf_demo_user").model_info(CLEAN_ADAPTER).private is True


def test_a_broken_settings_file_is_a_readable_server_error(emulator: Emulator, hub_root: Path) -> None:
    (hub_root / CLEAN_ADAPTER / ".hub.json").write_text("{not json")

    with pytest.raises(HfHubHTTPError, match="Emulator error") as raised:
        api(emulator).model_info(CLEAN_ADAPTER)

    assert raised.value.response.status_code == 500


def test_invalid_token_is_rejected_and_whoami_names_the_user(emulator: Emulator) -> None:
    with pytest.raises(HfHubHTTPError, match="Invalid credentials") as raised:
        api(emulator, "hf_wrong").model_info(BASE_7B)

    assert not isinstance(raised.value, RepositoryNotFoundError)
    assert raised.value.response.status_code == 401
    assert api(emulator, "hf_alice").whoami()["name"] == "alice"


# -- discussions ----------------------------------------------------------------------------------------------------


def test_discussion_lifecycle_with_the_real_client(emulator: Emulator) -> None:
    bot = api(emulator, "hf_alice")
    created = bot.create_discussion(SEED_ADAPTER, "[bot] Loading fails", description="Resize to 33004 rows first.")
    api(emulator, "hf_bob").create_discussion(SEED_ADAPTER, "Another question")

    assert created.num == 1 and created.status == "open" and created.author == "alice"
    assert created.events[0].content == "Resize to 33004 rows first."
    by_alice = list(bot.get_repo_discussions(SEED_ADAPTER, author="alice"))
    assert [(d.num, d.title) for d in by_alice] == [(1, "[bot] Loading fails")]
    assert [d.num for d in bot.get_repo_discussions(SEED_ADAPTER)] == [2, 1]

    comment = bot.comment_discussion(SEED_ADAPTER, 1, "Updated findings.")
    closed = bot.change_discussion_status(SEED_ADAPTER, 1, "closed", comment="Closing.")

    assert comment.content == "Updated findings." and comment.author == "alice"
    assert closed.new_status == "closed"
    details = bot.get_discussion_details(SEED_ADAPTER, 1)
    assert details.status == "closed"
    assert [event.type for event in details.events] == ["comment", "comment", "comment", "status-change"]
    assert [d.num for d in bot.get_repo_discussions(SEED_ADAPTER, discussion_status="open")] == [2]


def test_discussion_listing_pages_by_fifty(emulator: Emulator) -> None:
    client = api(emulator, "hf_alice")
    for number in range(52):
        client.create_discussion(TINY_BASE, f"Question {number}")
    emulator.reset_stats()

    listed = [discussion.num for discussion in client.get_repo_discussions(TINY_BASE)]

    assert listed == list(range(52, 0, -1))
    assert emulator.stats()["requests"] == {"discussions": 2}


def test_discussions_survive_a_restart(hub_root: Path, hub_tokens: dict) -> None:
    with Emulator(hub_root, tokens=hub_tokens) as emulator:
        api(emulator, "hf_alice").create_discussion(CLEAN_ADAPTER, "Persisted")

    with Emulator(hub_root, tokens=hub_tokens) as emulator:
        titles = [d.title for d in api(emulator).get_repo_discussions(CLEAN_ADAPTER)]

    assert titles == ["Persisted"]
    assert (hub_root / ".emulator" / "discussions" / "demo-user" / "llama2-clean-lora.json").is_file()


def test_discussion_status_belongs_to_its_author_and_the_repo_owner(emulator: Emulator) -> None:
    api(emulator, "hf_alice").create_discussion(CLEAN_ADAPTER, "Question")

    with pytest.raises(HfHubHTTPError) as raised:
        api(emulator, "hf_bob").change_discussion_status(CLEAN_ADAPTER, 1, "closed")
    assert raised.value.response.status_code == 403
    assert api(emulator, "hf_demo_user").change_discussion_status(CLEAN_ADAPTER, 1, "closed").new_status == "closed"


def test_disabled_discussions_and_anonymous_writes_are_refused(emulator: Emulator, hub_root: Path) -> None:
    write_settings(hub_root, SEED_ADAPTER, discussions_disabled=True)

    with pytest.raises(HfHubHTTPError, match="Discussions are disabled") as disabled:
        api(emulator, "hf_alice").create_discussion(SEED_ADAPTER, "[bot] hello")
    with pytest.raises(HfHubHTTPError) as anonymous:
        api(emulator).create_discussion(CLEAN_ADAPTER, "hello")

    assert disabled.value.response.status_code == 403
    assert anonymous.value.response.status_code == 401
    assert list(api(emulator).get_repo_discussions(SEED_ADAPTER)) == []


def test_a_disabled_repo_refuses_its_metadata_and_tree_as_huggingface_hub_documents(
    emulator: Emulator, hub_root: Path
) -> None:
    """The stingier answer: hfh's `DisabledRepoError` docstring shows `dataset_info` on a disabled repo getting 403,
    so model info and tree answer as files do; the listing still names the repo, flagged."""
    write_settings(hub_root, SEED_ADAPTER, disabled=True)
    with pytest.raises(DisabledRepoError):
        api(emulator).model_info(SEED_ADAPTER)
    with pytest.raises(DisabledRepoError):
        list(api(emulator).list_repo_tree(SEED_ADAPTER))
    listed = {m.id: m for m in api(emulator).list_models(author=SEED_ADAPTER.split("/")[0], full=True)}
    assert listed[SEED_ADAPTER].disabled is True


def test_pull_request_refs_resolve_as_revisions(emulator: Emulator) -> None:
    client = api(emulator, "hf_alice")
    pull_request = client.create_pull_request(TINY_BASE, "Add a file")

    assert pull_request.is_pull_request and pull_request.status == "draft"
    assert client.model_info(TINY_BASE, revision=pull_request.git_reference).id == TINY_BASE
    with pytest.raises(RevisionNotFoundError):
        client.model_info(TINY_BASE, revision="refs/pr/9")


# -- faults ---------------------------------------------------------------------------------------------------------


def test_rate_limit_headers_and_429_per_bucket(emulator: Emulator) -> None:
    emulator.set_faults(Faults(rate_limit=(2, 60)))
    session = get_session()
    info_url = f"{emulator.url}/api/models/{BASE_7B}"

    first, second = session.get(info_url), session.get(info_url)
    with pytest.raises(HfHubHTTPError, match="rate limit") as raised:
        api(emulator).model_info(BASE_7B)
    file_head = session.head(f"{emulator.url}/{BASE_7B}/resolve/main/config.json")

    assert parse_ratelimit_headers(first.headers).remaining == 1
    assert parse_ratelimit_headers(second.headers).remaining == 0
    limited = raised.value.response
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    info = parse_ratelimit_headers(limited.headers)
    assert (info.resource_type, info.remaining, info.limit, info.window_seconds) == ("api", 0, 2, 60)
    assert file_head.status_code == 200
    assert parse_ratelimit_headers(file_head.headers).resource_type == "resolvers"


def test_rate_limit_window_resets(emulator: Emulator) -> None:
    emulator.set_faults(Faults(rate_limit=(1, 1)))
    client = api(emulator)
    client.model_info(BASE_7B)
    with pytest.raises(HfHubHTTPError):
        client.model_info(BASE_7B)

    time.sleep(1.05)

    assert client.model_info(BASE_7B).id == BASE_7B


def test_injected_server_errors_are_seeded(emulator: Emulator) -> None:
    def statuses() -> list[int]:
        emulator.set_faults(Faults(error_rate=0.5, seed=7))
        return [get_session().get(f"{emulator.url}/api/models/{BASE_7B}").status_code for _ in range(20)]

    first_run = statuses()

    assert first_run == statuses()
    assert set(first_run) - {200} <= {500, 502, 503} and 200 in first_run and len(set(first_run)) > 1
    emulator.set_faults(Faults(error_rate=1.0))
    with pytest.raises(HfHubHTTPError) as raised:
        api(emulator).model_info(BASE_7B)
    assert raised.value.response.status_code in (500, 502, 503)


def test_latency_is_added_to_every_request(emulator: Emulator) -> None:
    emulator.set_faults(Faults(latency=0.2))

    started = time.perf_counter()
    api(emulator).model_info(BASE_7B)

    assert time.perf_counter() - started >= 0.2


def test_admin_endpoints_change_faults_and_reset_stats(emulator: Emulator) -> None:
    session = get_session()
    api(emulator).model_info(BASE_7B)

    stats = session.get(f"{emulator.url}/_emulator/stats").json()
    configured = session.post(f"{emulator.url}/_emulator/config", json={"error_rate": 1.0, "seed": 3})
    failing = session.get(f"{emulator.url}/api/models/{BASE_7B}")
    session.post(f"{emulator.url}/_emulator/config", json={"error_rate": 0.0})
    reset = session.post(f"{emulator.url}/_emulator/reset-stats").json()

    assert stats["requests"] == {"model_info": 1} and stats["bytes_sent"] > 0
    assert configured.json()["faults"] == {
        "latency": 0.0,
        "error_rate": 1.0,
        "rate_limit": None,
        "seed": 3,
        "hostile": [],
    }
    assert failing.status_code >= 500
    assert reset["total_requests"] == 0 and emulator.stats()["total_requests"] == 0


# -- samples and the command line -----------------------------------------------------------------------------------


def test_write_safetensors_is_valid_for_the_safetensors_library(tmp_path: Path) -> None:
    safetensors = pytest.importorskip("safetensors")
    path = tmp_path / "t.safetensors"

    write_safetensors(path, {"b": ("F32", [2, 3]), "a": ("BF16", [5])}, {"format": "pt"})

    header_length = int.from_bytes(path.read_bytes()[:8], "little")
    assert header_length % 8 == 0
    assert path.stat().st_size == 8 + header_length + 2 * 3 * 4 + 5 * 2
    with safetensors.safe_open(path, framework="numpy") as opened:
        assert opened.metadata() == {"format": "pt"}
        assert opened.get_slice("b").get_shape() == [2, 3]


def test_samples_are_sparse_and_shaped_like_the_seed_case(tmp_path: Path) -> None:
    adapters = build_samples(tmp_path)

    assert adapters == [SEED_ADAPTER, PADDED_ADAPTER, CLEAN_ADAPTER]
    shard = tmp_path / BASE_7B / "model-00001-of-00002.safetensors"
    assert shard.stat().st_blocks * 512 < shard.stat().st_size / 1000
    config = json.loads((tmp_path / SEED_ADAPTER / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["peft_type"]) == (1024, 2048, "LORA")
    tokenizer = json.loads((tmp_path / PADDED_ADAPTER / "tokenizer_config.json").read_text())
    assert max(int(index) for index in tokenizer["added_tokens_decoder"]) == 329


@pytest.mark.peft
def test_sample_adapter_config_has_the_keys_installed_peft_writes(tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    build_samples(tmp_path)
    ours = json.loads((tmp_path / SEED_ADAPTER / "adapter_config.json").read_text())

    config = peft.LoraConfig.from_pretrained(tmp_path / SEED_ADAPTER)
    config.save_pretrained(tmp_path / "resaved")
    resaved = json.loads((tmp_path / "resaved" / "adapter_config.json").read_text())

    assert set(resaved) == set(ours)
    assert (config.r, config.lora_alpha, config.modules_to_save) == (1024, 2048, ["lm_head", "embed_tokens"])


def test_command_line_serves_a_directory(hub_root: Path) -> None:
    repo_root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "hublint.emulator", "--root", str(hub_root), "--port", "0", "--token", "hf_x=xavier"],
        cwd=repo_root,
        env={**os.environ, "PYTHONPATH": str(repo_root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert HfApi(endpoint=url, token="hf_x").whoami()["name"] == "xavier"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_hublint_emulator_command_serves_a_directory(tmp_path: Path) -> None:
    """`python -m hublint.emulator` (= `hublint emulator`) prints its URL and serves the sample repos over HTTP."""
    import json
    import subprocess
    import sys
    import urllib.request

    command = [sys.executable, "-m", "hublint.emulator", "--root", str(tmp_path / "hub"), "--samples"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        with urllib.request.urlopen(f"{url}/api/models?filter=peft", timeout=10) as response:
            ids = {model["id"] for model in json.load(response)}
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert "demo-user/llama2-chat-extended-r1024" in ids


# -- hostile mode ---------------------------------------------------------------------------------------------------

CONFIG_URL = f"/{CLEAN_ADAPTER}/resolve/main/adapter_config.json"
WEIGHTS_URL = f"/{CLEAN_ADAPTER}/resolve/main/adapter_model.safetensors"


def test_hostile_status_answers_carry_retry_after_only_when_told(hostile_emulator) -> None:
    emulator = hostile_emulator(
        Hostile("*/adapter_config.json", "status", status=429, retry_after="7"),
        Hostile.for_repo(CLEAN_ADAPTER, "status", status=403),
    )
    limited = get_session().get(emulator.url + CONFIG_URL)
    forbidden = get_session().get(emulator.url + f"/api/models/{CLEAN_ADAPTER}")
    other = get_session().get(emulator.url + f"/api/models/{SEED_ADAPTER}")

    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
    assert forbidden.status_code == 403 and "Retry-After" not in forbidden.headers
    assert other.status_code == 200  # the rules touch their paths only


def test_hostile_html_error_redirect_loop_and_huge_json(hostile_emulator) -> None:
    emulator = hostile_emulator(
        Hostile(f"/api/models/{SEED_ADAPTER}", "html_error", status=502),
        Hostile(CONFIG_URL, "redirect_loop"),
        Hostile(f"/api/models/{CLEAN_ADAPTER}", "huge_json", size=3_000_000),
    )
    html = get_session().get(emulator.url + f"/api/models/{SEED_ADAPTER}")
    loop = get_session().get(emulator.url + CONFIG_URL + "?x=1", follow_redirects=False)
    huge = get_session().get(emulator.url + f"/api/models/{CLEAN_ADAPTER}")

    assert html.status_code == 502 and html.headers["Content-Type"] == "text/html" and b"<html>" in html.content
    assert (loop.status_code, loop.headers["Location"]) == (302, CONFIG_URL + "?x=1")
    assert huge.status_code == 200 and len(huge.content) >= 3_000_000 and "id" not in huge.json()


def test_hostile_ranges_lie_or_are_ignored(hostile_emulator, hub_root: Path) -> None:
    size = (hub_root / CLEAN_ADAPTER / "adapter_model.safetensors").stat().st_size
    lying = hostile_emulator(Hostile("*.safetensors", "wrong_content_range"))
    ignoring = hostile_emulator(Hostile("*.safetensors", "ignore_range"))
    wrong = get_session().get(lying.url + WEIGHTS_URL, headers={"Range": "bytes=0-99"})
    with get_session().stream("GET", ignoring.url + WEIGHTS_URL, headers={"Range": "bytes=0-99"}) as whole:
        status, length, first = whole.status_code, whole.headers["Content-Length"], next(whole.iter_bytes())

    assert wrong.status_code == 206 and len(wrong.content) == 100
    assert wrong.headers["Content-Range"] == f"bytes 16-115/{size // 2}"
    assert (status, int(length)) == (200, size) and len(first) > 100


def test_hostile_bodies_are_cut_short_or_trickle(hostile_emulator, hub_root: Path) -> None:
    config = (hub_root / CLEAN_ADAPTER / "adapter_config.json").read_bytes()
    cut = hostile_emulator(Hostile(CONFIG_URL, "truncate"))
    slow = hostile_emulator(Hostile(CONFIG_URL, "trickle", delay=0.05))
    with pytest.raises(httpx2.RemoteProtocolError):
        get_session().get(cut.url + CONFIG_URL)
    started = time.monotonic()
    trickled = get_session().get(slow.url + CONFIG_URL)
    seconds = time.monotonic() - started

    assert trickled.content == config
    assert seconds >= 0.05 * (len(config) // 64)  # 64 bytes per delay


def test_hostile_settings_travel_through_the_admin_endpoint(emulator: Emulator) -> None:
    rules = [{"path": "*/config.json", "mode": "status", "status": 404}]
    configured = get_session().post(f"{emulator.url}/_emulator/config", json={"hostile": rules})
    refused = get_session().post(f"{emulator.url}/_emulator/config", json={"hostile": [{"path": "*", "mode": "x"}]})
    missing = get_session().get(f"{emulator.url}/{BASE_7B}/resolve/main/config.json")

    assert configured.json()["faults"]["hostile"][0]["status"] == 404
    assert refused.status_code == 400 and "unknown hostile mode" in refused.json()["error"]
    assert missing.status_code == 404


HOSTILE_CASES = [
    pytest.param(Hostile.for_repo(CLEAN_ADAPTER, "status", status=401), id="adapter 401"),
    pytest.param(Hostile.for_repo(CLEAN_ADAPTER, "status", status=403), id="adapter 403"),
    pytest.param(Hostile.for_repo(CLEAN_ADAPTER, "status", status=404), id="adapter 404"),
    pytest.param(Hostile(CONFIG_URL, "status", status=429, retry_after="1"), id="config 429 with Retry-After"),
    pytest.param(Hostile(CONFIG_URL, "status", status=429), id="config 429 without Retry-After"),
    pytest.param(Hostile(CONFIG_URL, "status", status=429, retry_after="\u00b2"), id="config 429 junk Retry-After"),
    pytest.param(Hostile(f"/api/models/{CLEAN_ADAPTER}", "html_error", status=502), id="model info HTML 502"),
    pytest.param(Hostile(f"/api/models/{CLEAN_ADAPTER}", "html_error", status=404), id="model info HTML 404"),
    pytest.param(Hostile(f"/api/models/{CLEAN_ADAPTER}", "huge_json", size=30_000_000), id="model info huge JSON"),
    pytest.param(Hostile(CONFIG_URL, "huge_json"), id="config huge JSON"),
    pytest.param(Hostile(CONFIG_URL, "redirect_loop"), id="config redirect loop"),
    pytest.param(Hostile(CONFIG_URL, "truncate"), id="config truncated"),
    pytest.param(Hostile(CONFIG_URL, "trickle", delay=0.02), id="config trickled"),
    pytest.param(Hostile("*.safetensors", "wrong_content_range"), id="weights wrong Content-Range"),
    pytest.param(Hostile("*.safetensors", "ignore_range"), id="weights Range ignored"),
    pytest.param(Hostile("*.safetensors", "truncate"), id="weights truncated"),  # a retry after a mid-body error
    pytest.param(Hostile(f"/{BASE_7B}/resolve/*", "html_error", status=500), id="base config HTML 500"),
    pytest.param(Hostile.for_repo(BASE_7B, "status", status=403), id="base 403"),
]
HOSTILE_DEADLINE = 90.0  # seconds; the client's retries of a persistent 5xx/429 back off for up to ~15 s


@pytest.mark.parametrize("rule", HOSTILE_CASES)
def test_hublint_check_against_a_hostile_hub_gives_a_report_or_one_line(hostile_emulator, rule) -> None:
    """Whatever the server does: exit 0/1 with a report, or 2 with one line on stderr; no traceback, bounded time."""
    emulator = hostile_emulator(rule)
    command = [sys.executable, "-m", "hublint.cli", "check", CLEAN_ADAPTER, "--endpoint", emulator.url]
    started = time.monotonic()
    run = subprocess.run(
        [*command, "--no-cache", "--format", "json"], capture_output=True, text=True, timeout=HOSTILE_DEADLINE
    )
    assert time.monotonic() - started < HOSTILE_DEADLINE
    assert run.returncode in (0, 1, 2), run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in (run.stdout + run.stderr).lower()
    if run.returncode == 2:
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    else:  # strict JSON: a report
        assert json.loads(run.stdout)["results"][0]["target"] == CLEAN_ADAPTER


# -- malformed repos are served as they are -------------------------------------------------------------------------

MALFORMED_FILES: dict[str, bytes] = {
    "config.json": b'{"model_type": "llama", "vocab_size": ',
    "model.safetensors.index.json": b'{"weight_map": ["not", "a", "map"]}',
    "tokenizer_config.json": b"\xff\xfe not utf-8",
    "README.md": b"---\ntags: [unclosed\n---\n# card",
}
MALFORMED_HEADERS: dict[str, bytes] = {
    "a list": b"[1, 2, 3]",
    "bad shapes": b'{"w": {"dtype": "F32", "shape": ["a", 2], "data_offsets": [0, 0]}}',
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "not JSON": b"\x00\x01garbage",
}


@pytest.mark.parametrize("header", MALFORMED_HEADERS.values(), ids=MALFORMED_HEADERS.keys())
def test_a_malformed_base_is_served_byte_for_byte(hub_root: Path, header: bytes) -> None:
    """No 500 for what strangers push: model info leaves out what it cannot compute, files come back as on disk."""
    repo = hub_root / "broken" / "base"
    repo.mkdir(parents=True)
    files = {**MALFORMED_FILES, "model.safetensors": len(header).to_bytes(8, "little") + header}
    for name, content in files.items():
        (repo / name).write_bytes(content)

    with Emulator(hub_root) as emulator:
        info = get_session().get(f"{emulator.url}/api/models/broken/base", params={"blobs": "true"})
        listed = get_session().get(f"{emulator.url}/api/models", params={"search": "broken", "full": "true"})
        served = {name: get_session().get(f"{emulator.url}/broken/base/resolve/main/{name}") for name in files}

    assert info.status_code == 200 and listed.status_code == 200
    assert "safetensors" not in info.json() and "cardData" not in info.json()
    assert {name: (r.status_code, r.content) for name, r in served.items()} == {
        name: (200, content) for name, content in files.items()
    }


def test_hublint_check_of_an_adapter_on_a_malformed_base_reports_end_to_end(hub_root: Path) -> None:
    base = hub_root / "broken" / "base"
    base.mkdir(parents=True)
    for name, content in MALFORMED_FILES.items():
        (base / name).write_bytes(content)
    adapter = hub_root / "broken" / "adapter"
    shutil.copytree(hub_root / CLEAN_ADAPTER, adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "broken/base"}))

    with Emulator(hub_root) as emulator:
        command = [sys.executable, "-m", "hublint.cli", "check", "broken/adapter", "--endpoint", emulator.url]
        run = subprocess.run([*command, "--no-cache", "--format", "json"], capture_output=True, text=True, timeout=60)

    assert run.returncode in (0, 1, 2) and "Traceback" not in run.stderr, run.stderr
    assert "internal error" not in (run.stdout + run.stderr).lower()
    if run.returncode != 2:
        assert json.loads(run.stdout)["results"][0]["target"] == "broken/adapter"
