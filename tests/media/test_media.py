"""Tests for emulators.media: content sniffing, probing, and real media generation."""

from __future__ import annotations

import io
import math
import struct
import sys
import time
import wave
import zlib
from array import array
from fractions import Fraction
from pathlib import Path

import av
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.media import (
    MIME_TYPES,
    SAMPLE_RATE,
    MediaInfo,
    encode_audio,
    make_image,
    make_test_audio,
    make_thumbnail,
    make_video,
    mime_type,
    probe,
    silence,
    sniff,
    speech_duration,
    synthesize,
    synthesize_pcm,
    tone,
)
from emulators.media import audio as audio_mod
from emulators.media import video as video_mod
from tests.media_checks import quiet_share

SENTENCE = "Hello there! This is a deterministic emulator voice, speaking plainly."


def samples(pcm: bytes) -> array:
    a = array("h", pcm)
    if sys.byteorder == "big":
        a.byteswap()
    return a


def container_info(data: bytes) -> tuple[str, list[str], float]:
    """(demuxer name, codec names, duration s) straight from PyAV, independent of probe()."""
    with av.open(io.BytesIO(data)) as c:
        return c.format.name, [s.codec_context.name for s in c.streams], c.duration / av.time_base


# ----------------------------------------------------------------------------- sniff


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("wav", "wav"), ("mp3", "mp3"), ("opus", "ogg"), ("ogg", "ogg"), ("m4a", "m4a"), ("flac", "flac")],
)
def test_sniff_generated_audio(fmt: str, expected: str) -> None:
    assert sniff(make_test_audio(1.0, fmt)) == expected


@pytest.mark.parametrize("fmt", ["mp4", "mov", "webm"])
def test_sniff_generated_video(fmt: str) -> None:
    assert sniff(make_video(1.0, 64, 48, fmt=fmt)) == fmt


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_sniff_generated_images(fmt: str) -> None:
    assert sniff(make_image(16, 8, fmt=fmt)) == fmt


def _ebml(doctype: bytes) -> bytes:
    body = b"\x42\x86\x81\x01" + b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body


