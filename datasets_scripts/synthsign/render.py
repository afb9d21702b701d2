"""Rendering of SynthSign clips: a flat-shaded signer (torso, head, arms, hands with five fingers) drawn with PIL at
twice the output size and box-filtered down, per-frame noise, H.264 (or MPEG-4 Part 2) encoding with PyAV, and the
writing of each clip's video, hand features and descriptions."""

import json
import os
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw
from safetensors.numpy import save_file

from .describe import describe_clip
from .grammar import Sentence
from .lexicon import Sign
from .motion import (
    FLIP,
    FOREARM,
    PALM_CORNERS,
    PALM_LENGTH,
    SHOULDERS,
    UPPER_ARM,
    ClipMotion,
    ClipTiming,
    SignerStyle,
    clip_hand_features,
    clip_motion,
    finger_points,
)


SUPERSAMPLING = 2
FINGER_WIDTHS = np.array([0.19, 0.17, 0.17, 0.17, 0.15])  # thumb .. pinky, in palm lengths
ARM_WIDTH = 0.06  # body units
# Hands whose palm centre is this far outside the frame are not drawn at all.
_DRAW_MARGIN = 0.3


def _shade(colour, factor) -> tuple[int, int, int]:
    return tuple(int(np.clip(round(channel * factor), 0, 255)) for channel in colour)


def _convex_hull(points: np.ndarray) -> list[tuple[float, float]]:
    """Convex hull (monotone chain) of 2D points, as a closed polygon's vertices."""
    ordered = sorted(map(tuple, points.tolist()))

    def half(sequence):
        hull = []
        for point in sequence:
            while (
                len(hull) >= 2
                and (
                    (hull[-1][0] - hull[-2][0]) * (point[1] - hull[-2][1])
                    - (hull[-1][1] - hull[-2][1]) * (point[0] - hull[-2][0])
                )
                <= 0
            ):
                hull.pop()
            hull.append(point)
        return hull

    lower, upper = half(ordered), half(reversed(ordered))
    return lower[:-1] + upper[:-1]


