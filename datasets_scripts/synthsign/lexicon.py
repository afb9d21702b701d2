"""The SynthSign lexicon: sign parameters (handshapes, locations, movements, palm orientations) and the glosses.

Every sign is a composition, per hand, of a handshape, a location on the body, a movement path and a palm
orientation. The lexicon is fixed (built from its own constant seed, independent of the dataset seed), so clips
generated with different seeds sign the same language. Glosses come in categories of a small weather-forecast
language; the first pairs of most categories are *minimal pairs*: two glosses whose signs differ only in handshape.
"""

from dataclasses import asdict, dataclass

import numpy as np


# ---------------------------------------------------------------------------------------------------------------------
# Handshapes. Angles in degrees per finger, rows thumb, index, middle, ring, pinky; columns: flexion of the three
# joints (toward the palm) and spread at the first joint (toward the thumb side; for the thumb, its swing across the
# palm, negative = across).
# ---------------------------------------------------------------------------------------------------------------------
_EXTENDED = (0.0, 0.0, 0.0)
_CURLED = (85.0, 100.0, 60.0)
_HOOKED = (15.0, 85.0, 60.0)
_BENT = (80.0, 0.0, 0.0)
_ROUND = (30.0, 40.0, 25.0)
_CLOSED_ROUND = (50.0, 60.0, 40.0)

_THUMB_OUT = (25.0, 0.0, 0.0, 0.0)
_THUMB_ALONG = (-10.0, 10.0, 0.0, 0.0)
_THUMB_ACROSS = (-45.0, 35.0, 30.0, 20.0)
_THUMB_ROUND = (-5.0, 25.0, 20.0, 10.0)
_THUMB_TOUCH = (-25.0, 40.0, 30.0, 20.0)
_THUMB_HOOK = (10.0, 20.0, 40.0, 40.0)

_TOGETHER = (0.0, 0.0, 0.0, 0.0)
_SPREAD = (12.0, 2.0, -8.0, -18.0)


def _shape(thumb, fingers, spread=_TOGETHER) -> tuple:
    """Angle table (5, 4) of a handshape from the thumb state and four finger states (index..pinky)."""
    swing, *thumb_flexion = thumb
    rows = [(*thumb_flexion, swing)]
    rows += [(*state, spread_angle) for state, spread_angle in zip(fingers, spread)]
    return tuple(tuple(float(value) for value in row) for row in rows)


# name -> (angle table, fingers that are extended (thumb, index, middle, ring, pinky), English phrase)
HANDSHAPES = {
    "FLAT": (_shape(_THUMB_ALONG, [_EXTENDED] * 4), (0, 1, 1, 1, 1), "a flat hand with the fingers together"),
    "FIVE": (_shape(_THUMB_OUT, [_EXTENDED] * 4, _SPREAD), (1, 1, 1, 1, 1), "an open hand with spread fingers"),
    "FIST": (_shape(_THUMB_ACROSS, [_CURLED] * 4), (0, 0, 0, 0, 0), "a closed fist"),
    "INDEX": (
        _shape(_THUMB_ACROSS, [_EXTENDED, _CURLED, _CURLED, _CURLED]),
        (0, 1, 0, 0, 0),
        "an extended index finger",
    ),
    "V": (
        _shape(_THUMB_ACROSS, [_EXTENDED, _EXTENDED, _CURLED, _CURLED], (10.0, -8.0, 0.0, 0.0)),
        (0, 1, 1, 0, 0),
        "a V shape with the index and middle fingers",
    ),
    "W": (
        _shape(_THUMB_ACROSS, [_EXTENDED, _EXTENDED, _EXTENDED, _CURLED], _SPREAD),
        (0, 1, 1, 1, 0),
        "three spread fingers",
    ),
    "L": (
        _shape(_THUMB_OUT, [_EXTENDED, _CURLED, _CURLED, _CURLED]),
        (1, 1, 0, 0, 0),
        "an L shape with the thumb and index finger",
    ),
    "Y": (
        _shape(_THUMB_OUT, [_CURLED, _CURLED, _CURLED, _EXTENDED], (0.0, 0.0, 0.0, -20.0)),
        (1, 0, 0, 0, 1),
        "a Y shape with the thumb and little finger",
    ),
    "I": (_shape(_THUMB_ACROSS, [_CURLED, _CURLED, _CURLED, _EXTENDED]), (0, 0, 0, 0, 1), "a raised little finger"),
    "C": (_shape(_THUMB_ROUND, [_ROUND] * 4), (0, 0, 0, 0, 0), "a curved C shape"),
    "O": (_shape(_THUMB_TOUCH, [_CLOSED_ROUND] * 4), (0, 0, 0, 0, 0), "a rounded O shape"),
    "CLAW": (_shape(_THUMB_HOOK, [_HOOKED] * 4, _SPREAD), (0, 0, 0, 0, 0), "a clawed hand with bent fingers"),
    "BENT": (_shape(_THUMB_ALONG, [_BENT] * 4), (0, 0, 0, 0, 0), "a flat hand bent at the knuckles"),
    "HORNS": (
        _shape(_THUMB_ACROSS, [_EXTENDED, _CURLED, _CURLED, _EXTENDED], (6.0, 0.0, 0.0, -10.0)),
        (0, 1, 0, 0, 1),
        "the index and little fingers raised",
    ),
}
# Handshape used by the hands at rest and by a passive base hand.
REST_HANDSHAPE = "FLAT"
BASE_HANDSHAPES = ("FLAT", "FIST", "FIVE")

