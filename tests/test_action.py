"""The GitHub Action, run the way a runner runs a composite action: action.yml is parsed, its `uses:` steps are
stood in for, its `run:` steps are executed by bash with the environment a runner sets (`GITHUB_OUTPUT`,
`GITHUB_STEP_SUMMARY`, `GITHUB_WORKSPACE`, `GITHUB_ACTION_PATH`, `RUNNER_TEMP`, the step's `env:`). The install step
really pip-installs the action's files into a venv, offline (no index: the dependencies come from this
interpreter's site-packages). Adapters are the emulator's samples (real safetensors headers, sparse data); their
bases, and the Hub copies of LFS pointers, are served by the Hub emulator; the pull request comment goes to
tests/fake_github.py through the real github3.py.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hublint.cli import main
from hublint.emulator import samples
from hublint.emulator.repos import lfs_pointer
from hublint.emulator.server import Emulator
from hublint.github import ACTIONS_BOT
from hublint.hub import HubClient
from tests.fake_github import FakeGitHub, Token

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
COMMAND = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$", re.M)
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
WEIGHTS = "adapter_model.safetensors"
REPO, PR_NUMBER = "owner/model", 7
TOKENS = {"ghs_write": Token(ACTIONS_BOT), "ghs_fork": Token(ACTIONS_BOT, write=False)}


@dataclass
class Job:
    """What the runner keeps of one run of the action."""

    exit_code: int
    outputs: dict[str, str]
    summary: str
    stdout: str
    stderr: str

    def annotations(self, level: str) -> list[tuple[dict[str, str], str]]:
        found = []
        for kind, properties, message in COMMAND.findall(self.stdout):
            if kind == level:
                pairs = (p.split("=", 1) for p in properties.split(",") if "=" in p)
                found.append(({k: _unescape(v) for k, v in pairs}, _unescape(message)))
        return found


class Runner:
    """Runs action.yml's steps one after another, as GitHub's runner does for a composite action in one job."""

    def __init__(self, action_path: Path, runner_temp: Path, env: dict[str, str]) -> None:
        self.action_path, self.runner_temp, self.env = action_path, runner_temp, env

    def run(self, workspace: Path, inputs: dict[str, str], env: dict[str, str], token: str = "") -> Job:
        github = {"token": token}  # what `${{ github.token }}` stands for
        declared = ACTION["inputs"].items()
        defaults = {name: _substitute(str(spec.get("default", "")), {"github": github}) for name, spec in declared}
        context: dict[str, Any] = {"inputs": {**defaults, **inputs}, "github": github, "steps": {}}
        code, stdout, stderr, summary = 0, "", "", ""
        for number, step in enumerate(ACTION["runs"]["steps"]):
            if "uses" in step:
                outputs = _stand_in(step)
            else:
                code, outputs, step_summary, out, err = self._run_step(number, step, workspace, context, env)
                stdout, stderr, summary = stdout + out, stderr + err, summary + step_summary
            context["steps"][step["id"]] = {"outputs": outputs}
            if code != 0:  # later steps have no `if: always()`: the runner skips them
                break
        outputs = {name: _substitute(spec["value"], context) for name, spec in ACTION["outputs"].items()}
        return Job(code, outputs, summary, stdout, stderr)

    def _run_step(
        self, number: int, step: dict[str, Any], workspace: Path, context: dict[str, Any], extra: dict[str, str]
    ) -> tuple[int, dict[str, str], str, str, str]:
        files = Path(tempfile.mkdtemp(prefix=f"step-{number}-", dir=self.runner_temp))
        script, output, summary = files / "script.sh", files / "output", files / "summary"
        script.write_text(step["run"], encoding="utf-8")
        output.touch()
        summary.touch()
        env = {
            **self.env,
            **extra,
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_ACTION_PATH": str(self.action_path),
            "RUNNER_TEMP": str(self.runner_temp),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            **{key: _substitute(str(value), context) for key, value in step.get("env", {}).items()},
        }
        assert step["shell"] == "bash"
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        outputs = _read_outputs(output.read_text(encoding="utf-8"))
        return done.returncode, outputs, summary.read_text(encoding="utf-8"), done.stdout, done.stderr


def _stand_in(step: dict[str, Any]) -> dict[str, str]:
    """The outputs of a nested action: only actions/setup-python, whose interpreter is this one."""
    assert step["uses"].startswith("actions/setup-python@"), step["uses"]
    return {"python-path": sys.executable, "python-version": platform.python_version()}


def _substitute(text: str, context: dict[str, Any]) -> str:
    """`${{ a.b.c }}` lookups, the only expressions action.yml uses. An unknown context fails the test; a missing
    property is an empty string, as on GitHub (the outputs of a step that did not run)."""

    def lookup(match: re.Match[str]) -> str:
        name, *path = match.group(1).split(".")
        value: Any = context[name]
        for part in path:
            value = value.get(part, "") if isinstance(value, dict) else ""
        return str(value)

    return EXPRESSION.sub(lookup, text)


def _read_outputs(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT as the runner reads `name=value` lines (the action writes no multi-line `name<<EOF` values)."""
    assert "<<" not in text
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def _unescape(text: str) -> str:
    for escaped, plain in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(escaped, plain)
    return text


