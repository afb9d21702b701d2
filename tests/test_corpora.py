"""The public corpora in their own layouts (official Phoenix14T and CSL-Daily releases, How2Sign, OpenASL, captioned
long videos, manifests with segments), loaded through `load_sign_dataset`, and segments of long videos decoded by
seeking."""

import json
import logging
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from corpus_trees import (
    HOW2SIGN_HEADER,
    PHOENIX_HEADER,
    decode_frames,
    long_video_frames,
    write_csl_daily_release,
    write_phoenix_release,
    write_tsv,
    write_video,
)

import run_translation
from datasets_scripts import InvalidSamplesError, LabelFormatError, load_sign_dataset, parse_seconds
from datasets_scripts.media import check_segment, video_timeline
from modeling_beyondgloss import BeyondGlossVideoProcessor


@pytest.fixture(scope="module")
def long_frames(fixtures_dir):
    return long_video_frames(fixtures_dir)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory, long_frames):
    """The three fixture clips as one 9.36-second video at 25 fps, and its frames as decoded."""
    path = write_video(tmp_path_factory.mktemp("long") / "long.mp4", long_frames)
    return path, decode_frames(path)


def segment_indices(timeline, start, end):
    return [index for index, time in enumerate(timeline.frame_times) if start - 1e-6 <= time < end - 1e-6]


# -- segments of long videos --------------------------------------------------------------------------------------


@pytest.mark.parametrize("start, end", [(0.0, 1.0), (0.5, 1.7), (2.02, 4.4), (6.0, 9.36)])
def test_segment_decodes_the_frames_shown_in_its_span(long_video, start, end):
    path, frames = long_video
    timeline = video_timeline(path)
    assert len(timeline.frame_times) == len(frames) == 234
    assert timeline.duration == pytest.approx(9.36)
    expected = segment_indices(timeline, start, end)
    assert timeline.frame_times[:3] == pytest.approx((0.0, 0.04, 0.08))
    assert expected == [k for k in range(234) if start - 1e-9 <= k / 25 < end - 1e-9]
    assert check_segment(path, timeline, start, end) == len(expected)
    decoder = BeyondGlossVideoProcessor(do_resize=False, do_crop=False, max_frames=None)
    segment = decoder.decode_clip(path, start=start, end=end)
    np.testing.assert_array_equal(segment.frames.numpy(), frames[expected])
    assert segment.frame_indices.tolist() == list(range(len(expected)))  # counted from the segment's first frame
    capped = BeyondGlossVideoProcessor(do_resize=False, do_crop=False, max_frames=5).decode_clip(path, start=start,
                                                                                                 end=end)
    np.testing.assert_array_equal(capped.frames.numpy(), frames[expected[:5]])


def test_segment_bounds_are_checked(long_video):
    path, _ = long_video
    timeline = video_timeline(path)
    with pytest.raises(ValueError, match=r"runs past the end of the video \(duration 9\.360 s\)"):
        check_segment(path, timeline, 8.0, 12.0)
    with pytest.raises(ValueError, match="end <= start"):
        check_segment(path, timeline, 3.0, 3.0)
    with pytest.raises(ValueError, match="0 <= start < end"):
        BeyondGlossVideoProcessor().decode_clip(path, start=2.0, end=1.0)


def test_parse_seconds():
    assert parse_seconds("12.5") == 12.5
    assert parse_seconds(3) == 3.0
    assert parse_seconds("00:01:02.500") == 62.5
    assert parse_seconds("1:02,25") == 62.25
    with pytest.raises(ValueError, match="'soon' is not a time"):
        parse_seconds("soon")


# -- Phoenix14T, official release ----------------------------------------------------------------------------------


def as_rows(dataset):
    return {
        split: [
            {key: row[key] for key in ("id", "text", "gloss", "frames", "num_frames")} for row in rows
        ]
        for split, rows in dataset.items()
    }


