"""Checks on real media that tests of several providers share."""
from __future__ import annotations

import array
import io

import av


def quiet_share(data: bytes) -> tuple[float, float]:
    """(audio seconds, share of 20 ms blocks that are near silence) of a file's first audio track."""
    samples = array.array("f")
    with av.open(io.BytesIO(data)) as f:
        stream = f.streams.audio[0]
        rate = stream.codec_context.sample_rate
        for frame in f.decode(stream):
            assert frame.format.name == "fltp", frame.format.name  # float planar: AAC and Opus decoders
            samples.frombytes(bytes(frame.planes[0])[: frame.samples * 4])
    block = rate // 50
    blocks = [samples[i:i + block] for i in range(0, len(samples) - block + 1, block)]
    quiet = sum(1 for b in blocks if max(abs(x) for x in b) < 0.01)
    return len(samples) / rate, quiet / len(blocks)
