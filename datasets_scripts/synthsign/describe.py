"""Hand-motion descriptions of SynthSign clips, written from the true motion in the descriptor's format.

Like the real descriptor, each non-overlapping 16-frame segment gets its own description (a short tail is folded
into the previous segment) and one refined description tells the whole clip in temporal order. They speak only of
the hands and body: where the hands are, their shape, palm orientation, movement and path.
"""

from ..media import segment_bounds
from .lexicon import HANDSHAPES, LOCATIONS, MOVEMENTS, ORIENTATIONS, Sign
from .motion import ClipMotion, Event


_ORDINALS = ("First", "Then", "Next", "After that")


def _plural_palm(phrase: str) -> str:
    return phrase.replace("palm ", "palms ", 1)


def describe_sign(sign: Sign) -> str:
    """One clause saying what the hands do during a sign (lower-case start, no final period)."""
    right = sign.right
    shape = HANDSHAPES[right.handshape][2]
    orientation = ORIENTATIONS[right.orientation][2]
    _, _, move_one, move_both = MOVEMENTS[right.movement]
    at_right, at_both = LOCATIONS[right.location][1], LOCATIONS[right.location][2]
    if sign.hands == "one":
        return f"the right hand makes {shape} {at_right}, {orientation}, and {move_one}"
    if sign.hands in ("symmetric", "alternating"):
        manner = "in mirror image" if sign.hands == "symmetric" else "in alternation"
        return f"both hands make {shape} {at_both}, {_plural_palm(orientation)}, and {move_both} {manner}"
    base = sign.left
    return (
        f"the left hand holds {HANDSHAPES[base.handshape][2]} still, {ORIENTATIONS[base.orientation][2]}, while the "
        f"right hand makes {shape} just above it {at_right}, {orientation}, and {move_one}"
    )


def _active_hands(sign: Sign | None) -> set[str]:
    if sign is None:
        return set()
    return {"right"} if sign.hands == "one" else {"left", "right"}


def _subject(hands: set[str]) -> str:
    return "both hands" if len(hands) == 2 else f"the {next(iter(hands))} hand"


def describe_transition(before: Sign | None, after: Sign | None) -> str:
    """What the hands do between two signs (None = rest below the frame)."""
    hands_before, hands_after = _active_hands(before), _active_hands(after)
    if before is None:
        return (
            f"{_subject(hands_after)} {'rise' if len(hands_after) == 2 else 'rises'} into view toward "
            f"{LOCATIONS[after.right.location][3]}"
        )
    if after is None:
        return f"{_subject(hands_before)} {'drop' if len(hands_before) == 2 else 'drops'} down out of view"
    start, end = LOCATIONS[before.right.location][3], LOCATIONS[after.right.location][3]
    if start == end:
        clause = f"the right hand stays near {end} and changes shape"
    else:
        clause = f"the right hand moves from {start} to {end}"
    if hands_after - hands_before:
        clause += " while the left hand rises to join it"
    elif hands_before - hands_after:
        clause += " while the left hand drops out of view"
    return clause


def _describe_event(event: Event, signs: list[Sign]) -> str:
    if event.kind == "rest":
        return "both hands rest out of view below the frame"
    if event.kind == "sign":
        return describe_sign(signs[event.sign])
    before = signs[event.before] if event.before is not None else None
    after = signs[event.after] if event.after is not None else None
    return describe_transition(before, after)


def _sentence(clause: str) -> str:
    return clause[0].upper() + clause[1:] + "."


def describe_clip(motion: ClipMotion, signs: list[Sign]) -> dict[str, str]:
    """Descriptions of a clip in the descriptor's JSON format: `chunk_0` … `chunk_{N-1}` for the 16-frame segments
    (N after folding the tail) and `refined`, one temporally ordered text for the whole clip."""
    descriptions = {}
    for index, (start, end) in enumerate(segment_bounds(motion.num_frames)):
        clauses = []
        for event in motion.events:
            if event.end <= start or event.start >= end or event.start == event.end:
                continue
            clause = _describe_event(event, signs)
            if event.start < start and event.kind == "sign":
                clause = "continuing, " + clause
            clauses.append(_sentence(clause))
        descriptions[f"chunk_{index}"] = " ".join(clauses)

    refined = [_sentence("the signer raises " + _subject(_active_hands(signs[0])) + " into view")]
    for index, sign in enumerate(signs):
        if index == len(signs) - 1 and len(signs) > 2:
            ordinal = "Finally"
        else:
            ordinal = _ORDINALS[min(index, len(_ORDINALS) - 1)]
        refined.append(f"{ordinal}, {describe_sign(sign)}.")
    refined.append("The hands then drop back to rest.")
    descriptions["refined"] = " ".join(refined)
    return descriptions
