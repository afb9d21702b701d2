import json
import os
import runpy
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
import torch

from datasets_scripts import load_sign_dataset
from datasets_scripts.builders.features import read_description
from datasets_scripts.preprocessing import describe_hands
from datasets_scripts.preprocessing.describe_hands import APIRefiner, main, tile_grid
from datasets_scripts.synthsign import generate_synthsign


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    """The tiny models decode token by token: one thread beats synchronising with a second, possibly busy, core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_grid_tiles_frames_in_reading_order():
    frames = np.zeros((16, 10, 20, 3), dtype=np.uint8)
    frames[6] = 255  # row 1, column 2 of a 4 x 4 grid
    grid = np.asarray(tile_grid(frames))
    assert grid.shape == (40, 80, 3)
    assert (grid[10:20, 40:60] == 255).all() and grid.sum() == grid[10:20, 40:60].sum()
    folded = tile_grid(np.zeros((25, 240, 320, 3), dtype=np.uint8), max_side=500)
    assert folded.size == (500, 375)  # 5 x 5 tiles of 100 x 75


def describe(input_path, output_dir, models, *extra):
    vision_language_model, refiner = models
    return main([
        "--input", str(input_path), "--output_dir", str(output_dir), "--model", vision_language_model,
        "--refiner", refiner, "--max_new_tokens", "6", "--device", "cpu", *extra,
    ])


@pytest.mark.parametrize("segment_input", ["grid", "video"])
def test_real_video_gets_one_description_per_segment_and_a_refined_one(
    tmp_path, fixtures_dir, tiny_describer_models, segment_input
):
    summary = describe(fixtures_dir / "videos" / "asl_house.mp4", tmp_path, tiny_describer_models,
                       "--segment_input", segment_input)

    assert summary.written == ["asl_house"] and not summary.failed
    content = json.loads((tmp_path / "asl_house.json").read_text())
    assert list(content) == ["chunk_0", "chunk_1", "chunk_2", "chunk_3", "refined"]  # 73 frames: 16+16+16+25
    assert all(isinstance(text, str) and text and "\n" not in text for text in content.values())
    assert read_description(str(tmp_path / "asl_house.json")) == content["refined"]


def test_video_segments_are_timed_so_their_frames_get_distinct_time_positions(tiny_describer_models):
    describer = describe_hands.SegmentDescriber(
        tiny_describer_models[0], "cpu", max_new_tokens=2, segment_input="video"
    )
    describer._load()
    generate, generate_inputs = describer.model.generate, {}
    describer.model.generate = lambda **inputs: generate_inputs.update(inputs) or generate(**inputs)

    texts = describer.describe([np.zeros((16, 32, 32, 3), np.uint8), np.zeros((25, 32, 32, 3), np.uint8)])
    assert len(texts) == 2
    assert generate_inputs["second_per_grid_ts"].tolist() == [1.0, 1.0]  # two frames per temporal patch at 2 fps


@pytest.fixture(scope="module")
def synthsign(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthsign")
    generate_synthsign(root, seed=0, num_train=2, num_dev=1, num_test=1, resolution=64)
    return root


def test_synthsign_descriptions_load_through_the_builder(synthsign, tmp_path, tiny_describer_models):
    summary = describe(synthsign / "videos", tmp_path / "descriptions", tiny_describer_models)

    assert summary.written == ["dev/000000", "test/000000", "train/000000", "train/000001"]
    dataset = load_sign_dataset("synthsign", data_dir=synthsign, descriptions_dir=tmp_path / "descriptions",
                                cache_dir=tmp_path / "cache")
    for split in dataset.values():
        for example in split:
            written = json.loads((tmp_path / "descriptions" / f"{example['id']}.json").read_text())
            assert example["description"] == written["refined"]


def test_rerun_skips_finished_videos_and_refines_unrefined_ones(synthsign, tmp_path, tiny_describer_models,
                                                                monkeypatch):
    output_dir = tmp_path / "descriptions"
    first = describe(synthsign / "videos" / "train", output_dir, tiny_describer_models, "--skip_refinement")
    assert first.written == ["000000", "000001"]
    assert "refined" not in json.loads((output_dir / "000000.json").read_text())
    (output_dir / "000001.json").unlink()
    kept = (output_dir / "000000.json").read_text()

    segments_described = []
    original = describe_hands.SegmentDescriber.describe
    monkeypatch.setattr(describe_hands.SegmentDescriber, "describe",
                        lambda self, segments: segments_described.append(len(segments)) or original(self, segments))
    second = describe(synthsign / "videos" / "train", output_dir, tiny_describer_models)

    assert second.written == ["000000", "000001"] and not second.skipped
    assert len(segments_described) == 1  # 000000 kept its segment descriptions and was only refined
    refined = json.loads((output_dir / "000000.json").read_text())
    assert {key: value for key, value in refined.items() if key != "refined"} == json.loads(kept)
    modified = {name: os.stat(output_dir / name).st_mtime_ns for name in os.listdir(output_dir)}

    third = describe(synthsign / "videos" / "train", output_dir, tiny_describer_models)
    assert third.skipped == ["000000", "000001"] and not third.written
    assert {name: os.stat(output_dir / name).st_mtime_ns for name in os.listdir(output_dir)} == modified
    redone = describe(synthsign / "videos" / "train", output_dir, tiny_describer_models, "--overwrite")
    assert redone.written == ["000000", "000001"]


def test_failures_are_summarised_and_leave_no_partial_files(synthsign, tmp_path, tiny_describer_models,
                                                           monkeypatch):
    videos = tmp_path / "videos"
    shutil.copytree(synthsign / "videos" / "train", videos)
    (videos / "broken.mp4").write_bytes(b"not a video")
    original = describe_hands.LocalRefiner.refine_batch
    calls = []

    def refine_then_die(self, chunk_lists):
        calls.append(chunk_lists)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while the second video is being refined
        return original(self, chunk_lists)

    monkeypatch.setattr(describe_hands.LocalRefiner, "refine_batch", refine_then_die)
    with pytest.raises(KeyboardInterrupt):
        describe(videos, tmp_path / "out", tiny_describer_models, "--videos_per_batch", "1")
    assert sorted(os.listdir(tmp_path / "out")) == ["000000.json"]
    finished = (tmp_path / "out" / "000000.json").read_text()
    assert json.loads(finished)["refined"]

    monkeypatch.setattr(describe_hands.LocalRefiner, "refine_batch", original)
    summary = describe(videos, tmp_path / "out", tiny_describer_models)
    assert summary.written == ["000001"] and summary.skipped == ["000000"]
    assert [name for name, _ in summary.failed] == ["broken"] and "broken.mp4" in summary.failed[0][1]
    assert sorted(os.listdir(tmp_path / "out")) == ["000000.json", "000001.json"]  # no temporary files
    assert (tmp_path / "out" / "000000.json").read_text() == finished


@pytest.mark.filterwarnings("ignore:'datasets_scripts.preprocessing.describe_hands' found in sys.modules")
def test_command_line_exits_non_zero_when_a_video_fails(tmp_path, tiny_describer_models, monkeypatch):
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    vision_language_model, refiner = tiny_describer_models
    monkeypatch.setattr(sys, "argv", [
        "describe_hands", "--input", str(tmp_path / "broken.mp4"), "--output_dir", str(tmp_path / "out"),
        "--model", vision_language_model, "--refiner", refiner, "--device", "cpu",
    ])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("datasets_scripts.preprocessing.describe_hands", run_name="__main__")
    assert exit_info.value.code == 1
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


@pytest.mark.parametrize("videos_per_batch", ["1", "4"])
def test_empty_answers_are_failures_not_empty_descriptions(synthsign, tmp_path, tiny_describer_models, monkeypatch,
                                                          videos_per_batch):
    monkeypatch.setattr(describe_hands.LocalRefiner, "refine_batch", lambda self, lists: ["  \n "] * len(lists))
    summary = describe(synthsign / "videos" / "dev", tmp_path, tiny_describer_models,
                       "--videos_per_batch", videos_per_batch)
    assert summary.failed == [("000000", "ValueError: the model returned an empty refined description")]
    assert os.listdir(tmp_path) == []


def test_batched_refinement_equals_one_video_at_a_time(tiny_describer_models):
    refiner = describe_hands.LocalRefiner(tiny_describer_models[1], "cpu", max_new_tokens=12, batch_size=3)
    chunk_lists = [  # different lengths, so the batch is padded
        ["The left hand rises."],
        ["Both flat hands circle in front of the body.", "The right fist rises towards the face.", "Hands fall."],
        ["Index finger and thumb open and close near the shoulder.", "The hands fall down."],
        ["A flat hand."],
    ]
    one_at_a_time = [refiner.refine(chunks) for chunks in chunk_lists]
    assert refiner.refine_batch(chunk_lists) == one_at_a_time
    assert len(set(one_at_a_time)) > 1  # the prompts reach the model: not the same answer for every video


def test_video_groups_write_what_one_video_at_a_time_writes(synthsign, tmp_path, tiny_describer_models, monkeypatch):
    videos = tmp_path / "videos"
    shutil.copytree(synthsign / "videos" / "train", videos / "train")
    shutil.copytree(synthsign / "videos" / "dev", videos / "dev")
    (videos / "broken.mp4").write_bytes(b"not a video")
    single = describe(videos, tmp_path / "single", tiny_describer_models, "--videos_per_batch", "1")

    refine_calls, describe_calls = [], []
    refine_batch = describe_hands.LocalRefiner.refine_batch
    describe_segments = describe_hands.SegmentDescriber.describe
    monkeypatch.setattr(describe_hands.LocalRefiner, "refine_batch",
                        lambda self, lists: refine_calls.append(len(lists)) or refine_batch(self, lists))
    monkeypatch.setattr(
        describe_hands.SegmentDescriber, "describe",
        lambda self, segments: describe_calls.append(len(segments)) or describe_segments(self, segments),
    )
    grouped = describe(videos, tmp_path / "grouped", tiny_describer_models, "--videos_per_batch", "4")

    assert refine_calls == [3] and len(describe_calls) == 1  # the broken video fails alone, before the models run
    assert grouped.written == single.written == ["dev/000000", "train/000000", "train/000001"]
    assert [name for name, _ in grouped.failed] == [name for name, _ in single.failed] == ["broken"]
    for name in single.written:
        written = [(tmp_path / run / f"{name}.json").read_text() for run in ("single", "grouped")]
        assert written[0] == written[1]


def test_a_failing_group_call_is_retried_per_video(synthsign, tmp_path, tiny_describer_models, monkeypatch):
    original = describe_hands.LocalRefiner.refine_batch

    def fail_for_groups(self, chunk_lists):
        if len(chunk_lists) > 1:
            raise RuntimeError("out of memory")
        return original(self, chunk_lists)

    monkeypatch.setattr(describe_hands.LocalRefiner, "refine_batch", fail_for_groups)
    summary = describe(synthsign / "videos" / "train", tmp_path, tiny_describer_models)
    assert summary.written == ["000000", "000001"] and not summary.failed
    assert all(json.loads((tmp_path / f"{name}.json").read_text())["refined"] for name in summary.written)


def test_interrupted_group_leaves_no_partial_files_and_a_rerun_finishes(synthsign, tmp_path, tiny_describer_models,
                                                                       monkeypatch):
    def die(self, chunk_lists):
        raise KeyboardInterrupt

    monkeypatch.setattr(describe_hands.LocalRefiner, "refine_batch", die)
    with pytest.raises(KeyboardInterrupt):
        describe(synthsign / "videos" / "train", tmp_path / "out", tiny_describer_models)
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []
    monkeypatch.undo()
    summary = describe(synthsign / "videos" / "train", tmp_path / "out", tiny_describer_models)
    assert summary.written == ["000000", "000001"]
    assert sorted(os.listdir(tmp_path / "out")) == ["000000.json", "000001.json"]


class ChatCompletions(BaseHTTPRequestHandler):
    requests = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ChatCompletions.requests.append((self.path, self.headers.get("Authorization"), body))
        if body["model"] == "overloaded-model":
            status, answer = 503, {"error": {"message": "overloaded"}}
        elif body["model"] == "echo-model":
            status, answer = 200, {"choices": [{"message": {"content": body["messages"][1]["content"]}}]}
        else:
            message = {"role": "assistant", "content": " Both flat hands rise\nto the chest. "}
            status, answer = 200, {"choices": [{"message": message}]}
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    server = HTTPServer(("127.0.0.1", 0), ChatCompletions)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    ChatCompletions.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_api_refiner_sends_the_segments_in_order_with_the_key_from_the_environment(
    chat_server, synthsign, tmp_path, tiny_describer_models, monkeypatch, caplog
):
    caplog.set_level("DEBUG")
    monkeypatch.setenv("SIGN_API_KEY", "secret-key-123")
    summary = describe(synthsign / "videos" / "dev", tmp_path / "out", tiny_describer_models,
                       "--refiner_api_base", chat_server, "--refiner_api_model", "some-model",
                       "--refiner_api_key_env", "SIGN_API_KEY")

    assert summary.written == ["000000"]
    path, authorization, body = ChatCompletions.requests[0]
    assert path == "/v1/chat/completions" and authorization == "Bearer secret-key-123"
    assert body["model"] == "some-model" and body["temperature"] == 0
    written = json.loads((tmp_path / "out" / "000000.json").read_text())
    chunks = [written[f"chunk_{index}"] for index in range(len(written) - 1)]
    expected = "\n".join(f"Part {index + 1}: {text}" for index, text in enumerate(chunks))
    assert body["messages"][1]["content"] == expected
    assert written["refined"] == "Both flat hands rise to the chest."

    APIRefiner(chat_server, "some-model", "SIGN_API_KEY").refine(["left hand rises", "both hands circle", "fists"])
    assert ChatCompletions.requests[1][2]["messages"][1]["content"].splitlines() == [
        "Part 1: left hand rises", "Part 2: both hands circle", "Part 3: fists"
    ]
    assert "secret-key-123" not in caplog.text
    outputs = [path for path in (tmp_path / "out").rglob("*") if path.is_file()]
    assert outputs and not any("secret-key-123" in path.read_text() for path in outputs)


def test_api_refiner_sends_a_group_as_concurrent_requests_and_keeps_the_order(chat_server):
    refiner = APIRefiner(chat_server, "echo-model", max_concurrent_requests=3)
    chunk_lists = [[f"hand {index} rises"] for index in range(5)]
    assert refiner.refine_batch(chunk_lists) == [f"Part 1: hand {index} rises" for index in range(5)]
    assert len(ChatCompletions.requests) == 5
    with pytest.raises(RuntimeError, match="HTTP 503"):
        APIRefiner(chat_server, "overloaded-model").refine_batch(chunk_lists[:2])


def test_api_refiner_names_the_endpoint_when_it_fails(chat_server, tmp_path, tiny_describer_models):
    with pytest.raises(RuntimeError, match=r"/v1/chat/completions answered HTTP 503: .*overloaded"):
        APIRefiner(chat_server, "overloaded-model").refine(["a flat hand"])
    refiner = APIRefiner("http://127.0.0.1:9/v1", "some-model", timeout=2)
    with pytest.raises(RuntimeError, match=r"cannot reach http://127\.0\.0\.1:9/v1/chat/completions"):
        refiner.refine(["a flat hand"])
    with pytest.raises(SystemExit):  # an endpoint without a model name is a usage error
        describe(tmp_path, tmp_path / "out", tiny_describer_models, "--refiner_api_base", chat_server)


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # cut off while being copied
        lambda text: "",
        lambda text: json.dumps({"chunk_1": "The hand rises.", "refined": "The hand rises."}),  # chunk_0 lost
        lambda text: json.dumps({**json.loads(text), "chunk_0": ""}),
        lambda text: "[" * 100_000 + "]" * 100_000,  # nested too deep for the JSON reader
    ],
    ids=["truncated", "empty", "missing-chunk", "empty-chunk", "deep"],
)
def test_rerun_redoes_corrupt_outputs(synthsign, tmp_path, tiny_describer_models, damage, caplog):
    output_dir = tmp_path / "descriptions"
    describe(synthsign / "videos" / "train", output_dir, tiny_describer_models, "--skip_refinement")
    damaged = output_dir / "000001.json"
    damaged.write_text(damage(damaged.read_text()))

    with caplog.at_level("WARNING"):
        rerun = describe(synthsign / "videos" / "train", output_dir, tiny_describer_models, "--skip_refinement")

    assert rerun.skipped == ["000000"] and rerun.written == ["000001"]
    assert f"redoing {damaged}: " in caplog.text
    assert json.loads(damaged.read_text())["chunk_0"]
