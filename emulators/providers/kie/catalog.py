"""The createTask model catalogue (fixtures/kie/models.yaml): input checks, prices, results.

No HTTP and no state here: `Catalog.validate` turns a model id and a raw `input` into a
`TaskPlan` (normalized values, price, what the result looks like) or raises `Invalid`. What it
needs to know about URLs (a file the emulator serves: its format, size, pixels, seconds) comes
from the `inspect` function the backend passes in.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote, urlsplit


class Invalid(ValueError):
    """422 (400 on the upload API): the message says which field and why."""


@dataclass(frozen=True)
class MediaFacts:
    """What the emulator knows of a file it serves (None: not known)."""

    url: str
    name: str | None  # the uploader's file name
    format: str | None  # sniff id: jpeg, png, mp4, ...
    size: int | None
    width: int | None
    height: int | None
    seconds: float | None


class Gone:
    """A URL the emulator handed out whose file is no longer served."""

    def __init__(self, url: str) -> None:
        self.url = url


Inspect = Callable[[str], "MediaFacts | Gone | None"]  # None: not the emulator's file

# A URL's extension -> the format it claims (only extensions of media formats are judged).
EXTENSIONS = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp", "gif": "gif", "bmp": "bmp",
              "avif": "avif", "heic": "heic", "tif": "tiff", "tiff": "tiff", "mp4": "mp4", "mov": "mov",
              "webm": "webm", "mkv": "mkv", "avi": "avi", "m4v": "mp4", "mp3": "mp3", "wav": "wav"}
NUMERIC = re.compile(r"^\s*-?\d{1,6}\s*$")


@dataclass
class TaskPlan:
    """A validated createTask: everything the backend needs to charge and to make the result."""

    model_id: str
    kind: str  # image | video | audio
    values: dict[str, Any]  # the accepted input fields, normalized, defaults filled in
    price_cents: int
    edit: bool = False
    seconds: float | None = None  # the video's length
    inputs: list[MediaFacts | Gone] = field(default_factory=list)  # the emulator's own files used
    recipe: dict[str, Any] = field(default_factory=dict)
    extension: str = "png"


class Catalog:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.models: dict[str, dict[str, Any]] = data["models"]

    def timings(self, kind: str) -> list[float]:
        return [float(s) for s in self.data["kinds"][kind]["timings"]]

    def validate(self, model_id: str, raw: Any, inspect: Inspect, seed: str) -> TaskPlan:
        model = self.models.get(model_id)
        if model is None:
            raise Invalid(f"The model {model_id!r} is not supported")
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise Invalid("input must be an object")
        inputs: dict[str, dict[str, Any]] = model["inputs"]
        values: dict[str, Any] = {}
        found: list[MediaFacts | Gone] = []
        for name, spec in inputs.items():  # in the catalogue's order: the first problem is told
            value = raw.get(name)
            if spec.get("required") and _empty(value):
                raise Invalid(f"{name} cannot be empty")
            if value is None:
                if "default" in spec:
                    values[name] = spec["default"]
                continue
            values[name] = _check(name, value, spec, inspect, found)
        # fields the model does not know are ignored, as the live service does
        plan = TaskPlan(model_id=model_id, kind=model["kind"], values=values, price_cents=0, inputs=found)
        plan.edit = any(spec.get("edit") and values.get(name) for name, spec in inputs.items())
        if plan.kind == "video":
            plan.seconds = self._video_seconds(values, found)
        plan.price_cents = self.price_cents(model, values, plan.seconds)
        plan.recipe, plan.extension = self._result(plan, seed)
        return plan

    def _video_seconds(self, values: dict[str, Any], found: list[MediaFacts | Gone]) -> float:
        if "duration" in values:
            return float(values["duration"])
        for url in values.get("video_urls") or []:  # motion control: as long as its driving video
            facts = next((f for f in found if isinstance(f, MediaFacts) and f.url == url), None)
            if facts is not None and facts.seconds:
                return float(facts.seconds)
        return float(self.data["assumed_video_seconds"])

    @staticmethod
    def price_cents(model: dict[str, Any], values: dict[str, Any], seconds: float | None) -> int:
        """The price in hundredths of a credit: the first rule whose `when` matches."""
        for rule in model["prices"]:
            if all(values.get(k) == v for k, v in (rule.get("when") or {}).items()):
                if "per_second" in rule:
                    return int(round(float(rule["per_second"]) * 100 * math.ceil(seconds or 0)))
                return int(round(float(rule["credits"]) * 100))
        raise Invalid("This combination of input values has no price")

    # -- results ----------------------------------------------------------------------------------
    def _result(self, plan: TaskPlan, seed: str) -> tuple[dict[str, Any], str]:
        values = plan.values
        if plan.kind == "image":
            fmt = "jpeg" if values.get("output_format") in ("jpg", "jpeg") else "png"
            width, height = self._image_size(values, plan)
            return {"kind": "image", "width": width, "height": height, "format": fmt, "seed": seed}, fmt
        if plan.kind == "video":
            sizes = self.data["video_sizes"]
            width, height = sizes.get(values.get("aspect_ratio") or "16:9", sizes["16:9"])
            return {"kind": "video", "duration": float(plan.seconds or 5), "width": width, "height": height,
                    "format": "mp4", "with_audio": bool(values.get("sound")), "seed": seed}, "mp4"
        return {"kind": "speech", "text": values.get("text") or values.get("prompt") or "", "format": "mp3",
                "voice": values.get("voice") or "default"}, "mp3"

    def _image_size(self, values: dict[str, Any], plan: TaskPlan) -> tuple[int, int]:
        sizes: dict[str, list[int]] = self.data["image_sizes"]
        ratio = values.get("aspect_ratio")
        if ratio in (None, "auto"):
            ratio = self._nearest_ratio(plan) if plan.edit else "1:1"
        width, height = sizes.get(ratio, sizes["1:1"])
        scale = float(self.data["resolution_scale"].get(values.get("resolution") or "1K", 1))
        scale = min(scale, 4096 / max(width, height))
        return max(1, int(width * scale)), max(1, int(height * scale))

    def _nearest_ratio(self, plan: TaskPlan) -> str:
        """An edit without an aspect ratio keeps its first image's shape (the nearest size)."""
        first = next((f for f in plan.inputs if isinstance(f, MediaFacts) and f.width and f.height), None)
        if first is None:
            return "1:1"
        assert first.width is not None and first.height is not None
        shape = math.log(first.width / first.height)
        sizes: dict[str, list[int]] = self.data["image_sizes"]
        return min(sizes, key=lambda r: abs(math.log(sizes[r][0] / sizes[r][1]) - shape))


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and not (
        value.strip() if isinstance(value, str) else value))


