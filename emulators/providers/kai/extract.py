"""Text extraction for documents/anonymize: TXT, CSV, JSON, DOCX, PPTX, XLSX and text PDFs.

Formats are recognised by content (magic bytes, the parts inside an Office zip); plain text
must decode as UTF-8 (a BOM is allowed) or UTF-16 with a BOM. Legacy XLS and PPT are read from
their compound file streams (ole.py). Images (PNG, JPEG, every page of a TIFF) and the pages
of a PDF that have no text layer (scans) are read by OCR (ocr.py). A document without any text
raises NoText (the API's 400 text_extraction_failed), as do legacy Word files.
"""
from __future__ import annotations

import io
import json
import logging
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

from emulators.engine.http import PROVIDER_JSON_DEPTH
from emulators.engine.strict_json import strict_json
from emulators.media.sniff import sniff
from emulators.providers.kai import ocr

# broken uploads are expected here; pypdf would log every one of them, Pillow warn about them
logging.getLogger("pypdf").setLevel(logging.CRITICAL)
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
MAX_XML_PART = 64 * 1024 * 1024  # refuse zip bombs: one part
MAX_UNZIPPED = 512 * 1024 * 1024  # all parts together (zipfile never inflates past a declared size)
MAX_PIXELS = 60_000_000  # an image (or TIFF page) larger than this is refused, not decoded
MAX_OCR_PAGES = 20  # images / scanned pages one request may need OCR for (~1-3 s each)
MIN_SCAN_SIDE = 32  # smaller images on a PDF page (bullets, rules) are not OCR'd
log = logging.getLogger(__name__)


class Unsupported(ValueError):
    """Not one of the accepted formats (400 invalid_request)."""


class NoText(ValueError):
    """An accepted format without extractable text (400 text_extraction_failed)."""


@dataclass
class Extracted:
    text: str
    method: str  # metadata.extraction_method
    page_count: int
    kind: str  # pdf, docx, pptx, xlsx, txt, csv, json, png, jpeg, tiff, doc
    used_ocr: bool = False  # metadata.used_ocr


def kind_of(data: bytes, filename: str | None) -> str | None:
    """The document kind by content (the filename only tells CSV/JSON/TXT apart)."""
    head = data[:64]
    fmt = sniff(head) if len(head) >= 4 else None
    if fmt == "pdf":
        return "pdf"
    if fmt in ("png", "jpeg", "webp", "bmp"):
        return fmt
    if head[:4] in TIFF_MAGIC:
        return "tiff"
    if head[:8] == OLE_MAGIC:
        return "ole"  # legacy .doc/.xls/.ppt
    if fmt == "zip":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError, EOFError):
            return None
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "ppt/presentation.xml" in names:
            return "pptx"
        return None
    if fmt is not None:
        return None  # audio, video, gif, ...
    text = decode_text(data)
    if text is None:
        return None
    name = (filename or "").lower()
    stripped = text.lstrip()
    if name.endswith(".json") or (stripped[:1] in ("{", "[") and is_json(text)):
        return "json"
    if name.endswith(".csv"):
        return "csv"
    return "txt"


def parse_json(text: str) -> Any:
    """A JSON document's value; NotStrictJSON (a ValueError) for what is no JSON text: a lone
    UTF-16 surrogate escape ("\\ud800": no answer could carry the text back), NaN/Infinity or a
    number beyond a double, nesting deeper than 512 levels (Python's parser would overflow)."""
    return strict_json(text.encode("utf-8"), max_depth=PROVIDER_JSON_DEPTH)


def is_json(text: str) -> bool:
    try:
        parse_json(text)
    except ValueError:
        return False
    return True


def _pretty(value: Any, raw: str) -> str:
    """A JSON document pretty-printed, or as sent when it nests too deep to print that way."""
    try:
        return json.dumps(value, ensure_ascii=False, indent=2)
    except RecursionError:
        return raw


