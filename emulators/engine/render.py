"""Generated files: a recipe (plain data, kept in state) -> the bytes served for it."""
from __future__ import annotations

from typing import Any

from emulators.engine.files import FileRecord


def speech_text(recipe: dict[str, Any]) -> str:
    """What a speech recipe says: its `text`, or filler speech of `filler_seconds` (kept as a
    number rather than as the text: there is one per job, and the text grows with the length)."""
    if "filler_seconds" in recipe:
        from emulators.media.audio import filler_text

        return filler_text(float(recipe["filler_seconds"]))
    return str(recipe.get("text", ""))


def speech_of(record: FileRecord | None) -> dict[str, Any]:
    """Recipe fields that make a video speak what a generated speech file says (a lip-sync
    result carries the audio it was made from); empty for any other file."""
    recipe = record.recipe if record is not None else None
    if not recipe or recipe.get("kind") != "speech":
        return {}
    if "filler_seconds" in recipe:
        return {"speech_filler": recipe["filler_seconds"], "voice": recipe.get("voice", "")}
    return {"speech": recipe["text"], "voice": recipe.get("voice", "")}


RECIPE_KINDS = ("speech", "video", "image")


def render(recipe: dict[str, Any]) -> bytes:
    kind = recipe["kind"]
    if kind == "speech":
        from emulators.media.audio import synthesize

        return synthesize(speech_text(recipe), recipe["format"], voice_seed=recipe.get("voice", ""))
    if kind == "video":
        from emulators.media.video import make_video

        return make_video(recipe["duration"], recipe.get("width", 640), recipe.get("height", 360),
                          fmt=recipe.get("format", "mp4"), with_audio=recipe.get("with_audio", False),
                          seed=recipe.get("seed", ""),
                          speech=recipe.get("speech") or speech_text({"filler_seconds": recipe["speech_filler"]})
                          if "speech_filler" in recipe else recipe.get("speech", ""),
                          voice=recipe.get("voice", ""))
    if kind == "image":
        from emulators.media.image import make_image

        return make_image(recipe["width"], recipe["height"], fmt=recipe.get("format", "png"),
                          seed=recipe.get("seed", ""))
    raise ValueError(f"unknown recipe kind {kind!r}")
