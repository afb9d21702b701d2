"""Regenerate `tests/fixtures/reference_tiny.json`: the reference implementation's outputs on tiny models.

`tests/test_convert_reference.py` writes reference-layout checkpoints from a seed (`tools/reference_layout.py`),
converts them and compares the converted models with these outputs, without needing the reference code. This script
computes them with the reference code (`elsobhano/BeyondGloss`, `slt_framework/`) from a checkout:

```bash
python tools/make_reference_fixture.py --reference_dir /path/to/BeyondGloss
```
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch


sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import reference_harness as harness  # noqa: E402
from reference_layout import TINY_SIZES, reference_state_dict, write_trimmed_mbart  # noqa: E402

from modeling_beyondgloss.convert_reference_checkpoint import load_mbart_tokenizer  # noqa: E402


# What the tiny comparison runs: one setting per stage; the test reads it from the fixture.
FIXTURE_SETTINGS = {
    "pre-training": {"seed": 0, "hyper_parameters": {"landa_desc": 0.7, "landa_hamer": 0.2}},
    "translation": {"seed": 1, "hyper_parameters": {"label_smoothing": 0.1, "num_beams": 3}},
}
INPUTS = {"batch_size": 2, "frames": 6, "image_size": 28, "text_length": 5, "seed": 2}
MAX_NEW_TOKENS = 150
REPO_ROOT = Path(__file__).resolve().parents[1]
DECODER_START_TOKEN = "de_DE"


def _rounded(tensor: torch.Tensor):
    """Nested lists with 8 significant digits: enough for float32 comparisons, and a fixture of a few KB."""
    if not tensor.is_floating_point():
        return tensor.tolist()
    return json.loads(json.dumps(tensor.double().tolist()), parse_float=lambda text: float(f"{float(text):.8g}"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference_dir", required=True, help="Checkout of elsobhano/BeyondGloss.")
    parser.add_argument("--reference_commit", default="11eed23", help="Commit of that checkout, for the record.")
    parser.add_argument("--output", default=str(REPO_ROOT / "tests" / "fixtures" / "reference_tiny.json"))
    args = parser.parse_args(argv)
    ref = harness.import_reference(args.reference_dir)
    mbart_config = TINY_SIZES.mbart_config()
    with tempfile.TemporaryDirectory() as folder:
        write_trimmed_mbart(folder, TINY_SIZES)
        decoder_start_token_id = load_mbart_tokenizer(folder).convert_tokens_to_ids(DECODER_START_TOKEN)
    fixture = {"reference_commit": args.reference_commit, "inputs": INPUTS, "max_new_tokens": MAX_NEW_TOKENS,
               "decoder_start_token_id": decoder_start_token_id, "stages": {}}
    for stage, settings in FIXTURE_SETTINGS.items():
        torch.manual_seed(0)
        model = harness.assemble_reference(ref, stage, TINY_SIZES, mbart_config)
        module = harness.lightning_module(ref, stage, model, settings["hyper_parameters"])
        module.load_state_dict(reference_state_dict(stage, TINY_SIZES, settings["seed"]), strict=True)
        inputs = harness.make_inputs(TINY_SIZES, mbart_config.vocab_size, **INPUTS)
        outputs, _ = harness.reference_outputs(ref, stage, module, inputs, decoder_start_token_id, MAX_NEW_TOKENS)
        fixture["stages"][stage] = {**settings, "outputs": {name: _rounded(value) for name, value in outputs.items()}}
        print(f"{stage}: " + ", ".join(f"{name} {tuple(value.shape)}" for name, value in outputs.items()))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(fixture, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"Wrote {args.output} ({Path(args.output).stat().st_size} bytes).")


if __name__ == "__main__":
    main()
