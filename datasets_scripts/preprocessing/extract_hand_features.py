"""Per-frame hand features for the hand-distillation loss: import HaMeR pickles or pose-format files, run HaMeR, or
run MediaPipe Hands.

Every video becomes `<output_dir>/<video name>.safetensors` holding `hand_features` `[T, D]` (float16) and
`hand_mask` `[T]` (bool, the frames where a hand was found, so the loss can leave the others out), the format
`load_sign_dataset` reads. The file's metadata names the teacher and its layout.

Teachers:
- `import-hamer`: the lzma pickles of the reference implementation (`{"features": [T, 288], ...}` under
  `<split>/<video>/<video>.lzma`), read with the restricted unpickler; undetected frames (all-zero rows) are masked.
- `import-pose` (or `--from_pose DIR`): pose-format `.pose` files of MediaPipe Holistic landmarks (as
  sign-language-processing/datasets ships them), converted to the 128-d MediaPipe layout below; frames where
  MediaPipe found no hand are masked, and the metadata keeps the file's frame rate.
- `hamer`: runs HaMeR (https://github.com/geopavlakos/hamer, which needs the MANO model from its authors) on hand boxes
  found by MediaPipe and writes the 288-d layout below. Needs the `hamer` package and the `[hands]` extra.
- `mediapipe`: MediaPipe Hands (`pip install "beyondgloss[hands]"`: mediapipe 0.10.14, whose wheel carries its hand
  models and runs offline on the CPU); 128-d layout below. The training scripts size the hand branch from it.

HaMeR layout (288): `[0:135]` slot 0 hand pose (15 joints x 3x3 rotation), `[135:270]` slot 1 hand pose, `[270:279]`
slot 0 global orientation (3x3), `[279:288]` slot 1 global orientation. Slot 0 = left, slot 1 = right; a single
hand fills both slots; a frame without hands is all zeros.

MediaPipe layout (128): `[0:63]` the signer's left hand, 21 landmarks x (x, y, z) with x, y in [0, 1] image
coordinates and z the depth relative to the wrist on the scale of x; `[63]` its handedness score; `[64:127]` and
`[127]` the same for the right hand. A hand not found leaves its 64 values at zero.

Command lines:

    beyondgloss-extract-hand-features mediapipe --input videos/ --output_dir hand_features/
    beyondgloss-extract-hand-features import-hamer --input hamer_lzma/ --output_dir hand_features/
    beyondgloss-extract-hand-features --from_pose poses/ --output_dir hand_features/
    beyondgloss-extract-hand-features import-pose --input poses/ --output_dir hand_features/  # the same
    beyondgloss-extract-hand-features hamer --input frames/ --output_dir hand_features/ \\
        --checkpoint _DATA/hamer_ckpts/checkpoints/hamer.ckpt
"""

import argparse
import importlib.util
import logging
import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np
from safetensors.numpy import save_file

from ..builders.features import read_hand_features
from ..media import decode_video
from .jobs import (
    JobSummary,
    VideoSource,
    add_job_arguments,
    atomic_output,
    find_videos,
    run_jobs,
    select_shard,
    verified_output,
)


__all__ = [
    "HAMER_FEATURE_DIM",
    "MEDIAPIPE_FEATURE_DIM",
    "DetectedHand",
    "HamerExtractor",
    "MediaPipeHandDetector",
    "find_hamer_pickles",
    "find_pose_files",
    "hamer_frame_features",
    "import_hamer_file",
    "import_pose_file",
    "main",
    "mediapipe_frame_features",
    "save_hand_features",
]

logger = logging.getLogger(__name__)