HAND_MADE = {
    "id3": (b"ID3\x04\x00\x00\x00\x00\x00\x23" + bytes(20), "mp3"),
    "mpeg1-l3-frame": (b"\xff\xfb\x90\x64" + bytes(20), "mp3"),
    "mpeg2-l3-frame": (b"\xff\xf3\x44\xc4" + bytes(20), "mp3"),
    "adts": (b"\xff\xf1\x50\x80\x02\x1f\xfc", "aac"),
    "wav": (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
    "webp": (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
    "webm": (_ebml(b"webm"), "webm"),
    "mkv": (_ebml(b"matroska"), "mkv"),
    "ogg": (b"OggS\x00\x02" + bytes(22), "ogg"),
    "flac": (b"fLaC\x00\x00\x00\x22", "flac"),
    "m4a": (b"\x00\x00\x00\x1cftypM4A \x00\x00\x02\x00", "m4a"),
    "m4b": (b"\x00\x00\x00\x1cftypM4B \x00\x00\x02\x00", "m4a"),
    "mov": (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00", "mov"),
    "mp4-isom": (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "mp4"),
    "mp4-mp42": (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "mp4"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
    "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg"),
    "gif": (b"GIF89a\x01\x00\x01\x00", "gif"),
    "bmp": (b"BM" + struct.pack("<IHHII", 70, 0, 0, 54, 40) + bytes(8), "bmp"),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3", "pdf"),
    "zip": (b"PK\x03\x04\x14\x00\x00\x00", "zip"),
}


@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_sniff_magic_bytes(name: str) -> None:
    head, expected = HAND_MADE[name]
    assert sniff(head) == expected
    assert expected in MIME_TYPES


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"ID",
        b"hello world, this is just text\n" * 3,
        b"BMW makes cars; this text starts with BM",
        b"\x00" * 64,
        b"\xff\xff\xff\xff" * 8,  # sync bits but reserved bitrate/samplerate
        b"\xff\xfb\xf0\x64" + bytes(8),  # MPEG frame with bitrate index 15 (invalid)
        b"\xff\xea\x90\x64" + bytes(8),  # MPEG frame with version 01 (reserved)
        b"RIFF\x24\x00\x00\x00AVIX",  # a RIFF type that is none of ours
        b"\x1a\x45",
        b'{"json": true}',
    ],
)
def test_sniff_rejects_non_media(data: bytes) -> None:
    assert sniff(data) is None


def test_sniff_only_looks_at_bytes(tmp_path: Path) -> None:
    fake = tmp_path / "song.mp3"
    fake.write_text("definitely not audio, just a text file with an .mp3 name\n")
    assert sniff(fake.read_bytes()) is None
    assert probe(fake) is None
    real = tmp_path / "notes.txt"
    real.write_bytes(make_test_audio(1.0, "mp3"))
    assert sniff(real.read_bytes()) == "mp3"
    info = probe(real)
    assert info is not None and info.format == "mp3"


def test_mime_types() -> None:
    assert MIME_TYPES["mp3"] == "audio/mpeg"
    assert MIME_TYPES["wav"] == "audio/wav"
    assert MIME_TYPES["opus"] == MIME_TYPES["ogg"] == "audio/ogg"
    assert MIME_TYPES["pcm"] == "audio/pcm"
    assert MIME_TYPES["mp4"] == "video/mp4"
    assert MIME_TYPES["webm"] == "video/webm"
    assert MIME_TYPES["png"] == "image/png"
    assert MIME_TYPES["jpeg"] == "image/jpeg"
    assert mime_type(None) == "application/octet-stream"


# ----------------------------------------------------------------------------- probe


@pytest.mark.parametrize(
    ("fmt", "duration", "tol"),
    [("wav", 3.0, 0.05), ("mp3", 3.0, 0.1), ("opus", 3.0, 0.05), ("m4a", 3.0, 0.05), ("flac", 3.0, 0.05),
     ("wav", 0.7, 0.05), ("mp3", 12.5, 0.1), ("opus", 7.25, 0.05)],
)
def test_probe_audio_duration(fmt: str, duration: float, tol: float) -> None:
    data = make_test_audio(duration, fmt)
    info = probe(data)
    assert info is not None
    assert info.format == sniff(data)
    assert info.size == len(data)
    assert info.duration == pytest.approx(duration, abs=tol)
    assert (info.has_audio, info.has_video, info.width, info.height) == (True, False, None, None)


@pytest.mark.parametrize("fmt", ["mp4", "webm", "mov"])
def test_probe_video(fmt: str) -> None:
    data = make_video(4.0, 320, 240, fmt=fmt, fps=5)
    info = probe(data)
    assert info == MediaInfo(fmt, len(data), info.duration if info else None, 320, 240, False, True)
    assert info.duration == pytest.approx(4.0, abs=0.2)


def test_probe_accepts_paths(tmp_path: Path) -> None:
    data = make_test_audio(2.0, "wav")
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    by_str, by_path, by_bytes = probe(str(path)), probe(path), probe(data)
    assert by_str == by_path == by_bytes
    assert by_bytes is not None and by_bytes.duration == pytest.approx(2.0, abs=0.01)
    assert probe(tmp_path / "missing.wav") is None
    assert probe(tmp_path) is None  # a directory


def test_probe_mp3_without_xing_header_measures_frames() -> None:
    """A raw CBR MP3 with no Xing/LAME header or ID3 tag: length comes from the frames."""
    pcm = audio_mod.tone_pcm(2.5, 440, SAMPLE_RATE)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3", options={"write_xing": "0", "id3v2_version": "0"}) as out:
        stream = out.add_stream("libmp3lame", rate=SAMPLE_RATE)
        stream.layout = "mono"
        out.mux([p for f in audio_mod._frames(pcm, SAMPLE_RATE) for p in stream.encode(f)] + stream.encode(None))
    data = buf.getvalue()
    assert data[:2] == b"\xff\xf3" and b"Xing" not in data and b"Info" not in data
    info = probe(data)
    assert info is not None and info.format == "mp3"
    assert info.duration == pytest.approx(2.5, abs=0.1)


def test_probe_truncated_mp3_reports_what_is_there() -> None:
    """The Xing header claims 6 s, but only half the frames are present."""
    data = make_test_audio(6.0, "mp3")
    info = probe(data[: len(data) // 2])
    assert info is not None and info.duration == pytest.approx(3.0, abs=0.2)


def test_probe_adts_aac() -> None:
    pcm = audio_mod.tone_pcm(2.0, 440, SAMPLE_RATE)
    buf = io.BytesIO()
    with av.open(buf, "w", format="adts") as out:
        stream = out.add_stream("aac", rate=SAMPLE_RATE)
        stream.layout = "mono"
        out.mux([p for f in audio_mod._frames(pcm, SAMPLE_RATE) for p in stream.encode(f)] + stream.encode(None))
    info = probe(buf.getvalue())
    assert info is not None and info.format == "aac"
    assert info.duration == pytest.approx(2.0, abs=0.1)


def test_probe_cover_art_is_not_video() -> None:
    """An MP3 with an ID3 APIC picture: PyAV shows a video stream, but it is attached art."""
    pcm = audio_mod.tone_pcm(1.5, 440, SAMPLE_RATE)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=SAMPLE_RATE)
        stream.layout = "mono"
        art = out.add_stream("png")
        art.width, art.height, art.pix_fmt = 8, 8, "rgb24"
        art.disposition = av.stream.Disposition.attached_pic
        packet = av.Packet(make_image(8, 8))
        packet.stream, packet.pts, packet.dts, packet.time_base = art, 0, 0, Fraction(1, 90000)
        out.mux(packet)
        out.mux([p for f in audio_mod._frames(pcm, SAMPLE_RATE) for p in stream.encode(f)] + stream.encode(None))
    data = buf.getvalue()
    with av.open(io.BytesIO(data)) as c:
        assert len(c.streams.video) == 1  # the picture really is there
    info = probe(data)
    assert info is not None
    assert (info.has_audio, info.has_video, info.width) == (True, False, None)
    assert info.duration == pytest.approx(1.5, abs=0.1)


@pytest.mark.parametrize("with_video", [False, True])
def test_probe_live_webm_without_duration_element(with_video: bool) -> None:
    """Browser MediaRecorder uploads are 'live' WebM: no Duration element, no cues."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm", options={"live": "1"}) as out:
        with av.open(io.BytesIO(make_video(3.0, 64, 48, fmt="webm", with_audio=True))) as src:
            # all output streams must exist before the first mux (FFmpeg SIGFPEs otherwise)
            keep = [s for s in src.streams if s.type == "audio" or with_video]
            streams = {s.index: out.add_stream_from_template(s) for s in keep}
            for packet in src.demux(keep):
                if packet.dts is None:
                    continue
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    data = buf.getvalue()
    with av.open(io.BytesIO(data)) as c:
        assert c.duration is None  # FFmpeg itself cannot tell
    info = probe(data)
    assert info is not None and info.format == "webm"
    assert (info.has_audio, info.has_video) == (True, with_video)
    assert info.duration == pytest.approx(3.0, abs=0.05)


def test_probe_reports_displayed_size_of_rotated_video() -> None:
    """Phones store portrait video as landscape frames plus a 90 degree display matrix."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = video_mod._setup_video(out, "mp4", 64, 48, 5)
        stream.set_display_rotation(90)
        for frame in video_mod._video_frames(5, 64, 48, "rot"):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    info = probe(buf.getvalue())
    assert info is not None and (info.width, info.height) == (48, 64)
    assert info.duration == pytest.approx(1.0, abs=0.2)


def test_probe_refuses_pixel_bombs_quickly() -> None:
    """A tiny PNG whose header claims 8000x28000 px must not make FFmpeg allocate 670 MB.

    (FFmpeg's own sanity limit is ~268 MP, so this one gets past it.)"""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", 8000, 28000, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(24001) * 50)  # 50 rows of a 24 000-byte (8000 px RGB) line
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    start = time.perf_counter()
    assert probe(bomb) is None
    assert time.perf_counter() - start < 0.5


def test_probe_does_not_follow_protocol_names() -> None:
    assert probe("http://127.0.0.1:9/voice.mp3") is None
    assert probe("concat:/etc/hostname|/etc/hostname") is None


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_probe_image(fmt: str) -> None:
    data = make_image(123, 45, fmt=fmt)
    assert probe(data) == MediaInfo(fmt, len(data), None, 123, 45, False, False)


def _bad_inputs() -> dict[str, bytes]:
    wav, png = make_test_audio(1.0, "wav"), make_image(8, 8)
    mp4, webm = make_video(1.0, 64, 48), make_video(1.0, 64, 48, fmt="webm")
    return {
        "empty": b"",
        "two-bytes": b"\xff\xfb",
        "text": b"Just some words, not a file.\n" * 40,
        "garbage": bytes(range(256)) * 8,
        "wav-header-only": wav[:12],
        "wav-truncated-fmt": wav[:30],
        "mp4-truncated": mp4[:200],
        "webm-truncated": webm[:40],
        "png-truncated": png[:20],
        "magic-then-garbage-mp4": b"\x00\x00\x00\x18ftypisom" + b"\x13\x37" * 500,
        "magic-then-garbage-ogg": b"OggS" + b"\xaa" * 2000,
        "pdf": b"%PDF-1.4\n" + b"0" * 200,
        "zip": b"PK\x03\x04" + bytes(100),
    }


@pytest.mark.parametrize("name", sorted(_bad_inputs()))
def test_probe_rejects_bad_input(name: str) -> None:
    assert probe(_bad_inputs()[name]) is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_probe_never_raises_on_random_bytes(data: bytes) -> None:
    info = probe(data)
    assert info is None or isinstance(info, MediaInfo)


MAGICS = [head for head, _ in HAND_MADE.values()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MAGICS), st.binary(max_size=4096))
def test_probe_never_raises_on_magic_plus_garbage(magic: bytes, tail: bytes) -> None:
    start = time.perf_counter()
    info = probe(magic + tail)
    assert time.perf_counter() - start < 2.0
    assert info is None or (info.size == len(magic) + len(tail) and info.format == sniff(magic + tail))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["wav", "mp3", "opus"]), st.floats(min_value=0.05, max_value=0.95))
