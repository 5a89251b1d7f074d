"""Finding a text tag (e.g. `#signature#`) in page content, where the author wants the stamp.

French parapheurs let authors type a marker in their document; the stamp goes where it is. This
reads each page's content stream: text-showing operators, text and graphics matrices, and fonts'
/ToUnicode maps (so tags typed in word processors' Type0 fonts are found too). It is a locator, not
a renderer: Type3 fonts, text in form XObjects and rotated text are not searched.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(
    rb"""(?P<ws>[\x00\t\n\x0c\r ]+)
       |(?P<comment>%[^\r\n]*)
       |(?P<string>\()
       |(?P<hex><[0-9A-Fa-f\s]*>)
       |(?P<dict><<|>>)
       |(?P<array>[\[\]])
       |(?P<name>/[^\x00\t\n\x0c\r ()<>\[\]{}/%]*)
       |(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))
       |(?P<op>[A-Za-z'"*][A-Za-z0-9'"*]*)
       |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _read_literal(data: bytes, pos: int) -> tuple[bytes, int]:
    """Read a literal string starting after its '('; return the bytes and the position after ')'."""
    out = bytearray()
    depth = 1
    while pos < len(data):
        char = data[pos:pos + 1]
        pos += 1
        if char == b"\\":
            nxt = data[pos:pos + 1]
            pos += 1
            if nxt in _ESCAPES:
                out += _ESCAPES[nxt]
            elif nxt.isdigit():
                digits = nxt
                while len(digits) < 3 and data[pos:pos + 1].isdigit():
                    digits += data[pos:pos + 1]
                    pos += 1
                out.append(int(digits, 8) & 0xFF)
            elif nxt in (b"\r", b"\n"):
                if nxt == b"\r" and data[pos:pos + 1] == b"\n":
                    pos += 1
            else:
                out += nxt
        elif char == b"(":
            depth += 1
            out += char
        elif char == b")":
            depth -= 1
            if depth == 0:
                return bytes(out), pos
            out += char
        else:
            out += char
    return bytes(out), pos


def _tokens(data: bytes):
    """Yield (kind, value) for a content stream; inline images are skipped."""
    pos = 0
    while pos < len(data):
        match = _TOKEN.match(data, pos)
        if match is None:
            return
        kind = match.lastgroup
        pos = match.end()
        if kind in ("ws", "comment", "other"):
            continue
        if kind == "string":
            value, pos = _read_literal(data, pos)
            yield "string", value
        elif kind == "hex":
            digits = re.sub(rb"\s", b"", match.group()[1:-1])
            if len(digits) % 2:
                digits += b"0"
            yield "string", bytes.fromhex(digits.decode("ascii"))
        elif kind == "number":
            yield "number", float(match.group())
        elif kind == "op" and match.group() == b"ID":
            end = data.find(b"EI", pos)
            pos = len(data) if end < 0 else end + 2
        else:
            yield kind, match.group()


class _FontDecoder:
    """Bytes shown with a font → text, through /ToUnicode when present."""

    def __init__(self, font: Any) -> None:
        self.two_byte = False
        self.mapping: dict[int, str] = {}
        self.widths: dict[int, float] = {}
        self.default_width = 500.0
        if font is None:
            return
        try:
            self.two_byte = font.get("/Subtype") == "/Type0"
            to_unicode = font.get("/ToUnicode")
            if to_unicode is not None:
                self._parse_cmap(to_unicode.get_object().data)
        except Exception:  # a broken font only makes its text unsearchable
            self.mapping = {}
        try:
            self._read_widths(font)
        except Exception:  # without widths, positions inside a string are estimated
            self.widths = {}

    def _read_widths(self, font: Any) -> None:
        if self.two_byte:
            descendant = font["/DescendantFonts"][0].get_object()
            self.default_width = float(descendant.get("/DW", 1000))
            entries = list(descendant.get("/W", []))
            index = 0
            while index < len(entries):
                first = int(entries[index])
                nxt = entries[index + 1]
                if isinstance(nxt, list):
                    for offset, width in enumerate(nxt):
                        self.widths[first + offset] = float(width)
                    index += 2
                else:
                    for code in range(first, int(nxt) + 1):
                        self.widths[code] = float(entries[index + 2])
                    index += 3
        elif "/Widths" in font:
            first = int(font.get("/FirstChar", 0))
            for offset, width in enumerate(font["/Widths"]):
                self.widths[first + offset] = float(width)

    def _parse_cmap(self, data: bytes) -> None:
        def hexval(token: bytes) -> int:
            return int(token, 16)

        def text(token: bytes) -> str:
            raw = bytes.fromhex(token.decode("ascii"))
            return raw.decode("utf-16-be", errors="replace")

        for block in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.DOTALL):
            for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]*)>", block):
                self.mapping[hexval(src)] = text(dst)
        for block in re.findall(rb"beginbfrange(.*?)endbfrange", data, re.DOTALL):
            for lo, hi, rest in re.findall(
                    rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(<[0-9A-Fa-f]*>|\[[^\]]*\])", block):
                start, end = hexval(lo), hexval(hi)
                if rest.startswith(b"["):
                    for offset, dst in enumerate(re.findall(rb"<([0-9A-Fa-f]*)>", rest)):
                        self.mapping[start + offset] = text(dst)
                else:
                    base = bytes.fromhex(rest[1:-1].decode("ascii"))
                    if not base:
                        continue
                    for offset in range(0, min(end - start, 65535) + 1):
                        code = int.from_bytes(base, "big") + offset
                        self.mapping[start + offset] = code.to_bytes(len(base), "big").decode(
                            "utf-16-be", errors="replace")

    def codes(self, raw: bytes) -> list[int]:
        """Character codes of a string operand."""
        if self.two_byte:
            return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw) - 1, 2)]
        return list(raw)

    def text(self, code: int) -> str:
        """Unicode text of one code ("" when unknown for composite fonts)."""
        if self.mapping:
            return self.mapping.get(code, "\ufffd")
        return chr(code) if not self.two_byte else ""

    def width(self, code: int) -> float:
        """Advance of one code in thousandths of text space units."""
        return self.widths.get(code, self.default_width)