def _check(name: str, value: Any, spec: dict[str, Any], inspect: Inspect,
           found: list[MediaFacts | Gone]) -> Any:
    kind = spec["type"]
    if kind == "string":
        if not isinstance(value, str):
            raise Invalid(f"{name} must be a string")
        if spec.get("max_length") and len(value) > spec["max_length"]:
            raise Invalid(f"{name} must be at most {spec['max_length']} characters")
        if "enum" in spec and value not in spec["enum"]:
            raise Invalid(f"{name} must be one of: {', '.join(map(str, spec['enum']))}")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise Invalid(f"{name} must be true or false")
        return value
    if kind == "integer":
        return _integer(name, value, spec)
    if kind == "urls":
        return _urls(name, value, spec, inspect, found)
    if kind == "shots":
        return _shots(name, value, spec)
    raise Invalid(f"{name} is not accepted")


def _integer(name: str, value: Any, spec: dict[str, Any]) -> int:
    number: Any = value
    if isinstance(value, str) and NUMERIC.match(value):
        number = int(value)
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    allowed = (f"one of: {', '.join(map(str, spec['enum']))}" if "enum" in spec
               else f"an integer from {spec['min']} to {spec['max']}")
    if isinstance(number, bool) or not isinstance(number, int):
        raise Invalid(f"{name} must be {allowed}")
    if "enum" in spec and number not in spec["enum"]:
        raise Invalid(f"{name} must be {allowed}")
    if "min" in spec and not spec["min"] <= number <= spec["max"]:
        raise Invalid(f"{name} must be {allowed}")
    return number


