"""Motion of the SynthSign signer: hand kinematics, sign trajectories, clip timelines and HaMeR-layout hand features.

Coordinates. Body positions are fractions of the frame (x to the image right, y down) before the signer's own
placement and scale. Orientations live in camera space (x right, y down, z away from the viewer, as in HaMeR). A hand
has a local frame whose columns are the finger direction `u`, `w = n × u` and the palm normal `n`. Finger geometry is
defined once for a canonical hand whose thumb lies on the `+w` side, which is a left hand; the right hand is its
mirror image (`w` flipped). Everything a sign does is computed for the right hand and mirrored for the left.
"""

import colorsys
from dataclasses import dataclass

import numpy as np

from .lexicon import HANDSHAPES, LOCATIONS, MOVEMENTS, ORIENTATIONS, REST_HANDSHAPE, Sign


DEGREE = np.pi / 180.0
MIRROR = np.diag([-1.0, 1.0, 1.0])  # mirror of camera space about the body's midline
FLIP = np.diag([1.0, -1.0, 1.0])  # mirror of the hand's local frame: canonical (left) hand -> right hand

# Finger rows: thumb, index, middle, ring, pinky. Palm units: the palm is 1 long (wrist at u = -0.5).
FINGER_BASES = np.array(
    [[-0.25, 0.40, 0.05], [0.48, 0.33, 0.0], [0.50, 0.11, 0.0], [0.48, -0.11, 0.0], [0.42, -0.32, 0.0]]
)
FINGER_FANS = np.array([40.0, 4.0, 0.0, -4.0, -9.0]) * DEGREE
FINGER_LENGTHS = np.array(
    [[0.42, 0.32, 0.26], [0.42, 0.26, 0.20], [0.46, 0.29, 0.21], [0.43, 0.27, 0.20], [0.34, 0.21, 0.18]]
)
# Palm as a thin box: (u, w) outline at the wrist and knuckles, thickness along n.
PALM_CORNERS = np.array(
    [[u, w, n] for u, w in ((-0.5, 0.40), (0.5, 0.44), (0.5, -0.42), (-0.5, -0.36)) for n in (-0.1, 0.1)]
)
# MANO / HaMeR joint order: index, middle, pinky, ring, thumb, three joints each.
MANO_FINGER_ORDER = (1, 2, 4, 3, 0)
HAND_FEATURE_DIM = 288

# Body geometry (body coordinates).
SHOULDERS = {"right": (0.34, 0.485), "left": (0.66, 0.485)}
UPPER_ARM, FOREARM = 0.20, 0.19
PALM_LENGTH = 0.1  # palm length in body units at hand size 1
REST_POSITION = (0.27, 1.22)  # below the frame: hands at rest are out of view
HAND_DEPTH = {"right": -0.35, "left": -0.30, "rest": -0.1}
MOVEMENT_AMPLITUDE = 0.11
SYMMETRIC_MAX_X = 0.5 - 0.075  # two-handed signs keep the right hand this far from the midline
BASE_HAND_POSITION = (0.46, 0.06)  # base hand: x in right-hand space, y below the dominant location
# The signer is scaled about this point (roughly the chest).
BODY_ANCHOR = (0.5, 0.55)


def _rot_x(angle):
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([one, zero, zero, zero, c, -s, zero, s, c], axis=-1).reshape(angle.shape + (3, 3))


def _rot_y(angle):
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([c, zero, s, zero, one, zero, -s, zero, c], axis=-1).reshape(angle.shape + (3, 3))


def _rot_z(angle):
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([c, -s, zero, s, c, zero, zero, zero, one], axis=-1).reshape(angle.shape + (3, 3))


def orientation_matrix(name: str) -> np.ndarray:
    """Camera-space rotation of a right hand with the named palm orientation (columns u, w = n × u, n)."""
    finger, normal, _ = ORIENTATIONS[name]
    return _frame(finger, normal)


def _frame(finger, normal) -> np.ndarray:
    u, n = np.asarray(finger, dtype=np.float64), np.asarray(normal, dtype=np.float64)
    return np.stack([u, np.cross(n, u), n], axis=-1)