def test_phoenix_official_release_loads_as_the_gfslt_labels_do(tmp_path, long_frames):
    paths = write_phoenix_release(tmp_path / "data", long_frames)
    official = load_sign_dataset("phoenix14t", data_dir=paths["release"], cache_dir=tmp_path / "cache")
    assert {split: len(rows) for split, rows in official.items()} == {"train": 1, "validation": 2, "test": 1}
    dev = official["validation"][0]
    assert dev["id"] == "dev/11August_2010_Wednesday_tagesschau-2"
    assert dev["text"] == "tiefer luftdruck bestimmt in den nächsten tagen unser wetter"
    assert dev["gloss"] == "DRUCK TIEF KOMMEN" and dev["signer"] == "Signer08"
    assert dev["num_frames"] == 4
    assert dev["frames"][0].endswith("fullFrame-210x260px/dev/11August_2010_Wednesday_tagesschau-2/images0001.png")
    assert dev["start"] is None and dev["end"] is None

    gfslt = load_sign_dataset("phoenix14t", data_dir=paths["gfslt"], frames_dir=paths["frames_dir"],
                              cache_dir=tmp_path / "cache")
    assert as_rows(gfslt) == as_rows(official)
    # The archive's top folder and the annotation folder find the same release.
    for data_dir in (Path(paths["release"]).parent, Path(paths["release"]) / "annotations" / "manual"):
        again = load_sign_dataset("phoenix14t", data_dir=data_dir, cache_dir=tmp_path / "cache")
        assert as_rows(again) == as_rows(official)


def test_phoenix_corpus_file_faults_name_the_file_and_line(tmp_path, long_frames):
    paths = write_phoenix_release(tmp_path / "data", long_frames)
    corpus = Path(paths["release"]) / "annotations" / "manual" / "PHOENIX-2014-T.dev.corpus.csv"
    lines = corpus.read_text(encoding="utf-8").splitlines()
    corpus.write_text("\n".join([lines[0], lines[1] + "|extra field", lines[2]]) + "\n", encoding="utf-8")
    with pytest.raises(LabelFormatError, match=r"PHOENIX-2014-T\.dev\.corpus\.csv:2: 8 fields where the header has 7"):
        load_sign_dataset("phoenix14t", data_dir=paths["release"], cache_dir=tmp_path / "cache")
    corpus.write_text("|".join(PHOENIX_HEADER[:-1]) + "\n" + "a|b|c|d|e|f\n", encoding="utf-8")
    with pytest.raises(LabelFormatError, match=r"corpus\.csv:1: the header .* lacks the column\(s\) \['translation"):
        load_sign_dataset("phoenix14t", data_dir=paths["release"], cache_dir=tmp_path / "cache")


def test_phoenix_release_missing_frames_are_listed(tmp_path, long_frames):
    paths = write_phoenix_release(tmp_path / "data", long_frames)
    shutil.rmtree(Path(paths["frames_dir"]) / "dev" / "11August_2010_Wednesday_tagesschau-3")
    with pytest.raises(InvalidSamplesError, match=r"\[validation\] dev/11August_2010_Wednesday_tagesschau-3: .*"
                                                  r"fullFrame-210x260px/dev/11August_2010_Wednesday_tagesschau-3"):
        load_sign_dataset("phoenix14t", data_dir=paths["release"], cache_dir=tmp_path / "cache")


def test_phoenix_without_labels_or_release_says_what_it_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"neither GFSLT-VLP label files .* nor the official release"):
        load_sign_dataset("phoenix14t", data_dir=tmp_path, cache_dir=tmp_path / "cache")


# -- CSL-Daily, official release -----------------------------------------------------------------------------------


def test_csl_daily_release(tmp_path, long_frames):
    root = write_csl_daily_release(tmp_path, long_frames)
    dataset = load_sign_dataset("csl_daily", data_dir=root, cache_dir=tmp_path / "cache")
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 1, "validation": 1, "test": 1}
    train = dataset["train"][0]
    assert train["id"] == "S000000_P0000_T00"
    assert train["text"] == "我今天很高兴" and train["gloss"] == "我 今天 高兴" and train["signer"] == "P0"
    assert train["num_frames"] == 3 and train["frames"][0].endswith("frames_512x512/S000000_P0000_T00/000001.jpg")
    # Pointing at sentence_label/ finds the same release.
    again = load_sign_dataset("csl_daily", data_dir=Path(root) / "sentence_label", cache_dir=tmp_path / "cache")
    assert as_rows(again) == as_rows(dataset)


