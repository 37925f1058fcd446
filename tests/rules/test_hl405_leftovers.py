"""HL405 training-leftovers (checkpoints and resume state, from the file listing alone) and HL406 custom-code-base."""

from __future__ import annotations

import json
from pathlib import Path

from hublint.cli import main
from hublint.render.loading import loading_code
from hublint.rules.snapshot import RepoSnapshot
from tests.builders import PREFIX, base_facts, lint, lora_config, lora_tensors, snapshot

ADAPTER = ["adapter_config.json", "adapter_model.safetensors", "README.md"]
CHECKPOINT = [
    "checkpoint-500/adapter_config.json",
    "checkpoint-500/adapter_model.safetensors",
    "checkpoint-500/optimizer.pt",
    "checkpoint-500/scheduler.pt",
    "checkpoint-500/rng_state.pth",
    "checkpoint-500/trainer_state.json",
    "checkpoint-500/training_args.bin",
]


def with_checkpoint() -> RepoSnapshot:
    return snapshot(files=ADAPTER + CHECKPOINT)


def test_a_checkpoint_folder_is_one_finding_naming_it_its_bytes_and_its_pickles():
    [finding] = lint(with_checkpoint(), "HL405")
    assert (finding.severity.value, finding.file) == ("warning", "checkpoint-500")
    assert finding.details["leftovers"] == ["checkpoint-500"]
    assert finding.details["files"] == len(CHECKPOINT)
    assert finding.details["bytes"] == 100 * len(CHECKPOINT)  # the builder's size per file
    assert finding.details["pickles"] == [
        "checkpoint-500/optimizer.pt",
        "checkpoint-500/rng_state.pth",
        "checkpoint-500/scheduler.pt",
        "checkpoint-500/training_args.bin",
    ]
    assert "checkpoint-500/" in finding.message and "pickles" in finding.message
    assert "api.delete_folder('checkpoint-500', repo_id='someone/adapter')" in finding.fix.summary


def test_loose_resume_files_and_deepspeed_folders_are_named_each():
    files = [*ADAPTER, "optimizer.pt", "trainer_state.json", "global_step100/mp_rank_00_model_states.pt"]
    [finding] = lint(snapshot(files=files), "HL405")
    assert finding.details["leftovers"] == ["global_step100", "optimizer.pt", "trainer_state.json"]
    assert "delete_patterns=['optimizer.pt', 'trainer_state.json']" in finding.fix.summary


def test_sizes_unknown_from_a_names_only_listing_are_not_invented():
    snap = with_checkpoint()
    files = {path: type(f)(path, None) for path, f in snap.files.items()}
    [finding] = lint(RepoSnapshot(**{**snap.__dict__, "files": files}), "HL405")
    assert finding.details["bytes"] is None
    assert f"({len(CHECKPOINT)} files)" in finding.message


def test_a_clean_repo_and_look_alike_names_pass():
    assert lint(snapshot(), "HL405") == []
    look_alikes = [*ADAPTER, "docs/optimizer.pt.md", "checkpoints.md", "my_trainer_state.json"]
    assert lint(snapshot(files=look_alikes), "HL405") == []


def test_check_of_a_trainer_output_directory_reports_real_bytes(tmp_path: Path, capsys):
    root = tmp_path / "out"
    (root / "checkpoint-500").mkdir(parents=True)
    config = {"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"], "base_model_name_or_path": None}
    (root / "adapter_config.json").write_text(json.dumps(config))
    (root / "checkpoint-500" / "optimizer.pt").write_bytes(b"\0" * 3000)
    (root / "checkpoint-500" / "trainer_state.json").write_text("{}")
    main(["check", str(root), "--select", "HL405", "--format", "json", "--fail-on", "never"])
    [result] = json.loads(capsys.readouterr().out)["results"]
    [finding] = result["findings"]
    assert finding["details"]["bytes"] == 3002 and finding["details"]["pickles"] == ["checkpoint-500/optimizer.pt"]
    assert "3.0 kB in 2 files" in finding["message"]


# --- HL406 custom-code-base -------------------------------------------------------------------------------------

AUTO_MAP = {"AutoConfig": "configuration_glm.GLMConfig", "AutoModelForCausalLM": "modeling_glm.GLMForCausalLM"}


def custom_code_base(**config: object) -> RepoSnapshot:
    facts = base_facts(config={"model_type": "glm", "vocab_size": 32000, "auto_map": AUTO_MAP})
    return snapshot(lora_config(**config), base=facts)


def test_a_custom_code_base_is_an_info_finding_with_remote_code_loading_pinned_to_the_base_sha():
    [finding] = lint(custom_code_base(), "HL406")
    assert (finding.severity.value, finding.category.value) == ("info", "provenance")
    assert finding.details == {"auto_map": AUTO_MAP, "base_revision": "0" * 40}
    code = loading_code(finding.fix.recipe)
    assert code.count(", trust_remote_code=True") == 2  # the model and the tokenizer
    assert f"revision={'0' * 40!r}, trust_remote_code=True" in code
    compile(code, "fix.py", "exec")


def test_the_adapter_configs_own_base_revision_wins_over_the_read_sha():
    [finding] = lint(custom_code_base(revision="v1.0"), "HL406")
    assert finding.fix.recipe.base_revision == "v1.0"


def test_every_snippet_on_a_custom_code_base_trusts_remote_code_and_none_on_a_plain_base():
    tensors = {**lora_tensors(), PREFIX + "model.embed_tokens.weight": (33004, 4096)}
    facts = base_facts(config={**base_facts().config, "auto_map": AUTO_MAP})
    resized = lora_config(modules_to_save=["embed_tokens"])
    [hl101] = lint(snapshot(resized, tensors, base=facts), "HL101")
    assert "trust_remote_code=True" in loading_code(hl101.fix.recipe)
    [plain] = lint(snapshot(resized, tensors), "HL101")
    assert "trust_remote_code" not in loading_code(plain.fix.recipe)
    assert lint(snapshot(), "HL406") == []
    not_a_table = base_facts(config={**base_facts().config, "auto_map": "configuration_glm.GLMConfig"})
    assert lint(snapshot(base=not_a_table), "HL406") == []