# ---------------------------------------------------------------------------------------------------------------------
# Locations: palm centre of the dominant (right) hand in body coordinates (fractions of the frame, x to the image
# right = the signer's left, y down), the English phrase for the right hand, for both hands, and the place as a noun.
# ---------------------------------------------------------------------------------------------------------------------
LOCATIONS = {
    "FOREHEAD": ((0.47, 0.16), "at the forehead", "at the forehead", "the forehead"),
    "TEMPLE": ((0.36, 0.21), "beside the temple", "beside the temples", "the temple"),
    "CHEEK": ((0.41, 0.28), "at the cheek", "at the cheeks", "the cheek"),
    "CHIN": ((0.48, 0.35), "at the chin", "at the chin", "the chin"),
    "NECK": ((0.47, 0.43), "at the throat", "at the throat", "the throat"),
    "SHOULDER": ((0.33, 0.51), "at the right shoulder", "at the shoulders", "the shoulder"),
    "OPPOSITE_SHOULDER": ((0.63, 0.51), "at the left shoulder", "at the opposite shoulders", "the opposite shoulder"),
    "CHEST": ((0.45, 0.60), "in front of the chest", "in front of the chest", "the chest"),
    "STOMACH": ((0.46, 0.78), "in front of the stomach", "in front of the stomach", "the stomach"),
    "NEUTRAL": (
        (0.35, 0.69),
        "in the space in front of the body",
        "in the space in front of the body",
        "the space in front of the body",
    ),
    "SIDE": ((0.18, 0.62), "out to the side", "out to the sides", "the side"),
    "ABOVE": ((0.24, 0.15), "high beside the head", "high beside the head", "a spot high beside the head"),
}
# Locations where a passive base hand can sit beside the dominant hand.
BASE_LOCATIONS = ("CHEST", "STOMACH", "NEUTRAL")
# Locations where both hands cannot sign symmetrically (the hands would cross).
ONE_HANDED_LOCATIONS = ("OPPOSITE_SHOULDER",)