def handshape_angles(name: str) -> np.ndarray:
    """The (5, 4) angle table of a handshape (degrees)."""
    return np.asarray(HANDSHAPES[name][0], dtype=np.float64)


def joint_rotations(angles: np.ndarray) -> np.ndarray:
    """Local joint rotations of the canonical hand, `(..., 5, 3, 3, 3)` (finger, joint, matrix), from `(..., 5, 4)`
    angle tables: each joint flexes the finger toward the palm; the first joint also spreads it sideways."""
    angles = np.asarray(angles, dtype=np.float64)
    rotations = _rot_y(-angles[..., :3] * DEGREE)
    rotations[..., 0, :, :] = _rot_z(angles[..., 3] * DEGREE) @ rotations[..., 0, :, :]
    return rotations


def finger_points(angles: np.ndarray) -> np.ndarray:
    """Forward kinematics of the canonical hand: `(..., 5, 4, 3)` points (base and three joints) per finger."""
    rotations = joint_rotations(angles)
    frame = np.broadcast_to(_rot_z(FINGER_FANS), rotations.shape[:-3] + (3, 3))
    points = [np.broadcast_to(FINGER_BASES, rotations.shape[:-3] + (3,))]
    for joint in range(3):
        frame = frame @ rotations[..., joint, :, :]
        points.append(points[-1] + frame[..., :, 0] * FINGER_LENGTHS[:, joint, None])
    return np.stack(points, axis=-2)


def hand_features(angles: np.ndarray, orientation: np.ndarray, side: str) -> np.ndarray:
    """One hand's 144 HaMeR-layout values per frame: 15 joint rotations (MANO order) and the global orientation.

    The right hand's joint rotations are those of the canonical (left) hand mirrored, as MANO's two hand models are.
    """
    rotations = joint_rotations(angles)
    if side == "right":
        rotations = FLIP @ rotations @ FLIP
    joints = rotations[..., MANO_FINGER_ORDER, :, :, :].reshape(rotations.shape[:-4] + (135,))
    return np.concatenate([joints, orientation.reshape(orientation.shape[:-2] + (9,))], axis=-1)


# ---------------------------------------------------------------------------------------------------------------------
# Signer appearance and timing
# ---------------------------------------------------------------------------------------------------------------------
SKIN_TONES = ((255, 224, 196), (241, 194, 167), (224, 172, 130), (198, 134, 96), (160, 105, 70), (120, 78, 50))
HAIR_COLOURS = ((30, 25, 20), (60, 40, 25), (110, 75, 40), (185, 150, 95), (95, 95, 95))


