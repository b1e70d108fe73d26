"""What each provider checks beyond its contract, so that `requests()` draws only accepted values.

A pin replaces what the contract's schema would draw for one field, by part of the request
(`json`, `query`, `path`, `form`, `files`): a value or a strategy. Pins hold the provider's own
knowledge: model ids of its catalogue, voice ids its fixtures seed, media it can read (real
files, made by emulators.media). Everything else is drawn from the contract.

`Needs(...)` marks a field that must name something the provider already made (a URL it handed
out): `requests()` then asks for it as an override instead of drawing a value it would refuse.
Ids of things that may not exist (a task id) are drawn freely: "not found" is a valid answer to
a valid request.
"""
from __future__ import annotations

import base64
import json
import string
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml
from hypothesis import strategies as st

from emulators.engine.provider import FIXTURES_DIR

SAFE_TEXT = string.ascii_letters + string.digits + " .,!?'-"
#: Text a provider reads as words (at least one letter, no blank-only values).
WORDS = st.text(SAFE_TEXT, min_size=0, max_size=40).map(lambda s: ("Hello " + s).strip())
MEDIA_URLS = {
    "image": st.sampled_from(["https://example.com/media/photo.png", "https://example.com/media/face.jpg"]),
    "video": st.sampled_from(["https://example.com/media/clip.mp4", "https://example.com/media/talk.mov"]),
    "audio": st.sampled_from(["https://example.com/media/voice.mp3", "https://example.com/media/speech.wav"]),
}


@dataclass(frozen=True)
class Needs:
    """A field that must name something the provider made; `requests()` wants it as an override."""

    what: str


OMIT: Any = type("Omit", (), {"__repr__": lambda self: "OMIT"})()  # a pin: never send this field


def _fixture(provider: str, name: str) -> Any:
    return yaml.safe_load((FIXTURES_DIR / provider / name).read_text())


# -- real files ------------------------------------------------------------------------------------------
AUDIO_TYPES = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav",
               "audio/ogg": "ogg", "audio/opus": "opus", "audio/mp4": "m4a", "audio/flac": "flac", "audio/pcm": "pcm"}
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/bmp": "BMP",
               "image/tiff": "TIFF", "image/gif": "GIF"}