# --- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = tmp_path_factory.mktemp("hub")
    samples.build_samples(root)
    with Emulator(root) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """The action as a runner downloads it (`_actions/OWNER/REPO/REF`), and one RUNNER_TEMP for the module's jobs."""
    action_path = tmp_path_factory.mktemp("_actions") / "hublint" / "hublint" / "main"
    skip = shutil.ignore_patterns(".git", "tests", "benchmarks", "__pycache__", ".*_cache", "*.egg-info", "build")
    shutil.copytree(ROOT, action_path, ignore=skip)
    home = tmp_path_factory.mktemp("home")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_SERVER_URL": "https://github.com",
        "HUBLINT_CACHE_DIR": str(home / "hublint-cache"),
        # Offline installs: no index; setuptools and every dependency come from this interpreter's site-packages.
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        **_setup_python_site(),
    }
    return Runner(action_path, tmp_path_factory.mktemp("runner-temp"), env)


def _setup_python_site() -> dict[str, str]:
    """setup-python's interpreter is a plain one whose site-packages hold pip, setuptools and, offline, hublint's
    dependencies. When the tests run in a virtualenv, this interpreter's packages live in the venv, and a
    `--system-site-packages` venv made from it sees the *base* interpreter's site-packages instead (which may lack
    them, or hold an old setuptools). PYTHONPATH stands the venv's site-packages in as the stand-in's own."""
    if sys.prefix == sys.base_prefix:
        return {}
    return {"PYTHONPATH": os.pathsep.join(site.getsitepackages())}


def checkout(tmp_path: Path, repo_id: str, *, lfs_oid: str | None = None) -> Path:
    """A model repo's checkout holding one sample adapter; with `lfs_oid`, its weights are a Git LFS pointer."""
    builders = {samples.SEED_ADAPTER: samples.build_seed_adapter, samples.CLEAN_ADAPTER: samples.build_clean_adapter}
    builders[repo_id](tmp_path / "checkout")
    workspace = tmp_path / "checkout" / repo_id
    if lfs_oid is not None:
        weights = workspace / WEIGHTS
        weights.write_bytes(lfs_pointer(lfs_oid, weights.stat().st_size))
    return workspace


def hub_oid(hub: Emulator, repo_id: str) -> str:
    with HubClient(hub.url, token=False) as client:
        oid = client.open_repo(repo_id).files[WEIGHTS].lfs_sha256
    assert oid is not None
    return oid


def lint(runner: Runner, hub: Emulator, workspace: Path, event: Event | None = None, **inputs: str) -> Job:
    env, token = (event.env, event.token) if event is not None else ({}, "")
    return runner.run(workspace, {"endpoint": hub.url, **inputs}, env, token)


# --- action.yml itself --------------------------------------------------------------------------------------------


