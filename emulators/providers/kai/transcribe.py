"""Deterministic transcripts and their five output formats.

Audio that speaks a fixture sample text (emulators.media.audio.synthesize(text, fmt), in any
voice, also after re-encoding: see fingerprint.py) is transcribed as that text. Any other audio
gets filler sentences chosen by the file's SHA-256 (about 2.5 words per second of audio, at
least one sentence). Segments are sentences; their times split the file's real duration in
proportion to their length.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from emulators.providers.kai import fingerprint
from emulators.providers.kai.chat import token_ends
from emulators.providers.kai.models import Sample

WORDS_PER_SECOND = 2.5
LANGUAGES = {
    "en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian",
    "nl": "dutch", "pt": "portuguese", "pl": "polish", "tr": "turkish", "ru": "russian",
    "sv": "swedish", "da": "danish", "fi": "finnish", "no": "norwegian", "cs": "czech",
    "uk": "ukrainian", "ja": "japanese", "zh": "chinese", "ko": "korean", "ar": "arabic",
}


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


def transcript(data: bytes, duration: float, samples: list[Sample],
               filler: list[str]) -> tuple[str, str | None]:
    """(text, detected language code or None)."""
    heard = fingerprint.recognise(data, duration, [sample.text for sample in samples])
    for sample in samples:
        if sample.text == heard:
            return sample.text, sample.language
    digest = hashlib.sha256(data).digest()
    start = int.from_bytes(digest[:4], "big") % len(filler)
    want = max(1.0, duration * WORDS_PER_SECOND)
    sentences: list[str] = []
    words = 0
    i = start
    while not sentences or words + len(filler[i % len(filler)].split()) <= want:
        sentence = filler[i % len(filler)]
        sentences.append(sentence)
        words += len(sentence.split())
        i += 1
        if len(sentences) >= 200:
            break
    return " ".join(sentences), None


def segments(text: str, duration: float) -> list[Segment]:
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+", text) if p.strip()] or [text]
    total = sum(len(p) for p in parts) or 1
    out: list[Segment] = []
    t = 0.0
    for i, part in enumerate(parts):
        end = duration if i == len(parts) - 1 else t + duration * len(part) / total
        out.append(Segment(round(t, 3), round(end, 3), part))
        t = end
    return out


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def srt(segs: list[Segment]) -> str:
    return "".join(f"{i}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{s.text}\n\n"
                   for i, s in enumerate(segs, 1))


def vtt(segs: list[Segment]) -> str:
    return "WEBVTT\n\n" + "".join(f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{s.text}\n\n"
                                  for s in segs)


def _token_ids(text: str) -> list[int]:
    ids, start = [], 0
    for end in token_ends(text):
        piece = text[start:end]
        ids.append(sum(piece.encode()) % 50000 + 220)
        start = end
    return ids


def verbose(text: str, language: str, duration: float, segs: list[Segment],
            temperature: float) -> dict[str, Any]:
    return {
        "task": "transcribe",
        "language": LANGUAGES.get(language, language),
        "duration": round(duration, 3),
        "text": text,
        "segments": [
            {"id": i, "seek": 0, "start": s.start, "end": s.end, "text": " " + s.text,
             "tokens": _token_ids(s.text), "temperature": temperature, "avg_logprob": -0.25,
             "compression_ratio": 1.3, "no_speech_prob": 0.01}
            for i, s in enumerate(segs)
        ],
    }
