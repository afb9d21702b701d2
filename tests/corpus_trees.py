"""Tiny trees in the on-disk layouts of the public corpora, made from the fixture ASL clips, for the tests."""

import csv
import gzip
import os
import pickle
from pathlib import Path

import av
import numpy as np
from PIL import Image

from modeling_beyondgloss import BeyondGlossVideoProcessor


FIXTURE_CLIPS = ("asl_house", "asl_different", "asl_wrong_what")
FPS = 25


def decode_frames(path) -> np.ndarray:
    """Every frame of a video at its own size, `(frames, height, width, 3)` uint8."""
    decoder = BeyondGlossVideoProcessor(do_resize=False, do_crop=False, max_frames=None)
    return decoder.decode_clip(str(path)).frames.numpy()


def write_video(path, frames: np.ndarray, fps: int = FPS, keyframe_every: int = 12) -> str:
    """Encode `frames` as H.264 at `fps`, a keyframe every `keyframe_every` frames (so seeking has work to do)."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = keyframe_every
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def long_video_frames(fixtures_dir, repeats: int = 1) -> np.ndarray:
    """The three fixture clips one after the other (234 frames, 9.36 s at 25 fps), `repeats` times."""
    clips = [decode_frames(Path(fixtures_dir) / "videos" / f"{name}.mp4") for name in FIXTURE_CLIPS]
    return np.concatenate(clips * repeats)


def write_frame_folder(folder, frames: np.ndarray, pattern: str = "images{:04d}.png") -> list[str]:
    os.makedirs(folder, exist_ok=True)
    paths = []
    for index, frame in enumerate(frames, start=1):
        path = os.path.join(folder, pattern.format(index))
        Image.fromarray(frame).save(path)
        paths.append(path)
    return paths


PHOENIX_HEADER = ["name", "video", "start", "end", "speaker", "orth", "translation"]
PHOENIX_SAMPLES = {
    "train": [("01April_2010_Thursday_heute-6694", "Signer04", "JETZT WETTER", "und nun die wettervorhersage")],
    "dev": [
        ("11August_2010_Wednesday_tagesschau-2", "Signer08", "DRUCK TIEF KOMMEN",
         "tiefer luftdruck bestimmt in den nächsten tagen unser wetter"),
        ("11August_2010_Wednesday_tagesschau-3", "Signer08", "VIEL WOLKE KOENNEN REGEN",
         "das bedeutet viele wolken und immer wieder zum teil kräftige schauer und gewitter"),
    ],
    "test": [("25October_2010_Monday_tagesschau-17", "Signer01", "REGEN SCHNEE", "regen und schnee im bergland")],
}


def write_phoenix_release(root, frames: np.ndarray, frames_per_clip: int = 4) -> dict:
    """`PHOENIX-2014-T-release-v3/PHOENIX-2014-T/` as RWTH distributes it (small frames cut from `frames`) and the
    GFSLT-VLP label files for the same clips beside it (in `<root>/gfslt`). Returns the paths."""
    release = Path(root) / "PHOENIX-2014-T-release-v3" / "PHOENIX-2014-T"
    annotations = release / "annotations" / "manual"
    annotations.mkdir(parents=True)
    frames_dir = release / "features" / "fullFrame-210x260px"
    gfslt = Path(root) / "gfslt"
    gfslt.mkdir()
    offset = 0
    for folder, samples in PHOENIX_SAMPLES.items():
        rows, labels = [], {}
        for name, speaker, gloss, text in samples:
            clip = frames[offset: offset + frames_per_clip, ::4, ::4]  # 80x60, small and quick
            offset += frames_per_clip
            images = write_frame_folder(frames_dir / folder / name, clip)
            rows.append([name, f"{name}/1/*.png", "-1", "-1", speaker, gloss, text])
            labels[f"{folder}/{name}"] = {
                "name": f"{folder}/{name}",
                "gloss": gloss,
                "text": text,
                "length": len(images),
                "imgs_path": [os.path.relpath(image, frames_dir) for image in images],
            }
        with open(annotations / f"PHOENIX-2014-T.{folder}.corpus.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="|", quoting=csv.QUOTE_NONE, escapechar=None)
            writer.writerow(PHOENIX_HEADER)
            writer.writerows(rows)
        with gzip.open(gfslt / f"labels.{folder}", "wb") as handle:
            pickle.dump(labels, handle)
    return {"release": str(release), "frames_dir": str(frames_dir), "gfslt": str(gfslt)}


def write_csl_daily_release(root, frames: np.ndarray) -> str:
    """`CSL-Daily/` with `sentence_label/csl2020ct_v2.pkl`, `split_1.txt` and JPEG frame folders."""
    root = Path(root) / "CSL-Daily"
    (root / "sentence_label").mkdir(parents=True)
    samples = [
        ("S000000_P0000_T00", "train", ["我", "今天", "很", "高兴"], ["我", "今天", "高兴"], "P0"),
        ("S000001_P0001_T00", "dev", ["你", "好"], ["你", "好"], "P1"),
        ("S000002_P0002_T00", "test", ["谢谢", "你"], ["谢谢", "你"], "P2"),
    ]
    info = []
    for index, (name, _, words, glosses, signer) in enumerate(samples):
        clip = frames[index * 3: index * 3 + 3, ::4, ::4]
        write_frame_folder(root / "sentence" / "frames_512x512" / name, clip, pattern="{:06d}.jpg")
        info.append({
            "name": name, "length": len(clip), "label_gloss": glosses, "label_char": list("".join(words)),
            "label_word": words, "label_postag": ["n"] * len(words), "signer": signer, "time": 0,
        })
    with open(root / "sentence_label" / "csl2020ct_v2.pkl", "wb") as handle:
        pickle.dump({"info": info, "gloss_map": [], "char_map": [], "word_map": []}, handle)
    lines = ["name|split"] + [f"{name}|{split}" for name, split, *_ in samples]
    (root / "sentence_label" / "split_1.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(root)


HOW2SIGN_HEADER = ["VIDEO_ID", "VIDEO_NAME", "SENTENCE_ID", "SENTENCE_NAME", "START_REALIGNED", "END_REALIGNED",
                   "SENTENCE"]


def write_tsv(path, header, rows):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)
