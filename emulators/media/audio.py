"""Deterministic fake speech: PCM synthesis plus real encodings (wav/mp3/opus/m4a/flac).

No numpy: the signal is assembled from cached per-character snippets (bytes joins run
in C), and every codec runs inside FFmpeg via PyAV.  Long MP3s are encoded in parallel
segments (LAME is the bottleneck and PyAV releases the GIL while encoding).
"""

from __future__ import annotations

import array
import functools
import hashlib
import io
import math
import os
import sys
import tempfile
import threading
import unicodedata
import wave
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any, ParamSpec

import av

__all__ = [
    "AUDIO_FORMATS",
    "SAMPLE_RATE",
    "bytes_cache",
    "encode_audio",
    "make_test_audio",
    "silence",
    "speech_duration",
    "synthesize",
    "synthesize_pcm",
    "tone",
    "tone_pcm",
]

SAMPLE_RATE = 24000
AUDIO_FORMATS = ("pcm", "wav", "mp3", "opus", "ogg", "m4a", "flac")

P = ParamSpec("P")


# --------------------------------------------------------------------------- caching


def bytes_cache(
    max_entries: int = 256, max_bytes: int = 256 << 20
) -> Callable[[Callable[P, bytes]], Callable[P, bytes]]:
    """LRU cache for functions returning bytes, bounded by entry count AND total size.

    functools.lru_cache only bounds the count; a few 5-minute WAVs would pin GBs.
    """

    def deco(fn: Callable[P, bytes]) -> Callable[P, bytes]:
        store: OrderedDict[Any, bytes] = OrderedDict()
        lock = threading.Lock()
        total = 0

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> bytes:
            nonlocal total
            key = (args, tuple(sorted(kwargs.items())))
            with lock:
                if key in store:
                    store.move_to_end(key)
                    return store[key]
            value = fn(*args, **kwargs)
            if len(value) <= max_bytes // 4:  # never let one huge blob flush everything
                with lock:
                    if key not in store:
                        store[key] = value
                        total += len(value)
                    while len(store) > max_entries or total > max_bytes:
                        total -= len(store.popitem(last=False)[1])
            return value

        def cache_clear() -> None:
            nonlocal total
            with lock:
                store.clear()
                total = 0

        wrapper.cache_clear = cache_clear  # type: ignore[attr-defined]
        return wrapper

    return deco


# --------------------------------------------------------------------------- timing model

_BASE_MS = 300  # breath before + after
_CHAR_MS = 65  # ~15 chars/s, a normal reading speed
_WIDE_MS = 200  # one CJK/kana/Hangul character is roughly one syllable
_MIN_MS = 500
_LEAD_MS = _BASE_MS // 2


def _char_ms(ch: str) -> int:
    if ch.isspace():
        return 0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return _WIDE_MS
    return _CHAR_MS


