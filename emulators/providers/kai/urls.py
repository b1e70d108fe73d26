"""kai endpoints (the provider's own paths) and the token permission each POST needs."""
from __future__ import annotations

from emulators.engine.http import Endpoint
from emulators.providers.kai import documents as d
from emulators.providers.kai import responses as r

endpoints = [
    Endpoint("POST", "/api/v1/chat/completions", r.chat_completions, "chat_completions"),
    Endpoint("POST", "/api/v1/audio/transcriptions", r.transcriptions, "audio_transcriptions"),
    Endpoint("POST", "/api/v1/documents/anonymize", d.anonymize, "documents_anonymize"),
    Endpoint("POST", "/api/v1/documents/strip-metadata", d.strip_metadata, "documents_strip_metadata"),
    Endpoint("GET", "/api/v1/models", r.list_models, "models"),
    Endpoint("GET", "/api/v1/usage", r.usage, "usage"),
]

# endpoint name -> the `enabled_endpoints` entry a token's product needs
PERMISSIONS = {e.name: e.name for e in endpoints if e.method == "POST"}
