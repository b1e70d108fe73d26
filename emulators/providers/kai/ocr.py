"""OCR for documents/anonymize: rapidocr's PP-OCR models on onnxruntime, all inside the wheels.

The models are loaded from the rapidocr package's own `models/` folder by explicit path, so
the engine never tries to download anything (only the package registries are reachable where
the emulator runs). One engine per process, made on first use (loading the three ONNX models
takes ~1-3 s) and shared; calls are serialised, because the engine keeps per-call settings
on itself and onnxruntime already spreads one image over every core.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

# rapidocr 3.10's wheel ships these (pinned in pyproject.toml)
MODEL_FILES = {"Det": "PP-OCRv6_det_small.onnx", "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
               "Rec": "PP-OCRv6_rec_small.onnx"}
DETECT_SIDE = 1280  # detection runs on the image scaled down to this (recognition on the original)
MAX_SIDE = 2560  # larger images are scaled down first: a 300 dpi A4 scan keeps ~220 dpi
MIN_SCORE = 0.5  # recognised lines below this confidence are dropped
MIN_SIDE = 8  # px: nothing legible fits in a thinner image (and the detector cannot scale it)


class OcrUnavailable(RuntimeError):
    """The OCR engine cannot run here (package or models missing)."""


_engine: Any = None
_engine_lock = threading.Lock()
_run_lock = threading.Lock()


def _models_dir() -> Path:
    try:
        import rapidocr
    except ImportError as exc:  # an install without the dependency
        raise OcrUnavailable(f"rapidocr is not installed ({exc})") from None
    return Path(rapidocr.__file__).resolve().parent / "models"


def engine() -> Any:
    """The shared engine, made on first use."""
    global _engine
    if _engine is not None:
        return _engine
    with _engine_lock:
        if _engine is None:
            models = _models_dir()
            missing = [name for name in MODEL_FILES.values() if not (models / name).is_file()]
            if missing:
                raise OcrUnavailable(f"rapidocr's bundled models are missing: {', '.join(missing)}")
            from rapidocr import RapidOCR

            params: dict[str, Any] = {
                "Global.log_level": "error",  # it logs every model load at INFO otherwise
                "Global.text_score": MIN_SCORE,
                "Det.limit_type": "max",
                "Det.limit_side_len": DETECT_SIDE,
            }
            for task, name in MODEL_FILES.items():
                params[f"{task}.model_path"] = str(models / name)
            made = RapidOCR(params=params)
            for task in ("det", "cls", "rec"):  # load the models now, not inside the first call
                getattr(made, f"_load_{task}_model")()
            _engine = made
    return _engine


def recognize(image: Image) -> str:
    """The text of one image: one line per visual line, top to bottom, words left to right."""
    picture = image.convert("RGB")
    if max(picture.size) > MAX_SIDE:
        picture.thumbnail((MAX_SIDE, MAX_SIDE))
    if min(picture.size) < MIN_SIDE:
        return ""
    run = engine()
    with _run_lock:
        result = run(picture)
    if not result.txts:
        return ""
    return "\n".join(_lines(result.boxes.tolist(), list(result.txts)))


def _lines(boxes: list[list[list[float]]], texts: list[str]) -> list[str]:
    """Groups recognised boxes into visual lines (a box joins the line its centre falls in)."""
    items = []
    for box, text in zip(boxes, texts):
        ys = [p[1] for p in box]
        xs = [p[0] for p in box]
        items.append((min(ys), max(ys), min(xs), text.strip()))
    items.sort(key=lambda it: (it[0] + it[1]) / 2)
    lines: list[list[tuple[float, float, float, str]]] = []
    for item in items:
        centre = (item[0] + item[1]) / 2
        if lines:
            top = min(it[0] for it in lines[-1])
            bottom = max(it[1] for it in lines[-1])
            if top <= centre <= bottom:
                lines[-1].append(item)
                continue
        lines.append([item])
    return [" ".join(it[3] for it in sorted(line, key=lambda it: it[2]) if it[3]) for line in lines]
