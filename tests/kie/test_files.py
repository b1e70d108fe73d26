"""download-url (20-minute links, emulator URLs only) and the three upload endpoints."""
from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from emulators.media.image import make_image
from emulators.media.sniff import sniff
from tests.kie.conftest import IMAGE_TIMINGS, Api

PNG = make_image(64, 48, fmt="png", seed="upload")
DAY = 86400


def _finished_image(api: Api) -> str:
    task_id = api.create_ok("nano-banana-2", prompt="a lighthouse")
    api.em.control.advance(sum(IMAGE_TIMINGS))
    (url,) = api.result_urls(task_id)
    return url


def test_download_url_for_a_result_expires_after_20_minutes(api: Api) -> None:
    url = _finished_image(api)
    r = api.post("/api/v1/common/download-url", json={"url": url})
    assert r.status_code == 200 and r.json()["code"] == 200 and r.json()["msg"] == "success"
    link = r.json()["data"]
    assert link != url
    got = api.download(link)
    assert got.status_code == 200 and got.content == api.download(url).content
    api.em.control.advance(19 * 60)
    assert api.download(link).status_code == 200
    api.em.control.advance(61)
    assert api.download(link).status_code == 404
    # an expired link is refused by download-url too; the result itself still works
    r = api.post("/api/v1/common/download-url", json={"url": link})
    assert r.status_code == 422
    assert api.post("/api/v1/common/download-url", json={"url": url}).status_code == 200


def test_results_expire_after_24_hours(api: Api) -> None:
    url = _finished_image(api)
    api.em.control.advance(DAY + 1)
    assert api.download(url).status_code == 404
    r = api.post("/api/v1/common/download-url", json={"url": url})
    assert r.status_code == 422 and "expired" in r.json()["msg"]


@pytest.mark.emulator(strict=False)  # URLs the provider refuses, on purpose
@pytest.mark.parametrize("body", [
    {"url": "https://tempfile.1f6cxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxbd98"},
    {"url": "https://example.com/files/f_0000.png"},
    {"url": ""}, {}, {"url": 7},
])
def test_download_url_refuses_other_urls(api: Api, body: dict) -> None:
    r = api.post("/api/v1/common/download-url", json=body)
    assert r.status_code == 422 and r.json()["code"] == 422 and r.json()["msg"]


def test_download_url_refuses_another_accounts_file(api: Api) -> None:
    url = _finished_image(api)
    r = Api(api.em, "low-token").post("/api/v1/common/download-url", json={"url": url})
    assert r.status_code == 422