def test_csl_daily_split_file_naming_an_unknown_sample(tmp_path, long_frames):
    root = Path(write_csl_daily_release(tmp_path, long_frames))
    with open(root / "sentence_label" / "split_1.txt", "a", encoding="utf-8") as handle:
        handle.write("S999999_P0000_T00|train\n")
    with pytest.raises(LabelFormatError, match=r"split_1\.txt:5: 'S999999_P0000_T00' is not in csl2020ct_v2\.pkl"):
        load_sign_dataset("csl_daily", data_dir=root, cache_dir=tmp_path / "cache")


def test_csl_daily_split_file_without_header_and_with_a_malformed_line(tmp_path, long_frames):
    root = Path(write_csl_daily_release(tmp_path, long_frames))
    split_file = root / "sentence_label" / "split_1.txt"
    lines = split_file.read_text(encoding="utf-8").splitlines()[1:]
    split_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dataset = load_sign_dataset("csl_daily", data_dir=root, cache_dir=tmp_path / "cache")
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 1, "validation": 1, "test": 1}
    split_file.write_text("\n".join(lines + ["S000003_P0000_T00"]) + "\n", encoding="utf-8")
    with pytest.raises(LabelFormatError, match=r"split_1\.txt:4: expected name\|split, got 'S000003_P0000_T00'"):
        load_sign_dataset("csl_daily", data_dir=root, cache_dir=tmp_path / "cache")


def test_csl_daily_label_pickle_without_info(tmp_path, long_frames):
    root = Path(write_csl_daily_release(tmp_path, long_frames))
    with open(root / "sentence_label" / "csl2020ct_v2.pkl", "wb") as handle:
        pickle.dump({"samples": []}, handle)
    with pytest.raises(LabelFormatError, match=r"csl2020ct_v2\.pkl: expected a dict with a non-empty 'info' list"):
        load_sign_dataset("csl_daily", data_dir=root, cache_dir=tmp_path / "cache")


# -- How2Sign ------------------------------------------------------------------------------------------------------


def write_how2sign(root, long_video, past_end=True):
    """Raw videos in `videos/raw/`, one pre-cut sentence clip in `videos/clips/`, and the realigned files."""
    path, frames = long_video
    root = Path(root)
    os.makedirs(root / "videos" / "raw", exist_ok=True)
    shutil.copy(path, root / "videos" / "raw" / "vidA-rgb_front.mp4")
    shutil.copy(path, root / "videos" / "raw" / "vidB-rgb_front.mp4")
    shutil.copy(path, root / "videos" / "raw" / "vidC-rgb_front.mp4")
    timeline = video_timeline(path)
    write_video(root / "videos" / "clips" / "vidA_0-1-rgb_front.mp4", frames[segment_indices(timeline, 0.5, 2.0)])
    train = [
        ["vidA", "vidA-rgb_front", "vidA_0", "vidA_0-1-rgb_front", "0.5", "2.0", "how are you"],  # pre-cut clip
        ["vidA", "vidA-rgb_front", "vidA_1", "vidA_1-1-rgb_front", "2.0", "4.4", "i am fine thank you"],
    ]
    if past_end:
        train.append(["vidA", "vidA-rgb_front", "vidA_2", "vidA_2-1-rgb_front", "8.0", "12.5", "see you later"])
    write_tsv(root / "how2sign_realigned_train.csv", HOW2SIGN_HEADER, train)
    write_tsv(root / "how2sign_realigned_val.csv", HOW2SIGN_HEADER,
              [["vidB", "vidB-rgb_front", "vidB_0", "vidB_0-1-rgb_front", "1.0", "3.0", "good morning"]])
    write_tsv(root / "how2sign_realigned_test.csv", HOW2SIGN_HEADER,
              [["vidC", "vidC-rgb_front", "vidC_0", "vidC_0-1-rgb_front", "3.0", "5.0", "good night"]])
    return root


