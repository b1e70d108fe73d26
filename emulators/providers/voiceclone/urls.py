"""Voice Clone & TTS endpoints (the provider's own paths)."""
from __future__ import annotations

from emulators.engine.http import Endpoint
from emulators.providers.voiceclone import responses as r

endpoints = [
    Endpoint("POST", "/api/v1/voice-clone", r.clone_voice, "voice-clone"),
    Endpoint("GET", "/api/v1/voices", r.list_voices, "voices"),
    Endpoint("POST", "/api/v1/tts", r.create_speech, "tts.create"),
    Endpoint("GET", "/api/v1/tts/{speechId}", r.get_speech, "tts.get"),
    Endpoint("GET", "/api/v1/credits", r.get_credits, "credits"),
]