class SignerPainter:
    """Draws the frames of one clip: the static body once, then per frame the arms and hands from the true motion."""

    def __init__(self, motion: ClipMotion, style: SignerStyle, resolution: int):
        self.motion, self.style, self.resolution = motion, style, resolution
        self.size = resolution * SUPERSAMPLING
        self.palm_pixels = PALM_LENGTH * style.scale * style.hand_size * self.size
        self.colours = {
            "palm": _shade(style.skin, 1.08),
            "back": _shade(style.skin, 0.96),
            "finger": _shade(style.skin, 0.86),
            "outline": _shade(style.skin, 0.45),
            "sleeve": _shade(style.clothing, 0.85),
            "sleeve_outline": _shade(style.clothing, 0.5),
        }
        self.body = self._draw_body()
        self.hands = {side: self._project(side) for side in ("left", "right")}
        self.centres = {side: style.to_image(pose.position) for side, pose in motion.hands.items()}

    def _pixels(self, points) -> np.ndarray:
        return self.style.to_image(np.asarray(points, dtype=np.float64)) * self.size

    def _box(self, left, top, right, bottom) -> list[float]:
        (x0, y0), (x1, y1) = self._pixels([(left, top), (right, bottom)])
        return [float(x0), float(y0), float(x1), float(y1)]

    def _draw_body(self) -> Image.Image:
        style, colours = self.style, self.colours
        image = Image.new("RGB", (self.size, self.size), style.background)
        draw = ImageDraw.Draw(image)
        width = SUPERSAMPLING
        torso = [(0.31, 0.47), (0.69, 0.47), (0.76, 0.62), (0.78, 1.2), (0.22, 1.2), (0.24, 0.62)]
        neck = [(0.465, 0.32), (0.535, 0.32), (0.54, 0.48), (0.46, 0.48)]
        draw.polygon([tuple(p) for p in self._pixels(neck)], fill=style.skin, outline=colours["outline"], width=width)
        draw.polygon(
            [tuple(p) for p in self._pixels(torso)],
            fill=style.clothing,
            outline=colours["sleeve_outline"],
            width=width,
        )
        draw.polygon([tuple(p) for p in self._pixels([(0.455, 0.47), (0.545, 0.47), (0.5, 0.53)])], fill=style.skin)
        draw.ellipse(self._box(0.405, 0.11, 0.595, 0.31), fill=style.hair)
        draw.ellipse(self._box(0.42, 0.15, 0.58, 0.345), fill=style.skin, outline=colours["outline"], width=width)
        for eye_x in (0.468, 0.532):
            draw.ellipse(self._box(eye_x - 0.008, 0.228, eye_x + 0.008, 0.242), fill=(25, 20, 20))
        draw.line(
            [tuple(p) for p in self._pixels([(0.478, 0.297), (0.522, 0.297)])],
            fill=_shade(style.skin, 0.6),
            width=width,
        )
        return image

    def _project(self, side: str) -> dict[str, np.ndarray]:
        """For all frames: pixel positions of the finger joints (0-19, four per finger), palm corners (20-27), wrist
        (28) and palm centre (29); their depths within the hand; the palm normal's depth component."""
        pose = self.motion.hands[side]
        num_frames = len(pose.depth)
        local = np.concatenate(
            [
                finger_points(pose.angles).reshape(num_frames, 20, 3),
                np.broadcast_to(PALM_CORNERS, (num_frames, 8, 3)),
                np.broadcast_to([[-0.5, 0.0, 0.0], [0.0, 0.0, 0.0]], (num_frames, 2, 3)),
            ],
            axis=1,
        )
        if side == "right":
            local = local @ FLIP
        camera = np.einsum("tij,tpj->tpi", pose.orientation, local)
        centre = self._pixels(pose.position)
        return {
            "xy": centre[:, None, :] + camera[..., :2] * self.palm_pixels,
            "depth": camera[..., 2],
            "normal_z": pose.orientation[:, 2, 2],
        }

    def _elbow(self, shoulder: np.ndarray, wrist: np.ndarray, outward: float) -> np.ndarray:
        """Two-link inverse kinematics in the image plane; the elbow bends outward and down."""
        upper = UPPER_ARM * self.style.scale * self.size
        lower = FOREARM * self.style.scale * self.size
        delta = wrist - shoulder
        distance = float(np.hypot(*delta))
        if distance < 1e-6:
            return shoulder
        if distance >= upper + lower:  # out of reach: the arm points straight at the hand
            return shoulder + delta * upper / distance
        along = (upper**2 - lower**2 + distance**2) / (2 * distance)
        height = np.sqrt(max(upper**2 - along**2, 0.0))
        direction = delta / distance
        normal = np.array([-direction[1], direction[0]])
        candidates = [shoulder + along * direction + sign * height * normal for sign in (1.0, -1.0)]
        return max(candidates, key=lambda elbow: outward * (elbow[0] - shoulder[0]) + (elbow[1] - shoulder[1]))

    def _draw_arm(self, draw: ImageDraw.ImageDraw, side: str, frame: int):
        shoulder = self._pixels(SHOULDERS[side])
        wrist = self.hands[side]["xy"][frame, 28]
        elbow = self._elbow(shoulder, wrist, outward=-1.0 if side == "right" else 1.0)
        points = [tuple(shoulder), tuple(elbow), tuple(wrist)]
        width = int(round(ARM_WIDTH * self.style.scale * self.size))
        draw.line(points, fill=self.colours["sleeve_outline"], width=width + 2 * SUPERSAMPLING, joint="curve")
        draw.line(points, fill=self.colours["sleeve"], width=width, joint="curve")

    def _draw_hand(self, draw: ImageDraw.ImageDraw, side: str, frame: int):
        hand = self.hands[side]
        xy, depth = hand["xy"][frame], hand["depth"][frame]
        colours = self.colours
        outline = SUPERSAMPLING
        palm_colour = colours["palm"] if hand["normal_z"][frame] < 0 else colours["back"]
        items = [(float(depth[20:28].mean()), -1)]
        items += [(float(depth[finger * 4 + 1 : finger * 4 + 4].mean()), finger) for finger in range(5)]
        for _, finger in sorted(items, reverse=True):
            if finger < 0:
                hull = _convex_hull(xy[20:28])
                draw.polygon(hull, fill=palm_colour, outline=colours["outline"], width=outline)
                continue
            points = [tuple(point) for point in xy[finger * 4 : finger * 4 + 4]]
            width = max(2, int(round(FINGER_WIDTHS[finger] * self.palm_pixels)))
            tip_x, tip_y = points[-1]
            radius = width / 2
            draw.line(points, fill=colours["outline"], width=width + 2 * outline, joint="curve")
            draw.ellipse(
                [
                    tip_x - radius - outline,
                    tip_y - radius - outline,
                    tip_x + radius + outline,
                    tip_y + radius + outline,
                ],
                fill=colours["outline"],
            )
            draw.line(points, fill=colours["finger"], width=width, joint="curve")
            draw.ellipse([tip_x - radius, tip_y - radius, tip_x + radius, tip_y + radius], fill=colours["finger"])

    def frame(self, index: int) -> np.ndarray:
        """The noiseless frame `index` as a (resolution, resolution, 3) uint8 array."""
        image = self.body.copy()
        draw = ImageDraw.Draw(image)
        shown = [
            side for side in ("left", "right") if np.all(np.abs(self.centres[side][index] - 0.5) < 0.5 + _DRAW_MARGIN)
        ]
        for side in shown:
            self._draw_arm(draw, side, index)
        for side in sorted(shown, key=lambda side: -self.motion.hands[side].depth[index]):
            self._draw_hand(draw, side, index)
        if SUPERSAMPLING > 1:
            image = image.reduce(SUPERSAMPLING)
        return np.asarray(image)


