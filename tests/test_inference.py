"""Translating videos with a saved model: the `sign-language-translation` pipeline and `beyondgloss-translate`."""

import json
import math
import textwrap
from pathlib import Path

import av
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
    cli_translate,
)


CORPUS = ["am morgen regnet es im süden", "heute scheint die sonne im norden", "der wind weht kräftig an der küste"]
FIXTURE_CLIPS = ("asl_different.mp4", "asl_house.mp4", "asl_wrong_what.mp4")


def save_tiny_translation_model(path, repo_root, words_only=False, **generation):
    """Save a tiny random translation model as the training scripts save one (weights, code, processor), with
    `generation` as its generation defaults. A random model mostly picks language codes, which decode to nothing:
    `words_only` leaves it only the corpus's words (and the end of the sentence) to choose from."""
    torch.manual_seed(0)
    tokenizer = build_tokenizer_from_corpus(CORPUS, src_lang="de_DE", tgt_lang="de_DE")
    config = BeyondGlossConfig.from_json_file(str(repo_root / "configs" / "beyondgloss-tiny.json"))
    config.text_config.update({"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id})
    config = BeyondGlossConfig.from_dict(config.to_dict())
    model = BeyondGlossForConditionalGeneration(config).eval()
    model.generation_config.decoder_start_token_id = tokenizer.convert_tokens_to_ids("de_DE")
    if words_only:
        words = set(tokenizer.get_vocab().values()) - set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
        generation["suppress_tokens"] = sorted(set(range(len(tokenizer))) - words - {tokenizer.eos_token_id})
    model.generation_config.update(**generation)
    crop = config.vision_config.image_size
    video_processor = BeyondGlossVideoProcessor(size=crop + 8, crop_size=crop, max_frames=24)
    model.save_pretrained(path)
    BeyondGlossProcessor(video_processor=video_processor, tokenizer=tokenizer).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model_dir(repo_root, tmp_path_factory):
    """A tiny random translation model saved as the training scripts save one: weights, code, processor."""
    return save_tiny_translation_model(tmp_path_factory.mktemp("model") / "translation", repo_root)


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


# ------------------------------------------------------------------------------------------------------------------
# beyondgloss-translate
# ------------------------------------------------------------------------------------------------------------------


def test_command_translates_good_inputs_and_names_the_bad_ones(model_dir, fixtures_dir, tmp_path, caplog):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes((fixtures_dir / "videos" / "asl_house.mp4").read_bytes()[:2000])
    not_a_video = tmp_path / "notes.txt"
    not_a_video.write_text("not a video")
    good = [str(fixtures_dir / "videos" / name) for name in FIXTURE_CLIPS[:2]]
    inputs = [good[0], str(corrupt), str(tmp_path / "missing.mp4"), good[1], str(not_a_video)]
    output = tmp_path / "translations.jsonl"
    status = cli_translate.main(
        [str(model_dir), *inputs, "--output", str(output), "--batch_size", "2", "--num_beams", "2",
         "--max_new_tokens", "4"]
    )
    assert status == 1
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [record["video"] for record in records] == good
    assert all(isinstance(record["translation"], str) for record in records)
    for bad in inputs[1:3] + inputs[4:]:
        assert f"Skipping {bad}" in caplog.text


def test_command_translates_with_int8_backbones(model_dir, fixtures_dir, capsys):
    clip = str(fixtures_dir / "videos" / "asl_house.mp4")
    assert cli_translate.main([str(model_dir), clip, "--int8", "--max_new_tokens", "3", "--num_beams", "2"]) == 0
    path, translation = capsys.readouterr().out.rstrip("\n").split("\t")
    assert path == clip and isinstance(translation, str)


def test_command_prints_tab_separated_translations(model_dir, fixtures_dir, capsys):
    clip = str(fixtures_dir / "videos" / "asl_house.mp4")
    assert cli_translate.main([str(model_dir), clip, "--max_new_tokens", "3", "--num_beams", "1"]) == 0
    path, translation = capsys.readouterr().out.rstrip("\n").split("\t")
    assert path == clip and isinstance(translation, str)


def concatenate_videos(paths, output, rate=25):
    """Write the frames of `paths` one after another into one mp4 at `rate` frames per second."""
    with av.open(str(output), "w") as target:
        stream = None
        for path in paths:
            with av.open(str(path)) as source:
                for frame in source.decode(video=0):
                    image = frame.to_ndarray(format="rgb24")
                    if stream is None:
                        stream = target.add_stream("libx264", rate=rate)
                        stream.height, stream.width = image.shape[:2]
                        stream.pix_fmt = "yuv420p"
                    for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                        target.mux(packet)
        for packet in stream.encode():
            target.mux(packet)


def video_seconds(path):
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
        return frames / float(container.streams.video[0].average_rate)


@pytest.mark.parametrize("stride", [None, "1.0"])
def test_subtitles_for_a_long_video(model_dir, synthsign_corpus, tmp_path, stride):
    """A video made of several SynthSign test clips gets one cue per window, in order and without overlap."""
    clips = sorted((Path(synthsign_corpus["data_dir"]) / "videos" / "test").glob("*.mp4"))[:3]
    long_video = tmp_path / "long.mp4"
    concatenate_videos(clips, long_video)
    duration = video_seconds(long_video)
    window = 1.5
    srt = tmp_path / "long.srt"
    stride_flags = ["--stride_seconds", stride] if stride else []
    status = cli_translate.main(
        [str(model_dir), str(long_video), "--window_seconds", str(window), *stride_flags, "--format", "srt",
         "--output", str(srt), "--max_new_tokens", "4", "--num_beams", "1", "--batch_size", "4"]
    )
    assert status == 0
    blocks = srt.read_text(encoding="utf-8").strip().split("\n\n")
    step = float(stride) if stride else window
    assert len(blocks) >= math.floor(duration / step)
    times = []
    for number, block in enumerate(blocks, start=1):
        index, timing, *_ = block.split("\n")
        assert int(index) == number
        start, end = (parse_srt_time(part) for part in timing.split(" --> "))
        assert start < end
        times.append((start, end))
    assert [start for start, _ in times] == pytest.approx([index * step for index in range(len(times))])
    assert all(end <= next_start for (_, end), (next_start, _) in zip(times, times[1:])), "cues overlap"
    assert all(start < next_start for (start, _), (next_start, _) in zip(times, times[1:])), "cues out of order"
    assert abs(times[-1][1] - duration) < 0.1


def parse_srt_time(text):
    hours, minutes, rest = text.split(":")
    seconds, milliseconds = rest.split(",")
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(milliseconds) / 1000


def test_subtitle_cues_never_overlap():
    windows = [(0.0, 4.0, "a"), (2.0, 6.0, "b"), (4.0, 7.5, "c")]
    assert cli_translate.subtitle_cues(windows) == [(0.0, 2.0, "a"), (2.0, 4.0, "b"), (4.0, 7.5, "c")]
    assert cli_translate.srt_timestamp(3725.5) == "01:02:05,500"