def test_probe_never_raises_on_cut_real_files(fmt: str, fraction: float) -> None:
    data = make_test_audio(2.0, fmt)
    info = probe(data[: int(len(data) * fraction)])
    assert info is None or (info.format == sniff(data) and (info.duration or 0) <= 2.2)


# ----------------------------------------------------------------------------- audio


def test_speech_duration_model() -> None:
    assert speech_duration("") == 0.5  # minimum
    assert speech_duration("hello") == 0.625  # 0.3 + 5 * 0.065
    assert speech_duration("hello world") == speech_duration("helloworld") == 0.95  # whitespace is free
    assert speech_duration("你好") == 0.7  # 0.3 + 2 * 0.2
    assert speech_duration("a" * 5000) == 325.3


@given(st.text(max_size=200), st.text(min_size=1, max_size=50).filter(lambda t: not t.isspace()))
def test_speech_duration_grows_with_text(text: str, more: str) -> None:
    base, longer = speech_duration(text), speech_duration(text + more)
    assert longer >= base
    if base > 0.5:
        assert longer > base
    assert longer == round(longer, 3)


def test_synthesize_wav_parses_with_stdlib_wave() -> None:
    data = synthesize(SENTENCE, "wav")
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        assert w.getnframes() == round(speech_duration(SENTENCE) * SAMPLE_RATE)
        assert w.readframes(w.getnframes()) == synthesize_pcm(SENTENCE)