HAMER_FEATURE_DIM = 288
NUM_LANDMARKS = 21
MEDIAPIPE_HAND_DIM = NUM_LANDMARKS * 3 + 1
MEDIAPIPE_FEATURE_DIM = 2 * MEDIAPIPE_HAND_DIM
HAMER_PICKLE_EXTENSIONS = (".lzma", ".xz", ".pkl")
MEDIAPIPE_INSTALL_HINT = (
    "MediaPipe is not installed: `pip install \"beyondgloss[hands]\"` (mediapipe==0.10.14, the last release whose "
    "wheel carries its hand models)."
)
HAMER_INSTALL_HINT = (
    "HaMeR is not installed. Install it from https://github.com/geopavlakos/hamer (`pip install -e .[all]` in its "
    "clone, then `bash fetch_demo_data.sh`), register at https://mano.is.tue.mpg.de to download MANO_RIGHT.pkl into "
    "its `_DATA/data/mano/`, and see docs/preprocessing.md. Without HaMeR, `import-hamer` converts existing HaMeR "
    "features and `mediapipe` computes a CPU teacher."
)


def save_hand_features(path: str, features: np.ndarray, mask: np.ndarray, metadata: dict[str, str]) -> None:
    """Atomically write `hand_features` `[T, D]` (float16) and `hand_mask` `[T]` (bool) with string metadata."""
    features = np.ascontiguousarray(features, dtype=np.float16)
    mask = np.ascontiguousarray(mask, dtype=bool)
    if features.ndim != 2 or mask.shape != (features.shape[0],):
        raise ValueError(f"expected features [T, D] and mask [T], got {list(features.shape)} and {list(mask.shape)}")
    metadata = {**metadata, "feature_dim": str(features.shape[1]), "frames": str(features.shape[0])}
    with atomic_output(path, suffix=".safetensors") as temporary:
        save_file({"hand_features": features, "hand_mask": mask}, temporary, metadata=metadata)


# ---------------------------------------------------------------------------------------------------- HaMeR import


def find_hamer_pickles(input_path: str) -> list[VideoSource]:
    """The HaMeR pickles under `input_path`, named like the videos: `<split>/<video>/<video>.lzma` becomes
    `<split>/<video>`."""
    if os.path.isfile(input_path):
        return [VideoSource(os.path.basename(input_path).split(".")[0], input_path)]
    if not os.path.isdir(input_path):
        raise FileNotFoundError(f"{input_path}: no such file or folder")
    sources = []
    for root, dirnames, filenames in os.walk(input_path):
        dirnames.sort()
        for filename in sorted(filenames):
            if not filename.lower().endswith(HAMER_PICKLE_EXTENSIONS):
                continue
            stem = filename.split(".")[0]
            relative_root = os.path.relpath(root, input_path)
            # The reference layout nests each video's file in a folder of the same name.
            if os.path.basename(root) == stem and relative_root != ".":
                name = relative_root
            else:
                name = os.path.normpath(os.path.join(relative_root, stem))
            sources.append(VideoSource(name.replace(os.sep, "/"), os.path.join(root, filename)))
    if not sources:
        raise FileNotFoundError(f"{input_path}: no HaMeR pickles ({', '.join(HAMER_PICKLE_EXTENSIONS)}) found")
    return sources


def import_hamer_file(source_path: str, output_path: str) -> None:
    """Convert one reference HaMeR pickle to safetensors; all-zero rows (no hand found) become masked frames."""
    hand = read_hand_features(source_path)
    features = hand.features.astype(np.float32)
    if features.shape[1] != HAMER_FEATURE_DIM:
        raise ValueError(
            f"{source_path}: expected {HAMER_FEATURE_DIM} HaMeR values per frame, got {features.shape[1]}"
        )
    detected = np.any(features != 0, axis=1) & hand.mask
    save_hand_features(
        output_path,
        features,
        detected,
        {"teacher": "hamer", "layout": "hamer-288", "source": os.path.basename(source_path)},
    )


# ---------------------------------------------------------------------------------------------------- pose import


def find_pose_files(input_path: str) -> list[VideoSource]:
    """The `.pose` files under `input_path` (recursively), named by their path relative to it without the extension:
    `<input>/dev/clip_001.pose` becomes `dev/clip_001`."""
    if os.path.isfile(input_path):
        if not input_path.lower().endswith(".pose"):
            raise FileNotFoundError(f"{input_path}: not a .pose file")
        return [VideoSource(os.path.splitext(os.path.basename(input_path))[0], input_path)]
    if not os.path.isdir(input_path):
        raise FileNotFoundError(f"{input_path}: no such file or folder")
    sources = []
    for root, dirnames, filenames in os.walk(input_path):
        dirnames.sort()
        for filename in sorted(filenames):
            if filename.lower().endswith(".pose"):
                path = os.path.join(root, filename)
                name = os.path.splitext(os.path.relpath(path, input_path))[0]
                sources.append(VideoSource(name.replace(os.sep, "/"), path))
    if not sources:
        raise FileNotFoundError(f"{input_path}: no .pose files found")
    return sources


