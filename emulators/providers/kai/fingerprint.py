"""Recognising known speech by how it sounds, not by its bytes.

A client may re-encode audio before uploading it (LangChain's Whisper loader exports mp3
chunks; others resample to 16 kHz mono, change the volume, wrap it in Ogg/Opus or M4A). So a
sample is recognised by its loudness contour: the file is decoded (PyAV), mixed to mono and
resampled to 8 kHz; its level in dB is taken over 20 ms windows every 5 ms, floored 45 dB
below the loudest window (codec noise in pauses does not count, and a volume change only
shifts every level alike). Two contours match when their Pearson correlation, at the best
shift within +-0.5 s (encoder delay, priming samples), reaches MATCH and their lengths agree.

The contour follows the rhythm of the words (syllables, word gaps, pauses at punctuation), not
the voice, so the sample text spoken by any emulator voice is recognised too, as a real
speech recogniser would. Measured: re-encodings of a sample correlate >= 0.99 with it
(AAC at 24 kb/s 0.99), other texts <= 0.75.
"""
from __future__ import annotations

import functools
import io
from typing import Any

import av
import numpy as np

from emulators.media.audio import synthesize

RATE = 8000  # Hz: the synthetic voices' harmonics stay below 2.5 kHz
WINDOW = 160  # samples (20 ms)
HOP = 40  # samples (5 ms)
FLOOR_DB = 45.0
MAX_SHIFT = RATE // 2 // HOP  # frames: +-0.5 s
MATCH = 0.9
LENGTH_SLACK = 0.1  # the two lengths may differ by 10% + MAX_SHIFT


def decode_mono(data: bytes, max_seconds: float) -> Any:
    """The first `max_seconds` of the file's first audio stream as mono float32 at RATE,
    or None when it does not decode (the caller has probed it: this is the second look)."""
    chunks = []
    limit = int(max_seconds * RATE)
    got = 0
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = next((s for s in container.streams if s.type == "audio"), None)
            if stream is None:
                return None
            resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    got += len(chunk)
                if got >= limit:
                    break
            else:
                chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    except Exception:  # noqa: BLE001 - odd streams (format changes, broken packets): no fingerprint
        return None
    if not chunks:
        return None
    return np.concatenate(chunks)[:limit]


def contour(samples: Any) -> Any:
    """Level in dB of each 20 ms window, every 5 ms, floored FLOOR_DB below the loudest."""
    count = (len(samples) - WINDOW) // HOP + 1
    if count < 1:
        return np.zeros(0)
    energy = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
    starts = np.arange(count) * HOP
    levels = 10 * np.log10((energy[starts + WINDOW] - energy[starts]) / WINDOW + 1e-12)
    return np.maximum(levels, levels.max() - FLOOR_DB)


def similarity(a: Any, b: Any) -> float:
    """The best Pearson correlation of two contours over shifts of up to MAX_SHIFT frames;
    0 when their lengths differ too much to be the same recording."""
    if min(len(a), len(b)) == 0 or abs(len(a) - len(b)) > LENGTH_SLACK * max(len(a), len(b)) + MAX_SHIFT:
        return 0.0
    best = 0.0
    for shift in range(-MAX_SHIFT, MAX_SHIFT + 1):
        x, y = (a[shift:], b) if shift >= 0 else (a, b[-shift:])
        n = min(len(x), len(y))
        if n < 0.8 * min(len(a), len(b)):
            continue
        x, y = x[:n], y[:n]
        if x.std() == 0 or y.std() == 0:  # a flat contour (tone, silence) matches nothing
            continue
        best = max(best, float(np.corrcoef(x, y)[0, 1]))
    return best


@functools.lru_cache(maxsize=64)
def reference(text: str) -> Any:
    """The contour of the sample text as the emulators speak it (default voice)."""
    samples = decode_mono(synthesize(text, "wav"), max_seconds=3600)
    assert samples is not None
    return contour(samples)


def recognise(data: bytes, duration: float, texts: list[str]) -> str | None:
    """The sample text this audio speaks, or None. `duration` is the probed length: only
    samples of about that length are compared, so long unrelated files are never decoded."""
    candidates = []
    for text in texts:
        expected = len(reference(text)) * HOP / RATE
        if abs(duration - expected) <= LENGTH_SLACK * max(duration, expected) + 1.0:
            candidates.append((text, expected))
    if not candidates:
        return None
    samples = decode_mono(data, max_seconds=max(e for _, e in candidates) * (1 + LENGTH_SLACK) + 1.0)
    if samples is None:
        return None
    heard = contour(samples)
    scored = [(similarity(heard, reference(text)), text) for text, _ in candidates]
    score, text = max(scored)
    return text if score >= MATCH else None
