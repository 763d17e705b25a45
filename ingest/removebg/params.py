"""remove.bg's request parameters, and each one's mapping onto cutout's effects and
output formats (the table in the README is this module).

Every documented default is accepted (clients send them all). A value cutout cannot
honour is a 400 naming the parameter (code ``invalid_<parameter>``), with a detail that
says it is unsupported here rather than malformed. Values arrive as form strings or JSON
scalars; both are read the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from PIL import ImageColor

from cutout.codes import ErrorCode
from cutout.errors import InvalidInput
from cutout.job import OutputFormat, OutputSpec
from ingest.models import RequestModel

#: ``size`` → the most megapixels of the answer (``None``: the photo's own resolution).
SIZE_MEGAPIXELS: dict[str, float | None] = {
    "preview": 0.25,
    "small": 0.25,
    "regular": 0.25,
    "medium": 1.5,
    "hd": 4.0,
    "full": None,
    "4k": None,
    "auto": None,
}
TYPES = ("auto", "person", "product", "car")
TYPE_LEVELS = ("none", "1", "2", "latest")
FORMATS = ("auto", "png", "jpg", "zip", "webp")  # webp: a later remove.bg addition
WEBP_QUALITY = 90
SHADOW_OPACITY = 0.5  # add_shadow=true with a background: background's drop shadow
MAX_CROP_MARGIN = 0.5  # remove.bg: at most 50% of the subject
_LENGTH = re.compile(r"^(\d+(?:\.\d+)?)(px|%)?$")
_HEX = re.compile(r"^#?([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
Scalar = str | bool | int | float | None


class RemoveBgInvalid(InvalidInput):
    """A parameter remove.bg documents, with a value that is malformed or that cutout
    cannot honour; ``parameter`` names it (the title says which)."""

    def __init__(self, parameter: str, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail, code=code or ErrorCode(f"invalid_{parameter}"))
        self.parameter = parameter


class RemoveBgRequest(RequestModel):
    """``POST /v1.0/removebg``'s body (multipart, JSON or urlencoded); images come as
    ``image_file``/``bg_image_file`` (multipart) or ``image_file_b64``/``image_url``."""

    location: ClassVar[Literal["query", "body"]] = "body"
    file_fields: ClassVar[tuple[str, ...]] = ("image_file", "bg_image_file")

    image_file: bytes | None = None
    image_file_b64: str | None = None
    image_url: str | None = None
    size: Scalar = "preview"
    type: Scalar = "auto"
    type_level: Scalar = "1"
    format: Scalar = "auto"
    roi: Scalar = "0% 0% 100% 100%"
    crop: Scalar = False
    crop_margin: Scalar = "0"
    scale: Scalar = "original"
    position: Scalar = "original"
    channels: Scalar = "rgba"
    add_shadow: Scalar = False
    semitransparency: Scalar = True
    shadow_method: Scalar = "latest"
    bg_color: Scalar = None
    bg_image_url: str | None = None
    bg_image_file: bytes | None = None


@dataclass(frozen=True)
class Plan:
    """What a request asks of cutout: the effect chain (its last effect's result is the
    answer), the output, the resolution, and how the answer is packed."""

    effects: list[tuple[str, dict[str, Any]]]
    output: OutputSpec
    megapixels: float | None
    size: str
    zip: bool = False
    type_header: bool = True
    background_url: str | None = None
    background_file: bytes | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def answer_effect(self) -> str:
        return self.effects[-1][0]


def plan(req: RemoveBgRequest) -> Plan:
    """Map every parameter; the first one that is refused raises :class:`RemoveBgInvalid`."""
    size = _choice(req.size, "size", tuple(SIZE_MEGAPIXELS))
    if _choice(req.type, "type", TYPES) != "auto":
        raise RemoveBgInvalid(
            "type", "cutout's model has no foreground classes; only type=auto is supported"
        )
    type_level = _choice(req.type_level, "type_level", TYPE_LEVELS)
    _choice(req.shadow_method, "shadow_method", ("latest", "legacy"))  # deprecated: no effect
    _flag(req.semitransparency, "semitransparency")  # soft edges either way (README)
    _only_default(req.roi, "roi", _full_roi, "only the whole image (0% 0% 100% 100%)")
    _only_default(req.scale, "scale", _is_original, "only scale=original")
    _only_default(req.position, "position", _is_original, "only position=original")
    channels = _choice(req.channels, "channels", ("rgba", "alpha"))
    shadow = SHADOW_OPACITY if _flag(req.add_shadow, "add_shadow") else 0.0
    margin = _crop_margin(req.crop_margin)  # checked always, used only with crop=true
    chain: list[tuple[str, dict[str, Any]]] = []
    if _flag(req.crop, "crop"):
        chain.append(("crop", {"margin": margin}))
    backdrop = _backdrop(req, shadow)
    if backdrop is not None and channels == "rgba":
        chain.append(backdrop)
    if not chain:
        chain.append(("color", {}))
    fmt = _choice(req.format, "format", FORMATS)
    opaque = chain[-1][0] == "background"
    return Plan(
        effects=chain,
        output=_output(fmt, channels, opaque=opaque),
        megapixels=SIZE_MEGAPIXELS[size],
        size=size,
        zip=fmt == "zip",
        type_header=type_level != "none",
        background_url=req.bg_image_url if opaque else None,
        background_file=req.bg_image_file if opaque else None,
    )


def _output(fmt: str, channels: str, *, opaque: bool) -> OutputSpec:
    if channels == "alpha":
        if fmt not in ("auto", "png"):
            raise RemoveBgInvalid(
                "channels", f"channels=alpha is answered as a PNG mask; use format=png, not {fmt}"
            )
        return OutputSpec(format=OutputFormat.MASK)
    if fmt == "jpg" or (fmt == "auto" and opaque):
        return OutputSpec(format=OutputFormat.JPEG)
    if fmt == "webp":
        return OutputSpec(format=OutputFormat.WEBP, quality=WEBP_QUALITY)
    return OutputSpec(format=OutputFormat.PNG)  # png, zip (split at the edge), auto


def _backdrop(req: RemoveBgRequest, shadow: float) -> tuple[str, dict[str, Any]] | None:
    given = [n for n in ("bg_color", "bg_image_url", "bg_image_file") if getattr(req, n)]
    if len(given) > 1:
        raise RemoveBgInvalid(
            "bg_color",
            "Multiple background sources given: send one of bg_color, bg_image_url, bg_image_file",
            code=ErrorCode.MULTIPLE_BG_SOURCES,
        )
    if not given:
        return None
    params: dict[str, Any] = {"shadow": shadow}
    if given[0] == "bg_color":
        return "background", {"mode": "color", "color": _colour(str(req.bg_color)), **params}
    return "background", {"mode": "image", **params}


def _colour(value: str) -> str:
    """``#rrggbb`` from a 3/4/6/8-digit hex code (``#`` optional) or a colour name; an
    alpha digit below full is refused: cutout's backgrounds are opaque."""
    match = _HEX.match(value.strip())
    if match:
        digits = match.group(1).lower()
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits)
        if len(digits) == 8 and digits[6:] != "ff":
            raise RemoveBgInvalid(
                "bg_color", f"bg_color {value!r} is semi-transparent; cutout's are opaque"
            )
        return "#" + digits[:6]
    try:
        red, green, blue = ImageColor.getrgb(value.strip())[:3]
    except ValueError as exc:
        raise RemoveBgInvalid("bg_color", f"bg_color {value!r} is not a colour") from exc
    return f"#{red:02x}{green:02x}{blue:02x}"


