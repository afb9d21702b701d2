"""The preprocessing tools feed training: descriptions, description embeddings and hand features made by them on
SynthSign and on real videos load through `load_sign_dataset` and pre-train with `run_pretrain.py`."""

import json
import shutil

import pytest
from safetensors.numpy import load_file

import run_pretrain
from datasets_scripts import load_sign_dataset
from datasets_scripts.preprocessing import describe_hands, extract_hand_features
from datasets_scripts.preprocessing.description_embeddings import save_random_text_encoder
from datasets_scripts.synthsign import generate_synthsign


TRAINING_FLAGS = [
    "--do_train", "--max_steps", "2", "--per_device_train_batch_size", "2", "--logging_steps", "1",
    "--report_to", "none", "--dataloader_num_workers", "0", "--seed", "0", "--disable_tqdm", "true",
]


def preprocess(videos_dir, output_root, tiny_describer_models):
    """Both tools over one folder of videos, as a user runs them."""
    vision_language_model, refiner = tiny_describer_models
    descriptions = describe_hands.main([
        "--input", str(videos_dir), "--output_dir", str(output_root / "descriptions"),
        "--model", vision_language_model, "--refiner", refiner, "--max_new_tokens", "6", "--device", "cpu",
    ])
    hands = extract_hand_features.main(
        ["mediapipe", "--input", str(videos_dir), "--output_dir", str(output_root / "hand_features")]
    )
    assert not descriptions.failed and not hands.failed
    return output_root / "descriptions", output_root / "hand_features"


def pretrain(output_dir, data_flags, encoder, repo_root):
    run_pretrain.main([
        "--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"), *data_flags,
        "--description_encoder", str(encoder), "--output_dir", str(output_dir), *TRAINING_FLAGS,
    ])
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    logged = {key for entry in history for key in entry}
    config = json.loads((output_dir / "config.json").read_text())
    return logged, config


def test_real_videos_preprocessed_and_pretrained(tmp_path, fixtures_dir, repo_root, tiny_describer_models):
    videos = tmp_path / "videos"
    shutil.copytree(fixtures_dir / "videos", videos)
    descriptions_dir, hands_dir = preprocess(videos, tmp_path, tiny_describer_models)
    sentences = {"asl_house": "House.", "asl_wrong_what": "What's the matter?", "asl_different": "Different, but."}
    for split, names in (("train", ["asl_house", "asl_wrong_what"]), ("validation", ["asl_different"])):
        rows = [json.dumps({"id": name, "video": f"videos/{name}.mp4", "text": sentences[name]}) for name in names]
        (tmp_path / f"{split}.jsonl").write_text("\n".join(rows) + "\n")

    dataset = load_sign_dataset("custom", data_dir=tmp_path, descriptions_dir=descriptions_dir,
                                hand_features_dir=hands_dir, cache_dir=tmp_path / "cache")
    house = dataset["train"][0]
    assert house["description"] == json.loads((descriptions_dir / "asl_house.json").read_text())["refined"]
    assert len(house["hand_features"]) == house["num_frames"] == 73
    assert len(house["hand_features"][0]) == extract_hand_features.MEDIAPIPE_FEATURE_DIM
    assert house["hand_mask"] == load_file(hands_dir / "asl_house.safetensors")["hand_mask"].tolist()
    assert any(house["hand_mask"])

    encoder = save_random_text_encoder(tmp_path / "encoder", list(sentences.values()))
    data_flags = ["--dataset_name", "custom", "--data_dir", str(tmp_path), "--descriptions_dir", str(descriptions_dir),
                  "--hand_features_dir", str(hands_dir), "--dataset_cache_dir", str(tmp_path / "cache")]
    logged, config = pretrain(tmp_path / "pretrain", data_flags, encoder, repo_root)

    assert {"loss_align", "loss_desc", "loss_hand"} <= logged
    assert config["hand_feature_dim"] == extract_hand_features.MEDIAPIPE_FEATURE_DIM  # sized by the teacher


def test_synthsign_preprocessed_and_pretrained(tmp_path, repo_root, tiny_describer_models):
    data_dir = tmp_path / "synthsign"
    generate_synthsign(data_dir, seed=0, num_train=4, num_dev=2, num_test=1, resolution=64)
    descriptions_dir, hands_dir = preprocess(data_dir / "videos", tmp_path / "made", tiny_describer_models)
    written = sorted(path.relative_to(descriptions_dir).as_posix() for path in descriptions_dir.rglob("*.json"))
    assert written == ["dev/000000.json", "dev/000001.json", "test/000000.json"] + [
        f"train/00000{index}.json" for index in range(4)
    ]

    # The tools' outputs replace the ones SynthSign renders from the true motion.
    encoder = save_random_text_encoder(tmp_path / "encoder", ["a sentence"])
    data_flags = ["--dataset_name", "synthsign", "--data_dir", str(data_dir), "--descriptions_dir",
                  str(descriptions_dir), "--hand_features_dir", str(hands_dir),
                  "--dataset_cache_dir", str(tmp_path / "cache")]
    logged, config = pretrain(tmp_path / "pretrain", data_flags, encoder, repo_root)

    assert "loss_desc" in logged
    assert config["hand_feature_dim"] == extract_hand_features.MEDIAPIPE_FEATURE_DIM


def test_pretrained_checkpoint_must_fit_the_hand_teacher(tmp_path, repo_root):
    """A checkpoint trained on 288-d HaMeR features refuses 128-d MediaPipe features with a clear message."""
    data_dir = tmp_path / "synthsign"
    generate_synthsign(data_dir, seed=0, num_train=2, num_dev=1, num_test=1, resolution=64)
    common = ["--dataset_name", "synthsign", "--data_dir", str(data_dir), "--dataset_cache_dir", str(tmp_path / "c"),
              *TRAINING_FLAGS]
    run_pretrain.main(["--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"),
                       "--output_dir", str(tmp_path / "hamer"), *common])
    hands = extract_hand_features.main(
        ["mediapipe", "--input", str(data_dir / "videos"), "--output_dir", str(tmp_path / "mediapipe")]
    )
    assert not hands.failed

    with pytest.raises(ValueError, match="hand_feature_dim=288 but the data has 128"):
        run_pretrain.main(["--model_name_or_path", str(tmp_path / "hamer"), "--output_dir", str(tmp_path / "again"),
                           "--hand_features_dir", str(tmp_path / "mediapipe"), *common])
