"""What really happens when the factory's adapters are loaded: the behaviour hublint's vocab rules predict.

Every load here is the real transformers + peft on CPU, from local directories, offline. "Naive" means what a user
types after reading a model card: load the base, then `PeftModel.from_pretrained(base, adapter)`.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

import torch
import transformers
from peft import AutoPeftModelForCausalLM, PeftModel, PeftType
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import AutoTokenizer, PreTrainedModel

from hublint.rules.peft.methods import METHODS, PROMPT_FAMILY, component_index, is_frozen
from hublint.rules.peft.tasks import AUTO_CLASS_BY_TASK, TASKS_BY_MODEL_TYPE
from tests import peft_factory as pf

# PEFT/transformers chatter (tied weights, gradient checkpointing renames) is not what these tests are about.
pytestmark = [
    pytest.mark.peft,
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning"),
]

RESIZED = [name for name, case in pf.CASES.items() if case.saved_rows]
# In-process loads compare every saved tensor with its loaded twin; the other methods' loads are checked end to
# end (tests/test_e2e_peft.py) and their key names below.
LOADS_NAIVELY = [name for name, case in pf.CASES.items() if case.naive_load == "ok" and case.method == "LORA"]
LORA_CASES = [name for name, case in pf.CASES.items() if case.method == "LORA"]
EMBEDDING_MODULES = ("embed_tokens", "lm_head")


@pytest.fixture(scope="session")
def hub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hub")
    pf.build_all(root)
    return root


@pytest.fixture
def at_root(hub_root: Path) -> Iterator[Path]:
    with pf.at_hub_root(hub_root):
        yield hub_root


def _base(root: Path, case: pf.Case, rows: int | None = None) -> PreTrainedModel:
    labels = {"num_labels": case.num_labels} if case.num_labels else {}
    model = getattr(transformers, pf.AUTO_CLASS[case.task]).from_pretrained(root / case.base, **labels)
    if rows is not None:
        model.resize_token_embeddings(rows, mean_resizing=False)
    return model


def _saved(root: Path, case: pf.Case) -> dict[str, torch.Tensor]:
    return load_file(root / case.repo_id / "adapter_model.safetensors")


def _embedding_shaped(saved: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors with a vocab dimension: whole matrices (dim 0) and lora_embedding_A (dim 1); not the delta."""
    return {
        k: v
        for k, v in saved.items()
        if any(f".{m}." in k for m in EMBEDDING_MODULES) and "lora_embedding_B" not in k and "tokens_delta" not in k
    }


def _vocab_rows(key: str, tensor: torch.Tensor) -> int:
    return tensor.shape[1] if "lora_embedding_A" in key else tensor.shape[0]


def _loaded_twin(state: dict[str, torch.Tensor], saved_key: str) -> torch.Tensor | None:
    """The in-memory tensor a saved key was loaded into: PEFT re-inserts the adapter name (and the
    `modules_to_save.` level for wrapped modules) that it stripped on save."""
    stem = saved_key.removesuffix(".weight")
    for candidate in (
        saved_key,
        f"{saved_key}.default",  # lora_embedding_A/B, trainable_tokens_delta
        f"{saved_key}.default.weight",  # lora_magnitude_vector
        f"{stem}.default.weight",  # lora_A.weight -> lora_A.default.weight
        f"{stem}.modules_to_save.default.weight",  # ModulesToSaveWrapper
    ):
        if candidate in state:
            return state[candidate]
    # A wrapped task head: `classifier.dense.bias` lives at `classifier.modules_to_save.default.dense.bias`.
    parts = saved_key.split(".")
    for end in range(len(parts) - 1, 0, -1):
        candidate = ".".join([*parts[:end], "modules_to_save", "default", *parts[end:]])
        if candidate in state:
            return state[candidate]
    return None