def test_how2sign_uses_clips_where_present_and_cuts_raw_videos_elsewhere(tmp_path, long_video, caplog):
    root = write_how2sign(tmp_path / "how2sign", long_video)
    with caplog.at_level(logging.WARNING, logger="datasets_scripts.builders.sign_datasets"):
        dataset = load_sign_dataset("how2sign", data_dir=root, cache_dir=tmp_path / "cache")
    # The row past the end of its video (a known fault of How2Sign) is left out and listed, with the duration.
    [warning] = [record.message for record in caplog.records if "run past the end" in record.message]
    assert "left out 1 segments" in warning and "how2sign_realigned_train.csv:4" in warning
    assert "vidA-rgb_front.mp4: segment [8.0, 12.5) runs past the end of the video (duration 9.360 s)" in warning
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 2, "validation": 1, "test": 1}
    clip, segment = dataset["train"]
    assert clip["video"].endswith("clips/vidA_0-1-rgb_front.mp4") and clip["start"] is None
    assert clip["num_frames"] == 37  # the frames at 0.52 ... 1.96 s
    assert segment["video"].endswith("raw/vidA-rgb_front.mp4")
    assert (segment["start"], segment["end"], segment["num_frames"]) == (2.0, 4.4, 60)
    assert segment["text"] == "i am fine thank you"
    decoded = BeyondGlossVideoProcessor(max_frames=None).decode_clip(segment["video"], start=2.0, end=4.4)
    assert len(decoded.frames) == segment["num_frames"]


def test_how2sign_faults(tmp_path, long_video):
    root = write_how2sign(tmp_path / "how2sign", long_video, past_end=False)
    write_tsv(root / "how2sign_realigned_val.csv", HOW2SIGN_HEADER, [
        ["vidB", "vidB-rgb_front", "vidB_0", "vidB_0-1-rgb_front", "3.0", "2.0", "backwards"],
        ["vidB", "vidB-rgb_front", "vidB_1", "vidB_1-1-rgb_front", "one", "2.0", "not a time"],
        ["vidD", "vidD-rgb_front", "vidD_0", "vidD_0-1-rgb_front", "1.0", "2.0", "no video"],
    ])
    with pytest.raises(InvalidSamplesError) as raised:
        load_sign_dataset("how2sign", data_dir=root, cache_dir=tmp_path / "cache")
    message = str(raised.value)
    assert "3 invalid samples" in message
    assert "how2sign_realigned_val.csv:2: " in message and "segment [3.0, 2.0): end <= start" in message
    assert "how2sign_realigned_val.csv:3: the segment's time 'one' is not a time" in message
    assert "realigned_val.csv:4: neither the sentence clip vidD_0-1-rgb_front.mp4 nor the raw video" in message
    write_tsv(root / "how2sign_realigned_val.csv", HOW2SIGN_HEADER[:-1], [["a", "b", "c", "d", "1", "2"]])
    with pytest.raises(LabelFormatError, match=r"realigned_val\.csv:1: .* lacks the column\(s\) \['SENTENCE'\]"):
        load_sign_dataset("how2sign", data_dir=root, cache_dir=tmp_path / "cache")