@dataclass
class SignerStyle:
    """How one clip's signer looks and moves: placement in the frame, size, colours, noise, motion style."""

    offset: tuple[float, float]
    scale: float
    hand_size: float
    amplitude: float
    tilt: float  # degrees, a slant of both hands' orientation
    skin: tuple[int, int, int]
    clothing: tuple[int, int, int]
    background: tuple[int, int, int]
    hair: tuple[int, int, int]
    noise: float  # standard deviation of the per-frame pixel noise

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Body coordinates -> frame fractions."""
        anchor = np.asarray(BODY_ANCHOR)
        return (np.asarray(points) - anchor) * self.scale + anchor + np.asarray(self.offset)


def _luminance(colour) -> float:
    return 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]


def _hsv(rng, saturation, value) -> tuple[int, int, int]:
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(*value))
    return tuple(int(round(channel * 255)) for channel in rgb)


def sample_style(rng: np.random.Generator) -> SignerStyle:
    """Draw a signer. Skin, clothing and background keep a luminance contrast, so hands stay visible on any of them."""
    tone = np.asarray(SKIN_TONES[rng.integers(len(SKIN_TONES))])
    skin = tuple(int(value) for value in np.clip(tone + rng.integers(-8, 9, size=3), 0, 255))
    while True:
        clothing = _hsv(rng, (0.35, 0.8), (0.2, 0.8))
        background = _hsv(rng, (0.05, 0.35), (0.15, 0.95))
        skin_l, clothing_l, background_l = _luminance(skin), _luminance(clothing), _luminance(background)
        if (
            abs(skin_l - clothing_l) >= 45
            and abs(skin_l - background_l) >= 45
            and abs(clothing_l - background_l) >= 25
        ):
            break
    return SignerStyle(
        offset=(float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.03, 0.04))),
        scale=float(rng.uniform(0.9, 1.08)),
        hand_size=float(rng.uniform(0.92, 1.08)),
        amplitude=float(rng.uniform(0.85, 1.15)),
        tilt=float(rng.uniform(-8.0, 8.0)),
        skin=skin,
        clothing=clothing,
        background=background,
        hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))],
        noise=float(rng.uniform(1.0, 4.0)),
    )


@dataclass
class ClipTiming:
    """Frame counts of one clip: rest before and after, one transition before each sign and one to the final rest,
    each sign's duration, and each sign's small displacement from its citation location."""

    rest_start: int
    rest_end: int
    transitions: list[int]
    signs: list[int]
    jitter: list[tuple[float, float]]

    @property
    def num_frames(self) -> int:
        return self.rest_start + self.rest_end + sum(self.transitions) + sum(self.signs)


def sample_timing(rng: np.random.Generator, num_signs: int, min_sign_frames: int, max_sign_frames: int) -> ClipTiming:
    """Draw a clip's timing. The signer's speed sets a base duration in [min, max] frames; each sign varies by one
    frame around it."""
    base = rng.uniform(min_sign_frames, max_sign_frames)
    signs = [
        int(np.clip(round(base + rng.uniform(-1, 1)), min_sign_frames, max_sign_frames)) for _ in range(num_signs)
    ]
    speed = base / max(1.0, (min_sign_frames + max_sign_frames) / 2)
    transitions = [max(2, int(round(rng.integers(3, 6) * speed))) for _ in range(num_signs + 1)]
    return ClipTiming(
        rest_start=int(rng.integers(2, 5)),
        rest_end=int(rng.integers(2, 5)),
        transitions=transitions,
        signs=signs,
        jitter=[(float(rng.uniform(-0.012, 0.012)), float(rng.uniform(-0.012, 0.012))) for _ in range(num_signs)],
    )


# ---------------------------------------------------------------------------------------------------------------------
# Trajectories
# ---------------------------------------------------------------------------------------------------------------------
_DIRECTIONS = {"up": (0.0, -1.0), "down": (0.0, 1.0), "in": (1.0, 0.0), "out": (-1.0, 0.0)}


def _smoothstep(t):
    return t * t * (3.0 - 2.0 * t)


def _path(movement: str, t: np.ndarray, alternate: bool) -> tuple[np.ndarray, np.ndarray]:
    """Offset (n, 2) in units of the movement amplitude, and wrist twist angle (n,) in radians, of a right hand.
    `alternate` shifts the repeating part half a cycle (the second hand of an alternating sign)."""
    kind, direction, _, _ = MOVEMENTS[movement]
    offset = np.zeros((len(t), 2))
    twist = np.zeros(len(t))
    if kind in ("straight", "arc", "zigzag", "repeat"):
        along = np.asarray(_DIRECTIONS[direction])
        across = np.array([0.0, -1.0]) if direction in ("in", "out") else np.array([-1.0, 0.0])
    if kind == "straight":
        offset = (_smoothstep(t) - 0.5)[:, None] * along
    elif kind == "arc":
        s = _smoothstep(1.0 - t if alternate else t)
        offset = (-0.5 * np.cos(np.pi * s))[:, None] * along + (0.35 * np.sin(np.pi * s))[:, None] * across
    elif kind == "circle":
        sign = 1.0 if direction == "cw" else -1.0
        angle = -np.pi / 2 + sign * 2 * np.pi * t + (np.pi if alternate else 0.0)
        offset = 0.45 * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    elif kind == "zigzag":
        phase = 2.0 * t + (0.5 if alternate else 0.0)
        wave = 2.0 * np.abs(2.0 * (phase % 1.0) - 1.0) - 1.0
        offset = (t - 0.5)[:, None] * along + (0.2 * wave)[:, None] * across
    elif kind == "repeat":
        bounce = np.abs(np.cos(2 * np.pi * t)) if alternate else np.abs(np.sin(2 * np.pi * t))
        offset = (0.35 * bounce)[:, None] * along
    elif kind == "twist":
        twist = 60.0 * DEGREE * np.sin(2 * np.pi * t + (np.pi if alternate else 0.0))
    return offset, twist


@dataclass
class Pose:
    """Poses of one hand over frames, in right-hand space: body position (n, 2), depth (n,), camera-space
    orientation (n, 3, 3), finger angle tables (n, 5, 4)."""

    position: np.ndarray
    depth: np.ndarray
    orientation: np.ndarray
    angles: np.ndarray

    @staticmethod
    def concatenate(poses: list["Pose"]) -> "Pose":
        return Pose(*(np.concatenate([getattr(pose, field) for pose in poses]) for field in Pose.__annotations__))

    def last(self) -> "Pose":
        return Pose(self.position[-1:], self.depth[-1:], self.orientation[-1:], self.angles[-1:])

    def first(self) -> "Pose":
        return Pose(self.position[:1], self.depth[:1], self.orientation[:1], self.angles[:1])


def rest_pose(num_frames: int) -> Pose:
    """Hands hanging at the sides below the frame: fingers down, palm toward the body."""
    orientation = _frame((0.0, 1.0, 0.0), (1.0, 0.0, 0.0))
    return Pose(
        np.tile(REST_POSITION, (num_frames, 1)),
        np.full(num_frames, HAND_DEPTH["rest"]),
        np.tile(orientation, (num_frames, 1, 1)),
        np.tile(handshape_angles(REST_HANDSHAPE), (num_frames, 1, 1)),
    )


def sign_pose(sign: Sign, side: str, num_frames: int, style: SignerStyle, jitter) -> Pose:
    """Poses of one hand (`right` or `left`, in right-hand space) while it articulates `sign`."""
    form = sign.right if side == "right" else sign.left
    if form is None:
        return rest_pose(num_frames)
    x, y = LOCATIONS[form.location][0]
    x, y = x + jitter[0], y + jitter[1]
    if sign.hands in ("symmetric", "alternating"):
        x = min(x, SYMMETRIC_MAX_X)
    elif sign.hands == "base":
        if side == "right":
            y -= 0.035
        else:
            x, y = BASE_HAND_POSITION[0], y + BASE_HAND_POSITION[1]
    t = np.linspace(0.0, 1.0, num_frames) if num_frames > 1 else np.array([0.5])
    offset, twist = _path(form.movement, t, alternate=sign.hands == "alternating" and side == "left")
    position = np.array([x, y]) + offset * MOVEMENT_AMPLITUDE * style.amplitude
    orientation = _rot_z(style.tilt * DEGREE) @ orientation_matrix(form.orientation) @ _rot_x(twist)
    return Pose(
        position,
        np.full(num_frames, HAND_DEPTH[side]),
        orientation,
        np.tile(handshape_angles(form.handshape), (num_frames, 1, 1)),
    )


def _quaternion(matrix: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix."""
    m = matrix
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    return q / np.linalg.norm(q)