@pytest.mark.parametrize("rate", [SAMPLE_RATE, 16000, 22050, 44100])
def test_synthesize_pcm_length_and_not_silent(rate: int) -> None:
    pcm = synthesize(SENTENCE, "pcm", sample_rate=rate)
    n = round(speech_duration(SENTENCE) * rate)
    assert len(pcm) == 2 * n
    s = samples(pcm)
    assert max(abs(v) for v in s) > 8000  # clearly audible
    rms = math.sqrt(sum(v * v for v in s) / len(s))
    assert rms > 1000
    zero = sum(1 for v in s if v == 0)
    assert 0.05 < zero / len(s) < 0.8  # pauses exist, but it's mostly sound


def test_synthesize_is_deterministic_and_voice_dependent() -> None:
    a = synthesize_pcm(SENTENCE, voice_seed="alice")
    assert a == synthesize_pcm(SENTENCE, voice_seed="alice")
    assert a != synthesize_pcm(SENTENCE, voice_seed="bob")
    assert synthesize(SENTENCE, "mp3", voice_seed="alice") == encode_audio(a, "mp3")
    opus = encode_audio(synthesize_pcm(SENTENCE, voice_seed="x"), "opus")
    assert synthesize(SENTENCE, "opus", voice_seed="x") == opus  # bit-exact muxing: no random Ogg serial