# ---------------------------------------------------------------------------------------------------------------------
# Movements: path kind and direction ("in" = toward the body's midline; circles as the viewer sees the right hand).
# Phrases for one hand / both hands.
# ---------------------------------------------------------------------------------------------------------------------
MOVEMENT_KINDS = ("hold", "straight", "arc", "circle", "zigzag", "repeat", "twist")
MOVEMENTS = {
    "hold": ("hold", None, "holds still", "hold still"),
    "straight_up": ("straight", "up", "moves straight up", "move straight up"),
    "straight_down": ("straight", "down", "moves straight down", "move straight down"),
    "straight_in": ("straight", "in", "moves straight inward across the body", "move straight inward"),
    "straight_out": ("straight", "out", "moves straight outward", "move straight outward"),
    "arc_up": ("arc", "up", "arcs upward", "arc upward"),
    "arc_down": ("arc", "down", "arcs downward", "arc downward"),
    "arc_in": ("arc", "in", "arcs inward", "arc inward"),
    "arc_out": ("arc", "out", "arcs outward", "arc outward"),
    "circle_cw": ("circle", "cw", "traces a clockwise circle", "trace clockwise circles"),
    "circle_ccw": ("circle", "ccw", "traces a counter-clockwise circle", "trace counter-clockwise circles"),
    "zigzag_down": ("zigzag", "down", "zig-zags downward", "zig-zag downward"),
    "zigzag_in": ("zigzag", "in", "zig-zags inward", "zig-zag inward"),
    "repeat_up": ("repeat", "up", "bounces upward twice", "bounce upward twice"),
    "repeat_in": ("repeat", "in", "taps inward twice", "tap inward twice"),
    "twist": ("twist", None, "twists at the wrist", "twist at the wrists"),
}

# ---------------------------------------------------------------------------------------------------------------------
# Palm orientations of the right hand in camera coordinates (x right, y down, z away from the viewer): finger
# direction and palm normal (unit vectors, orthogonal). Palms facing down, up or sideways are turned partly toward
# the camera so the hand is not seen edge-on. The left hand uses the mirror image.
# ---------------------------------------------------------------------------------------------------------------------
ORIENTATIONS = {
    "OUT": ((0.0, -1.0, 0.0), (0.0, 0.0, -1.0), "palm facing forward"),
    "IN": ((0.0, -1.0, 0.0), (0.0, 0.0, 1.0), "palm facing the body"),
    "DOWN": ((1.0, 0.0, 0.0), (0.0, 0.78, 0.62), "palm facing down"),
    "UP": ((1.0, 0.0, 0.0), (0.0, -0.78, -0.62), "palm facing up"),
    "SIDE": ((0.0, -1.0, 0.0), (0.8, 0.0, -0.6), "palm facing sideways"),
}
# How the two hands take part in a sign.
HAND_TYPES = ("one", "symmetric", "alternating", "base")
_HAND_TYPE_WEIGHTS = (0.45, 0.25, 0.10, 0.20)
# Movements whose alternating form is natural (the hands are half a cycle apart).
_ALTERNATING_KINDS = ("circle", "zigzag", "repeat", "arc")

# ---------------------------------------------------------------------------------------------------------------------
# Glosses by category, with their German realisations.
# ---------------------------------------------------------------------------------------------------------------------
MINIMAL_PAIRS = (
    ("REGEN", "SCHNEE"),
    ("WOLKE", "NEBEL"),
    ("WIND", "STURM"),
    ("HOCH", "TIEF"),
    ("GEWITTER", "HAGEL"),
    ("HEUTE", "MORGEN"),
    ("ABEND", "NACHT"),
    ("VORMITTAG", "NACHMITTAG"),
    ("MONTAG", "DIENSTAG"),
    ("SAMSTAG", "SONNTAG"),
    ("SOMMER", "WINTER"),
    ("JANUAR", "FEBRUAR"),
    ("NORD", "SUED"),
    ("OST", "WEST"),
    ("NORDWEST", "SUEDOST"),
    ("BERLIN", "HAMBURG"),
    ("OSTSEE", "NORDSEE"),
    ("BERG", "TAL"),
    ("KALT", "WARM"),
    ("NASS", "TROCKEN"),
    ("FREUNDLICH", "TRUEB"),
    ("MILD", "KUEHL"),
    ("STARK", "SCHWACH"),
    ("VIEL", "WENIG"),
    ("DREI", "VIER"),
    ("SIEBEN", "ACHT"),
    ("ZEHN", "ZWANZIG"),
    ("EINS", "ZWEI"),
    ("STEIGEN", "SINKEN"),
)