def test_metadata_inputs_outputs_and_pins() -> None:
    assert ACTION["runs"]["using"] == "composite" and set(ACTION["branding"]) == {"icon", "color"}
    expected = {"path", "fail-on", "sarif-file", "comment", "hub-repo", "endpoint", "version", "github-token"}
    assert set(ACTION["inputs"]) == expected
    assert {"errors", "warnings", "sarif-file"} <= set(ACTION["outputs"])
    for step in ACTION["runs"]["steps"]:
        if "uses" in step:
            assert PINNED.match(step["uses"]), f"nested action not pinned by commit: {step['uses']}"
        else:
            # Inputs reach scripts through env: an expression inside `run:` would be pasted into the script.
            assert "${{" not in step["run"]
    with_python = ACTION["runs"]["steps"][0]["with"]
    assert with_python["update-environment"] is False  # the workflow's own Python stays as it was


def test_pre_commit_hook() -> None:
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert (hook["id"], hook["entry"], hook["language"], hook["pass_filenames"]) == (
        "hublint",
        "hublint check",
        "python",
        False,
    )
    files = re.compile(hook["files"])
    for path in ("adapter_config.json", "adapters/a/adapter_config.json", WEIGHTS, "x/model-1-of-2.safetensors"):
        assert files.search(path), path
    for path in ("README.md", "my_adapter_config.json", "adapter_model.safetensors.index.json"):
        assert not files.search(path), path


# --- jobs ---------------------------------------------------------------------------------------------------------


def test_a_broken_adapter_fails_the_job(runner: Runner, hub: Emulator, tmp_path: Path) -> None:
    job = lint(runner, hub, checkout(tmp_path, samples.SEED_ADAPTER))
    assert job.exit_code == 1, job.stderr
    errors = job.annotations("error")
    assert [(p["file"], p["title"]) for p, _ in errors] == [(WEIGHTS, "HL101 embedding-vocab-mismatch")]
    assert "33004 rows" in errors[0][1]
    assert {p["file"] for p, _ in job.annotations("warning")} <= {WEIGHTS, "adapter_config.json"}
    assert "HL101" in job.summary and "embedding-vocab-mismatch" in job.summary and "**1 error**" in job.summary
    assert "Traceback" not in job.stderr