def test_synthesize_mp3() -> None:
    data = synthesize(SENTENCE, "mp3")
    assert sniff(data) == "mp3"
    info = probe(data)
    assert info is not None and info.format == "mp3"
    assert info.duration == pytest.approx(speech_duration(SENTENCE), abs=0.1)
    fmt, codecs, _ = container_info(data)
    assert fmt == "mp3" and codecs == ["mp3float"]


def test_synthesize_opus_is_ogg_opus() -> None:
    data = synthesize(SENTENCE, "opus")
    assert data[:4] == b"OggS"
    segments = data[26]
    first_packet = data[27 + segments :]
    assert first_packet[:8] == b"OpusHead"
    info = probe(data)
    assert info is not None and info.format == "ogg"
    assert info.duration == pytest.approx(speech_duration(SENTENCE), abs=0.05)
    assert container_info(data)[1] == ["opus"]


@pytest.mark.parametrize(("fmt", "codec"), [("m4a", "aac"), ("flac", "flac"), ("ogg", "opus"), ("wav", "pcm_s16le")])
def test_synthesize_other_formats(fmt: str, codec: str) -> None:
    data = synthesize(SENTENCE, fmt)
    assert container_info(data)[1] == [codec]
    info = probe(data)
    assert info is not None and info.duration == pytest.approx(speech_duration(SENTENCE), abs=0.05)


def test_m4a_is_streamable() -> None:
    data = synthesize(SENTENCE, "m4a")
    assert data[8:12] == b"M4A "
    assert data.index(b"moov") < data.index(b"mdat")  # faststart


def test_silence_and_tone_helpers() -> None:
    quiet = silence(1.25, "wav", sample_rate=16000)
    with wave.open(io.BytesIO(quiet)) as w:
        assert (w.getframerate(), w.getnframes()) == (16000, 20000)
        assert set(w.readframes(20000)) == {0}
    beep = samples(tone(0.5, "pcm", freq=1000))
    assert len(beep) == SAMPLE_RATE // 2 and max(beep) > 10000
    crossings = sum(1 for a, b in zip(beep, beep[1:]) if a < 0 <= b)
    assert abs(crossings - 500) <= 1  # 1 kHz for 0.5 s


def test_opus_from_a_rate_opus_lacks_is_resampled() -> None:
    data = encode_audio(audio_mod.tone_pcm(2.0, 440, 22050), "opus", sample_rate=22050)
    info = probe(data)
    assert info is not None and info.format == "ogg"
    assert info.duration == pytest.approx(2.0, abs=0.05)


def test_encode_audio_rejects_unknown_format() -> None:
    with pytest.raises(ValueError):
        encode_audio(b"\x00\x00" * 100, "aiff")
    with pytest.raises(ValueError):
        encode_audio(b"\x00" * 3, "wav")