# Phenomena: gloss -> (verb-second clause after a fronted phrase, noun, grammatical gender or "pl", tags).
# Tags: "gibt" = "es gibt <adjective> <noun>" is idiomatic, "adv" = the clause takes a trailing adverb or "nicht".
PHENOMENA = {
    "REGEN": ("regnet es", "regen", "m", {"gibt", "adv"}),
    "SCHNEE": ("schneit es", "schnee", "m", {"gibt", "adv"}),
    "WOLKE": ("gibt es wolken", "wolken", "pl", {"gibt"}),
    "NEBEL": ("gibt es nebel", "nebel", "m", {"gibt"}),
    "WIND": ("weht der wind", "wind", "m", {"gibt", "adv"}),
    "STURM": ("stürmt es", "sturm", "m", {"adv"}),
    "HOCH": ("bestimmt ein hoch das wetter", "hoch", "n", set()),
    "TIEF": ("kommt ein tief", "tief", "n", set()),
    "GEWITTER": ("gibt es gewitter", "gewitter", "pl", {"gibt"}),
    "HAGEL": ("hagelt es", "hagel", "m", {"adv"}),
    "SONNE": ("scheint die sonne", "sonne", "f", {"gibt", "adv"}),
    "FROST": ("gibt es frost", "frost", "m", {"gibt"}),
    "SCHAUER": ("gibt es schauer", "schauer", "pl", {"gibt"}),
    "GLATTEIS": ("droht glatteis", "glatteis", "n", set()),
    "NIESEL": ("nieselt es", "nieselregen", "m", {"adv"}),
    "TAU": ("bildet sich tau", "tau", "m", set()),
    "HITZE": ("herrscht hitze", "hitze", "f", {"gibt"}),
}
TIMES = {
    "HEUTE": "heute",
    "MORGEN": "morgen",
    "ABEND": "am abend",
    "NACHT": "in der nacht",
    "VORMITTAG": "am vormittag",
    "NACHMITTAG": "am nachmittag",
    "MONTAG": "am montag",
    "DIENSTAG": "am dienstag",
    "SAMSTAG": "am samstag",
    "SONNTAG": "am sonntag",
    "SOMMER": "im sommer",
    "WINTER": "im winter",
    "JANUAR": "im januar",
    "FEBRUAR": "im februar",
    "UEBERMORGEN": "übermorgen",
    "MITTAG": "am mittag",
    "TAG": "am tag",
    "WOCHENENDE": "am wochenende",
    "MITTWOCH": "am mittwoch",
    "DONNERSTAG": "am donnerstag",
    "FREITAG": "am freitag",
    "FRUEHLING": "im frühling",
    "HERBST": "im herbst",
    "MAERZ": "im märz",
    "APRIL": "im april",
    "MAI": "im mai",
    "JUNI": "im juni",
    "JULI": "im juli",
    "AUGUST": "im august",
    "SEPTEMBER": "im september",
    "OKTOBER": "im oktober",
    "NOVEMBER": "im november",
    "DEZEMBER": "im dezember",
    "MITTERNACHT": "um mitternacht",
}
# Regions: gloss -> (locative phrase, compass word for "wind aus <compass>" or None).
REGIONS = {
    "NORD": ("im norden", "nord"),
    "SUED": ("im süden", "süd"),
    "OST": ("im osten", "ost"),
    "WEST": ("im westen", "west"),
    "NORDWEST": ("im nordwesten", "nordwest"),
    "SUEDOST": ("im südosten", "südost"),
    "BERLIN": ("in berlin", None),
    "HAMBURG": ("in hamburg", None),
    "OSTSEE": ("an der ostsee", None),
    "NORDSEE": ("an der nordsee", None),
    "BERG": ("in den bergen", None),
    "TAL": ("in den tälern", None),
    "NORDOST": ("im nordosten", "nordost"),
    "SUEDWEST": ("im südwesten", "südwest"),
    "MITTE": ("in der mitte", None),
    "KUESTE": ("an der küste", None),
    "ALPEN": ("an den alpen", None),
    "MUENCHEN": ("in münchen", None),
    "KOELN": ("in köln", None),
    "DRESDEN": ("in dresden", None),
    "STUTTGART": ("in stuttgart", None),
    "BREMEN": ("in bremen", None),
    "HANNOVER": ("in hannover", None),
    "LEIPZIG": ("in leipzig", None),
    "FRANKFURT": ("in frankfurt", None),
    "NUERNBERG": ("in nürnberg", None),
    "BAYERN": ("in bayern", None),
    "SACHSEN": ("in sachsen", None),
    "HESSEN": ("in hessen", None),
    "THUERINGEN": ("in thüringen", None),
    "BRANDENBURG": ("in brandenburg", None),
    "RHEIN": ("am rhein", None),
    "DONAU": ("an der donau", None),
    "HARZ": ("im harz", None),
    "EIFEL": ("in der eifel", None),
    "SCHWARZWALD": ("im schwarzwald", None),
    "BODENSEE": ("am bodensee", None),
    "ERZGEBIRGE": ("im erzgebirge", None),
    "DEUTSCHLAND": ("in ganz deutschland", None),
}
# Weather adjectives (predicative form).
ADJECTIVES = {
    "KALT": "kalt",
    "WARM": "warm",
    "NASS": "nass",
    "TROCKEN": "trocken",
    "FREUNDLICH": "freundlich",
    "TRUEB": "trüb",
    "MILD": "mild",
    "KUEHL": "kühl",
    "HEISS": "heiß",
    "SCHWUEL": "schwül",
    "KLAR": "klar",
    "WECHSELHAFT": "wechselhaft",
    "HEITER": "heiter",
    "FEUCHT": "feucht",
    "SONNIG": "sonnig",
    "WINDIG": "windig",
    "FROSTIG": "frostig",
    "BEWOELKT": "bewölkt",
    "GLATT": "glatt",
    "SCHOEN": "schön",
    "UNBESTAENDIG": "unbeständig",
}
# Intensities: gloss -> (adverb, adjective stem or None when it does not inflect, plural form).
INTENSITIES = {
    "STARK": ("stark", "stark", "starke"),
    "SCHWACH": ("schwach", "schwach", "schwache"),
    "VIEL": ("viel", None, "viele"),
    "WENIG": ("wenig", None, "wenige"),
    "KRAEFTIG": ("kräftig", "kräftig", "kräftige"),
    "MAESSIG": ("mäßig", "mäßig", "mäßige"),
    "LEICHT": ("leicht", "leicht", "leichte"),
    "HEFTIG": ("heftig", "heftig", "heftige"),
}
NUMBERS = {
    "DREI": "drei",
    "VIER": "vier",
    "SIEBEN": "sieben",
    "ACHT": "acht",
    "ZEHN": "zehn",
    "ZWANZIG": "zwanzig",
    "EINS": "ein",
    "ZWEI": "zwei",
    "NULL": "null",
    "FUENF": "fünf",
    "SECHS": "sechs",
    "NEUN": "neun",
    "ELF": "elf",
    "ZWOELF": "zwölf",
    "DREIZEHN": "dreizehn",
    "VIERZEHN": "vierzehn",
    "FUENFZEHN": "fünfzehn",
    "SECHZEHN": "sechzehn",
    "SIEBZEHN": "siebzehn",
    "ACHTZEHN": "achtzehn",
    "NEUNZEHN": "neunzehn",
    "FUENFUNDZWANZIG": "fünfundzwanzig",
    "DREISSIG": "dreißig",
}
TEMPERATURE_VERBS = {"STEIGEN": "steigen", "SINKEN": "sinken", "FALLEN": "fallen"}
# Function glosses realised by one fixed word. TEMPERATUR and GRAD are used together, so they join the subset as one.
FUNCTION_WORDS = {
    "TEMPERATUR": "temperaturen",
    "GRAD": "grad",
    "NICHT": "nicht",
    "AUCH": "auch",
    "WETTER": "wetter",
    "SPAETER": "später",
    "MINUS": "minus",
}
_FUNCTION_UNITS = (("TEMPERATUR", "GRAD"), ("NICHT",), ("AUCH",), ("WETTER",), ("SPAETER",), ("MINUS",))