def import_pose_file(source_path: str, output_path: str) -> None:
    """Convert one pose-format file of MediaPipe Holistic landmarks to safetensors in the MediaPipe layout."""
    hand = read_hand_features(source_path)
    save_hand_features(
        output_path,
        hand.features,
        hand.mask,
        {
            "teacher": "pose-format",
            "layout": "mediapipe-128",
            "fps": repr(hand.fps),
            "source": os.path.basename(source_path),
        },
    )


# ---------------------------------------------------------------------------------------------------- MediaPipe


@dataclass
class DetectedHand:
    """One hand in one frame: 21 landmarks `(21, 3)` (x, y in [0, 1] of the image, relative z), whether it is the
    signer's right hand, the handedness score, and its pixel box `(x0, y0, x1, y1)`."""

    landmarks: np.ndarray
    is_right: bool
    score: float
    box: tuple[float, float, float, float]


def _import_mediapipe():
    if importlib.util.find_spec("mediapipe") is None:
        raise ImportError(MEDIAPIPE_INSTALL_HINT)
    os.environ.setdefault("GLOG_minloglevel", "2")  # keep its C++ start-up chatter out of the progress bar
    import mediapipe

    return mediapipe


class MediaPipeHandDetector:
    """MediaPipe Hands in tracking mode, one instance per video (tracking state must not leak between videos).

    MediaPipe names handedness as if the image were mirrored (a selfie camera); sign language corpora are filmed
    unmirrored, so its "Left" is the signer's right hand unless `mirrored=True`.
    """

    def __init__(self, model_complexity: int = 1, min_detection_confidence: float = 0.5, mirrored: bool = False):
        self.model_complexity = model_complexity
        self.min_detection_confidence = min_detection_confidence
        self.mirrored = mirrored

    def __call__(self, frames: np.ndarray) -> list[list[DetectedHand]]:
        """Detect the hands of every frame of one video `(T, H, W, 3)` uint8 RGB."""
        mediapipe = _import_mediapipe()
        height, width = frames.shape[1:3]
        detections = []
        with (
            warnings.catch_warnings(),
            mediapipe.solutions.hands.Hands(
                static_image_mode=False,
                max_num_hands=2,
                model_complexity=self.model_complexity,
                min_detection_confidence=self.min_detection_confidence,
            ) as hands,
        ):
            # MediaPipe 0.10.14 calls a protobuf method that warns on every frame.
            warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype")
            for frame in frames:
                result = hands.process(np.ascontiguousarray(frame))
                found = []
                for landmarks, handedness in zip(result.multi_hand_landmarks or [], result.multi_handedness or []):
                    points = np.array([(point.x, point.y, point.z) for point in landmarks.landmark], dtype=np.float32)
                    label = handedness.classification[0]
                    is_right = (label.label == "Right") == self.mirrored
                    x0, y0 = points[:, 0].min() * width, points[:, 1].min() * height
                    x1, y1 = points[:, 0].max() * width, points[:, 1].max() * height
                    found.append(DetectedHand(points, is_right, float(label.score), (x0, y0, x1, y1)))
                detections.append(found)
        return detections


def _assign_slots(hands: list[DetectedHand]) -> list[DetectedHand | None]:
    """`[left, right]`; when both hands claim one side, the more confident keeps it and the other takes the free
    one."""
    slots: list[DetectedHand | None] = [None, None]
    for hand in sorted(hands, key=lambda hand: -hand.score)[:2]:
        side = int(hand.is_right)
        slots[side if slots[side] is None else 1 - side] = hand
    return slots


