"""Provider-agnostic media: sniff/probe uploads by content, generate real audio/video/images."""

from .audio import (
    SAMPLE_RATE,
    encode_audio,
    make_test_audio,
    silence,
    speech_duration,
    synthesize,
    synthesize_pcm,
    tone,
)
from .image import make_image
from .probe import MediaInfo, probe
from .sniff import MIME_TYPES, mime_type, sniff
from .video import make_thumbnail, make_video

__all__ = [
    "MIME_TYPES",
    "SAMPLE_RATE",
    "MediaInfo",
    "encode_audio",
    "make_image",
    "make_test_audio",
    "make_thumbnail",
    "make_video",
    "mime_type",
    "probe",
    "silence",
    "sniff",
    "speech_duration",
    "synthesize",
    "synthesize_pcm",
    "tone",
]