# Category order used to pick a vocabulary subset: categories others depend on come first.
CATEGORIES = {
    "phenomenon": PHENOMENA,
    "time": TIMES,
    "region": REGIONS,
    "function": FUNCTION_WORDS,
    "number": NUMBERS,
    "adjective": ADJECTIVES,
    "intensity": INTENSITIES,
    "verb": TEMPERATURE_VERBS,
}
MIN_GLOSSES = 12
# Seed of the lexicon's sign forms: fixed, so every dataset seed signs the same language.
LEXICON_SEED = 20250731


@dataclass(frozen=True)
class HandForm:
    """What one hand does in a sign (in right-hand terms; the left hand mirrors it)."""

    handshape: str
    location: str
    movement: str
    orientation: str


@dataclass(frozen=True)
class Sign:
    """A lexicon entry: the gloss, its category, how the hands take part and each hand's form.

    `hands` is `one` (right hand only), `symmetric` (both hands mirror each other), `alternating` (mirrored, half a
    cycle apart) or `base` (the left hand holds still as a base beside the moving right hand). `left` is None for
    one-handed signs. `minimal_pair` names the gloss whose sign differs from this one only in handshape.
    """

    gloss: str
    category: str
    hands: str
    right: HandForm
    left: HandForm | None
    minimal_pair: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _gloss_units() -> dict[str, list[tuple[str, ...]]]:
    """Per category, its glosses grouped into units that enter a subset together (minimal pairs, TEMPERATUR+GRAD)."""
    partner = {}
    for first, second in MINIMAL_PAIRS:
        partner[first], partner[second] = second, first
    units = {}
    for category, entries in CATEGORIES.items():
        if category == "function":
            units[category] = list(_FUNCTION_UNITS)
            continue
        seen, category_units = set(), []
        for gloss in entries:
            if gloss in seen:
                continue
            unit = (gloss, partner[gloss]) if gloss in partner else (gloss,)
            seen.update(unit)
            category_units.append(unit)
        units[category] = category_units
    return units