def _crop_margin(value: Scalar) -> float:
    """crop's ``margin`` (x the subject's long side) from 1, 2 or 4 lengths: zero in any
    unit, or one percentage for every side; pixels other than 0 cannot be expressed."""
    tokens = str(value).split()
    if len(tokens) not in (1, 2, 4):
        raise RemoveBgInvalid("crop_margin", f"crop_margin {value!r}: give 1, 2 or 4 values")
    parsed = []
    for token in tokens:
        match = _LENGTH.match(token)
        if match is None:
            raise RemoveBgInvalid("crop_margin", f"crop_margin {token!r} is not 30px or 10%")
        parsed.append((float(match.group(1)), match.group(2) or "px"))
    if all(amount == 0 for amount, _ in parsed):
        return 0.0
    if len(set(parsed)) > 1 or parsed[0][1] != "%":
        raise RemoveBgInvalid(
            "crop_margin", f"crop_margin {value!r}: cutout supports one percentage for all sides"
        )
    margin = parsed[0][0] / 100
    if margin > MAX_CROP_MARGIN:
        raise RemoveBgInvalid("crop_margin", f"crop_margin {value!r} is over 50%")
    return margin


def _full_roi(value: str) -> bool:
    tokens = value.split()
    if len(tokens) != 4 or any(_LENGTH.match(t) is None for t in tokens):
        raise RemoveBgInvalid("roi", f"roi {value!r} is not 'x1 y1 x2 y2' (px or %)")
    return tokens[:2] in (["0%", "0%"], ["0px", "0px"], ["0", "0"]) and tokens[2:] == [
        "100%",
        "100%",
    ]


def _is_original(value: str) -> bool:
    return value.strip().lower() == "original"


def _only_default(value: Scalar, name: str, is_default: Any, supported: str) -> None:
    if not is_default(str(value)):
        raise RemoveBgInvalid(name, f"{name}={value!r} is not supported by cutout: {supported}")


def _choice(value: Scalar, name: str, allowed: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in allowed:
        raise RemoveBgInvalid(
            name, f"Invalid value for parameter '{name}': {value!r}; one of {', '.join(allowed)}"
        )
    return text


def _flag(value: Scalar, name: str) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise RemoveBgInvalid(name, f"{name} must be true or false, not {value!r}")