def test_how2sign_finds_videos_anywhere_under_data_dir(tmp_path, long_video):
    write_tsv(tmp_path / "how2sign_realigned_train.csv", HOW2SIGN_HEADER, [["v", "v-rgb_front", "s", "s-rgb_front",
                                                                           "1.0", "2.0", "hi"]])
    with pytest.raises(InvalidSamplesError, match=r"neither the sentence clip s-rgb_front\.mp4 nor the raw video"):
        load_sign_dataset("how2sign", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    os.makedirs(tmp_path / "train" / "rgb_front" / "raw_videos")
    shutil.copy(long_video[0], tmp_path / "train" / "rgb_front" / "raw_videos" / "v-rgb_front.mp4")
    dataset = load_sign_dataset("how2sign", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert dataset["train"][0]["video"].endswith("raw_videos/v-rgb_front.mp4")


# -- OpenASL -------------------------------------------------------------------------------------------------------

OPENASL_HEADER = ["vid", "yid", "start", "end", "raw-text", "tokenized-text", "gloss", "split"]


def test_openasl(tmp_path, long_video):
    path, _ = long_video
    root = tmp_path / "openasl"
    os.makedirs(root / "videos")
    shutil.copy(path, root / "videos" / "abcDEF12345.mp4")
    rows = [
        ["abcDEF12345-00:00:00.500-00:00:02.500", "abcDEF12345", "00:00:00.500", "00:00:02.500", "Hello, world!",
         "hello , world !", "HELLO WORLD", "train"],
        ["abcDEF12345-00:00:03.000-00:00:05.000", "abcDEF12345", "3.0", "5.0", "Second one.", "second one .", "",
         "valid"],
        ["abcDEF12345-00:00:05.000-00:00:06.000", "abcDEF12345", "5.0", "6.0", "Third.", "third .", "", "test"],
    ]
    write_tsv(root / "data" / "openasl-v1.0.tsv", OPENASL_HEADER, rows)
    dataset = load_sign_dataset("openasl", data_dir=root, cache_dir=tmp_path / "cache")
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 1, "validation": 1, "test": 1}
    train = dataset["train"][0]
    assert train["id"] == "abcDEF12345-00:00:00.500-00:00:02.500" and train["text"] == "Hello, world!"
    assert (train["start"], train["end"], train["num_frames"], train["gloss"]) == (0.5, 2.5, 50, "HELLO WORLD")
    assert dataset["validation"][0]["gloss"] is None

    rows.append(["zzz-0-1", "zzz", "0", "1", "Missing video.", "missing video .", "", "train"])
    write_tsv(root / "data" / "openasl-v1.0.tsv", OPENASL_HEADER, rows)
    with pytest.raises(InvalidSamplesError, match=r"openasl-v1\.0\.tsv:5: .*/zzz\.mp4: video file does not exist"):
        load_sign_dataset("openasl", data_dir=root, cache_dir=tmp_path / "cache")


# -- captioned long videos -----------------------------------------------------------------------------------------

VTT = """WEBVTT

00:00:00.500 --> 00:00:02.000
<c>Hello</c> there,
my friends.

00:00:02.000 --> 00:00:02.200
Too short.

00:00:03.000 --> 00:00:06.000
Welcome to the lecture.
"""

SRT = """1
00:00:01,000 --> 00:00:03,500
Good evening.

2
00:00:04,000 --> 00:00:05,000
Here is the news.
"""


def write_captioned(root, long_video):
    path, _ = long_video
    for split in ("train", "test"):
        os.makedirs(root / split, exist_ok=True)
    shutil.copy(path, root / "train" / "talk.mp4")
    (root / "train" / "talk.en.vtt").write_text(VTT, encoding="utf-8")
    shutil.copy(path, root / "test" / "news.mp4")
    (root / "test" / "news.srt").write_text(SRT, encoding="utf-8")
    return root


def test_captioned_videos_one_sample_per_cue(tmp_path, long_video):
    root = write_captioned(tmp_path / "youtube", long_video)
    dataset = load_sign_dataset("captioned_videos", data_dir=root, cache_dir=tmp_path / "cache")
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 3, "test": 2}
    first = dataset["train"][0]
    assert first["id"] == "talk-1" and first["text"] == "Hello there, my friends."
    assert (first["start"], first["end"], first["num_frames"]) == (0.5, 2.0, 37)
    assert [row["text"] for row in dataset["test"]] == ["Good evening.", "Here is the news."]
    assert dataset["test"][1]["num_frames"] == 25

    longer = load_sign_dataset("captioned_videos", data_dir=root, cache_dir=tmp_path / "cache",
                               min_segment_seconds=0.5, max_segment_seconds=2.4)
    assert [row["id"] for row in longer["train"]] == ["talk-1"]
    assert [row["id"] for row in longer["test"]] == ["news-2"]


