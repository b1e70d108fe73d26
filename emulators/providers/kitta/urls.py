"""Kitta AI endpoints (the provider's own paths)."""
from __future__ import annotations

from emulators.engine.http import Endpoint
from emulators.providers.kitta import responses as r

endpoints = [
    Endpoint("GET", "/api/open/profile", r.profile, "profile"),
    Endpoint("POST", "/api/open/profile", r.profile, "profile"),
    Endpoint("POST", "/api/open/tts", r.tts, "tts"),
    Endpoint("POST", "/api/open/v2/speech/tts", r.tts_v2, "v2.tts"),
    Endpoint("POST", "/api/open/create-model", r.create_model, "create-model"),
    Endpoint("POST", "/api/open/lip-sync/create", r.lip_sync_create, "lip-sync.create"),
    Endpoint("GET", "/api/open/lip-sync/query", r.lip_sync_query, "lip-sync.query"),
    Endpoint("POST", "/api/open/lip-sync/query", r.lip_sync_query, "lip-sync.query"),
]