@cache
def sample_bytes(content_type: str) -> bytes:
    """A small real file of `content_type` (what a contract check sniffs), made once."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in AUDIO_TYPES:
        return _audio(AUDIO_TYPES[kind])
    if kind in IMAGE_TYPES:
        import io

        from PIL import Image

        out = io.BytesIO()
        Image.new("RGB", (16, 16), (200, 80, 40)).save(out, format=IMAGE_TYPES[kind])
        return out.getvalue()
    if kind in ("video/mp4", "video/quicktime", "video/webm"):
        from emulators.media.video import make_video

        return make_video(1.0, 64, 64, fmt={"video/quicktime": "mov", "video/webm": "webm"}.get(kind, "mp4"))
    if kind == "application/pdf":
        return _pdf()
    if kind.startswith("text/"):
        return b"WEBVTT\n\n" if kind == "text/vtt" else b"emulators.testing sample\n"
    return b"emulators.testing sample\n"


@cache
def _audio(fmt: str, seconds: float = 1.0) -> bytes:
    from emulators.media.audio import tone

    try:
        return tone(seconds, fmt)
    except Exception:  # a format this machine's FFmpeg cannot write
        return tone(seconds, "wav")


@cache
def _pdf() -> bytes:
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_metadata({"/Author": "Jane Doe", "/Title": "emulators.testing"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def audio_file(formats: tuple[str, ...] = ("mp3", "wav"), seconds: float = 1.0) -> st.SearchStrategy[Any]:
    """(name, bytes, content type) of a real audio file."""
    types = {"mp3": "audio/mpeg", "wav": "audio/wav", "webm": "audio/webm"}
    return st.sampled_from(formats).map(lambda f: (f"sample.{f}", _audio(f, seconds), types.get(f, "audio/" + f)))


def image_file() -> st.SearchStrategy[Any]:
    return st.sampled_from(["png", "jpeg"]).map(
        lambda f: (f"photo.{f}", sample_bytes(f"image/{f}"), f"image/{f}"))


def text_document() -> st.SearchStrategy[Any]:
    return WORDS.map(lambda s: ("note.txt", f"{s}\nContact: jane.doe@example.com, +1 415 555 0100\n".encode(),
                                "text/plain"))


# -- kie: the createTask catalogue (fixtures/kie/models.yaml) --------------------------------------------
def _kie_input(spec: dict[str, Any]) -> st.SearchStrategy[Any] | None:
    kind = spec.get("type")
    if kind == "string":
        if spec.get("enum"):
            return st.sampled_from(spec["enum"])
        return WORDS.map(lambda s: s[: int(spec.get("max_length", 1000))])
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        if spec.get("enum"):
            return st.sampled_from(spec["enum"])
        return st.integers(int(spec.get("min", 1)), int(spec.get("max", spec.get("min", 1) + 10)))
    if kind == "urls":
        low = max(1, int(spec.get("min_items", 1)))
        media = spec.get("media", "image")
        return st.lists(MEDIA_URLS.get(media, MEDIA_URLS["image"]), min_size=low, max_size=low)
    if kind == "shots":
        return st.lists(st.fixed_dictionaries({"prompt": WORDS, "duration": st.sampled_from([3, 5])}),
                        min_size=1, max_size=2)
    return None


def _kie_model(name: str, model: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    must, may = {}, {}
    for field, spec in (model.get("inputs") or {}).items():
        strategy = _kie_input(spec)
        if strategy is None:
            continue
        if spec.get("required"):
            must[field] = strategy
        elif spec.get("type") in ("string", "boolean") and spec.get("enum", True):
            may[field] = strategy  # optional urls are left out: they change what the task is
    return st.fixed_dictionaries(must, optional=may).map(lambda inputs: {"model": name, "input": inputs})


@cache
def kie_create_task() -> st.SearchStrategy[dict[str, Any]]:
    """createTask bodies for the image and audio models of the catalogue (videos render slower)."""
    catalog = _fixture("kie", "models.yaml")
    models = catalog.get("models") or {}
    chosen = [name for name, m in models.items() if m.get("kind") in ("image", "audio")
              and not any(s.get("type") == "urls" and s.get("required") for s in (m.get("inputs") or {}).values())]
    return st.one_of([_kie_model(name, models[name]) for name in sorted(chosen)])


# -- fixtures' ids ----------------------------------------------------------------------------------------
@cache
def kitta_voices() -> st.SearchStrategy[str]:
    return st.sampled_from([v["id"] for v in _fixture("kitta", "voices.yaml")["voices"]])


@cache
def voiceclone_voices() -> st.SearchStrategy[str]:
    voices = _fixture("voiceclone", "voices.yaml")["voices"]
    return st.sampled_from([v["id"] for v in voices if v.get("isPublic", True)])


@cache
def kreado_voice() -> st.SearchStrategy[dict[str, Any]]:
    """A system voice with its language and source, as textToSpeech wants them together."""
    voices = [v for v in _fixture("kreado", "voices.yaml")["voices"] if not v.get("cosyVoice")]
    return st.sampled_from(voices).map(lambda v: {"voiceId": v["voiceId"], "languageId": v["languageId"],
                                                  "voiceSource": v["voiceSource"], "voiceClone": 0})


@cache
def kai_chat_models() -> st.SearchStrategy[Any]:
    models = [m["id"] for m in _fixture("kai", "models.yaml")["models"] if m.get("kind") == "chat"]
    return st.sampled_from([None, "", *models])


@cache
def kreado_languages() -> st.SearchStrategy[str]:
    return st.sampled_from([g["language"] for g in _fixture("kreado", "languages.yaml")["languages"]])


@cache
def kreado_avatars() -> st.SearchStrategy[int]:
    return st.sampled_from([a["id"] for a in _fixture("kreado", "avatars.yaml")["avatars"]])


UPLOAD_PATH = st.text(string.ascii_letters + string.digits + "._-", min_size=1, max_size=12).map(
    lambda s: "tests/" + s.strip("."))
FILE_NAME = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=12).map(lambda s: s + ".txt")


# -- the table: provider -> operation -> part -> field -> value | strategy -------------------------------
Pins = dict[str, dict[str, dict[str, Any]]]


def _pins() -> Pins:  # noqa: C901 - one table
    return {
        "kai": {
            "createChatCompletion": {"json": {"model": kai_chat_models()}},
            "createTranscription": {"files": {"file": audio_file(("mp3", "wav"))},
                                    "form": {"model": st.sampled_from(["whisper-1", ""])}},
            "anonymizeDocument": {"files": {"files[]": text_document()}},
            "stripMetadata": {"files": {"file": image_file()}},
        },
        "kie": {
            "createTask": {"json": kie_create_task()},
            "getDownloadUrl": {"json": {"url": Needs("a file URL this emulator handed out (a result or an upload)")}},
            "fileStreamUpload": {"form": {"uploadPath": UPLOAD_PATH, "fileName": FILE_NAME}},
            "fileUrlUpload": {"json": {"fileUrl": Needs("a file URL this emulator serves (e.g. an upload's downloadUrl)"),
                                       "uploadPath": UPLOAD_PATH, "fileName": FILE_NAME}},
            "fileBase64Upload": {"json": {"base64Data": st.binary(min_size=1, max_size=64).map(
                lambda b: base64.b64encode(b).decode()), "uploadPath": UPLOAD_PATH, "fileName": FILE_NAME}},
        },
        "kitta": {
            "textToSpeech": {"json": {"reference_id": kitta_voices(), "text": WORDS}},
            "textToSpeechV2": {"json": {"voiceId": kitta_voices(), "text": WORDS}},
            "createModel": {"files": {"audioFiles": st.lists(audio_file(("mp3", "wav")), min_size=1, max_size=2)},
                            "form": {"name": WORDS}},
            "createLipSyncTask": {"json": {"video_url": MEDIA_URLS["video"], "audio_url": MEDIA_URLS["audio"]}},
        },
        "kreado": {
            "getVoiceList": {"json": {"language": kreado_languages(), "voiceClone": 0,
                                      "voiceSource": st.sampled_from([1, 3, 4, 5, 6, 21]),
                                      "gender": OMIT, "ageGroup": OMIT, "languageCityType": OMIT}},
            "submitSystemLipTask": {"json": {"digitalHuman": kreado_avatars().map(
                lambda i: {"digitalHumanId": i}), "audio": MEDIA_URLS["audio"].map(lambda u: {"audioUrl": u}),
                "taskName": WORDS}},
            "submitLipTask": {"json": {"videoUrl": MEDIA_URLS["video"], "audioUrl": MEDIA_URLS["audio"], "taskName": WORDS,
                                       "audioId": OMIT}},
            "uploadAvatar": {"json": {"fileUrl": MEDIA_URLS["image"]}},
            "uploadCloneVideo": {"json": {"videoUrl": MEDIA_URLS["video"]}},
            "submitSubtitleTask": {"json": {"srcFileUrl": MEDIA_URLS["video"], "taskName": WORDS,
                                            "customRectAreaList": OMIT, "rectAreaList": OMIT}},
            "textToSpeech": {"json": st.builds(lambda voice, text: {**voice, "content": text}, kreado_voice(), WORDS)},
        },
        "voiceclone": {
            "cloneVoice": {"files": {"voice": audio_file(("mp3", "wav"), seconds=3.0)},
                           "form": {"title": WORDS, "coverImage": MEDIA_URLS["image"],
                                    "tags": st.lists(st.sampled_from(["male", "female", "calm", "young"]),
                                                     max_size=3, unique=True).map(json.dumps)}},
            "createSpeech": {"json": {"voiceId": voiceclone_voices(), "text": WORDS}},
        },
    }


@cache
def pins() -> Pins:
    """The table (built on first use: it reads the fixtures)."""
    return _pins()


def for_operation(provider: str, operation_id: str) -> dict[str, Any]:
    return dict(pins().get(provider, {}).get(operation_id, {}))


def needs(part: Any) -> list[tuple[str, Needs]]:
    """The fields of a part that want an override."""
    if not isinstance(part, dict):
        return []
    return [(name, value) for name, value in part.items() if isinstance(value, Needs)]