def http_url(value: Any, max_length: int = 4096) -> bool:
    if not isinstance(value, str) or not value or len(value) > max_length:
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _urls(name: str, value: Any, spec: dict[str, Any], inspect: Inspect,
          found: list[MediaFacts | Gone]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(f"{name} must be a list of URLs")
    low, high = spec.get("min_items", 0), spec["max_items"]
    if spec.get("required") and not value:
        raise Invalid(f"{name} cannot be empty")
    if not low <= len(value) <= high:
        count = f"exactly {high}" if low == high else f"at most {high}" if not low else f"{low} to {high}"
        raise Invalid(f"{name} takes {count} URL{'s' if high > 1 else ''}")
    for i, url in enumerate(value):
        where = f"{name}[{i}]"
        if not http_url(url):
            raise Invalid(f"{where} must be an http(s) URL")
        facts = inspect(url)
        if facts is None:
            _check_extension(where, url, spec)
        else:
            found.append(facts)
            if isinstance(facts, MediaFacts):
                _check_media(where, facts, spec)
    return list(value)


def _check_extension(where: str, url: str, spec: dict[str, Any]) -> None:
    last = unquote(urlsplit(url).path).rsplit("/", 1)[-1]
    ext = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    claimed = EXTENSIONS.get(ext)
    if claimed is not None and "formats" in spec and claimed not in spec["formats"]:
        raise Invalid(f"{where}: .{ext} files are not supported; formats: {_formats(spec)}")


def _formats(spec: dict[str, Any]) -> str:
    return ", ".join(spec["formats"])


def _check_media(where: str, facts: MediaFacts, spec: dict[str, Any]) -> None:
    if "formats" in spec and facts.format not in spec["formats"]:
        raise Invalid(f"{where} is {facts.format or 'not a media file'}; formats: {_formats(spec)}")
    if spec.get("max_bytes") and facts.size is not None and facts.size > spec["max_bytes"]:
        raise Invalid(f"{where} is larger than {spec['max_bytes'] // (1024 * 1024)} MB")
    if facts.width and facts.height:
        if spec.get("min_side") and min(facts.width, facts.height) < spec["min_side"]:
            raise Invalid(f"{where} is {facts.width}x{facts.height}; at least {spec['min_side']} px a side")
        if "aspect" in spec:
            low, high = spec["aspect"]
            if not low <= facts.width / facts.height <= high:
                raise Invalid(f"{where} has an aspect ratio (width/height) outside {low}-{high}")
    if "seconds" in spec and facts.seconds is not None:
        low, high = spec["seconds"]
        if not low <= facts.seconds <= high:
            raise Invalid(f"{where} lasts {facts.seconds:.1f} s; {low}-{high} s are accepted")


def _shots(name: str, value: Any, spec: dict[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > spec["max_items"]:
        raise Invalid(f"{name} must be a list of at most {spec['max_items']} shots")
    shots = []
    for i, shot in enumerate(value):
        if not isinstance(shot, dict):
            raise Invalid(f"{name}[{i}] must be an object with prompt and duration")
        prompt = shot.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > spec["max_length"]:
            raise Invalid(f"{name}[{i}].prompt must be a text of 1 to {spec['max_length']} characters")
        duration = _integer(f"{name}[{i}].duration", shot.get("duration"), {"min": 1, "max": 15})
        shots.append({"prompt": prompt, "duration": duration})
    return shots