def add_noise(frame: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Per-pixel Gaussian noise (sensor noise) on a uint8 frame."""
    noise = rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(sigma)
    return np.clip(frame.astype(np.float32) + noise + 0.5, 0, 255).astype(np.uint8)


def available_codec() -> str:
    """`libx264` when the installed PyAV has it, else `mpeg4` (every FFmpeg build has it)."""
    try:
        av.codec.Codec("libx264", "w")
        return "libx264"
    except (av.codec.codec.UnknownCodecError, ValueError):
        return "mpeg4"


def write_video(path: str, frames: list[np.ndarray], fps: int, codec: str):
    """Encode uint8 RGB frames (even sizes) into an mp4 file, reproducibly (the same frames give the same bytes)."""
    height, width = frames[0].shape[:2]
    with av.open(path, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.codec_context.thread_count = 1
        if codec == "libx264":
            # x264's macroblock-tree rate control (its SIMD code) makes the output vary from run to run.
            stream.options = {"crf": "23", "preset": "veryfast", "x264-params": "mbtree=0"}
        else:
            stream.bit_rate = int(2_000_000 * width * height / 128**2)
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@dataclass
class ClipJob:
    """Everything needed to render and write one clip (plain data, so it can be sent to a worker process)."""

    name: str
    sentence: Sentence
    signs: list[Sign]
    style: SignerStyle
    timing: ClipTiming
    noise_seed: tuple[int, ...]
    resolution: int
    fps: int
    codec: str
    output_dir: str


def render_clip(job: ClipJob) -> int:
    """Render one clip and write its video, hand features and descriptions; return its number of frames."""
    motion = clip_motion(job.signs, job.timing, job.style)
    painter = SignerPainter(motion, job.style, job.resolution)
    noise_rng = np.random.default_rng(job.noise_seed)
    frames = [add_noise(painter.frame(index), job.style.noise, noise_rng) for index in range(motion.num_frames)]
    paths = {
        folder: os.path.join(job.output_dir, folder, f"{job.name}.{extension}")
        for folder, extension in (("videos", "mp4"), ("hand_features", "safetensors"), ("descriptions", "json"))
    }
    for path in paths.values():
        os.makedirs(os.path.dirname(path), exist_ok=True)
    write_video(paths["videos"], frames, job.fps, job.codec)
    features, mask = clip_hand_features(motion, job.style)
    save_file({"hand_features": features.astype(np.float16), "hand_mask": mask}, paths["hand_features"])
    with open(paths["descriptions"], "w", encoding="utf-8") as handle:
        json.dump(describe_clip(motion, job.signs), handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    return motion.num_frames
