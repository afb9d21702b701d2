"""The packages depend on each other in one direction only: training → data → model, and the model package (the
remote code a saved model carries) on nothing of this repository."""

import ast
import subprocess
import sys
import textwrap

import pytest


FIRST_PARTY = ("modeling_beyondgloss", "training_beyondgloss", "datasets_scripts", "run_pretrain", "run_translation")
# What each package may import from this repository.
ALLOWED = {
    "modeling_beyondgloss": set(),
    "datasets_scripts": {"modeling_beyondgloss"},
    "training_beyondgloss": {"modeling_beyondgloss", "datasets_scripts"},
}


def imported_first_party(path) -> set[str]:
    """First-party top-level packages that a file imports, at module level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names & set(FIRST_PARTY)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_follow_the_layers(repo_root, package):
    offending = {}
    for path in sorted((repo_root / package).rglob("*.py")):
        extra = imported_first_party(path) - ALLOWED[package] - {package}
        if extra:
            offending[str(path.relative_to(repo_root))] = sorted(extra)
    assert not offending, f"{package} imports what it must not: {offending}"


def test_model_package_uses_only_single_dot_relative_imports(repo_root):
    # Hub remote code copies the model folder flat and follows `from .x import y` only.
    for path in sorted((repo_root / "modeling_beyondgloss").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.level in (0, 1), f"{path.name}:{node.lineno} imports with {node.level} dots"
                if node.level == 0 and node.module:
                    assert node.module.split(".")[0] != "modeling_beyondgloss", f"{path.name}:{node.lineno}"


def test_model_package_works_with_training_and_data_code_blocked(repo_root):
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys

        BLOCKED = ("training_beyondgloss", "datasets_scripts", "run_pretrain", "run_translation")

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is blocked")

        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(repo_root)!r})
        import numpy as np
        import torch
        from modeling_beyondgloss import (
            BeyondGlossConfig, BeyondGlossForConditionalGeneration, BeyondGlossForPreTraining, BeyondGlossProcessor,
            BeyondGlossVideoProcessor, build_tokenizer_from_corpus,
        )

        config = BeyondGlossConfig.from_json_file({str(repo_root / "configs" / "beyondgloss-tiny.json")!r})
        tokenizer = build_tokenizer_from_corpus(["es regnet", "morgen sonne"], src_lang="de_DE")
        config.text_config.vocab_size = len(tokenizer)
        processor = BeyondGlossProcessor(BeyondGlossVideoProcessor(size=64, crop_size=56), tokenizer)
        inputs = processor(videos=[np.zeros((6, 64, 64, 3), dtype=np.uint8)])
        BeyondGlossForPreTraining(config).eval()(pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"])
        model = BeyondGlossForConditionalGeneration(config).eval()
        model.generate(pixel_values=inputs["pixel_values"], pixel_mask=inputs["pixel_mask"], max_new_tokens=2)
        assert not any(name.split(".")[0] in BLOCKED for name in sys.modules)
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env={"HF_HUB_OFFLINE": "1"}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
