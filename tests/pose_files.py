"""Small pose-format `.pose` files of MediaPipe Holistic landmarks, written with pose-format's own API."""

import numpy as np
from pose_format import Pose
from pose_format.numpy import NumPyPoseBody
from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions


# MediaPipe Holistic's components as pose-format names them (`pose_format.utils.holistic`, which needs mediapipe).
HOLISTIC_COMPONENTS = (
    ("POSE_LANDMARKS", 33),
    ("FACE_LANDMARKS", 468),
    ("LEFT_HAND_LANDMARKS", 21),
    ("RIGHT_HAND_LANDMARKS", 21),
)


def default_hand(num_frames: int, width: int, height: int, right: bool) -> np.ndarray:
    """A hand in every frame, `[num_frames, 21, 3]`: x, y in pixels inside the image (moving one pixel a frame), z a
    small depth that grows along the hand."""
    frame, point = np.arange(num_frames)[:, None], np.arange(21)[None, :]
    hand = np.empty((num_frames, 21, 3))
    hand[..., 0] = width * (0.3 if right else 0.6) + point + frame
    hand[..., 1] = height * 0.5 + 2 * point - frame
    hand[..., 2] = -0.002 * point
    return hand


def write_pose_file(
    path,
    num_frames: int,
    fps: float,
    width: int,
    height: int,
    left: np.ndarray | None = None,
    right: np.ndarray | None = None,
    hands: bool = True,
):
    """Write a `.pose` file as pose-format stores MediaPipe Holistic output (one person, x and y in pixels, z as
    MediaPipe gives it, confidence 1 where a landmark was found and 0, with zero values, where not); return `path`.

    Args:
        left, right: the signer's hands `[num_frames, 21, 3]`; NaN marks a landmark (or, for a whole frame, a hand)
            that was not found. Default: `default_hand`.
        hands: False leaves out the two hand components (a body-and-face file).
    """
    components = HOLISTIC_COMPONENTS if hands else HOLISTIC_COMPONENTS[:2]
    header = PoseHeader(
        0.2,
        PoseHeaderDimensions(width, height, 0),
        [
            PoseHeaderComponent(name, [str(point) for point in range(size)], [], [(255, 0, 0)], "XYZC")
            for name, size in components
        ],
    )
    data = np.ones((num_frames, 1, header.total_points(), 3), dtype=np.float32)
    if hands:
        hand_values = [
            default_hand(num_frames, width, height, right=False) if left is None else left,
            default_hand(num_frames, width, height, right=True) if right is None else right,
        ]
        data[:, 0, -42:] = np.concatenate(hand_values, axis=1)
    confidence = (~np.isnan(data).any(axis=-1)).astype(np.float32)
    data = np.nan_to_num(data, nan=0.0)
    pose = Pose(header, NumPyPoseBody(fps, data, confidence))
    with open(path, "wb") as handle:
        pose.write(handle)
    return path