def _assert_loaded_equals_saved(model: PeftModel, saved: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    for key, tensor in saved.items():
        if key.endswith(".modules_to_save.weight"):
            # Quirk keys (modules_to_save + resized vocab + reachable base): a duplicate PEFT ignores on load.
            assert torch.equal(tensor, saved[key.replace(".modules_to_save.weight", ".weight")]), key
            continue
        twin = _loaded_twin(state, key)
        assert twin is not None, f"saved {key} has no home in the loaded model"
        assert torch.equal(twin, tensor), f"{key} was not loaded as saved"


# ------------------------------------------------------------------------------------------ the files


@pytest.mark.parametrize("name", list(pf.CASES))
def test_files_record_the_hub_id_not_a_local_path(hub_root: Path, name: str) -> None:
    case = pf.CASES[name]
    adapter = hub_root / case.repo_id
    config = json.loads((adapter / "adapter_config.json").read_text())
    front_matter = (adapter / "README.md").read_text().split("---")[1]
    assert config["base_model_name_or_path"] == case.base
    assert f"\nbase_model: {case.base}\n" in front_matter
    assert f"- base_model:adapter:{case.base}\n" in front_matter
    assert "library_name: peft" in front_matter


@pytest.mark.parametrize("name", list(pf.CASES))
def test_saved_rows_match_the_case(hub_root: Path, name: str) -> None:
    case = pf.CASES[name]
    rows = {_vocab_rows(k, v) for k, v in _embedding_shaped(_saved(hub_root, case)).items()}
    assert rows == ({case.saved_rows} if case.saved_rows else set())
    if case.saved_rows:
        assert case.saved_rows == case.model_rows  # what was saved is what the model was trained with


@pytest.mark.parametrize("name", list(pf.CASES))
def test_shipped_tokenizer_matches_the_case(hub_root: Path, name: str) -> None:
    case = pf.CASES[name]
    adapter = hub_root / case.repo_id
    if case.tokenizer_len is None:
        assert not (adapter / "tokenizer_config.json").exists()
        return
    config = json.loads((adapter / "tokenizer_config.json").read_text())
    assert max(int(i) for i in config["added_tokens_decoder"]) == case.tokenizer_len - 1
    assert len(AutoTokenizer.from_pretrained(adapter)) == case.tokenizer_len


@pytest.mark.parametrize("name", LORA_CASES)
def test_adapters_are_trained(hub_root: Path, name: str) -> None:
    # lora_B starts at zero: a non-zero lora_B proves the optimizer ran and the file is not an untouched init.
    lora_b = [v for k, v in _saved(hub_root, pf.CASES[name]).items() if "lora_B" in k or "lora_embedding_B" in k]
    assert lora_b
    assert all(t.abs().sum() > 0 for t in lora_b)


def test_bases(hub_root: Path) -> None:
    for base in pf.LLAMA_BASES:
        config = json.loads((hub_root / base / "config.json").read_text())
        assert config["vocab_size"] == pf.BASE_VOCAB
        assert config["tie_word_embeddings"] is (base == pf.BASE_TIED)
        assert len(AutoTokenizer.from_pretrained(hub_root / base)) == pf.BASE_VOCAB
    index = json.loads((hub_root / pf.BASE_SHARDED / "model.safetensors.index.json").read_text())
    shards = set(index["weight_map"].values())
    assert len(shards) > 1
    assert all((hub_root / pf.BASE_SHARDED / s).is_file() for s in shards)


def test_base_headers_show_the_vocab_rows(hub_root: Path) -> None:
    with safe_open(hub_root / pf.BASE / "model.safetensors", "pt") as f:
        assert f.get_slice("model.embed_tokens.weight").get_shape() == [pf.BASE_VOCAB, pf.HIDDEN]
        assert f.get_slice("lm_head.weight").get_shape() == [pf.BASE_VOCAB, pf.HIDDEN]
    with safe_open(hub_root / pf.BASE_TIED / "model.safetensors", "pt") as f:
        stored = set(f.keys())
    assert "lm_head.weight" not in stored  # tied: only the embedding is stored
    assert "model.embed_tokens.weight" in stored


def test_the_seed_quirk_depends_on_whether_peft_could_reach_the_base(hub_root: Path) -> None:
    online = set(_saved(hub_root, pf.CASES["seed-resized-mts"]))
    offline = set(_saved(hub_root, pf.CASES["resized-mts-base-unreachable"]))
    quirk = {k for k in online if ".original_module." in k or ".modules_to_save." in k}
    assert len(quirk) == 4
    assert online - quirk == offline


# ------------------------------------------------------------------------------------------ real loads


@pytest.mark.parametrize("name", [n for n, c in pf.CASES.items() if c.naive_load == "size mismatch" and c.saved_rows])
def test_naive_load_fails_with_size_mismatch(hub_root: Path, name: str) -> None:
    case = pf.CASES[name]
    with pytest.raises(RuntimeError, match="size mismatch") as error:
        PeftModel.from_pretrained(_base(hub_root, case), hub_root / case.repo_id)
    shape = f"torch.Size([{case.saved_rows}, {pf.HIDDEN}]) from checkpoint"
    assert shape in str(error.value)
    assert f"current model is torch.Size([{pf.BASE_VOCAB}, {pf.HIDDEN}])" in str(error.value)


def test_naive_load_of_trainable_tokens_fails_inside_peft(hub_root: Path) -> None:
    case = pf.CASES["trainable-tokens"]
    assert case.naive_load == "index error"
    with pytest.raises(IndexError, match=f"index {pf.BASE_VOCAB} is out of bounds"):
        PeftModel.from_pretrained(_base(hub_root, case), hub_root / case.repo_id)


@pytest.mark.parametrize("name", RESIZED)
def test_resizing_to_the_saved_rows_loads_the_saved_weights(hub_root: Path, name: str) -> None:
    case = pf.CASES[name]
    assert case.saved_rows is not None
    model = PeftModel.from_pretrained(_base(hub_root, case, rows=case.saved_rows), hub_root / case.repo_id)
    saved = _saved(hub_root, case)
    assert _embedding_shaped(saved)
    _assert_loaded_equals_saved(model, saved)


def test_resizing_to_len_tokenizer_fails_when_the_matrix_was_padded(hub_root: Path) -> None:
    case = pf.CASES["padded-resize"]
    tokenizer_len = len(AutoTokenizer.from_pretrained(hub_root / case.repo_id))
    assert (tokenizer_len, case.saved_rows) == (1010, 1024)
    with pytest.raises(RuntimeError, match=r"size mismatch.*\[1024, 64\]\) from checkpoint.*\[1010, 64\]\)"):
        PeftModel.from_pretrained(_base(hub_root, case, rows=tokenizer_len), hub_root / case.repo_id)


@pytest.mark.parametrize("name", LOADS_NAIVELY)
def test_clean_cases_load_naively(hub_root: Path, name: str) -> None:
    case = pf.CASES[name]
    model = PeftModel.from_pretrained(_base(hub_root, case), hub_root / case.repo_id)
    _assert_loaded_equals_saved(model, _saved(hub_root, case))


def test_untrained_tokens_load_but_index_past_the_embedding(hub_root: Path) -> None:
    case = pf.CASES["untrained-tokens"]
    model = PeftModel.from_pretrained(_base(hub_root, case), hub_root / case.repo_id)
    tokenizer = AutoTokenizer.from_pretrained(hub_root / case.repo_id)
    ids = tokenizer("w5 <|new_3|>", return_tensors="pt").input_ids
    assert ids.max().item() == pf.BASE_VOCAB + 3
    with pytest.raises(IndexError, match="index out of range"):
        model(input_ids=ids)


# AutoPeftModel resizes the base to len(tokenizer) when the adapter ships a tokenizer (peft/auto.py): right when
# that equals the saved rows, wrong when training padded the matrix. Run with Hub ids resolving under the root.
@pytest.mark.parametrize(("name", "loads"), [("seed-resized-mts", True), ("padded-resize", False)])
def test_auto_peft_model_resizes_to_len_tokenizer(at_root: Path, name: str, loads: bool) -> None:
    repo_id = pf.CASES[name].repo_id
    if loads:
        model = AutoPeftModelForCausalLM.from_pretrained(repo_id)
        assert model.get_input_embeddings().weight.shape[0] == pf.CASES[name].saved_rows
    else:
        with pytest.raises(RuntimeError, match="size mismatch"):
            AutoPeftModelForCausalLM.from_pretrained(repo_id)


# ------------------------------------------------------------------------------------------ the factory


def test_hub_root_context_restores_the_process_state(hub_root: Path) -> None:
    import huggingface_hub.constants as hub_constants

    before = (Path.cwd(), hub_constants.HF_HUB_OFFLINE)
    with pf.at_hub_root(hub_root):
        assert Path.cwd() == hub_root.resolve()
        assert hub_constants.HF_HUB_OFFLINE is True
    assert (Path.cwd(), hub_constants.HF_HUB_OFFLINE) == before


def test_cache_hit_copies_without_building(hub_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_build(root: Path) -> None:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(pf, "build_uncached", no_build)
    started = time.perf_counter()
    cases = pf.build_all(tmp_path)
    assert time.perf_counter() - started < 5
    assert cases == {n: c.repo_id for n, c in pf.CASES.items()}
    copied = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert copied == sorted(p.relative_to(hub_root) for p in hub_root.rglob("*") if p.is_file())


def test_builds_are_deterministic(hub_root: Path, tmp_path: Path) -> None:
    # Rebuilt in this process, compared with the (possibly cached, other-process) session build.
    pf.build_case(tmp_path, "trainable-tokens-no-resize")
    for name in ("adapter_model.safetensors",):
        rebuilt = (tmp_path / "hl-test/trainable-tokens-no-resize" / name).read_bytes()
        assert rebuilt == (hub_root / "hl-test/trainable-tokens-no-resize" / name).read_bytes()
    assert (tmp_path / pf.BASE / "model.safetensors").read_bytes() == (
        hub_root / pf.BASE / "model.safetensors"
    ).read_bytes()


# ------------------------------------------------------------------------------------------ methods and tasks


def test_the_method_table_is_the_installed_peft_types() -> None:
    assert set(METHODS) == {t.value for t in PeftType}
    built = {case.method for case in pf.CASES.values()}
    assert set(METHODS) - built == set(pf.METHODS_NOT_BUILT)


def _in_memory_key(key: str, index: int) -> str:
    """PEFT strips the adapter name on save; it sits right after the method's attribute (`vera_lambda_b.default`)."""
    parts = key.split(".")
    if parts[index + 1 : index + 2] != ["default"]:
        parts.insert(index + 1, "default")
    return ".".join(parts)


@pytest.mark.parametrize("case", pf.METHOD_CASES, ids=lambda c: c.method)
def test_every_saved_key_is_understood_and_frozen_means_untrained(hub_root: Path, case: pf.Case) -> None:
    """methods.py names the module attribute of every key PEFT saves, and calls frozen exactly the saved tensors
    that a trainable load does not train (random projections, index tables)."""
    method = METHODS[case.method]
    saved = _saved(hub_root, case)
    if method.family == PROMPT_FAMILY:
        assert all(not k.startswith("base_model.") for k in saved)
        return
    model = PeftModel.from_pretrained(_base(hub_root, case), hub_root / case.repo_id, is_trainable=True)
    # By storage, not name: a parameter shared by every layer (VB-LoRA's bank, LiLY's B) is named once.
    trained = {p.data_ptr() for p in model.parameters() if p.requires_grad}
    state = model.state_dict()
    for key in saved:
        index = component_index(method, key)
        assert index is not None, f"{key}: no {case.method} tensor name"
        loaded = next((state[k] for k in (_in_memory_key(key, index), key) if k in state), None)
        # SHiRA's and FRoD's index tables are plain attributes PEFT rebuilds from the file: never trained.
        assert is_frozen(method, key) == (loaded is None or loaded.data_ptr() not in trained), key


def test_task_table_matches_the_installed_transformers() -> None:
    from transformers.models.auto import modeling_auto as auto

    mappings = {
        "CAUSAL_LM": auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        "SEQ_2_SEQ_LM": auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
        "SEQ_CLS": auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
        "TOKEN_CLS": auto.MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES,
        "QUESTION_ANS": auto.MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES,
        "FEATURE_EXTRACTION": auto.MODEL_MAPPING_NAMES,
    }
    assert set(mappings) == set(AUTO_CLASS_BY_TASK)
    for model_type, tasks in TASKS_BY_MODEL_TYPE.items():
        assert tasks == {task for task, names in mappings.items() if model_type in names}, model_type


def test_task_bases_have_no_head_and_the_adapters_carry_it(hub_root: Path) -> None:
    with safe_open(hub_root / pf.BASE_BERT / "model.safetensors", "pt") as f:
        names = f.keys()
    assert not any(k.startswith(("classifier", "qa_outputs")) for k in names)
    heads = {
        "bert-seq-cls": {"classifier.weight": [2, 64]},
        "bert-seq-cls-3-labels": {"classifier.weight": [3, 64]},
        "roberta-seq-cls": {"classifier.dense.weight": [64, 64], "classifier.out_proj.weight": [2, 64]},
        "llama-seq-cls": {"score.weight": [2, 64]},
        "bert-qa": {"qa_outputs.weight": [2, 64]},
    }
    for name, expected in heads.items():
        with safe_open(hub_root / pf.CASES[name].repo_id / "adapter_model.safetensors", "pt") as f:
            for head, shape in expected.items():
                assert f.get_slice(f"base_model.model.{head}").get_shape() == shape, name


def test_a_head_with_other_labels_fails_the_naive_load_and_loads_with_num_labels(hub_root: Path) -> None:
    case = pf.CASES["bert-seq-cls-3-labels"]
    default = transformers.AutoModelForSequenceClassification.from_pretrained(hub_root / case.base)
    with pytest.raises(RuntimeError, match=r"size mismatch for .*classifier.*\[3, 64\]\) from checkpoint"):
        PeftModel.from_pretrained(default, hub_root / case.repo_id)
    model = PeftModel.from_pretrained(_base(hub_root, case), hub_root / case.repo_id)
    _assert_loaded_equals_saved(model, _saved(hub_root, case))


def test_a_task_the_base_has_no_auto_class_for_fails_before_any_weight(hub_root: Path) -> None:
    case = pf.CASES["llama-seq2seq-task"]
    with pytest.raises(ValueError, match="Unrecognized configuration class"):
        transformers.AutoModelForSeq2SeqLM.from_pretrained(hub_root / case.base)


@pytest.mark.parametrize("written", ["lora", "QLORA", "BONE"])
def test_peft_refuses_the_peft_types_hl605_reports(
    hub_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], written: str
) -> None:
    from peft import PeftConfig

    from hublint.cli import main

    adapter = tmp_path / "adapter"
    shutil.copytree(hub_root / pf.CASES["clean-lora"].repo_id, adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "peft_type": written}))
    with pytest.raises(KeyError, match=written):
        PeftConfig.from_pretrained(adapter)
    assert main(["check", str(adapter), "--select", "HL605", "--format", "json"]) == 1
    [finding] = json.loads(capsys.readouterr().out)["results"][0]["findings"]
    assert finding["rule"] == "HL605" and finding["details"]["peft_type"] == written


def test_a_partly_misspelt_target_list_adapts_only_the_entries_that_match(hub_root: Path) -> None:
    """HL302's warning: PEFT (0.21.2) loads it without a word and adapts q_proj alone, not the misspelt v_prj."""
    case = pf.CASES["partial-targets"]
    model = PeftModel.from_pretrained(_base(hub_root, case), hub_root / case.repo_id)
    adapted = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if hasattr(module, "lora_A")}
    assert adapted == {"q_proj"}
