"""Generated files: a recipe (plain data, kept in state) -> the bytes served for it."""
from __future__ import annotations

from typing import Any


def render(recipe: dict[str, Any]) -> bytes:
    kind = recipe["kind"]
    if kind == "speech":
        from emulators.media.audio import synthesize

        return synthesize(recipe["text"], recipe["format"], voice_seed=recipe.get("voice", ""))
    if kind == "video":
        from emulators.media.video import make_video

        return make_video(recipe["duration"], recipe.get("width", 640), recipe.get("height", 360),
                          fmt=recipe.get("format", "mp4"), with_audio=recipe.get("with_audio", False),
                          seed=recipe.get("seed", ""))
    if kind == "image":
        from emulators.media.image import make_image

        return make_image(recipe["width"], recipe["height"], fmt=recipe.get("format", "png"),
                          seed=recipe.get("seed", ""))
    raise ValueError(f"unknown recipe kind {kind!r}")