def filler_text(seconds: float) -> str:
    """Text whose synthesized speech lasts `seconds` (to within 65 ms): stands in for audio the
    emulator cannot fetch, so that the copy it serves has the expected length."""
    letters = max(1, round((seconds * 1000 - _BASE_MS) / _CHAR_MS))
    syllables = ["la"] * (letters // 2) + (["l"] if letters % 2 else [])
    return " ".join(syllables)


def speech_duration(text: str) -> float:
    """Spoken length of `text` in seconds, deterministic.

    0.3 s + 0.065 s per non-whitespace character, except East-Asian wide/fullwidth
    characters (CJK ideographs, kana, Hangul, fullwidth forms, most emoji) which
    count 0.2 s each; whitespace counts 0.  Computed in integer milliseconds (so it
    is exactly representable to 3 decimals) with a 0.5 s minimum.
    """
    if text.isascii():  # the common case, on every TTS request: no per-character lookups
        ms = _BASE_MS + _CHAR_MS * sum(map(len, text.split()))
    else:
        ms = _BASE_MS + sum(_char_ms(ch) for ch in text)
    return max(ms, _MIN_MS) / 1000


# --------------------------------------------------------------------------- synthesis

_TABLE_BITS = 11  # 2048-entry single-cycle wavetable
_TABLE = 1 << _TABLE_BITS
_AMP = 14000  # peak ~0.43 FS; loud enough to be clearly "not silence"


@functools.lru_cache(maxsize=64)
def _voice(voice_seed: str) -> tuple[float, tuple[float, ...]]:
    """(base pitch Hz, single-cycle waveform) for a voice; harmonic mix varies per voice."""
    h = hashlib.sha256(voice_seed.encode("utf-8", "surrogatepass")).digest()
    pitch = 85.0 + (h[0] << 8 | h[1]) / 65535 * 170.0  # 85..255 Hz: bass to soprano
    weights = [1.0] + [0.15 + h[2 + k] / 255 * 0.6 / (k + 1) for k in range(5)]
    table = [
        sum(w * math.sin(2 * math.pi * (k + 1) * i / _TABLE) for k, w in enumerate(weights)) for i in range(_TABLE)
    ]
    peak = max(abs(v) for v in table)
    return pitch, tuple(v / peak for v in table)


@functools.lru_cache(maxsize=64)
def _envelope(n: int, word_final: bool) -> tuple[float, ...]:
    """Syllable-ish amplitude shape; word-final chars fall silent early (the word gap)."""
    voiced = max(1, int(n * (0.6 if word_final else 1.0)))
    ramp = max(1, voiced // 5)
    env = []
    for i in range(n):
        if i >= voiced:
            env.append(0.0)
        elif i < ramp:
            env.append(0.5 - 0.5 * math.cos(math.pi * i / ramp))
        elif i >= voiced - ramp:
            env.append(0.5 - 0.5 * math.cos(math.pi * (voiced - i) / ramp))
        else:
            env.append(1.0)
    return tuple(env)


@functools.lru_cache(maxsize=4096)
def _snippet(voice_seed: str, pitch_class: int, n: int, word_final: bool, sample_rate: int) -> bytes:
    """n samples of one voiced character: the voice's waveform at a char-dependent pitch."""
    pitch, table = _voice(voice_seed)
    freq = pitch * (1.0 + pitch_class / 16)  # intonation: up to +7/16 above base
    step = round(freq * _TABLE * 65536 / sample_rate)  # 16.16 fixed-point phase step
    mask = _TABLE - 1
    env = _envelope(n, word_final)
    samples = array.array("h", [int(_AMP * e * table[(i * step >> 16) & mask]) for i, e in enumerate(env)])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def synthesize_pcm(text: str, *, sample_rate: int = SAMPLE_RATE, voice_seed: str = "") -> bytes:
    """Mono s16le PCM, exactly round(speech_duration(text) * sample_rate) samples.

    Layout: 0.15 s lead-in silence, then one snippet per character (length from the
    timing model): letters/digits/symbols/wide chars are voiced tones whose pitch
    depends on the character and whose timbre/base pitch depend on `voice_seed`;
    punctuation is a pause; a character before whitespace ends early (word gap).
    Snippets are cached, so the cost is a bytes join even for 5000-char texts.
    """
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    total = round(speech_duration(text) * sample_rate)
    parts: list[bytes] = []
    cursor_ms = _LEAD_MS
    start = _LEAD_MS * sample_rate // 1000
    parts.append(bytes(2 * start))
    for i, ch in enumerate(text):
        ms = _char_ms(ch)
        if not ms:
            continue
        cursor_ms += ms
        end = cursor_ms * sample_rate // 1000  # integer grid: no drift over long texts
        n = end - start
        start = end
        if unicodedata.category(ch)[0] == "P":
            parts.append(bytes(2 * n))
            continue
        final = i + 1 >= len(text) or text[i + 1].isspace()
        parts.append(_snippet(voice_seed, ord(ch) % 8, n, final, sample_rate))
    pcm = b"".join(parts)
    return pcm[: 2 * total] + bytes(max(0, 2 * total - len(pcm)))


def silence(duration: float, fmt: str = "wav", *, sample_rate: int = SAMPLE_RATE) -> bytes:
    """round(duration * sample_rate) samples of digital silence, encoded as fmt."""
    return encode_audio(bytes(2 * max(0, round(duration * sample_rate))), fmt, sample_rate=sample_rate)


@functools.lru_cache(maxsize=16)
def _tone_second(freq: int, sample_rate: int, amplitude: int) -> bytes:
    a = array.array("h", [int(amplitude * math.sin(2 * math.pi * freq * i / sample_rate)) for i in range(sample_rate)])
    if sys.byteorder == "big":
        a.byteswap()
    return a.tobytes()


def tone_pcm(duration: float, freq: int = 440, sample_rate: int = SAMPLE_RATE, amplitude: int = 12000) -> bytes:
    """A sine tone of exactly round(duration * sample_rate) samples (s16le mono).

    freq is an integer so one second is a whole number of periods and can be tiled.
    """
    n = max(0, round(duration * sample_rate))
    second = _tone_second(int(freq), sample_rate, amplitude)
    reps = -(-2 * n // len(second))
    return (second * reps)[: 2 * n]


def tone(duration: float, fmt: str = "wav", *, freq: int = 440, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A sine tone of exactly `duration` (as PCM samples), encoded as fmt."""
    return encode_audio(tone_pcm(duration, freq, sample_rate), fmt, sample_rate=sample_rate)


@bytes_cache(max_entries=64, max_bytes=64 << 20)
def make_test_audio(
    duration: float, fmt: str = "wav", *, sample_rate: int = SAMPLE_RATE, speech: bool = True
) -> bytes:
    """An upload-like audio file lasting `duration` seconds (a tone when speech=False).

    The speech variant is synthesize_pcm() of filler text cut/padded to the length,
    so voice-clone emulators see something voice-like.
    """
    n = max(0, round(duration * sample_rate))
    if speech:
        words = "the quick brown fox jumps over the lazy dog "
        text = words * (math.ceil(duration / (speech_duration(words) - _BASE_MS / 1000)) + 1)
        pcm = synthesize_pcm(text, sample_rate=sample_rate, voice_seed="test")[: 2 * n]
        pcm += bytes(2 * n - len(pcm))
    else:
        pcm = tone_pcm(duration, 440, sample_rate)
    return encode_audio(pcm, fmt, sample_rate=sample_rate)


# --------------------------------------------------------------------------- encoding

_FRAME_CHUNK = 1 << 18  # samples per AudioFrame handed to PyAV (it re-chunks to the codec's frame_size)
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_MP3_SEGMENT_MIN = 20.0  # seconds; below this, parallel MP3 encoding is not worth it
_MP3_PREROLL_FRAMES = 4  # frames of overlap so each segment's encoder is warmed up

_WORKERS = min(8, os.cpu_count() or 1)
# bitexact: no random Ogg serial numbers, no creation times or "Lavf" version tags, so
# the same input always yields the same bytes (and ETags/caches stay stable).
_MUX_OPTIONS = {"fflags": "+bitexact"}
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    global _pool
    _pool = None  # a forked child (e.g. a server worker) inherits the pool but not its threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="media-enc")
        return _pool


def _frames(pcm: bytes, sample_rate: int, pts0: int = 0, chunk_samples: int = _FRAME_CHUNK) -> Iterator[av.AudioFrame]:
    """Mono s16 AudioFrames over pcm, timestamped in 1/sample_rate units."""
    tb = Fraction(1, sample_rate)
    for off in range(0, len(pcm), 2 * chunk_samples):
        chunk = pcm[off : off + 2 * chunk_samples]
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk) // 2)
        frame.planes[0].update(chunk)
        frame.sample_rate = sample_rate
        frame.time_base = tb
        frame.pts = pts0 + off // 2
        yield frame


def _setup_audio_stream(
    stream: Any, rate: int, sample_fmt: str | None, bit_rate: int | None, options: dict[str, str]
) -> None:
    stream.layout = "mono"
    stream.time_base = Fraction(1, rate)
    if sample_fmt:
        stream.format = sample_fmt
    if bit_rate:
        stream.bit_rate = bit_rate
    stream.codec_context.options = dict(options)


def _encode_pyav(pcm: bytes, sample_rate: int, muxer: str, codec: str, rate: int, *, sample_fmt: str | None = None,
                 bit_rate: int | None = None, options: dict[str, str] | None = None) -> bytes:
    """Encode PCM with one PyAV codec into one container; PyAV resamples if rate differs."""
    def write(target: Any, container_options: dict[str, str]) -> None:
        with av.open(target, "w", format=muxer, options={**_MUX_OPTIONS, **container_options}) as out:
            stream = out.add_stream(codec, rate=rate)
            _setup_audio_stream(stream, rate, sample_fmt, bit_rate, options or {})
            for frame in _frames(pcm, sample_rate):
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))

    if muxer in ("ipod", "mp4", "mov"):
        return _write_faststart(write)
    buf = io.BytesIO()
    write(buf, {})
    return buf.getvalue()


def _write_faststart(write: Callable[[Any, dict[str, str]], None]) -> bytes:
    """MP4 family with moov first (streamable over HTTP).

    FFmpeg's faststart re-reads the output, which PyAV's file-object IO can't do,
    so this goes through a real temporary file.
    """
    with tempfile.TemporaryDirectory(prefix="media-") as tmp:
        path = os.path.join(tmp, "out")
        write(path, {"movflags": "+faststart"})
        with open(path, "rb") as fh:
            return fh.read()


_MP3_OPTIONS = {"compression_level": "9", "reservoir": "0"}  # fastest LAME; no reservoir => splice-safe frames


def _mp3_bit_rate(sample_rate: int) -> int:
    return 32000 if sample_rate <= 24000 else 128000


def _encode_mp3(pcm: bytes, sample_rate: int) -> bytes:
    """MP3 (ID3v2 + Xing/LAME info frame + CBR frames) via libmp3lame.

    Long inputs are split at MP3-frame boundaries and the segments encoded in
    parallel.  Each segment's encoder starts a few frames early (pre-roll) and those
    frames are dropped; with the bit reservoir off every frame is self-contained, so
    the spliced stream has exactly the frames a single encoder would emit and the
    muxer's Xing/LAME header (frame count, encoder delay, padding) stays exact.
    """
    if sample_rate not in _MP3_RATES:
        raise ValueError(f"mp3 does not support sample_rate={sample_rate}")
    bit_rate = _mp3_bit_rate(sample_rate)
    frame = 1152 if sample_rate >= 32000 else 576  # samples per MPEG-1 / MPEG-2(.5) layer III frame
    n = len(pcm) // 2
    workers = min(_WORKERS, int(n / sample_rate / _MP3_SEGMENT_MIN) or 1)
    starts = [round(k * n / workers / frame) * frame for k in range(workers)]

    def encode_segment(k: int) -> list[av.Packet]:
        """Packets for pcm[starts[k]:starts[k+1]] (all of them for the first segment's priming)."""
        pre = min(starts[k], _MP3_PREROLL_FRAMES * frame)
        ctx = av.CodecContext.create("libmp3lame", "w")
        ctx.sample_rate, ctx.layout, ctx.format, ctx.bit_rate = sample_rate, "mono", "s16p", bit_rate
        ctx.time_base = Fraction(1, sample_rate)
        ctx.options = dict(_MP3_OPTIONS)
        seg = pcm[2 * (starts[k] - pre) : 2 * starts[k + 1]]
        packets = [p for f in _frames(seg, sample_rate, starts[k] - pre) for p in ctx.encode(f)] + ctx.encode(None)
        keep = (starts[k + 1] - starts[k]) // frame
        return packets[pre // frame : pre // frame + keep]

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3", options=_MUX_OPTIONS) as out:
        stream = out.add_stream("libmp3lame", rate=sample_rate)
        _setup_audio_stream(stream, sample_rate, "s16p", bit_rate, _MP3_OPTIONS)
        futures = [_executor().submit(encode_segment, k) for k in range(workers - 1)]
        # The last segment goes through the muxed stream's own encoder, so the final
        # packet carries the end-padding side data the LAME tag needs.
        last = starts[-1]
        pre = min(last, _MP3_PREROLL_FRAMES * frame)
        tail = [p for f in _frames(pcm[2 * (last - pre) :], sample_rate, last - pre) for p in stream.encode(f)]
        tail += stream.encode(None)
        for fut in futures:
            for packet in fut.result():
                packet.stream = stream
                out.mux(packet)
        out.mux(tail[pre // frame :])
    return buf.getvalue()


def _encode_wav(pcm: bytes, sample_rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    return buf.getvalue()


def encode_audio(pcm: bytes, fmt: str, *, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Encode mono s16le PCM as fmt.

    'pcm' raw (returned as is), 'wav' (stdlib wave), 'mp3' (libmp3lame, CBR 32 kb/s
    at <=24 kHz else 128 kb/s, Xing/LAME header), 'opus'/'ogg' (libopus in Ogg; encoded
    at the input rate when Opus supports it natively -- decoders always output 48 kHz --
    else resampled to 48 kHz), 'm4a' (AAC-LC in an M4A-branded MP4, moov first),
    'flac'.  ValueError for an unknown fmt or odd-length PCM.
    """
    if fmt not in AUDIO_FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}; expected one of {AUDIO_FORMATS}")
    if len(pcm) % 2:
        raise ValueError("s16le PCM must have an even number of bytes")
    if fmt == "pcm":
        return bytes(pcm)
    if fmt == "wav":
        return _encode_wav(pcm, sample_rate)
    if fmt == "mp3":
        return _encode_mp3(pcm, sample_rate)
    if fmt in ("opus", "ogg"):
        rate = sample_rate if sample_rate in _OPUS_RATES else 48000
        # complexity 0: ~3x faster than the default 10; quality is irrelevant here
        return _encode_pyav(pcm, sample_rate, "ogg", "libopus", rate, sample_fmt="s16", bit_rate=32000,
                            options={"compression_level": "0"})
    if fmt == "m4a":
        # the default 'twoloop' coder is ~7x slower than 'fast' at a fixed bit rate
        return _encode_pyav(pcm, sample_rate, "ipod", "aac", sample_rate, bit_rate=48000,
                            options={"aac_coder": "fast"})
    return _encode_pyav(pcm, sample_rate, "flac", "flac", sample_rate, sample_fmt="s16")


@bytes_cache(max_entries=256, max_bytes=256 << 20)
def synthesize(text: str, fmt: str, *, voice_seed: str = "", sample_rate: int = SAMPLE_RATE) -> bytes:
    """encode_audio(synthesize_pcm(text, ...), fmt), cached (LRU, <=256 entries / 256 MiB)."""
    pcm = synthesize_pcm(text, sample_rate=sample_rate, voice_seed=voice_seed)
    return encode_audio(pcm, fmt, sample_rate=sample_rate)