def _round_robin(queues: list[list]) -> list:
    queues = [list(queue) for queue in queues]
    order = []
    while any(queues):
        order += [queue.pop(0) for queue in queues if queue]
    return order


def _priority_order() -> list[tuple[str, ...]]:
    """All gloss units in the order a vocabulary subset takes them.

    Categories take turns (those others depend on first), and the minimal pairs are spread evenly between the single
    glosses, so any subset has minimal pairs in the proportion of the whole lexicon and ends on single glosses.
    """
    pairs = {frozenset(pair) for pair in MINIMAL_PAIRS}
    units = _gloss_units().values()
    singles = _round_robin([[unit for unit in category if frozenset(unit) not in pairs] for category in units])
    paired = _round_robin([[unit for unit in category if frozenset(unit) in pairs] for category in units])
    order, taken = [], 0
    for index, pair in enumerate(paired):
        share = round((index + 1) * len(singles) / (len(paired) + 1))
        order += singles[taken:share] + [pair]
        taken = share
    return order + singles[taken:]


def gloss_category(gloss: str) -> str:
    """The grammar category of a gloss."""
    for category, entries in CATEGORIES.items():
        if gloss in entries:
            return category
    raise KeyError(f"unknown SynthSign gloss {gloss!r}")


def all_glosses() -> list[str]:
    """Every gloss of the full lexicon, in subset priority order."""
    return select_glosses(None)