def decode_text(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if "\x00" in text or any(ord(c) < 32 and c not in "\t\n\r\f" for c in text[:4096]):
        return None
    return text


def extract(data: bytes, kind: str) -> Extracted:
    if kind in ("txt", "csv", "json"):
        text = decode_text(data) or ""
        if kind == "json":
            try:
                text = _pretty(parse_json(text), text)
            except ValueError:
                raise NoText("The JSON file could not be parsed.") from None
        return _nonempty(Extracted(text, "text", 1, kind))
    if kind == "pdf":
        return _nonempty(_pdf(data))
    if kind in ("docx", "pptx", "xlsx"):
        return _nonempty(_office(data, kind))
    if kind == "ole":
        return _nonempty(_legacy_office(data))
    if kind in ("png", "jpeg", "tiff"):
        return _nonempty(_image(data, kind))
    raise NoText("No text could be extracted from the document.")


def _nonempty(doc: Extracted) -> Extracted:
    if not doc.text.strip():
        raise NoText("No text could be extracted from the document.")
    return doc


def _ocr(picture: Any) -> str:
    try:
        return ocr.recognize(picture)
    except ocr.OcrUnavailable as exc:
        raise NoText(f"The document needs OCR, which is not available here: {exc}.") from None
    except Exception:  # noqa: BLE001 - the engine on an odd image: the API's extraction failure
        log.exception("OCR failed")
        raise NoText("Text recognition (OCR) failed for the image.") from None


def _image(data: bytes, kind: str) -> Extracted:
    """PNG, JPEG or TIFF (every page) through OCR; page_count = the image's frames."""
    from PIL import Image

    texts: list[str] = []
    try:
        with Image.open(io.BytesIO(data)) as img:
            frames = getattr(img, "n_frames", 1)
            if frames > MAX_OCR_PAGES:
                raise NoText(f"The image has {frames} pages; at most {MAX_OCR_PAGES} can be read by OCR.")
            for index in range(frames):
                img.seek(index)
                if img.width * img.height > MAX_PIXELS:
                    raise NoText(f"The image is too large for OCR ({img.width}x{img.height} pixels).")
                try:
                    img.load()
                    picture = img.convert("RGB")
                except NoText:
                    raise
                except Exception:  # noqa: BLE001 - truncated/corrupt pixel data raises anything
                    raise NoText("The image could not be decoded.") from None
                texts.append(_ocr(picture))
    except NoText:
        raise
    except Image.DecompressionBombError:
        raise NoText("The image is too large for OCR.") from None
    except Exception:  # noqa: BLE001 - Pillow refuses broken headers with many exception types
        raise NoText("The image could not be decoded.") from None
    text = "\n\n".join(t for t in texts if t.strip())
    if not text.strip():
        raise NoText("No text was recognised in the image.")
    return Extracted(text, "ocr", len(texts), kind, used_ocr=True)


def _pdf(data: bytes) -> Extracted:
    """The text layer of each page; a page without one (a scan) is read from its images by OCR."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise NoText("The PDF is encrypted.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except NoText:
        raise
    except Exception:  # noqa: BLE001 - broken PDFs raise anything
        raise NoText("The PDF could not be parsed.") from None
    had_text_layer = any(p.strip() for p in pages)
    scanned = [i for i, p in enumerate(pages) if not p.strip()]
    used_ocr = False
    if scanned:
        pictures = _page_pictures(reader, scanned)
        if len(pictures) > MAX_OCR_PAGES:
            raise NoText(f"The PDF has {len(pictures)} scanned images; at most {MAX_OCR_PAGES} can be read by OCR.")
        for index, picture in pictures:
            text = _ocr(picture)
            if text.strip():
                pages[index] = (pages[index] + "\n" + text).strip()
                used_ocr = True
    method = "pdf_parser" if had_text_layer or not used_ocr else "ocr"
    return Extracted("\n\n".join(p.strip() for p in pages if p.strip()), method, len(pages), "pdf", used_ocr)


def _page_pictures(reader: Any, indexes: list[int]) -> list[tuple[int, Any]]:
    """(page index, image) for the images on the given pages that are big enough to hold text.
    Sizes are read from the image dictionaries first, so no oversized image is ever decoded."""
    out: list[tuple[int, Any]] = []
    for index in indexes:
        page = reader.pages[index]
        try:
            images = page.images
            ids = list(images.ids_function())
        except Exception:  # noqa: BLE001 - a broken page resource: nothing to read there
            continue
        for image_id in ids:
            width, height = _declared_size(page, image_id)
            if width * height > MAX_PIXELS:
                raise NoText(f"An image in the PDF is too large for OCR ({width}x{height} pixels).")
            if 0 < min(width, height) < MIN_SCAN_SIDE:
                continue
            try:
                picture = images.get_function(image_id).image  # decoded by pypdf with Pillow
            except Exception:  # noqa: BLE001 - filters pypdf cannot decode (JBIG2, broken data)
                continue
            if picture is None or min(picture.size) < MIN_SCAN_SIDE:
                continue
            out.append((index, picture))
    return out


def _declared_size(page: Any, image_id: str | list[str]) -> tuple[int, int]:
    """/Width and /Height of an image XObject (0, 0 when unknown, e.g. an inline image)."""
    path = [image_id] if isinstance(image_id, str) else list(image_id)
    try:
        obj = page
        for name in path:
            obj = obj["/Resources"].get_object()["/XObject"].get_object()[name].get_object()
        width, height = int(obj["/Width"]), int(obj["/Height"])
    except Exception:  # noqa: BLE001 - inline images and odd resources
        return 0, 0
    return max(width, 0), max(height, 0)


def _read_part(z: zipfile.ZipFile, name: str) -> bytes:
    info = z.getinfo(name)
    if info.file_size > MAX_XML_PART:
        raise NoText("The document is too large to parse.")
    return z.read(name)


def _office(data: bytes, kind: str) -> Extracted:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if sum(info.file_size for info in z.infolist()) > MAX_UNZIPPED:
                raise NoText("The document is too large to parse.")
            if kind == "docx":
                root = ElementTree.fromstring(_read_part(z, "word/document.xml"))
                paras = ["".join(t.text or "" for t in p.iter(f"{_W}t")) for p in root.iter(f"{_W}p")]
                pages = 1 + sum(1 for br in root.iter(f"{_W}br") if br.get(f"{_W}type") == "page")
                return Extracted("\n".join(paras).strip(), "docx_parser", pages, kind)
            if kind == "pptx":
                slides = sorted((n for n in z.namelist() if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)),
                                key=lambda n: int(re.findall(r"\d+", n)[-1]))
                texts = []
                for name in slides:
                    root = ElementTree.fromstring(_read_part(z, name))
                    texts.append("\n".join("".join(t.text or "" for t in p.iter(f"{_A}t"))
                                           for p in root.iter(f"{_A}p")).strip())
                return Extracted("\n\n".join(t for t in texts if t), "pptx_parser", len(slides), kind)
            shared: list[str] = []
            if "xl/sharedStrings.xml" in z.namelist():
                root = ElementTree.fromstring(_read_part(z, "xl/sharedStrings.xml"))
                shared = ["".join(t.text or "" for t in si.iter(f"{_S}t")) for si in root.iter(f"{_S}si")]
            sheets = sorted(n for n in z.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
            rows_out = []
            for name in sheets:
                root = ElementTree.fromstring(_read_part(z, name))
                for row in root.iter(f"{_S}row"):
                    cells = []
                    for c in row.iter(f"{_S}c"):
                        v = c.find(f"{_S}v")
                        if c.get("t") == "s" and v is not None and (v.text or "").isdigit():
                            idx = int(v.text or 0)
                            cells.append(shared[idx] if idx < len(shared) else "")
                        elif c.get("t") == "inlineStr":
                            cells.append("".join(t.text or "" for t in c.iter(f"{_S}t")))
                        elif v is not None and v.text:
                            cells.append(v.text)
                    if cells:
                        rows_out.append("\t".join(cells))
            return Extracted("\n".join(rows_out), "xlsx_parser", len(sheets), kind)
    except NoText:
        raise
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, ValueError, OSError, RuntimeError,
            NotImplementedError, EOFError, zlib.error):  # zipfile: unknown methods, broken deflate data
        raise NoText("The document could not be parsed.") from None


def _legacy_office(data: bytes) -> Extracted:
    """XLS (BIFF8 shared strings, labels, numbers) and PPT (text atoms); DOC is not read."""
    from emulators.providers.kai import ole

    try:
        streams = ole.read_streams(data)
        if "Workbook" in streams or "Book" in streams:
            text, sheets = ole.xls_text(streams.get("Workbook") or streams["Book"])
            return Extracted(text, "xls_parser", sheets, "xls")
        if "PowerPoint Document" in streams:
            text, slides = ole.ppt_text(streams["PowerPoint Document"])
            return Extracted(text, "ppt_parser", slides, "ppt")
    except (ole.OleError, ValueError, IndexError, KeyError):
        raise NoText("The document could not be parsed.") from None
    raise NoText("No text could be extracted from this legacy Office document.")