def _quaternion_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _slerp(start: np.ndarray, end: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    q0, q1 = _quaternion(start), _quaternion(end)
    dot = float(np.dot(q0, q1))
    if dot < 0.0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        quaternions = q0[None] + fractions[:, None] * (q1 - q0)[None]
    else:
        theta = np.arccos(dot)
        quaternions = (
            np.sin((1.0 - fractions) * theta)[:, None] * q0 + np.sin(fractions * theta)[:, None] * q1
        ) / np.sin(theta)
    return np.stack([_quaternion_matrix(q) for q in quaternions])


def transition_pose(start: Pose, end: Pose, num_frames: int) -> Pose:
    """Smooth in-between frames from the last frame of `start` to the first frame of `end` (both excluded)."""
    fractions = _smoothstep(np.arange(1, num_frames + 1) / (num_frames + 1))
    a, b = start.last(), end.first()

    def lerp(x, y):
        shape = (-1,) + (1,) * (x.ndim - 1)
        return x + fractions.reshape(shape) * (y - x)

    return Pose(
        lerp(a.position, b.position),
        lerp(a.depth, b.depth),
        _slerp(a.orientation[0], b.orientation[0], fractions),
        lerp(a.angles, b.angles),
    )


# ---------------------------------------------------------------------------------------------------------------------
# Clip motion
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class Event:
    """A stretch of frames [start, end): `rest`, `transition` (into sign `after`, from sign `before`; None = rest)
    or `sign` (index `sign`)."""

    kind: str
    start: int
    end: int
    sign: int | None = None
    before: int | None = None
    after: int | None = None


@dataclass
class ClipMotion:
    """The true motion of a clip: per hand, camera-space poses in body coordinates; the events in order."""

    hands: dict[str, Pose]
    events: list[Event]
    num_frames: int

    def image_positions(self, style: SignerStyle) -> dict[str, np.ndarray]:
        """Palm centres per hand as frame fractions (n, 2)."""
        return {side: style.to_image(pose.position) for side, pose in self.hands.items()}

    def visibility(self, style: SignerStyle) -> dict[str, np.ndarray]:
        """Per hand, the frames in which its palm centre lies inside the frame."""
        return {
            side: np.all((position >= 0.0) & (position < 1.0), axis=-1)
            for side, position in self.image_positions(style).items()
        }


def _mirror(pose: Pose) -> Pose:
    """A right-hand-space pose of the left hand -> the left hand's real pose."""
    position = pose.position.copy()
    position[:, 0] = 1.0 - position[:, 0]
    return Pose(position, pose.depth, MIRROR @ pose.orientation @ FLIP, pose.angles)


def clip_motion(signs: list[Sign], timing: ClipTiming, style: SignerStyle) -> ClipMotion:
    """The true motion of a clip signing `signs`: rest, then a transition into each sign and the sign itself, then a
    transition back to rest."""
    events = [Event("rest", 0, timing.rest_start)]
    frame = timing.rest_start
    for index, duration in enumerate(timing.signs):
        events.append(
            Event(
                "transition",
                frame,
                frame + timing.transitions[index],
                before=index - 1 if index else None,
                after=index,
            )
        )
        frame += timing.transitions[index]
        events.append(Event("sign", frame, frame + duration, sign=index))
        frame += duration
    events.append(Event("transition", frame, frame + timing.transitions[-1], before=len(signs) - 1))
    frame += timing.transitions[-1]
    events.append(Event("rest", frame, frame + timing.rest_end))

    hands = {}
    for side in ("left", "right"):
        parts = [rest_pose(timing.rest_start)]
        previous = parts[0]
        for index, sign in enumerate(signs):
            current = sign_pose(sign, side, timing.signs[index], style, timing.jitter[index])
            parts += [transition_pose(previous, current, timing.transitions[index]), current]
            previous = current
        final = rest_pose(timing.rest_end)
        parts += [transition_pose(previous, final, timing.transitions[-1]), final]
        pose = Pose.concatenate(parts)
        hands[side] = _mirror(pose) if side == "left" else pose
    return ClipMotion(hands, events, timing.num_frames)


def clip_hand_features(motion: ClipMotion, style: SignerStyle) -> tuple[np.ndarray, np.ndarray]:
    """HaMeR-layout features `[T, 288]` (float32) and hand mask `[T]` (uint8) from the true hand poses.

    Slot 0 holds the left hand, slot 1 the right hand; a hand alone in view fills both slots; frames without a
    visible hand are all zeros.
    """
    visible = motion.visibility(style)
    per_hand = {side: hand_features(pose.angles, pose.orientation, side) for side, pose in motion.hands.items()}
    left_visible, right_visible = visible["left"][:, None], visible["right"][:, None]
    slot_left = np.where(left_visible, per_hand["left"], np.where(right_visible, per_hand["right"], 0.0))
    slot_right = np.where(right_visible, per_hand["right"], np.where(left_visible, per_hand["left"], 0.0))
    features = np.concatenate(
        [slot_left[:, :135], slot_right[:, :135], slot_left[:, 135:], slot_right[:, 135:]], axis=1
    )
    mask = (visible["left"] | visible["right"]).astype(np.uint8)
    return features.astype(np.float32), mask
