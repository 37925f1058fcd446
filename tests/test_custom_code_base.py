"""A base model with its own Python code (config.json `auto_map`), served by the Hub emulator with its
configuration_*.py and modeling_*.py, and a real peft adapter trained on it after a vocabulary resize: hublint's
loading code passes trust_remote_code=True with a pinned revision and loads it; the same code without the flag fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hublint.cli import main
from hublint.emulator.server import Emulator
from tests.builders import program_env

pytestmark = [pytest.mark.peft, pytest.mark.filterwarnings("ignore::UserWarning")]

BASE, ADAPTER = "hl-bases/tiny-glm", "hl-test/glm-resized"
CONFIGURATION = """from transformers import LlamaConfig


class TinyGlmConfig(LlamaConfig):
    model_type = "tinyglm"
"""
MODELING = """from transformers import LlamaForCausalLM

from .configuration_tinyglm import TinyGlmConfig


class TinyGlmForCausalLM(LlamaForCausalLM):
    config_class = TinyGlmConfig
"""
AUTO_MAP = {
    "AutoConfig": "configuration_tinyglm.TinyGlmConfig",
    "AutoModelForCausalLM": "modeling_tinyglm.TinyGlmForCausalLM",
}


def build_custom_code_base(out: Path) -> None:
    """A tiny Llama whose config names a model type transformers does not know, with the code that defines it."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    saved = json.loads((out / "config.json").read_text())
    saved.update(model_type="tinyglm", architectures=["TinyGlmForCausalLM"], auto_map=AUTO_MAP)
    (out / "config.json").write_text(json.dumps(saved, indent=2))
    (out / "configuration_tinyglm.py").write_text(CONFIGURATION)
    (out / "modeling_tinyglm.py").write_text(MODELING)
    vocab = {"<unk>": 0, **{f"t{i}": i for i in range(1, 64)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>").save_pretrained(out)


def build_resized_adapter(base: Path, out: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, trust_remote_code=True)
    model.resize_token_embeddings(80)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], modules_to_save=["embed_tokens", "lm_head"])
    get_peft_model(model, config).save_pretrained(out)
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    adapter_config["base_model_name_or_path"] = BASE
    (out / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hub")
    build_custom_code_base(root / BASE)
    build_resized_adapter(root / BASE, root / ADAPTER)
    with Emulator(root) as emulator:
        yield emulator


def run_program(code: str, hub: Emulator, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = program_env(hub.url, str(tmp_path / "hf-home"))
    tmp_path.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "load.py"
    script.write_text(code + "\nprint('EMBEDDING_ROWS_LOADED', model.get_input_embeddings().weight.shape[0])\n")
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )


def test_every_snippet_trusts_remote_code_pinned_and_loads_and_without_the_flag_it_fails(hub, tmp_path, capsys):
    main(["check", ADAPTER, "--endpoint", hub.url, "--format", "json", "--no-cache", "--fail-on", "never"])
    [result] = json.loads(capsys.readouterr().out)["results"]
    by_rule = {f["rule"]: f for f in result["findings"]}
    assert {"HL101", "HL406"} <= set(by_rule)
    base_sha = by_rule["HL406"]["details"]["base_revision"]
    assert base_sha and len(base_sha) == 40
    for rule in ("HL101", "HL406"):
        code = by_rule[rule]["fix"]["code"]
        assert code.count(", trust_remote_code=True") == 2, rule
        assert f"BASE_MODEL, revision={base_sha!r}, trust_remote_code=True" in code

    fixed = run_program(by_rule["HL101"]["fix"]["code"], hub, tmp_path / "with")
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert "EMBEDDING_ROWS_LOADED 80" in fixed.stdout

    without = run_program(by_rule["HL101"]["fix"]["code"].replace(", trust_remote_code=True", ""), hub, tmp_path / "w")
    assert without.returncode != 0
    assert "trust_remote_code" in without.stderr
