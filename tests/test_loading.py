"""The loading program a fix carries: valid Python, repo strings only as literals, the right class and resize."""

from __future__ import annotations

import ast

from hublint.render.loading import loading_code
from hublint.rules.model import LoadRecipe


def assignments(code: str) -> dict[str, object]:
    tree = ast.parse(code)
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
    }


def test_hostile_repo_strings_stay_literals():
    hostile = 'x/y"""; import os; os.system("rm -rf /") #\n'
    code = loading_code(LoadRecipe(base_model=hostile, adapter="./dir'; evil()", resize_embeddings_to=384))
    values = assignments(code)
    assert values["BASE_MODEL"] == hostile
    assert values["ADAPTER"] == "./dir'; evil()"
    assert values["EMBEDDING_ROWS"] == 384
    calls = {n.func.attr for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call) and hasattr(n.func, "attr")}
    assert "system" not in calls


def test_padded_resize_explains_why_not_len_tokenizer():
    code = loading_code(LoadRecipe("b/base", "o/adapter", resize_embeddings_to=384, tokenizer_size=330))
    assert "Not len(tokenizer) (330)" in code
    assert "model.resize_token_embeddings(EMBEDDING_ROWS, mean_resizing=False)" in code


def test_revision_only_when_asked_and_class_by_task():
    code = loading_code(
        LoadRecipe("b/base", "o/adapter", adapter_revision="v1", auto_class="AutoModelForSequenceClassification")
    )
    assert "PeftModel.from_pretrained(model, ADAPTER, revision='v1')" in code
    assert "AutoModelForSequenceClassification.from_pretrained(BASE_MODEL, dtype=" in code
    assert "generate(" not in code and "resize_token_embeddings" not in code
    ast.parse(code)
