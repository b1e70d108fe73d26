"""POST /api/v1/documents/anonymize and /documents/strip-metadata."""
from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import av
import pytest
from pypdf import PdfReader

from emulators.media.image import make_image
from emulators.media.probe import probe
from tests.kai import builders as b
from tests.kai.conftest import ANONYMIZE, STRIP, Api, assert_error

REPORT = ("Patient: Max Mustermann\n"
          "Geburtsdatum: 12.03.1980\n"
          "E-Mail: max.mustermann@example.com, Telefon: +49 30 1234567\n"
          "IBAN: DE89 3704 0044 0532 0130 00\n"
          "Diagnose: Diabetes Typ 2\n"
          "Arbeitgeber: Musterfirma GmbH, USt-IdNr. DE123456789\n"
          "Rückfragen an Max Mustermann unter max.mustermann@example.com.")


def anonymize(api: Api, data: bytes, name: str, types: list[str] | None = None, field: str = "files[]") -> Any:
    return api.post(ANONYMIZE, files={field: (name, data, "application/octet-stream")},
                    data={"pii_types[]": types} if types else None)


def result(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list" and len(body["data"]) == 1
    return body["data"][0]


def test_txt_all_types(api: Api) -> None:
    doc = result(anonymize(api, REPORT.encode(), "Max_Mustermann_report.txt"))
    ph = doc["placeholders"]
    assert ph == {"[[NAME_1]]": "Max Mustermann", "[[DOB_1]]": "12.03.1980",
                  "[[EMAIL_1]]": "max.mustermann@example.com", "[[PHONE_1]]": "+49 30 1234567",
                  "[[IBAN_1]]": "DE89 3704 0044 0532 0130 00", "[[MEDICAL_1]]": "Diabetes Typ 2",
                  "[[COMPANY_1]]": "Musterfirma GmbH", "[[VAT_NUMBER_1]]": "DE123456789"}
    text = doc["sanitized_text"]
    assert text.startswith("Patient: [[NAME_1]]\nGeburtsdatum: [[DOB_1]]\n")
    # the same value -> the same placeholder
    assert text.endswith("Rückfragen an [[NAME_1]] unter [[EMAIL_1]].")
    for value in ph.values():
        assert value not in text
    assert doc["original_filename"] == "Max_Mustermann_report.txt"
    assert doc["sanitized_filename"] == "NAME_1_report.txt"
    assert doc["metadata"] == {"extraction_method": "text", "used_ocr": False, "page_count": 1, "strategy": "ai"}


def test_pii_types_filter(api: Api) -> None:
    doc = result(anonymize(api, REPORT.encode(), "r.txt", ["email", "iban"]))
    assert set(doc["placeholders"]) == {"[[EMAIL_1]]", "[[IBAN_1]]"}
    assert "Max Mustermann" in doc["sanitized_text"]


@pytest.mark.emulator(strict=False)  # an unknown PII type, on purpose
def test_invalid_pii_type(api: Api) -> None:
    r = anonymize(api, REPORT.encode(), "r.txt", ["email", "shoe_size"])
    err = assert_error(r, 400, "invalid_request", "invalid_request_error", "pii_types.1")
    assert err["message"] == "The selected pii_types.1 is invalid."


@pytest.mark.parametrize("text,kind,value", [
    ("Card 4111 1111 1111 1111 ok", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("Server 10.0.0.254 is down", "IP_ADDRESS", "10.0.0.254"),
    ("See https://example.org/a?b=c now", "URL", "https://example.org/a?b=c"),
    ("Profile: https://www.linkedin.com/in/jane-doe-123", "LINKEDIN", "https://www.linkedin.com/in/jane-doe-123"),
    ("Registered at HRB 98765 B", "COMPANY_REGISTER", "HRB 98765 B"),
    ("Reisepass: C01X00T47", "PASSPORT", "C01X00T47"),
    ("born in 1975", "BIRTH_YEAR", "1975"),
    ("She is 42 years old.", "AGE", "42 years old"),
    ("Mr. John Smith signed.", "NAME", "John Smith"),
    ("Steuer-ID: 12 345 678 901", "TAX_ID", "12 345 678 901"),
    ("Wohnt in der Hauptstraße 5, 80331 München.", "ADDRESS", "Hauptstraße 5, 80331 München"),
    ("Auto: M-AB 1234", "VEHICLE", "M-AB 1234"),
    ("Benutzername: jdoe77", "USERNAME", "jdoe77"),
])
def test_rule_types(api: Api, text: str, kind: str, value: str) -> None:
    doc = result(anonymize(api, text.encode(), "x.txt"))
    assert doc["placeholders"].get(f"[[{kind}_1]]") == value, doc


@pytest.mark.parametrize("text", [
    "Card 4111 1111 1111 1112 fails Luhn",
    "IBAN DE89 3704 0044 0532 0130 01 has a bad checksum",
    "Version 999.1.2.3 is no address",
])
def test_checksums_reject_lookalikes(api: Api, text: str) -> None:
    doc = result(anonymize(api, text.encode(), "x.txt", ["credit_card", "iban", "ip_address"]))
    assert doc["placeholders"] == {} and doc["sanitized_text"] == text


def test_pdf_docx_xlsx_pptx_csv_json(api: Api) -> None:
    pdf = result(anonymize(api, b.pdf(["Patient: Erika Musterfrau", "Mail: erika@example.com"]), "report.pdf"))
    assert pdf["metadata"] == {"extraction_method": "pdf_parser", "used_ocr": False, "page_count": 2, "strategy": "ai"}
    assert pdf["placeholders"] == {"[[NAME_1]]": "Erika Musterfrau", "[[EMAIL_1]]": "erika@example.com"}
    docx = result(anonymize(api, b.docx(["Kontakt: Anna Schmidt", "Tel. 0170 1234567"]), "brief.docx"))
    assert docx["metadata"]["extraction_method"] == "docx_parser"
    assert set(docx["placeholders"].values()) == {"Anna Schmidt", "0170 1234567"}
    xlsx = result(anonymize(api, b.xlsx([["Name", "Email"], ["Thomas Weber", "t.weber@example.de"]]), "list.xlsx"))
    assert xlsx["sanitized_text"] == "Name\tEmail\n[[NAME_1]]\t[[EMAIL_1]]"
    pptx = result(anonymize(api, b.pptx(["Speaker: Julia Fischer", "IP 192.168.0.1"]), "deck.pptx"))
    assert pptx["metadata"]["page_count"] == 2
    assert set(pptx["placeholders"].values()) == {"Julia Fischer", "192.168.0.1"}
    csv = result(anonymize(api, b"name,email\nPeter Lustig,peter@example.com\n", "people.csv"))
    assert csv["sanitized_text"] == "name,email\n[[NAME_1]],[[EMAIL_1]]\n"
    js = result(anonymize(api, json.dumps({"owner": "Sabine Braun", "ip": "8.8.8.8"}).encode(), "data.json"))
    assert set(js["placeholders"].values()) == {"Sabine Braun", "8.8.8.8"}


@pytest.mark.parametrize("data,name", [
    (make_image(16, 16, fmt="png"), "scan.png"),  # OCR finds no text in it
    (b.pdf([""], author=None, xmp=False), "empty.pdf"),  # no text layer
    (b"   \n  ", "blank.txt"),
])
def test_text_extraction_failed(api: Api, data: bytes, name: str) -> None:
    r = anonymize(api, data, name)
    assert_error(r, 400, "text_extraction_failed", "invalid_request_error", "files.0")


@pytest.mark.emulator(strict=False)  # forms with no or two files, on purpose
def test_exactly_one_file(api: Api) -> None:
    r = api.post(ANONYMIZE, data={"pii_types[]": "name"}, files={"other": ("x", b"1", "text/plain")})
    err = assert_error(r, 400, "invalid_request", "invalid_request_error", "files")
    assert err["message"] == "The files field is required."
    r = api.post(ANONYMIZE, files=[("files[]", ("a.txt", b"Max Mustermann", "text/plain")),
                                   ("files[]", ("b.txt", b"Erika Musterfrau", "text/plain"))])
    err = assert_error(r, 400, "invalid_request", "invalid_request_error", "files")
    assert err["message"] == "The files field must not have more than 1 items."
    # `files` without brackets works too (the OpenAI SDK sends arrays as key[])
    assert result(anonymize(api, b"Max Mustermann", "a.txt", field="files")) is not None


def test_unsupported_format(api: Api) -> None:
    r = anonymize(api, make_image(16, 16, fmt="webp"), "pic.webp")
    err = assert_error(r, 400, "invalid_request", "invalid_request_error", "files.0")
    assert "pdf, docx, pptx, ppt, xlsx, xls, csv, json, png, jpeg, tiff, txt" in err["message"]
    assert_error(anonymize(api, bytes(range(256)) * 4, "blob.bin"), 400, "invalid_request", "invalid_request_error", "files.0")


# -- strip-metadata ----------------------------------------------------------------------------------------
def strip(api: Api, data: bytes, name: str) -> Any:
    return api.post(STRIP, files={"file": (name, data, "application/octet-stream")})


def check_headers(r: Any, original: bytes, method: str, fields: str) -> bytes:
    assert r.status_code == 200, r.text
    assert r.headers["X-Metadata-Stripped"] == "true"
    assert r.headers["X-Strip-Method"] == method
    assert r.headers["X-Stripped-Fields"] == fields
    assert r.headers["X-Original-Size"] == str(len(original))
    assert r.headers["X-Sanitized-Size"] == str(len(r.content))
    assert r.headers["content-disposition"].startswith("attachment;")
    return r.content


def test_strip_jpeg(api: Api) -> None:
    original = b.jpeg_with_metadata()
    assert b"Exif" in original and b"Mustermann" in original
    clean = check_headers(strip(api, original, "photo.jpg"), original, "imagemagick", "EXIF,XMP,ICC,IPTC,COMMENT")
    assert b"Mustermann" not in clean and b"Exif" not in clean and b"SecretCam" not in clean
    assert b"\xff\xfe" not in clean.split(b"\xff\xda")[0]  # no COM segment before the scan
    info = probe(clean)
    assert info is not None and (info.width, info.height) == (32, 24)
    # pixel data untouched: the scan is byte-identical
    assert clean.split(b"\xff\xda", 1)[1] == original.split(b"\xff\xda", 1)[1]


def test_strip_png(api: Api) -> None:
    original = b.png_with_metadata()
    clean = check_headers(strip(api, original, "shot.png"), original, "imagemagick", "Text,Time,EXIF,XMP")
    assert clean == make_image(16, 16, fmt="png")  # exactly the image without its chunks
    for chunk in (b"tEXt", b"tIME", b"eXIf", b"iTXt", b"zTXt"):
        assert chunk not in clean


def test_strip_webp(api: Api) -> None:
    original = b.webp_with_metadata()
    clean = check_headers(strip(api, original, "pic.webp"), original, "imagemagick", "EXIF,XMP")
    assert b"Mustermann" not in clean and b"EXIF" not in clean
    assert clean[12:16] == b"VP8X" and clean[20] & 0x0C == 0  # flags cleared
    assert int.from_bytes(clean[4:8], "little") == len(clean) - 8
    assert probe(clean) is not None


def test_strip_tiff(api: Api) -> None:
    original = b.tiff_with_metadata()
    clean = check_headers(strip(api, original, "scan.tiff"), original, "imagemagick", "Make,Software,DateTime,Artist")
    assert b"Mustermann" not in clean and b"SecretCam" not in clean and b"SecretSoft" not in clean
    with av.open(io.BytesIO(clean), format="tiff_pipe") as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (4, 2)


def test_strip_pdf(api: Api) -> None:
    original = b.pdf(["Quarterly numbers"], author="Erika Geheim")
    assert PdfReader(io.BytesIO(original)).metadata["/Author"] == "Erika Geheim"
    clean = check_headers(strip(api, original, "q.pdf"), original, "pdf_rewrite", "Producer,Author,Title,Creator,XMP")
    reader = PdfReader(io.BytesIO(clean))
    assert not reader.metadata and "/Metadata" not in reader.trailer["/Root"]
    assert b"Geheim" not in clean and b"SecretSoft" not in clean and b"dc:creator" not in clean
    assert reader.pages[0].extract_text() == "Quarterly numbers"


def test_strip_docx(api: Api) -> None:
    original = b.docx(["The content stays."])
    clean = check_headers(strip(api, original, "letter.docx"), original, "office_docprops",
                          "creator,lastModifiedBy,created,Application,Company")
    assert r_text(clean, "word/document.xml") == r_text(original, "word/document.xml")
    assert "Mustermann" not in r_text(clean, "docProps/core.xml")
    assert "Secret Company" not in r_text(clean, "docProps/app.xml")
    with zipfile.ZipFile(io.BytesIO(clean)) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    # still a document the anonymizer can read
    doc = result(anonymize(api, clean, "letter.docx"))
    assert doc["sanitized_text"] == "The content stays."


def r_text(data: bytes, part: str) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read(part).decode()


def test_strip_text_is_unchanged(api: Api) -> None:
    clean = check_headers(strip(api, b"a,b\n1,2\n", "t.csv"), b"a,b\n1,2\n", "none", "none")
    assert clean == b"a,b\n1,2\n"


@pytest.mark.parametrize("data,name", [
    (b.jpeg_with_metadata()[:300], "photo.jpg"),  # truncated before the scan
    (b.png_with_metadata()[:-20], "shot.png"),  # IEND missing
    (b"%PDF-1.7\n garbage that is no pdf", "doc.pdf"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old.xls"),  # a compound file header, nothing behind
    (b.xls()[:1500], "cut.xls"),  # sectors missing
])
def test_strip_failure(api: Api, data: bytes, name: str) -> None:
    err = assert_error(strip(api, data, name), 400, "metadata_stripping_failed", "invalid_request_error", "file")
    assert err["message"] == f"Failed to strip metadata from '{name}'"


@pytest.mark.emulator(strict=False)  # a form without its file, on purpose
def test_strip_unsupported_and_missing(api: Api) -> None:
    r = strip(api, bytes(range(256)), "x.bin")
    assert_error(r, 400, "invalid_request", "invalid_request_error", "file")
    r = api.post(STRIP, data={"x": "1"}, files={"other": ("a", b"b", "text/plain")})
    assert_error(r, 400, "invalid_request", "invalid_request_error", "file")


def test_strip_json_keeps_its_type_and_broken_json_is_text(api: Api) -> None:
    r = strip(api, b'{"owner": "Max"}', "data.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.content == b'{"owner": "Max"}'
    r = strip(api, b"{broken", "broken.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")


def test_many_files_are_refused_as_more_than_one(api: Api) -> None:
    files = [("files[]", (f"{i}.txt", b"Max Mustermann", "text/plain")) for i in range(9)]
    err = assert_error(api.post(ANONYMIZE, files=files), 400, "invalid_request", "invalid_request_error", "files")
    assert err["message"] == "The files field must not have more than 1 items."


def test_strip_xls_property_sets(api: Api) -> None:
    original = b.xls()
    assert original.count(b"Max Mustermann") == 2 and b"Secret Company" in original
    clean = check_headers(strip(api, original, "budget.xls"), original, "ole_properties",
                          "Timestamps,Title,Author,LastAuthor,AppName,Company")
    assert b"Mustermann" not in clean and b"Secret Company" not in clean and b"Budget" not in clean
    assert len(clean) == len(original)
    from emulators.providers.kai.ole import _Cfb
    before, after = _Cfb(original), _Cfb(clean)
    entries = {e[1]: e for e in after.entries()}
    root = entries["Root Entry"][3]

    def stream(cfb: _Cfb, name: str) -> bytes:
        _, _, _, start, size = {e[1]: e for e in cfb.entries()}[name]
        return b"".join(bytes(cfb.buf[o:o + n]) for o, n in cfb.stream_offsets(start, size, root))

    assert stream(after, "Workbook") == stream(before, "Workbook")  # the data is untouched
    summary = stream(after, "\x05SummaryInformation")
    assert summary[:2] == b"\xfe\xff" and summary[28:44] == b.SUMMARY_FMTID  # a valid, empty property set
    assert summary[48:56] == bytes.fromhex("0800000000000000")
    r = strip(api, original, "budget.xls")
    assert r.headers["content-type"] == "application/vnd.ms-excel"


def test_anonymize_legacy_xls_and_ppt(api: Api) -> None:
    workbook = b.biff_workbook([["Name", "Email"], ["Thomas Weber", "t.weber@example.de"], ["Lukas Maier", 42]],
                               split_in="Thomas Weber")  # a string split across SST and CONTINUE
    doc = result(anonymize(api, b.xls(workbook), "list.xls"))
    assert doc["sanitized_text"] == "Name\tEmail\n[[NAME_1]]\t[[EMAIL_1]]\n[[NAME_2]]\t42"
    assert doc["metadata"]["extraction_method"] == "xls_parser" and doc["metadata"]["page_count"] == 1
    deck = result(anonymize(api, b.ppt(["Speaker: Julia Fischer", "IP 192.168.0.1"]), "deck.ppt"))
    assert deck["sanitized_text"] == "Speaker: [[NAME_1]]\nIP [[IP_ADDRESS_1]]"
    assert deck["metadata"]["extraction_method"] == "ppt_parser" and deck["metadata"]["page_count"] == 2
    # a legacy Word file is no accepted anonymize input text source: nothing to extract
    word = b.cfb({"WordDocument": b"\x00" * 600})
    assert_error(anonymize(api, word, "old.doc"), 400, "text_extraction_failed", "invalid_request_error", "files.0")


def test_strip_ppt(api: Api) -> None:
    original = b.ppt(["Hello"])
    r = strip(api, original, "deck.ppt")
    clean = check_headers(r, original, "ole_properties", "Timestamps,Author")
    assert r.headers["content-type"] == "application/vnd.ms-powerpoint"
    assert b"Mustermann" not in clean
    assert result(anonymize(api, clean, "deck.ppt"))["sanitized_text"] == "Hello"
