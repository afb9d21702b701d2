"""Translating videos with a saved model: the `sign-language-translation` pipeline and `beyondgloss-translate`."""

import json
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image
from test_modeling_beyondgloss import run_in_fresh_process

from modeling_beyondgloss import (
    BeyondGlossConfig,
    BeyondGlossForConditionalGeneration,
    BeyondGlossProcessor,
    BeyondGlossVideoProcessor,
    build_tokenizer_from_corpus,
)


CORPUS = ["am morgen regnet es im süden", "heute scheint die sonne im norden", "der wind weht kräftig an der küste"]
FIXTURE_CLIPS = ("asl_different.mp4", "asl_house.mp4", "asl_wrong_what.mp4")


@pytest.fixture(scope="module")
def model_dir(repo_root, tmp_path_factory):
    """A tiny random translation model saved as the training scripts save one: weights, code, processor."""
    torch.manual_seed(0)
    tokenizer = build_tokenizer_from_corpus(CORPUS, src_lang="de_DE", tgt_lang="de_DE")
    config = BeyondGlossConfig.from_json_file(str(repo_root / "configs" / "beyondgloss-tiny.json"))
    config.text_config.update({"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id})
    config = BeyondGlossConfig.from_dict(config.to_dict())
    model = BeyondGlossForConditionalGeneration(config).eval()
    model.generation_config.decoder_start_token_id = tokenizer.convert_tokens_to_ids("de_DE")
    crop = config.vision_config.image_size
    video_processor = BeyondGlossVideoProcessor(size=crop + 8, crop_size=crop, max_frames=24)
    path = tmp_path_factory.mktemp("model") / "translation"
    model.save_pretrained(path)
    BeyondGlossProcessor(video_processor=video_processor, tokenizer=tokenizer).save_pretrained(path)
    return path


def frame_folder(root, num_frames=6):
    root.mkdir()
    generator = np.random.default_rng(0)
    for index in range(num_frames):
        frame = generator.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        Image.fromarray(frame).save(root / f"images{index:04d}.png")
    return root


def test_saved_config_registers_the_pipeline(model_dir):
    config = json.loads((model_dir / "config.json").read_text())
    assert config["custom_pipelines"]["sign-language-translation"]["impl"] == (
        "pipeline_beyondgloss.SignLanguageTranslationPipeline"
    )
    assert (model_dir / "pipeline_beyondgloss.py").is_file()


def test_pipeline_in_a_fresh_process(model_dir, fixtures_dir, tmp_path):
    """Remote code only: the repository is not importable in the new interpreter."""
    clips = [str(fixtures_dir / "videos" / name) for name in FIXTURE_CLIPS]
    folder = str(frame_folder(tmp_path / "frames"))
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        from transformers import pipeline
        translator = pipeline("sign-language-translation", model={str(model_dir)!r}, trust_remote_code=True,
                              device="cpu")
        assert not any(name.startswith("modeling_beyondgloss") for name in sys.modules)
        clips = {clips!r}
        batched = translator(clips, batch_size=2, num_beams=2, max_new_tokens=4)
        one_by_one = [translator(clip, num_beams=2, max_new_tokens=4) for clip in clips]
        folder = translator({folder!r}, max_new_tokens=4)
        array = translator(np.zeros((5, 40, 40, 3), np.uint8), max_new_tokens=4)
        print(type(translator).__name__)
        print(json.dumps({{"batched": batched, "one_by_one": one_by_one, "folder": folder, "array": array}}))
        """
    )
    lines = run_in_fresh_process(script, tmp_path).strip().splitlines()
    assert lines[-2] == "SignLanguageTranslationPipeline"
    results = json.loads(lines[-1])
    assert len(results["batched"]) == 3
    for result in [*results["batched"], results["folder"], results["array"]]:
        assert set(result) == {"translation_text"} and isinstance(result["translation_text"], str)
    # Batching pads the shorter clips; padded frames change nothing.
    assert results["batched"] == results["one_by_one"]
