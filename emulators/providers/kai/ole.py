"""Legacy Office files (XLS, DOC, PPT: the Compound File Binary format, MS-CFB): metadata
stripping in place. The SummaryInformation and DocumentSummaryInformation property sets are
replaced by empty property sets of the same stream size (zero padded), and the creation and
modification times of every directory entry are zeroed. Nothing else moves, so the file's
sector layout (and the workbook/document streams) stay byte-identical."""
from __future__ import annotations

import struct

MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
END_OF_CHAIN = 0xFFFFFFFE
_MAX_SECTORS = 1 << 22
SUMMARY = {"\x05SummaryInformation": {2: "Title", 3: "Subject", 4: "Author", 5: "Keywords", 6: "Comments",
                                      7: "Template", 8: "LastAuthor", 9: "RevNumber", 10: "EditTime",
                                      11: "LastPrinted", 12: "CreateTime", 13: "LastSaveTime",
                                      18: "AppName", 19: "Security"},
           "\x05DocumentSummaryInformation": {2: "Category", 14: "Manager", 15: "Company",
                                              26: "ContentType", 27: "ContentStatus"}}


class OleError(ValueError):
    pass


class _Cfb:
    def __init__(self, data: bytes) -> None:
        if data[:8] != MAGIC or len(data) < 512:
            raise OleError("not a compound file")
        self.buf = bytearray(data)
        shift, mini_shift = struct.unpack("<HH", data[30:34])
        if shift not in (9, 12) or mini_shift != 6:
            raise OleError("bad sector sizes")
        self.size = 1 << shift
        self.mini = 1 << mini_shift
        (self.n_fat, self.dir_start, self.cutoff, self.minifat_start, self.n_minifat,
         self.difat_start, self.n_difat) = struct.unpack("<I I 4x I I I I I", data[44:76])
        self.fat = self._load_fat()

    def _offset(self, sector: int) -> int:
        off = (sector + 1) * self.size
        if off + self.size > len(self.buf):
            raise OleError("sector out of range")
        return off

    def _sector(self, sector: int) -> bytes:
        off = self._offset(sector)
        return bytes(self.buf[off:off + self.size])

    def _load_fat(self) -> list[int]:
        locations = [s for s in struct.unpack("<109I", self.buf[76:76 + 436])]
        sector, seen = self.difat_start, 0
        while sector not in (END_OF_CHAIN, 0xFFFFFFFF) and seen < self.n_difat + 1:
            entries = struct.unpack(f"<{self.size // 4}I", self._sector(sector))
            locations += entries[:-1]
            sector, seen = entries[-1], seen + 1
        fat: list[int] = []
        for loc in locations[:self.n_fat]:
            fat += struct.unpack(f"<{self.size // 4}I", self._sector(loc))
        return fat

    def chain(self, start: int, fat: list[int]) -> list[int]:
        out: list[int] = []
        seen: set[int] = set()
        sector = start
        while sector != END_OF_CHAIN:
            if sector >= len(fat) or sector in seen or len(out) > _MAX_SECTORS:
                raise OleError("broken chain")  # out of range, or a loop
            seen.add(sector)
            out.append(sector)
            sector = fat[sector]
        return out

    def entries(self) -> list[tuple[int, str, int, int, int]]:
        """(offset of the 128-byte entry, name, type, start sector, size) per directory entry."""
        out = []
        for sector in self.chain(self.dir_start, self.fat):
            base = self._offset(sector)
            for i in range(self.size // 128):
                off = base + 128 * i
                raw = self.buf[off:off + 128]
                name_len = struct.unpack("<H", raw[64:66])[0]
                kind = raw[66]
                if kind == 0 or not 2 <= name_len <= 64:
                    continue
                name = bytes(raw[:name_len - 2]).decode("utf-16-le", "replace")
                start, size = struct.unpack("<II", raw[116:124])
                out.append((off, name, kind, start, size))
        return out

    def stream_offsets(self, start: int, size: int, root_start: int) -> list[tuple[int, int]]:
        """(file offset, length) pieces holding a stream's bytes."""
        pieces = []
        if size < self.cutoff:
            minifat: list[int] = []
            for sector in self.chain(self.minifat_start, self.fat)[:self.n_minifat or None]:
                minifat += struct.unpack(f"<{self.size // 4}I", self._sector(sector))
            ministream = self.chain(root_start, self.fat)
            for mini_sector in self.chain(start, minifat):
                pos = mini_sector * self.mini
                sector_index, within = divmod(pos, self.size)
                if sector_index >= len(ministream):
                    raise OleError("mini sector out of range")
                pieces.append((self._offset(ministream[sector_index]) + within, self.mini))
        else:
            pieces = [(self._offset(s), self.size) for s in self.chain(start, self.fat)]
        remaining, out = size, []
        for off, length in pieces:
            take = min(length, remaining)
            if take <= 0:
                break
            out.append((off, take))
            remaining -= take
        if remaining > 0:
            raise OleError("stream shorter than its size")
        return out


def _property_names(stream: bytes, names: dict[int, str]) -> list[str]:
    """The known properties present (with values) in a property set stream."""
    if len(stream) < 48 or stream[:2] != b"\xfe\xff":
        raise OleError("not a property set")
    count = struct.unpack("<I", stream[24:28])[0]
    found: list[str] = []
    for i in range(min(count, 2)):
        base = 28 + 20 * i
        if base + 20 > len(stream):
            raise OleError("truncated property set")
        offset = struct.unpack("<I", stream[base + 16:base + 20])[0]
        if offset + 8 > len(stream):
            raise OleError("truncated property set")
        n = struct.unpack("<I", stream[offset + 4:offset + 8])[0]
        for j in range(min(n, 1000)):
            p = offset + 8 + 8 * j
            if p + 8 > len(stream):
                raise OleError("truncated property set")
            pid = struct.unpack("<I", stream[p:p + 4])[0]
            if i == 1:
                name = "CustomProperties"
            elif pid in (0, 1):  # dictionary, code page: no content of their own
                continue
            else:
                name = names.get(pid, f"Property{pid}")
            if name not in found:
                found.append(name)
    return found


def _empty_property_set(original: bytes) -> bytes:
    fmtid = original[28:44]
    head = struct.pack("<HHI16sI16sI", 0xFFFE, 0, struct.unpack("<I", original[4:8])[0], bytes(16), 1, fmtid, 48)
    empty = head + struct.pack("<II", 8, 0)
    return empty + bytes(len(original) - len(empty))


def strip_ole(data: bytes) -> tuple[bytes, list[str]]:
    cfb = _Cfb(data)
    entries = cfb.entries()
    if not entries or entries[0][2] != 5:
        raise OleError("no root entry")
    root_start = entries[0][3]
    fields: list[str] = []
    for off, name, kind, start, size in entries:
        if any(cfb.buf[off + 100:off + 116]):
            cfb.buf[off + 100:off + 116] = bytes(16)
            if "Timestamps" not in fields:
                fields.append("Timestamps")
        if kind != 2 or name not in SUMMARY:
            continue
        pieces = cfb.stream_offsets(start, size, root_start)
        stream = b"".join(bytes(cfb.buf[o:o + n]) for o, n in pieces)
        for found in _property_names(stream, SUMMARY[name]):
            if found not in fields:
                fields.append(found)
        if len(stream) < 56:
            raise OleError("property set too short")
        clean = _empty_property_set(stream)
        pos = 0
        for o, n in pieces:
            cfb.buf[o:o + n] = clean[pos:pos + n]
            pos += n
    return bytes(cfb.buf), fields


_MEDIA_TYPES = {"Workbook": "application/vnd.ms-excel", "Book": "application/vnd.ms-excel",
                "WordDocument": "application/msword", "PowerPoint Document": "application/vnd.ms-powerpoint"}


def media_type(data: bytes) -> str:
    """The content type of a compound file by its main stream (XLS, DOC, PPT)."""
    try:
        names = {name for _, name, kind, _, _ in _Cfb(data).entries() if kind == 2}
    except (OleError, struct.error, IndexError):
        names = set()
    return next((t for n, t in _MEDIA_TYPES.items() if n in names), "application/x-ole-storage")


def read_streams(data: bytes) -> dict[str, bytes]:
    """Every stream of a compound file by name (OleError when the structure is broken)."""
    cfb = _Cfb(data)
    entries = cfb.entries()
    if not entries or entries[0][2] != 5:
        raise OleError("no root entry")
    root_start = entries[0][3]
    out = {}
    for _, name, kind, start, size in entries:
        if kind == 2:
            out[name] = b"".join(bytes(cfb.buf[o:o + n]) for o, n in cfb.stream_offsets(start, size, root_start))
    return out


# -- text of legacy Excel (BIFF8) and PowerPoint files ---------------------------------------------------
class _Chunks:
    """Reads across an SST record and its CONTINUE records (MS-XLS 2.5.293 string splitting)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.i = 0
        self.pos = 0

    def _next(self) -> None:
        while self.i < len(self.chunks) and self.pos >= len(self.chunks[self.i]):
            self.i += 1
            self.pos = 0
        if self.i >= len(self.chunks):
            raise OleError("truncated SST")

    def read(self, n: int) -> bytes:
        out = b""
        while n > 0:
            self._next()
            chunk = self.chunks[self.i]
            take = min(n, len(chunk) - self.pos)
            out += chunk[self.pos:self.pos + take]
            self.pos += take
            n -= take
        return out

    def chars(self, count: int, high: bool) -> str:
        parts = []
        while count > 0:
            if self.pos >= len(self.chunks[self.i]):  # split inside the characters: a new flags byte
                self.i += 1
                self.pos = 0
                if self.i >= len(self.chunks):
                    raise OleError("truncated SST")
                high = bool(self.read(1)[0] & 1)
            width = 2 if high else 1
            take = min(count, (len(self.chunks[self.i]) - self.pos) // width)
            if take == 0:
                raise OleError("bad SST split")
            raw = self.read(take * width)
            parts.append(raw.decode("utf-16-le" if high else "latin-1", "replace"))
            count -= take
        return "".join(parts)


def _records(stream: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos + 4 <= len(stream):
        rtype, length = struct.unpack("<HH", stream[pos:pos + 4])
        out.append((rtype, stream[pos + 4:pos + 4 + length]))
        pos += 4 + length
    return out


def _sst(chunks: list[bytes]) -> list[str]:
    reader = _Chunks(chunks)
    _, unique = struct.unpack("<II", reader.read(8))
    strings = []
    for _ in range(min(unique, 1_000_000)):
        count, flags = struct.unpack("<HB", reader.read(3))
        runs = struct.unpack("<H", reader.read(2))[0] if flags & 0x08 else 0
        ext = struct.unpack("<I", reader.read(4))[0] if flags & 0x04 else 0
        strings.append(reader.chars(count, bool(flags & 0x01)))
        reader.read(4 * runs + ext)
    return strings


def xls_text(workbook: bytes) -> tuple[str, int]:
    """(rows of cells tab-separated, number of worksheets) of a BIFF8 workbook stream."""
    records = _records(workbook)
    sst: list[str] = []
    for i, (rtype, body) in enumerate(records):
        if rtype == 0x00FC:
            chunks = [body]
            for ctype, cbody in records[i + 1:]:
                if ctype != 0x003C:
                    break
                chunks.append(cbody)
            sst = _sst(chunks)
            break
    sheets, cells = 0, {}
    for rtype, body in records:
        if rtype == 0x0809 and len(body) >= 4 and struct.unpack("<H", body[2:4])[0] == 0x0010:
            sheets += 1
        elif rtype == 0x00FD and len(body) >= 10:  # LABELSST
            row, col, _, index = struct.unpack("<HHHI", body[:10])
            if index < len(sst):
                cells[(sheets, row, col)] = sst[index]
        elif rtype == 0x0204 and len(body) >= 9:  # LABEL
            row, col, _, count, flags = struct.unpack("<HHHHB", body[:9])
            raw = body[9:9 + count * (2 if flags & 1 else 1)]
            cells[(sheets, row, col)] = raw.decode("utf-16-le" if flags & 1 else "latin-1", "replace")
        elif rtype == 0x0203 and len(body) >= 14:  # NUMBER
            row, col, _, value = struct.unpack("<HHHd", body[:14])
            cells[(sheets, row, col)] = f"{value:g}" if value != int(value) else str(int(value))
    rows: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for (sheet, row, col), text in cells.items():
        rows.setdefault((sheet, row), []).append((col, text))
    lines = ["\t".join(t for _, t in sorted(rows[key])) for key in sorted(rows)]
    return "\n".join(lines), sheets


def ppt_text(document: bytes) -> tuple[str, int]:
    """(text of every TextCharsAtom / TextBytesAtom, number of slides) of a PowerPoint stream."""
    texts, slides, pos = [], 0, 0
    while pos + 8 <= len(document):
        ver_inst, rtype, length = struct.unpack("<HHI", document[pos:pos + 8])
        if ver_inst & 0x000F == 0x000F:  # a container: its records follow
            if rtype == 0x03EE:
                slides += 1
            pos += 8
            continue
        body = document[pos + 8:pos + 8 + length]
        if rtype == 0x0FA0:
            texts.append(body.decode("utf-16-le", "replace"))
        elif rtype == 0x0FA8:
            texts.append(body.decode("latin-1"))
        pos += 8 + length
    return "\n".join(t.replace("\r", "\n") for t in texts), slides
