"""documents/anonymize reads images (PNG, JPEG, TIFF) and scanned PDF pages by OCR (rapidocr)."""
from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest

from emulators.media.image import make_image
from emulators.providers.kai import ocr
from tests.kai import builders as b
from tests.kai.conftest import ANONYMIZE, Api, assert_error

CARD = ["Patient: Max Mustermann",
        "E-Mail: max.mustermann@example.com",
        "IBAN: DE89 3704 0044 0532 0130 00"]
CARD_PII = {"Max Mustermann": "NAME", "max.mustermann@example.com": "EMAIL",
            "DE89 3704 0044 0532 0130 00": "IBAN"}


def anonymize(api: Api, data: bytes, name: str) -> Any:
    return api.post(ANONYMIZE, files={"files[]": (name, data, "application/octet-stream")})


def result(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    return r.json()["data"][0]  # type: ignore[no-any-return]


def assert_redacted(doc: dict[str, Any], pii: dict[str, str]) -> None:
    """Every value was recognised, found as its type, and no longer appears in the text."""
    found = {value: placeholder for placeholder, value in doc["placeholders"].items()}
    for value, kind in pii.items():
        assert value in found, (value, doc)
        assert found[value].startswith(f"[[{kind}_"), (value, found[value])
        assert value not in doc["sanitized_text"]
        assert found[value] in doc["sanitized_text"]


@pytest.mark.parametrize("fmt", ["png", "jpeg", "tiff"])
def test_an_image_of_text_is_read_and_anonymized(api: Api, fmt: str) -> None:
    doc = result(anonymize(api, b.text_image(CARD, fmt), f"Max_Mustermann_scan.{fmt}"))
    assert_redacted(doc, CARD_PII)
    assert doc["sanitized_text"].splitlines()[0] == "Patient: [[NAME_1]]"
    assert doc["metadata"] == {"extraction_method": "ocr", "used_ocr": True, "page_count": 1, "strategy": "ai"}
    assert doc["sanitized_filename"] == f"NAME_1_scan.{fmt}"


def test_every_page_of_a_tiff_is_read(api: Api) -> None:
    data = b.text_image(CARD[:1], "tiff", pages=[["Kontakt: erika@example.com"]])
    doc = result(anonymize(api, data, "fax.tiff"))
    assert_redacted(doc, {"Max Mustermann": "NAME", "erika@example.com": "EMAIL"})
    assert doc["metadata"]["page_count"] == 2 and doc["metadata"]["used_ocr"] is True


def test_a_scanned_pdf_is_read_by_ocr(api: Api) -> None:
    doc = result(anonymize(api, b.text_image(CARD, "pdf"), "scan.pdf"))
    assert_redacted(doc, CARD_PII)
    assert doc["metadata"] == {"extraction_method": "ocr", "used_ocr": True, "page_count": 1, "strategy": "ai"}


def test_a_pdf_with_text_and_a_scanned_page_uses_both(api: Api) -> None:
    doc = result(anonymize(api, b.pdf_with_scan("Patient: Erika Musterfrau", CARD[1:]), "mixed.pdf"))
    assert_redacted(doc, {"Erika Musterfrau": "NAME", **{k: v for k, v in CARD_PII.items() if v != "NAME"}})
    text = doc["sanitized_text"]
    assert text.index("Patient: [[NAME_1]]") < text.index("[[EMAIL_1]]")  # page order kept
    assert doc["metadata"] == {"extraction_method": "pdf_parser", "used_ocr": True, "page_count": 2,
                               "strategy": "ai"}


def test_text_pdfs_do_not_use_ocr(api: Api) -> None:
    doc = result(anonymize(api, b.pdf(["Patient: Erika Musterfrau"]), "report.pdf"))
    assert doc["metadata"]["used_ocr"] is False


@pytest.mark.parametrize("data,name", [
    (make_image(320, 240, fmt="png"), "pattern.png"),
    (make_image(64, 48, fmt="jpeg"), "tiny.jpg"),
    (b.text_image([], "tiff"), "blank.tiff"),
    (b.text_image([], "pdf"), "blank.pdf"),
])
def test_an_image_without_text_fails_extraction(api: Api, data: bytes, name: str) -> None:
    err = assert_error(anonymize(api, data, name), 400, "text_extraction_failed", "invalid_request_error", "files.0")
    assert name in err["message"]


@pytest.mark.parametrize("cut", [40, 200, -30])
def test_a_broken_image_fails_extraction_without_a_traceback(api: Api, cut: int) -> None:
    data = b.text_image(CARD, "png")[:cut]
    assert_error(anonymize(api, data, "broken.png"), 400, "text_extraction_failed", "invalid_request_error", "files.0")


@pytest.mark.parametrize("side", [9000, 20000])  # over the emulator's limit; over Pillow's own
def test_an_oversized_image_is_refused_before_decoding(api: Api, side: int) -> None:
    # a PNG header announcing side x side pixels (a decompression bomb) with little pixel data
    png = make_image(16, 16, fmt="png")
    header = png[:16] + side.to_bytes(4, "big") + side.to_bytes(4, "big") + png[24:]
    header = header[:29] + b.png_chunk(b"IHDR", header[16:29])[-4:] + header[33:]
    err = assert_error(anonymize(api, header, "bomb.png"), 400, "text_extraction_failed", "invalid_request_error",
                       "files.0")
    assert "too large" in err["message"]


def test_the_fail_marker_works_through_ocr(api: Api) -> None:
    r = anonymize(api, b.text_image(["EMULATOR_FAIL"], "png"), "fail.png")
    assert_error(r, 500, "internal_error", "server_error")


def test_ocr_runs_off_the_event_loop_and_the_engine_is_shared(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    threads_with_a_loop: list[bool] = []
    real = ocr.recognize

    def spy(picture: Any) -> str:
        try:
            asyncio.get_running_loop()
            threads_with_a_loop.append(True)
        except RuntimeError:
            threads_with_a_loop.append(False)
        return real(picture)

    monkeypatch.setattr(ocr, "recognize", spy)
    first = ocr.engine()
    assert result(anonymize(api, b.text_image(CARD, "png"), "a.png"))["metadata"]["used_ocr"] is True
    assert threads_with_a_loop == [False]
    assert ocr.engine() is first


def test_line_grouping_keeps_reading_order() -> None:
    # two boxes on one visual line (given right one first), then a line below
    boxes = [[[300, 10], [400, 10], [400, 30], [300, 30]], [[10, 12], [200, 12], [200, 32], [10, 32]],
             [[10, 60], [200, 60], [200, 80], [10, 80]]]
    assert ocr._lines(boxes, ["Tel. 030 1234567", "Max Mustermann", "Berlin"]) == [
        "Max Mustermann Tel. 030 1234567", "Berlin"]


def test_a_pdf_scan_declaring_a_huge_image_is_refused_before_decoding(api: Api) -> None:
    from pypdf import PdfWriter
    from pypdf.generic import NameObject, NumberObject

    writer = PdfWriter(clone_from=io.BytesIO(b.text_image(CARD, "pdf")))
    images = writer.pages[0]["/Resources"]["/XObject"]
    for name in images:
        image = images[name].get_object()
        image[NameObject("/Width")] = image[NameObject("/Height")] = NumberObject(30000)
    out = io.BytesIO()
    writer.write(out)
    err = assert_error(anonymize(api, out.getvalue(), "bomb.pdf"), 400, "text_extraction_failed",
                       "invalid_request_error", "files.0")
    assert "too large" in err["message"]