def test_parallel_mp3_is_identical_to_single_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long MP3s are encoded in spliced parallel segments; the result must not differ."""
    pcm = synthesize_pcm("parallel splice check " * 60, voice_seed="splice")  # ~74 s -> 3 segments
    monkeypatch.setattr(audio_mod, "_WORKERS", 1)
    single = encode_audio(pcm, "mp3")
    monkeypatch.setattr(audio_mod, "_WORKERS", 3)
    parallel = encode_audio(pcm, "mp3")
    assert parallel == single
    info = probe(parallel)
    assert info is not None and info.duration == pytest.approx(len(pcm) / 2 / SAMPLE_RATE, abs=0.01)


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus"])
def test_make_test_audio_length(fmt: str) -> None:
    info = probe(make_test_audio(4.2, fmt))
    assert info is not None and info.duration == pytest.approx(4.2, abs=0.1 if fmt == "mp3" else 0.05)
    tail = samples(make_test_audio(45.0, "pcm"))[-SAMPLE_RATE:]
    assert len(tail) == SAMPLE_RATE and max(abs(v) for v in tail) > 8000  # speech to the very end
    with wave.open(io.BytesIO(make_test_audio(4.2, "wav", sample_rate=16000))) as w:
        assert w.getnframes() == 4.2 * 16000


# ----------------------------------------------------------------------------- video / image


@pytest.mark.parametrize(
    ("fmt", "vcodec", "acodec"), [("mp4", "h264", "aac"), ("mov", "h264", "aac"), ("webm", "vp8", "opus")]
)
@pytest.mark.parametrize("with_audio", [False, True])
def test_make_video(fmt: str, vcodec: str, acodec: str, with_audio: bool) -> None:
    data = make_video(3.0, 320, 180, fmt=fmt, with_audio=with_audio, seed="v")
    with av.open(io.BytesIO(data)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.name, v.codec_context.width, v.codec_context.height) == (vcodec, 320, 180)
        frames = list(c.decode(v))
        assert len(frames) == 15  # 3 s at 5 fps
        assert bytes(frames[0].planes[0]) != bytes(frames[-1].planes[0])  # the bar moves
        assert [s.codec_context.name for s in c.streams.audio] == ([acodec] if with_audio else [])
    info = probe(data)
    assert info is not None
    assert (info.format, info.width, info.height, info.has_video, info.has_audio) == (fmt, 320, 180, True, with_audio)
    assert info.duration == pytest.approx(3.0, abs=0.2)


@pytest.mark.parametrize(("duration", "fps"), [(0.5, 5), (2.3, 5), (7.0, 10), (1.0, 24)])
def test_make_video_duration_within_one_frame(duration: float, fps: int) -> None:
    for fmt in ("mp4", "webm"):
        info = probe(make_video(duration, 96, 64, fmt=fmt, fps=fps, with_audio=True))
        assert info is not None and abs(info.duration - duration) <= 1 / fps + 1e-6, (fmt, info)


def test_make_video_rounds_odd_sizes_and_validates() -> None:
    info = probe(make_video(1.0, 101, 57))
    assert info is not None and (info.width, info.height) == (102, 58)
    with pytest.raises(ValueError):
        make_video(1.0, fmt="avi")
    with pytest.raises(ValueError):
        make_video(0.0)


def test_make_video_mp4_is_faststart_and_deterministic() -> None:
    a = make_video(2.0, 64, 64, seed="same")
    assert a.index(b"moov") < a.index(b"mdat")
    make_video.cache_clear()  # type: ignore[attr-defined]
    assert make_video(2.0, 64, 64, seed="same") == a
    assert make_video(2.0, 64, 64, seed="other") != a


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
@pytest.mark.parametrize(("w", "h"), [(1, 1), (33, 17), (640, 360)])
def test_make_image(fmt: str, w: int, h: int) -> None:
    data = make_image(w, h, fmt=fmt, seed="s")
    assert sniff(data) == fmt
    with av.open(io.BytesIO(data)) as c:
        frame = next(c.decode(video=0))
        assert (frame.width, frame.height) == (w, h)
    assert make_image(w, h, fmt=fmt, seed="s") == data
    if w * h > 1:
        assert make_image(w, h, fmt=fmt, seed="t") != data


def test_image_pixels_and_jfif() -> None:
    png = make_image(40, 20, fmt="png", seed="px")
    with av.open(io.BytesIO(png)) as c:
        rgb = next(c.decode(video=0)).reformat(format="rgb24")
        row = bytes(rgb.planes[0])[: 40 * 3]
        assert len(set(row[i : i + 3] for i in range(0, len(row), 3))) == 2  # background + stripe
    jpeg = make_image(40, 20, fmt="jpeg")
    assert jpeg[6:11] == b"JFIF\x00" and jpeg.endswith(b"\xff\xd9")
    assert make_thumbnail(40, 20) == jpeg
    with pytest.raises(ValueError):
        make_image(0, 10)
    with pytest.raises(ValueError):
        make_image(10, 10, fmt="tiff")


# ----------------------------------------------------------------------------- timings (printed, not asserted)


def test_report_timings(capsys: pytest.CaptureFixture[str]) -> None:
    text = ("The quick brown fox jumps over the lazy dog, again and again. " * 100)[:5000]
    assert len(text.encode()) == 5000
    t0 = time.perf_counter()
    mp3 = synthesize(text, "mp3", voice_seed="timing-only")
    t_mp3 = time.perf_counter() - t0
    t0 = time.perf_counter()
    video = make_video(10.0, 640, 360, seed="timing-only")
    t_video = time.perf_counter() - t0
    info = probe(mp3)
    assert info is not None and info.duration == pytest.approx(speech_duration(text), abs=0.1)
    with capsys.disabled():
        print(
            f"\n[media timings] synthesize(5000 B -> mp3, {speech_duration(text):.1f} s audio): {t_mp3:.3f} s; "
            f"make_video(10 s, 640x360 mp4): {t_video:.3f} s ({len(video)} bytes)"
        )


@given(st.text(max_size=200))
def test_speech_duration_fast_path_agrees_with_the_per_character_rule(text: str) -> None:
    from emulators.media import audio

    per_character = max(audio._BASE_MS + sum(audio._char_ms(ch) for ch in text), audio._MIN_MS) / 1000
    assert audio.speech_duration(text) == per_character


def test_video_can_carry_speech_instead_of_a_tone() -> None:
    tone = make_video(3.0, 64, 64, with_audio=True, seed="s")
    speech = make_video(3.0, 64, 64, speech="Hello there. How are you today?", voice="v", seed="s")
    tone_seconds, tone_quiet = quiet_share(tone)
    speech_seconds, speech_quiet = quiet_share(speech)
    assert abs(speech_seconds - 3.0) < 0.1 and abs(tone_seconds - 3.0) < 0.1
    assert tone_quiet == 0  # a steady tone
    assert 0.05 < speech_quiet < 0.9  # speech has pauses (lead-in, word gaps, punctuation) and sound
    padded = make_video(4.0, 64, 64, speech="Hi.", seed="s")  # short speech, padded with silence
    seconds, quiet = quiet_share(padded)
    assert abs(seconds - 4.0) < 0.1 and quiet > 0.7


def test_avi_is_sniffed_and_probed() -> None:
    assert sniff(b"RIFF\x24\x00\x00\x00AVI LIST") == "avi"
    buf = io.BytesIO()
    with av.open(buf, "w", format="avi") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(10):
            out.mux(stream.encode(av.VideoFrame(64, 48, "yuv420p")))
        out.mux(stream.encode(None))
    data = buf.getvalue()
    info = probe(data)
    assert sniff(data) == "avi" and info is not None
    assert (info.format, info.has_video, info.has_audio) == ("avi", True, False)
    assert abs(info.duration - 2.0) < 0.3