def select_glosses(num_glosses: int | None) -> list[str]:
    """A deterministic vocabulary of `num_glosses` glosses (all when None), in priority order.

    Glosses enter in units: a minimal pair with both members (so the subset keeps its minimal pairs), TEMPERATUR
    with GRAD, any other gloss alone. Categories take turns, and minimal pairs keep their share of the lexicon.
    A unit that does not fit in the remaining room is skipped in favour of later single glosses, so the result has
    exactly `num_glosses` glosses.
    """
    order = _priority_order()
    total = sum(len(unit) for unit in order)
    if num_glosses is None:
        num_glosses = total
    if not MIN_GLOSSES <= num_glosses <= total:
        raise ValueError(
            f"num_glosses must be between {MIN_GLOSSES} and {total} (the full lexicon), got {num_glosses}"
        )
    selected = []
    for unit in order:
        if len(selected) + len(unit) <= num_glosses:
            selected.extend(unit)
        if len(selected) == num_glosses:
            break
    return selected


def _contrasting_handshapes() -> list[tuple[str, str]]:
    """Handshape pairs that look clearly different: their sets of extended fingers differ in at least two fingers."""
    names = list(HANDSHAPES)
    pairs = []
    for index, first in enumerate(names):
        for second in names[index + 1 :]:
            difference = sum(a != b for a, b in zip(HANDSHAPES[first][1], HANDSHAPES[second][1]))
            if difference >= 2:
                pairs.append((first, second))
    return pairs


def _base_hand(rng: np.random.Generator, location: str) -> HandForm:
    """The passive left hand of a `base` sign: a still handshape held beside the dominant hand."""
    handshape = BASE_HANDSHAPES[rng.integers(len(BASE_HANDSHAPES))]
    return HandForm(handshape, location, "hold", ("UP", "IN")[rng.integers(2)])


def build_lexicon() -> dict[str, Sign]:
    """Build the full lexicon: one sign per gloss, deterministic (from `LEXICON_SEED`).

    Every sign gets its own (location, movement) combination, so any two glosses that are not a minimal pair differ
    in where or how the hand moves; the two members of a minimal pair share everything except the handshape (of
    both hands when both sign), drawn from a pair of clearly contrasting handshapes.
    """
    rng = np.random.default_rng(LEXICON_SEED)
    combos = [(location, movement) for location in LOCATIONS for movement in MOVEMENTS]
    combos = [combos[index] for index in rng.permutation(len(combos))]
    contrasts = _contrasting_handshapes()
    handshapes = list(HANDSHAPES)
    orientations = list(ORIENTATIONS)
    # One sign form per group: a minimal pair shares its form, every other gloss has its own.
    pairs = {frozenset(pair) for pair in MINIMAL_PAIRS}
    units = [
        group
        for category_units in _gloss_units().values()
        for unit in category_units
        for group in ([unit] if frozenset(unit) in pairs else [(gloss,) for gloss in unit])
    ]
    if len(units) > len(combos):
        raise RuntimeError(f"{len(units)} sign forms need more than {len(combos)} (location, movement) combinations")

    lexicon = {}
    for unit, (location, movement) in zip(units, combos):
        kind = MOVEMENTS[movement][0]
        allowed = [
            hands
            for hands in HAND_TYPES
            if not (hands != "one" and location in ONE_HANDED_LOCATIONS)
            and not (hands == "base" and location not in BASE_LOCATIONS)
            and not (hands == "alternating" and kind not in _ALTERNATING_KINDS)
        ]
        weights = np.array([_HAND_TYPE_WEIGHTS[HAND_TYPES.index(hands)] for hands in allowed])
        hands = allowed[rng.choice(len(allowed), p=weights / weights.sum())]
        orientation = orientations[rng.integers(len(orientations))]
        if len(unit) == 2:
            shapes = contrasts[rng.integers(len(contrasts))]
            shapes = shapes if rng.integers(2) == 0 else shapes[::-1]
        else:
            shapes = (handshapes[rng.integers(len(handshapes))],)
        base = _base_hand(rng, location) if hands == "base" else None
        for gloss, handshape in zip(unit, shapes):
            right = HandForm(handshape, location, movement, orientation)
            left = None if hands == "one" else base if hands == "base" else right
            partner = unit[1 - unit.index(gloss)] if len(unit) == 2 else None
            lexicon[gloss] = Sign(gloss, gloss_category(gloss), hands, right, left, partner)
    return {gloss: lexicon[gloss] for gloss in all_glosses()}