def test_an_adapter_in_a_subdirectory_outputs_and_sarif(runner: Runner, hub: Emulator, tmp_path: Path) -> None:
    workspace = tmp_path / "checkout"  # the adapter sits at demo-user/<name>/ inside the repository
    checkout(tmp_path, samples.SEED_ADAPTER)
    inputs = {"path": samples.SEED_ADAPTER, "fail-on": "never", "sarif-file": "reports/hublint.sarif"}
    job = lint(runner, hub, workspace, **inputs)
    assert job.exit_code == 0
    expected = {"errors": "1", "warnings": "3", "sarif-file": "reports/hublint.sarif", "comment": "not-a-pull-request"}
    assert job.outputs == expected
    [(properties, _)] = job.annotations("error")
    assert properties["file"] == f"{samples.SEED_ADAPTER}/{WEIGHTS}"  # relative to the repository root
    log = json.loads((workspace / "reports" / "hublint.sarif").read_text(encoding="utf-8"))
    results = log["runs"][0]["results"]
    assert results[0]["ruleId"] == "HL101"
    location = results[0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": f"{samples.SEED_ADAPTER}/{WEIGHTS}", "uriBaseId": "%SRCROOT%"}


def test_a_clean_adapter_passes(runner: Runner, hub: Emulator, tmp_path: Path) -> None:
    job = lint(runner, hub, checkout(tmp_path, samples.CLEAN_ADAPTER), **{"fail-on": "info"})
    assert job.exit_code == 0, job.stdout + job.stderr
    assert job.annotations("error") == job.annotations("warning") == []
    assert "No findings" in job.summary
    assert job.outputs["errors"] == job.outputs["warnings"] == "0"


def test_lfs_pointers_without_a_hub_copy_get_one_clear_line(runner: Runner, hub: Emulator, tmp_path: Path) -> None:
    workspace = checkout(tmp_path, samples.CLEAN_ADAPTER, lfs_oid=hub_oid(hub, samples.CLEAN_ADAPTER))
    job = lint(runner, hub, workspace)
    assert job.exit_code == 2
    [(properties, message)] = job.annotations("error")
    assert properties["title"] == "hublint could not lint"
    assert "Git LFS pointer to a 16,794,456-byte file" in message
    assert "`lfs: true` in actions/checkout's `with:`" in message and "`hub-repo`" in message
    assert "\n" not in message and "Traceback" not in job.stdout + job.stderr
    assert "Could not lint" in job.summary


@pytest.mark.parametrize(("repo_id", "exit_code"), [(samples.CLEAN_ADAPTER, 0), (samples.SEED_ADAPTER, 1)])
def test_lfs_pointers_are_read_from_the_hub_copy(
    runner: Runner, hub: Emulator, tmp_path: Path, repo_id: str, exit_code: int
) -> None:
    workspace = checkout(tmp_path, repo_id, lfs_oid=hub_oid(hub, repo_id))
    job = lint(runner, hub, workspace, **{"hub-repo": repo_id})
    assert job.exit_code == exit_code, job.stdout + job.stderr
    files = {p["file"] for p, _ in job.annotations("error")}
    assert files == ({WEIGHTS} if exit_code else set())  # anchored in the checkout, not on the Hub


def test_a_hub_copy_of_other_weights_is_not_used(runner: Runner, hub: Emulator, tmp_path: Path) -> None:
    workspace = checkout(tmp_path, samples.CLEAN_ADAPTER, lfs_oid="0" * 64)
    job = lint(runner, hub, workspace, **{"hub-repo": samples.CLEAN_ADAPTER})
    assert job.exit_code == 2
    [(_, message)] = job.annotations("error")
    assert "is not the file this checkout points to" in message


def test_check_takes_hub_repo_too(hub: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pointers = checkout(tmp_path / "lfs", samples.CLEAN_ADAPTER, lfs_oid=hub_oid(hub, samples.CLEAN_ADAPTER))
    files = checkout(tmp_path / "files", samples.CLEAN_ADAPTER)
    common = ["--endpoint", hub.url, "--no-cache", "--format", "json"]
    assert main(["check", str(pointers), "--hub-repo", samples.CLEAN_ADAPTER, *common]) == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert result["findings"] == [] and result["source"] == "local"
    # Real files need no Hub copy: the repo named is never asked for.
    assert main(["check", str(files), "--hub-repo", "nobody/missing", *common]) == 0
    capsys.readouterr()
    assert main(["check", str(pointers), "--hub-repo", "not a repo", *common]) == 2
    assert capsys.readouterr().err == "hublint: --hub-repo 'not a repo' is not a Hub id (owner/name[@revision])\n"


def test_a_pointer_without_a_size_is_one_line_too(
    hub: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = checkout(tmp_path, samples.CLEAN_ADAPTER)
    (workspace / WEIGHTS).write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\n")
    assert main(["check", str(workspace), "--endpoint", hub.url, "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "is a Git LFS pointer to a file, not the file itself" in err and err.count("\n") == 1


# --- the pull request comment -----------------------------------------------------------------------------------


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(TOKENS) as fake:
        fake.add_pull(REPO, PR_NUMBER)
        yield fake


@dataclass(frozen=True)
class Event:
    env: dict[str, str]
    token: str


def on_pull_request(github: FakeGitHub, tmp_path: Path, token: str) -> Event:
    payload = tmp_path / "event.json"
    payload.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": PR_NUMBER}}))
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(payload), "GITHUB_API_URL": github.url}
    return Event(env, token)


def test_two_pushes_leave_one_comment(runner: Runner, hub: Emulator, github: FakeGitHub, tmp_path: Path) -> None:
    event = on_pull_request(github, tmp_path, "ghs_write")
    broken = checkout(tmp_path / "before", samples.SEED_ADAPTER)
    fixed = checkout(tmp_path / "after", samples.CLEAN_ADAPTER)
    job = lint(runner, hub, broken, event)
    assert job.exit_code == 1 and job.outputs["comment"] == "created"
    [(_, first)] = github.bodies(REPO, PR_NUMBER)
    assert "HL101" in first
    outcomes = [lint(runner, hub, fixed, event).outputs["comment"] for _ in range(2)]
    assert outcomes == ["updated", "unchanged"]
    [(author, body)] = github.bodies(REPO, PR_NUMBER)
    assert author == ACTIONS_BOT and "No findings" in body and body.startswith("<!-- hublint:pr-comment . -->")
    assert (github.count("POST"), github.count("PATCH")) == (1, 1)
    assert "ghs_write" not in job.stdout + job.stderr


def test_a_fork_pull_request_falls_back_to_annotations(
    runner: Runner, hub: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    job = lint(runner, hub, checkout(tmp_path, samples.SEED_ADAPTER), on_pull_request(github, tmp_path, "ghs_fork"))
    assert job.exit_code == 1  # the findings fail the job, as without a comment; the refused comment does not
    [(_, notice)] = [(p, m) for p, m in job.annotations("notice") if "read-only" in m]
    assert "job summary" in notice
    assert job.annotations("error") and "HL101" in job.summary
    assert github.bodies(REPO, PR_NUMBER) == []
    assert "ghs_fork" not in job.stdout + job.stderr


def test_github_down_is_a_warning_not_a_failure(
    runner: Runner, hub: Emulator, github: FakeGitHub, tmp_path: Path
) -> None:
    event = on_pull_request(github, tmp_path, "ghs_write")
    event.env["GITHUB_API_URL"] = "http://127.0.0.1:9"  # nothing listens there
    job = lint(runner, hub, checkout(tmp_path, samples.SEED_ADAPTER), event, **{"fail-on": "never"})
    assert job.exit_code == 0 and job.outputs["comment"] == "failed"
    [(_, warning)] = [(p, m) for p, m in job.annotations("warning") if "pull request comment" in m]
    assert warning.endswith("127.0.0.1:9 did not answer (ConnectionError)")


# --- GitHub's schemas ---------------------------------------------------------------------------------------------

README_WORKFLOW = re.compile(r"^## GitHub Action\n.*?^```yaml\n(.*?)^```", re.S | re.M)


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with one of the schemas vendored in the package; a proxy that refuses every connection
    proves that nothing is fetched."""
    refused = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": refused, "HTTPS_PROXY": refused, "http_proxy": refused, "https_proxy": refused}
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_action_and_workflows_validate_against_githubs_schemas(tmp_path: Path) -> None:
    match = README_WORKFLOW.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert match is not None, "the README shows a complete workflow"
    example = tmp_path / "readme-hublint.yml"
    example.write_text(match.group(1), encoding="utf-8")
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    assert ROOT / ".github" / "workflows" / "ci.yml" in workflows
    for schema, files in (("vendor.github-actions", [ROOT / "action.yml"]), ("vendor.github-workflows", workflows)):
        done = check_jsonschema(schema, *files)
        assert done.returncode == 0, done.stdout + done.stderr
    done = check_jsonschema("vendor.github-workflows", example)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schemas_do_reject_broken_files(tmp_path: Path) -> None:
    workflow, action = tmp_path / "workflow.yml", tmp_path / "action.yml"
    workflow.write_text("on: push\njobs:\n  lint:\n    steps:\n      - run: hublint check .\n", encoding="utf-8")
    action.write_text("name: a\ndescription: b\nruns:\n  using: composite\n  steps:\n    - run: x\n", encoding="utf-8")
    assert "'runs-on' is a required property" in check_jsonschema("vendor.github-workflows", workflow).stdout
    assert check_jsonschema("vendor.github-actions", action).returncode == 1  # a composite `run:` needs a shell


# --- an adapter made by real peft -----------------------------------------------------------------------------------


@pytest.mark.peft
def test_a_real_peft_adapter_with_a_resized_vocabulary_fails_the_job(runner: Runner, tmp_path: Path) -> None:
    from tests import peft_factory

    root = tmp_path / "hub"
    repo_id = peft_factory.build_all(root)["seed-resized-mts"]
    workspace = tmp_path / "checkout"
    shutil.copytree(root / repo_id, workspace)
    with Emulator(root) as hub:
        job = lint(runner, hub, workspace)
    assert job.exit_code == 1, job.stdout + job.stderr
    assert ("adapter_model.safetensors", "HL101 embedding-vocab-mismatch") in [
        (p["file"], p["title"]) for p, _ in job.annotations("error")
    ]
    assert "HL101" in job.summary
