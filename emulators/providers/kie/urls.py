"""kie.ai endpoints (the provider's own paths; the upload API lives on another host in production)."""
from __future__ import annotations

from emulators.engine.http import Endpoint
from emulators.providers.kie import responses as r

endpoints = [
    Endpoint("GET", "/api/v1/chat/credit", r.get_credit, "credit"),
    Endpoint("POST", "/api/v1/common/download-url", r.download_url, "download-url"),
    Endpoint("POST", "/api/v1/jobs/createTask", r.create_task, "createTask"),
    Endpoint("GET", "/api/v1/jobs/recordInfo", r.record_info, "recordInfo"),
    Endpoint("POST", "/api/file-stream-upload", r.stream_upload, "file-stream-upload"),
    Endpoint("POST", "/api/file-url-upload", r.url_upload, "file-url-upload"),
    Endpoint("POST", "/api/file-base64-upload", r.base64_upload, "file-base64-upload"),
]