def test_stream_upload(api: Api) -> None:
    r = api.post("/api/file-stream-upload", files={"file": ("pic.png", PNG, "image/png")},
                 data={"uploadPath": "images/user", "fileName": "cover.png"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["code"] == 200 and body["msg"] == "File uploaded successfully"
    data = body["data"]
    assert data["fileName"] == "cover.png" and data["filePath"] == "images/user/cover.png"
    assert data["fileSize"] == len(PNG) and data["mimeType"] == "image/png"
    got = api.download(data["downloadUrl"])
    assert got.content == PNG and got.headers["content-type"] == "image/png"


def test_missing_file_name_gets_a_random_one(api: Api) -> None:
    names = set()
    for _ in range(2):
        r = api.post("/api/file-stream-upload", files={"file": ("x.png", PNG, "image/png")},
                     data={"uploadPath": "images"})
        names.add(r.json()["data"]["fileName"])
    assert len(names) == 2 and all(n.endswith(".png") for n in names)


def test_same_file_name_overwrites(api: Api) -> None:
    first = api.post("/api/file-base64-upload", json={
        "base64Data": base64.b64encode(b"first version").decode(), "uploadPath": "docs", "fileName": "a.txt"})
    second = api.post("/api/file-base64-upload", json={
        "base64Data": base64.b64encode(b"second").decode(), "uploadPath": "docs", "fileName": "a.txt"})
    url = first.json()["data"]["downloadUrl"]
    assert second.json()["data"]["downloadUrl"] == url
    assert second.json()["data"]["fileSize"] == 6
    assert api.download(url).content == b"second"
    other = api.post("/api/file-base64-upload", json={
        "base64Data": base64.b64encode(b"other").decode(), "uploadPath": "docs2", "fileName": "a.txt"})
    assert other.json()["data"]["downloadUrl"] != url


def test_base64_data_url_and_three_day_retention(api: Api) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    r = api.post("/api/file-base64-upload", json={"base64Data": data_url, "uploadPath": "b64"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["mimeType"] == "image/png" and data["fileSize"] == len(PNG)
    url = data["downloadUrl"]
    assert api.post("/api/v1/common/download-url", json={"url": url}).status_code == 200
    api.em.control.advance(3 * DAY - 60)
    assert api.download(url).content == PNG
    api.em.control.advance(61)
    assert api.download(url).status_code == 404
    assert api.post("/api/v1/common/download-url", json={"url": url}).status_code == 422


def test_url_upload_of_an_emulator_file(api: Api) -> None:
    result = _finished_image(api)
    r = api.post("/api/file-url-upload", json={"fileUrl": result, "uploadPath": "copies", "fileName": "r.png"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["mimeType"] == "image/png" and data["filePath"] == "copies/r.png"
    assert api.download(data["downloadUrl"]).content == api.download(result).content


@pytest.fixture
def origin() -> Iterator[str]:
    """A tiny file server on a loopback port (an 'allowed host')."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/pic.png":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_url_upload_fetches_from_loopback(api: Api, origin: str) -> None:
    r = api.post("/api/file-url-upload", json={"fileUrl": origin + "/pic.png", "uploadPath": "web"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["fileSize"] == len(PNG) and data["mimeType"] == "image/png"
    assert sniff(api.download(data["downloadUrl"]).content[:64]) == "png"
    r = api.post("/api/file-url-upload", json={"fileUrl": origin + "/missing.png", "uploadPath": "web"})
    assert r.status_code == 400 and "404" in r.json()["msg"]


def test_url_upload_refuses_hosts_not_allowed(api: Api) -> None:
    r = api.post("/api/file-url-upload", json={"fileUrl": "https://example.com/pic.png", "uploadPath": "web"})
    assert r.status_code == 400 and r.json()["success"] is False and "allowedHosts" in r.json()["msg"]


@pytest.mark.emulator(strict=False)  # uploads the provider refuses, on purpose
@pytest.mark.parametrize("path,kwargs,needle", [
    ("/api/file-base64-upload", {"json": {"uploadPath": "x"}}, "base64Data"),
    ("/api/file-base64-upload", {"json": {"base64Data": "aGk="}}, "uploadPath"),
    ("/api/file-base64-upload", {"json": {"base64Data": "!!!not base64", "uploadPath": "x"}}, "base64"),
    ("/api/file-base64-upload", {"json": {"base64Data": "aGk=", "uploadPath": "../etc"}}, "uploadPath"),
    ("/api/file-base64-upload", {"json": {"base64Data": "aGk=", "uploadPath": "x", "fileName": "a/b"}}, "fileName"),
    ("/api/file-base64-upload", {"content": b"not json"}, "JSON"),
    ("/api/file-url-upload", {"json": {"uploadPath": "x"}}, "fileUrl"),
    ("/api/file-url-upload", {"json": {"fileUrl": "file:///etc/passwd", "uploadPath": "x"}}, "fileUrl"),
    ("/api/file-stream-upload", {"data": {"uploadPath": "x"}}, "file"),
    ("/api/file-stream-upload", {"files": {"file": ("a.png", PNG, "image/png")}}, "uploadPath"),
    ("/api/file-stream-upload", {"files": {"file": ("a.png", b"", "image/png")}, "data": {"uploadPath": "x"}}, "empty"),
])
def test_upload_errors_are_400(api: Api, path: str, kwargs: dict, needle: str) -> None:
    r = api.post(path, **kwargs)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["success"] is False and body["code"] == 400 and needle in body["msg"]


def test_upload_unauthorized(api: Api) -> None:
    r = api.http.post("/api/file-base64-upload", json={"base64Data": "aGk=", "uploadPath": "x"})
    assert r.status_code == 401
    assert r.json()["success"] is False and r.json()["code"] == 401


def test_oversized_uploads_are_refused(api: Api) -> None:
    limits = api.em.emulator.backend.state.settings["limits"]
    limits["stream_upload_max_bytes"] = 1000
    limits["base64_upload_max_bytes"] = 1000
    r = api.post("/api/file-stream-upload", files={"file": ("big.bin", b"x" * 5000, "application/octet-stream")},
                 data={"uploadPath": "big"})
    assert r.status_code == 400 and "limit" in r.json()["msg"]
    r = api.post("/api/file-base64-upload", json={"base64Data": base64.b64encode(b"x" * 1001).decode(),
                                                  "uploadPath": "big"})
    assert r.status_code == 400 and "limit" in r.json()["msg"]
    assert not api.em.emulator.backend.state.uploads


# -- expiry: the record keeps its URLs, download-url tells expired from foreign --------------------

def test_a_successful_task_keeps_its_result_urls_after_they_expire(api: Api) -> None:
    task_id = api.create_ok("nano-banana-2", prompt="kept")
    api.em.control.advance(sum(IMAGE_TIMINGS))
    before = api.record(task_id)
    (url,) = api.result_urls(task_id)
    api.em.control.advance(DAY + 1)
    assert api.download(url).status_code == 404  # the file is gone ...
    assert api.record(task_id) == before  # ... the record does not change
    api.em.control.advance(40 * DAY)  # long after the expired-URL memory of links and uploads
    assert api.record(task_id) == before
    r = api.post("/api/v1/common/download-url", json={"url": url})
    assert r.status_code == 422 and r.json()["msg"] == "The file has expired and can no longer be downloaded"


def test_an_expired_link_or_upload_gets_the_expiry_message(api: Api) -> None:
    link = api.post("/api/v1/common/download-url", json={"url": _finished_image(api)}).json()["data"]
    up = api.post("/api/file-base64-upload", json={"base64Data": base64.b64encode(b"x").decode(),
                                                   "uploadPath": "e"}).json()["data"]["downloadUrl"]
    api.em.control.advance(3 * DAY + 1)
    for url in (link, up):
        assert api.download(url).status_code == 404
        r = api.post("/api/v1/common/download-url", json={"url": url})
        assert r.status_code == 422 and "expired" in r.json()["msg"], url
        # another account is told nothing about it
        r = Api(api.em, "low-token").post("/api/v1/common/download-url", json={"url": url})
        assert r.status_code == 422 and "external" in r.json()["msg"]
    api.em.control.advance(30 * DAY)  # the memory of expired URLs ends
    r = api.post("/api/v1/common/download-url", json={"url": link})
    assert r.status_code == 422 and "external" in r.json()["msg"]


# -- EMULATOR_FAIL reaches upload-first clients through the file name -------------------------------

def test_fail_marker_in_an_uploaded_files_name_fails_the_task_that_uses_it(api: Api) -> None:
    good = api.post("/api/file-stream-upload", files={"file": ("a.png", PNG, "image/png")},
                    data={"uploadPath": "in", "fileName": "fine.png"}).json()["data"]["downloadUrl"]
    bad = api.post("/api/file-stream-upload", files={"file": ("a.png", PNG, "image/png")},
                   data={"uploadPath": "in", "fileName": "EMULATOR_FAIL.png"}).json()["data"]["downloadUrl"]
    assert "EMULATOR_FAIL" not in bad  # nothing in the URL itself carries it
    ok_task = api.create_ok("nano-banana-2", prompt="edit", image_input=[good])
    failing = api.create_ok("nano-banana-2", prompt="edit", image_input=[good, bad])
    api.em.control.advance(sum(IMAGE_TIMINGS))
    assert api.record(ok_task)["state"] == "success"
    data = api.record(failing)
    assert data["state"] == "fail" and data["failCode"] == "501"
    assert "EMULATOR_FAIL.png" in data["failMsg"] and data["resultJson"] is None
    assert api.credits() == 100000 - 8  # the failed one is refunded


def test_a_task_using_an_expired_upload_fails(api: Api) -> None:
    url = api.post("/api/file-stream-upload", files={"file": ("a.png", PNG, "image/png")},
                   data={"uploadPath": "in"}).json()["data"]["downloadUrl"]
    api.em.control.advance(3 * DAY + 1)
    task_id = api.create_ok("nano-banana-2", prompt="edit", image_input=[url])
    api.em.control.advance(sum(IMAGE_TIMINGS))
    data = api.record(task_id)
    assert data["state"] == "fail" and "could not be downloaded" in data["failMsg"]


# -- file-url-upload copies only the caller's own emulator files -------------------------------------

def test_url_upload_refuses_another_accounts_file(api: Api) -> None:
    theirs = _finished_image(Api(api.em, "low-token"))
    upload = Api(api.em, "low-token").post("/api/file-base64-upload", json={
        "base64Data": base64.b64encode(b"their secret").decode(), "uploadPath": "p"}).json()["data"]["downloadUrl"]
    file_id = upload.rsplit("/", 1)[1]
    for url in (theirs, upload, upload.replace("/files/f_", "/files/%66_"),
                upload.replace("/files/", "/files/%2e/"), f"https://cdn.example/files/{file_id}"):
        r = api.post("/api/file-url-upload", json={"fileUrl": url, "uploadPath": "stolen"})
        assert r.status_code == 400 and r.json()["success"] is False, (url, r.text)
    assert not [k for k in api.em.emulator.backend.state.uploads if k.startswith("test-token\n")]
    # the owner may copy it
    r = Api(api.em, "low-token").post("/api/file-url-upload", json={"fileUrl": upload, "uploadPath": "copy"})
    assert r.status_code == 200 and api.download(r.json()["data"]["downloadUrl"]).content == b"their secret"


def test_results_are_derived_from_their_task(api: Api) -> None:
    """A task stores no file record for its result: the file is made from the task, served only
    once it has succeeded, for 24 h from its end, and comes back with the task after a restore;
    a task saved with stored results (before derived ones) still serves those."""
    em = api.em.emulator
    stored = len(em.state.files)
    task_id = api.create_ok("nano-banana-2", prompt="derived")
    assert len(em.state.files) == stored
    (derived_id,) = em.backend.result_ids(em.backend.state.tasks[task_id])
    assert api.download(f"{api.em.base_url}/files/{derived_id}").status_code == 404  # not done yet
    api.em.control.advance(sum(IMAGE_TIMINGS))
    (url,) = api.result_urls(task_id)
    assert url.endswith("/files/" + derived_id) and len(em.state.files) == stored
    image = api.download(url)
    assert image.status_code == 200 and sniff(image.content) == "png"
    snapshot = api.em.control.state()
    api.em.control.reset()
    assert api.download(url).status_code == 404
    api.em.control.restore(snapshot)
    assert api.download(url).content == image.content
    api.em.control.advance(DAY - 60)
    assert api.download(url).status_code == 200
    api.em.control.advance(61)
    assert api.download(url).status_code == 404

    failing = api.create_ok("nano-banana-2", prompt="EMULATOR_FAIL please")
    api.em.control.advance(sum(IMAGE_TIMINGS))
    assert api.record(failing)["resultJson"] is None and not em.backend.result_ids(em.backend.state.tasks[failing])

    saved = api.em.control.state()
    task = saved["backend"]["tasks"][task_id]
    old_id = "f_oldstyle.png"
    saved["engine"]["files"][old_id] = {"id": old_id, "content_type": "image/png", "created_at": 0,
                                        "owner": "test-token", "recipe_json": '{"kind":"image","width":8,'
                                        '"height":8,"format":"png","seed":"x"}'}
    task["files"], task["result"] = [old_id], None
    api.em.control.restore(saved)
    assert api.result_urls(task_id) == [f"{api.em.base_url}/files/{old_id}"]
    assert sniff(api.download(api.result_urls(task_id)[0]).content) == "png"