def mediapipe_frame_features(hands: list[DetectedHand]) -> np.ndarray:
    """The 128-d MediaPipe layout of one frame."""
    features = np.zeros(MEDIAPIPE_FEATURE_DIM, dtype=np.float32)
    for slot, hand in enumerate(_assign_slots(hands)):
        if hand is not None:
            start = slot * MEDIAPIPE_HAND_DIM
            features[start : start + NUM_LANDMARKS * 3] = hand.landmarks.reshape(-1)
            features[start + NUM_LANDMARKS * 3] = hand.score
    return features


def extract_mediapipe(source: VideoSource, output_path: str, detector: MediaPipeHandDetector) -> None:
    frames = decode_video(source.path)
    detections = detector(frames)
    features = np.stack([mediapipe_frame_features(hands) for hands in detections])
    mask = np.array([bool(hands) for hands in detections])
    save_hand_features(output_path, features, mask, {"teacher": "mediapipe", "layout": "mediapipe-128"})


# ---------------------------------------------------------------------------------------------------- HaMeR


def hamer_frame_features(hands: dict[bool, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The 288-d HaMeR layout of one frame from `{is_right: (hand_pose (15, 3, 3), global_orient (3, 3))}`."""
    features = np.zeros(HAMER_FEATURE_DIM, dtype=np.float32)
    if not hands:
        return features
    # A single detected hand fills both slots, as in the reference features.
    slots = [hands.get(False, hands.get(True)), hands.get(True, hands.get(False))]
    for slot, (hand_pose, global_orient) in enumerate(slots):
        features[slot * 135 : (slot + 1) * 135] = np.asarray(hand_pose, dtype=np.float32).reshape(-1)
        features[270 + slot * 9 : 270 + (slot + 1) * 9] = np.asarray(global_orient, dtype=np.float32).reshape(-1)
    return features


class HamerExtractor:
    """HaMeR on hand boxes from a detector (MediaPipe by default, instead of HaMeR's ViTDet + ViTPose pipeline).

    HaMeR predicts every hand as a right hand, mirroring left-hand crops; the rotations are stored as predicted.
    """

    def __init__(
        self,
        checkpoint: str | None = None,
        device: str | None = None,
        batch_size: int = 32,
        rescale_factor: float = 2.0,
        detector=None,
    ):
        if importlib.util.find_spec("hamer") is None:
            raise ImportError(HAMER_INSTALL_HINT)
        import torch
        from hamer.models import DEFAULT_CHECKPOINT, load_hamer

        self.torch = torch
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model, self.model_config = load_hamer(checkpoint or DEFAULT_CHECKPOINT)
        self.model = self.model.to(self.device).eval()
        self.batch_size = batch_size
        self.rescale_factor = rescale_factor
        self.detector = detector or MediaPipeHandDetector()

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`(features [T, 288], mask [T])` for one video `(T, H, W, 3)` uint8 RGB."""
        from hamer.datasets.vitdet_dataset import ViTDetDataset
        from hamer.utils import recursive_to

        detections = self.detector(frames)
        features = np.zeros((len(frames), HAMER_FEATURE_DIM), dtype=np.float32)
        for index, (frame, hands) in enumerate(zip(frames, detections)):
            slots = [(slot, hand) for slot, hand in enumerate(_assign_slots(hands)) if hand is not None]
            if not slots:
                continue
            boxes = np.array([hand.box for _, hand in slots], dtype=np.float32)
            # The slot, not MediaPipe's label, decides: two hands labelled alike still go to both sides.
            right = np.array([float(slot) for slot, _ in slots], dtype=np.float32)
            # HaMeR's dataset expects OpenCV's BGR order.
            dataset = ViTDetDataset(
                self.model_config, frame[..., ::-1].copy(), boxes, right, rescale_factor=self.rescale_factor
            )
            loader = self.torch.utils.data.DataLoader(dataset, batch_size=self.batch_size, shuffle=False)
            predicted = {}
            with self.torch.inference_mode():
                for batch in loader:
                    output = self.model(recursive_to(batch, self.device))
                    mano = output["pred_mano_params"]
                    for is_right, hand_pose, global_orient in zip(
                        batch["right"].tolist(), mano["hand_pose"].cpu().numpy(), mano["global_orient"].cpu().numpy()
                    ):
                        predicted[bool(is_right)] = (hand_pose, global_orient.reshape(3, 3))
            features[index] = hamer_frame_features(predicted)
        mask = np.array([bool(hands) for hands in detections])
        return features, mask


def extract_hamer(source: VideoSource, output_path: str, extractor: HamerExtractor) -> None:
    features, mask = extractor(decode_video(source.path))
    save_hand_features(output_path, features, mask, {"teacher": "hamer", "layout": "hamer-288"})


# ---------------------------------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="`--from_pose DIR` is short for `import-pose --input DIR`."
    )
    teachers = parser.add_subparsers(dest="teacher", required=True)
    importer = teachers.add_parser("import-hamer", help="Convert the reference implementation's HaMeR pickles.")
    add_job_arguments(importer)
    pose_importer = teachers.add_parser(
        "import-pose", help="Convert pose-format .pose files of MediaPipe Holistic landmarks (MediaPipe layout)."
    )
    add_job_arguments(pose_importer)
    mediapipe = teachers.add_parser("mediapipe", help="MediaPipe Hands landmarks (CPU, offline).")
    hamer = teachers.add_parser("hamer", help="HaMeR hand pose on MediaPipe hand boxes (GPU recommended).")
    for teacher in (mediapipe, hamer):
        add_job_arguments(teacher)
        teacher.add_argument("--model_complexity", type=int, default=1, choices=(0, 1), help="MediaPipe model size.")
        teacher.add_argument("--min_detection_confidence", type=float, default=0.5)
        teacher.add_argument("--mirrored", action="store_true", help="The videos are mirrored (selfie camera).")
    hamer.add_argument("--checkpoint", default=None, help="HaMeR checkpoint (default: HaMeR's DEFAULT_CHECKPOINT).")
    hamer.add_argument("--device", default=None)
    hamer.add_argument("--batch_size", type=int, default=32)
    return parser


def _expand_from_pose(argv: list[str]) -> list[str]:
    """`--from_pose DIR ...` becomes `import-pose --input DIR ...`."""
    shorthand = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    shorthand.add_argument("--from_pose")
    known, rest = shorthand.parse_known_args(argv)
    return argv if known.from_pose is None else ["import-pose", "--input", known.from_pose, *rest]


def main(argv: list[str] | None = None) -> JobSummary:
    """Run one teacher over a folder of videos (or of HaMeR pickles or .pose files); the summary lists what failed."""
    args = _parser().parse_args(_expand_from_pose(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.teacher == "import-hamer":
        sources = find_hamer_pickles(args.input)

        def process(source, output_path):
            import_hamer_file(source.path, output_path)

    elif args.teacher == "import-pose":
        sources = find_pose_files(args.input)

        def process(source, output_path):
            import_pose_file(source.path, output_path)

    else:
        sources = find_videos(args.input)
        detector = MediaPipeHandDetector(args.model_complexity, args.min_detection_confidence, args.mirrored)
        _import_mediapipe()  # fail once, clearly, rather than once per video
        if args.teacher == "mediapipe":

            def process(source, output_path):
                extract_mediapipe(source, output_path, detector)

        else:
            extractor = HamerExtractor(args.checkpoint, args.device, args.batch_size, detector=detector)

            def process(source, output_path):
                extract_hamer(source, output_path, extractor)

    width = MEDIAPIPE_FEATURE_DIM if args.teacher in ("mediapipe", "import-pose") else HAMER_FEATURE_DIM

    def verify(path: str) -> None:
        features = read_hand_features(path).features
        if features.shape[1] != width:
            raise ValueError(f"{features.shape[1]} values per frame, {args.teacher} writes {width}")

    sources = select_shard(sources, args.shard_index, args.num_shards)[: args.limit]
    summary = run_jobs(
        sources,
        lambda source: os.path.join(args.output_dir, f"{source.name}.safetensors"),
        process,
        description=f"Hand features ({args.teacher})",
        overwrite=args.overwrite,
        is_done=lambda path: verified_output(path, verify),
    )
    return summary


def cli() -> None:
    """Console-script entry point: the exit status is 1 when any video failed."""
    sys.exit(1 if main().failed else 0)


if __name__ == "__main__":
    cli()