def test_captioned_videos_in_one_folder_are_the_train_split(tmp_path, long_video):
    path, _ = long_video
    shutil.copy(path, tmp_path / "clip.mp4")
    (tmp_path / "clip.srt").write_text(SRT, encoding="utf-8")
    dataset = load_sign_dataset("captioned_videos", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert list(dataset) == ["train"] and len(dataset["train"]) == 2


def test_captioned_videos_faults(tmp_path, long_video):
    root = write_captioned(tmp_path / "youtube", long_video)
    (root / "test" / "news.srt").write_text(SRT.replace("00:00:04,000 --> 00:00:05,000", "00:00:09,000 --> "
                                                                                          "00:00:11,000"))
    with pytest.raises(InvalidSamplesError) as raised:
        load_sign_dataset("captioned_videos", data_dir=root, cache_dir=tmp_path / "cache")
    assert "news.srt:6: " in str(raised.value)
    assert "segment [9.0, 11.0) runs past the end of the video (duration 9.360 s)" in str(raised.value)

    (root / "test" / "news.srt").write_text("", encoding="utf-8")
    with pytest.raises(LabelFormatError, match=r"news\.srt: the caption file has no cues"):
        load_sign_dataset("captioned_videos", data_dir=root, cache_dir=tmp_path / "cache")
    (root / "test" / "news.srt").write_text("1\nnot a time line\nHello\n", encoding="utf-8")
    with pytest.raises(LabelFormatError, match=r"news\.srt"):
        load_sign_dataset("captioned_videos", data_dir=root, cache_dir=tmp_path / "cache")
    os.remove(root / "test" / "news.srt")
    (root / "train" / "talk.vtt").write_text(VTT, encoding="utf-8")
    with pytest.raises(LabelFormatError, match=r"already has the caption file"):
        load_sign_dataset("captioned_videos", data_dir=root, cache_dir=tmp_path / "cache")


# -- custom manifests with segments --------------------------------------------------------------------------------


def test_custom_manifest_segments(tmp_path, long_video):
    path, _ = long_video
    shutil.copy(path, tmp_path / "long.mp4")
    rows = [
        {"id": "a", "text": "first", "video": "long.mp4", "start": 0.5, "end": 1.5, "signer": "S1"},
        {"id": "b", "text": "second", "video": "long.mp4", "start": "00:00:02.000", "end": "00:00:03.000"},
        {"id": "c", "text": "whole", "video": "long.mp4"},
    ]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    dataset = load_sign_dataset("custom", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    a, b, c = dataset["train"]
    assert (a["start"], a["end"], a["num_frames"], a["signer"]) == (0.5, 1.5, 25, "S1")
    assert (b["start"], b["end"], b["num_frames"]) == (2.0, 3.0, 25)
    assert (c["start"], c["end"], c["num_frames"]) == (None, None, 234)

    os.remove(tmp_path / "train.jsonl")
    (tmp_path / "train.csv").write_text(
        "id,text,video,start,end\n"
        "a,first,long.mp4,2.0,1.0\n"
        "b,second,long.mp4,x,1.0\n"
        "c,third,long.mp4,1.0,\n"
        "d,fourth,long.mp4,5.0,12.0\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidSamplesError) as raised:
        load_sign_dataset("custom", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    message = str(raised.value)
    assert "4 invalid samples" in message
    assert "train.csv:2: " in message and "end <= start" in message
    assert "train.csv:3: the segment's time 'x' is not a time" in message
    assert "train.csv:4: a segment needs both start and end" in message
    assert "train.csv:5: " in message and "duration 9.360 s" in message


def test_segment_of_a_frame_folder_is_refused(tmp_path, long_frames):
    from corpus_trees import write_frame_folder

    write_frame_folder(tmp_path / "frames" / "a", long_frames[:3, ::8, ::8])
    (tmp_path / "train.jsonl").write_text(
        json.dumps({"id": "a", "text": "x", "frames": "frames/a", "start": 0, "end": 1}) + "\n", encoding="utf-8"
    )
    with pytest.raises(InvalidSamplesError, match=r"a segment \[0.0, 1.0\) needs a video file"):
        load_sign_dataset("custom", data_dir=tmp_path, cache_dir=tmp_path / "cache")


# -- training on the corpora ---------------------------------------------------------------------------------------

TRAIN_FLAGS = [
    "--do_train", "--max_steps", "2", "--per_device_train_batch_size", "2", "--logging_steps", "1",
    "--report_to", "none", "--dataloader_num_workers", "0", "--seed", "0", "--disable_tqdm", "true",
    "--max_frames", "16",
]


def test_translation_trains_on_the_official_phoenix_release(tmp_path, long_frames, repo_root):
    paths = write_phoenix_release(tmp_path / "data", long_frames)
    metrics = run_translation.main([
        "--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"),
        "--dataset_name", "phoenix14t", "--data_dir", paths["release"],
        "--dataset_cache_dir", str(tmp_path / "cache"), "--output_dir", str(tmp_path / "out"), *TRAIN_FLAGS,
    ])
    assert metrics["train_loss"] > 0 and (tmp_path / "out" / "model.safetensors").is_file()


def test_translation_trains_on_how2sign_segments(tmp_path, long_video, repo_root):
    root = write_how2sign(tmp_path / "how2sign", long_video, past_end=False)
    shutil.rmtree(root / "videos" / "clips")  # every sample a segment of a raw video
    metrics = run_translation.main([
        "--model_name_or_path", str(repo_root / "configs" / "beyondgloss-tiny.json"),
        "--dataset_name", "how2sign", "--data_dir", str(root),
        "--dataset_cache_dir", str(tmp_path / "cache"), "--output_dir", str(tmp_path / "out"), *TRAIN_FLAGS,
    ])
    assert metrics["train_loss"] > 0 and (tmp_path / "out" / "model.safetensors").is_file()
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["text_config"]["decoder_start_token_id"] is not None


# -- pose-format hand features in corpus trees ---------------------------------------------------------------------


def test_pose_file_of_a_long_video_gives_each_segment_its_span(tmp_path, long_video):
    from pose_files import write_pose_file

    from datasets_scripts.builders.features import read_pose_hand_features

    root = write_captioned(tmp_path / "youtube", long_video)
    poses = tmp_path / "poses"
    poses.mkdir()
    write_pose_file(poses / "talk.pose", num_frames=234, fps=25, width=320, height=240)
    write_pose_file(poses / "news.pose", num_frames=234, fps=25, width=320, height=240)
    dataset = load_sign_dataset("captioned_videos", data_dir=root, hand_features_dir=poses,
                                cache_dir=tmp_path / "cache")
    whole, _, _ = read_pose_hand_features(str(poses / "talk.pose"))
    first = dataset["train"][0]  # [0.5, 2.0): the frames 13 ... 49
    features = np.asarray(first["hand_features"], dtype=np.float32)
    assert features.shape == (37, 128) and all(first["hand_mask"])
    np.testing.assert_allclose(features, whole[13:50].astype(np.float16).astype(np.float32))


def test_pose_file_faults_in_a_corpus(tmp_path, long_video):
    from pose_files import write_pose_file

    path, _ = long_video
    shutil.copy(path, tmp_path / "a.mp4")
    shutil.copy(path, tmp_path / "b.mp4")
    shutil.copy(path, tmp_path / "c.mp4")
    rows = [{"id": name, "text": "hello", "video": f"{name}.mp4"} for name in ("a", "b", "c")]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    poses = tmp_path / "poses"
    poses.mkdir()
    write_pose_file(poses / "a.pose", num_frames=200, fps=25, width=320, height=240)  # too short
    write_pose_file(poses / "b.pose", num_frames=234, fps=30, width=320, height=240)  # another rate
    write_pose_file(poses / "c.pose", num_frames=234, fps=25, width=320, height=240, hands=False)
    with pytest.raises(InvalidSamplesError) as raised:
        load_sign_dataset("custom", data_dir=tmp_path, hand_features_dir=poses, cache_dir=tmp_path / "cache")
    message = str(raised.value)
    assert "3 invalid samples" in message
    assert "a.pose" in message and "200" in message and "234" in message
    assert "b.pose" in message and "30" in message and "25" in message
    assert "c.pose" in message and "LEFT_HAND_LANDMARKS" in message