def _multiply(a: list[float], b: list[float]) -> list[float]:
    return [a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3],
            a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3],
            a[4] * b[0] + a[5] * b[2] + b[4], a[4] * b[1] + a[5] * b[3] + b[5]]


def _page_contents(page: Any) -> bytes:
    contents = page.get("/Contents")
    if contents is None:
        return b""
    contents = contents.get_object()
    parts = contents if isinstance(contents, list) else [contents]
    return b"\n".join(part.get_object().data for part in parts)


def _page_fonts(page: Any) -> dict[str, Any]:
    node = page
    while node is not None:
        resources = node.get("/Resources")
        if resources is not None:
            fonts = resources.get_object().get("/Font")
            return {} if fonts is None else {k: v.get_object() for k, v in fonts.get_object().items()}
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
    return {}


def find_on_page(page: Any, tag: str) -> tuple[float, float] | None:
    """The (x, y) of the tag's start on this page (user space), or None."""
    fonts = _page_fonts(page)
    decoders: dict[str, _FontDecoder] = {}
    ctm = [1.0, 0, 0, 1.0, 0, 0]
    stack: list[list[float]] = []
    tm = [1.0, 0, 0, 1.0, 0, 0]
    tlm = list(tm)
    leading = 0.0
    decoder = _FontDecoder(None)
    # Shown characters of the current text object with their origin in user space.
    chars: list[tuple[str, float, float]] = []
    font_size = 1.0
    operands: list[Any] = []
    array: list[Any] | None = None

    def show(items: list[Any]) -> None:
        nonlocal tm
        for item in items:
            if isinstance(item, float):
                # TJ adjustment: thousandths of text space, subtracted from the position.
                tm = _multiply([1, 0, 0, 1, -item / 1000 * font_size, 0], tm)
                continue
            for code in decoder.codes(item):
                origin = _multiply(tm, ctm)
                text = decoder.text(code)
                for char in text:
                    chars.append((char, origin[4], origin[5]))
                advance = decoder.width(code) / 1000 * font_size
                tm = _multiply([1, 0, 0, 1, advance, 0], tm)

    def search() -> tuple[float, float] | None:
        joined = "".join(c for c, _, _ in chars)
        index = joined.find(tag)
        if index < 0:
            return None
        _, x, y = chars[index]
        return x, y

    for kind, value in _tokens(_page_contents(page)):
        if kind == "array":
            if value == b"[":
                array = []
            else:
                operands.append(array or [])
                array = None
            continue
        if array is not None:
            array.append(value)
            continue
        if kind != "op":
            operands.append(value)
            continue
        op = value
        nums = [v for v in operands if isinstance(v, float)]
        if op == b"q":
            stack.append(list(ctm))
        elif op == b"Q" and stack:
            ctm = stack.pop()
        elif op == b"cm" and len(nums) >= 6:
            ctm = _multiply(nums[-6:], ctm)
        elif op == b"BT":
            tm = [1.0, 0, 0, 1.0, 0, 0]
            tlm = list(tm)
        elif op == b"ET":
            found = search()
            if found is not None:
                return found
            chars = []
        elif op == b"Tf" and operands:
            name = operands[0].decode("latin-1") if isinstance(operands[0], bytes) else ""
            if name not in decoders:
                decoders[name] = _FontDecoder(fonts.get(name))
            decoder = decoders[name]
            if nums:
                font_size = nums[-1]
        elif op == b"TL" and nums:
            leading = nums[-1]
        elif op in (b"Td", b"TD") and len(nums) >= 2:
            if op == b"TD":
                leading = -nums[-1]
            tlm = _multiply([1, 0, 0, 1, nums[-2], nums[-1]], tlm)
            tm = list(tlm)
        elif op == b"Tm" and len(nums) >= 6:
            tlm = nums[-6:]
            tm = list(tlm)
        elif op == b"T*":
            tlm = _multiply([1, 0, 0, 1, 0, -leading], tlm)
            tm = list(tlm)
        elif op == b"Tj" and operands and isinstance(operands[-1], bytes):
            show([operands[-1]])
        elif op in (b"'", b'"') and operands and isinstance(operands[-1], bytes):
            tlm = _multiply([1, 0, 0, 1, 0, -leading], tlm)
            tm = list(tlm)
            show([operands[-1]])
        elif op == b"TJ" and operands and isinstance(operands[-1], list):
            show([v for v in operands[-1] if isinstance(v, (bytes, float))])
        operands = []
    return search()


def find_text_tag(reader: Any, tag: str) -> tuple[int, tuple[float, float]] | None:
    """(page index, (x, y)) of the first occurrence of `tag`, searching pages in order."""
    count = int(reader.root["/Pages"]["/Count"])
    for index in range(count):
        page_ref, _ = reader.find_page_for_modification(index)
        found = find_on_page(page_ref.get_object(), tag)
        if found is not None:
            return index, found
    return None
