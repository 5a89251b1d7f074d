"""PDF pages as images and their text layer, rendered on the server with PDFium (pypdfium2).

Reviewers read a document page by page in any browser, phone or tablet included, without the
browser's own PDF viewer: each page is one PNG, rendered on first request at one of a few zoom
levels and kept in the data directory under the file's SHA-256 (a file never changes under its
hash, so the cache needs no invalidation). The text layer (each character with its box) is taken
out of the PDF the same way, page by page, for the search that highlights hits on the page images.

PDFium is not thread-safe: every call into it holds one lock.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from parapheur.errors import N_, NotFound, ParapheurError

#: The zoom levels offered (percent of the reading column's width); the cache holds these only.
ZOOMS = (50, 75, 100, 125, 150, 200, 300)
DEFAULT_ZOOM = 100
#: Device pixels per PDF point at 100 % (1.5 ≈ 108 dpi: sharp on a tablet's dense screen).
BASE_SCALE = 1.5
#: No page image exceeds this many pixels (a poster-sized page is rendered smaller).
MAX_PIXELS = 12_000_000
#: The longest text searched for, and the most hits reported.
MAX_QUERY = 200
MAX_HITS = 500
#: Search reads at most this many pages (a 20,000-page annex is searched in its first pages).
MAX_SEARCH_PAGES = 2_000

_PDFIUM = threading.Lock()


class PageUnavailable(NotFound):
    """The page asked for is not in the file."""


class RenderFailed(ParapheurError):
    """PDFium could not render or read the file."""

    status = 422


@dataclass(frozen=True)
class PageSize:
    """A page's size in PDF points, as displayed (its /Rotate applied), and its rotation."""

    width: float
    height: float
    rotation: int


@dataclass(frozen=True)
class Highlight:
    """A box to highlight on a page, in points from the page's top-left corner."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class PageHits:
    """The search hits on one page."""

    page: int  # 1-based
    count: int
    boxes: tuple[Highlight, ...]
    excerpt: str


@dataclass(frozen=True)
class SearchResult:
    """Every page where the text was found (pages beyond MAX_SEARCH_PAGES not read)."""

    query: str
    pages: tuple[PageHits, ...]
    truncated: bool

    @property
    def total(self) -> int:
        """How many hits in all."""
        return sum(p.count for p in self.pages)

    def on(self, page: int) -> PageHits | None:
        """The hits of one page, if any."""
        return next((p for p in self.pages if p.page == page), None)


def zoom_from(raw: str | None) -> int:
    """A zoom level from a request (`?zoom=150`), or a clear error naming the levels offered."""
    if raw is None or raw == "":
        return DEFAULT_ZOOM
    text = raw.strip().rstrip("%")[:6]
    if text.isdigit() and int(text) in ZOOMS:
        return int(text)
    raise ParapheurError(N_("Zoom invalide : choisissez parmi %(zooms)s."),
                         zooms=", ".join(f"{z} %" for z in ZOOMS))


class PageRenderer:
    """Page images, sizes and text of stored PDFs, cached under `cache_dir/<sha256>/`."""

    def __init__(self, cache_dir: Path):
        self.cache_dir = Path(cache_dir)

    def _dir(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.cache_dir / sha256[:2] / sha256

    def sizes(self, sha256: str, data: bytes | None = None, *, read=None) -> list[PageSize]:
        """The size of every page (cached); `read()` gives the file's bytes when not cached."""
        path = self._dir(sha256) / "sizes.json"
        try:
            return [PageSize(*row) for row in json.loads(path.read_text())]
        except (FileNotFoundError, ValueError, TypeError):
            pass
        pdf = _open(data if data is not None else read())
        try:
            with _PDFIUM:
                rows = []
                for index in range(len(pdf)):
                    page = pdf[index]
                    try:
                        width, height = page.get_size()
                        rows.append((round(width, 2), round(height, 2), page.get_rotation()))
                    finally:
                        page.close()
        finally:
            _close(pdf)
        _write_atomic(path, json.dumps(rows).encode())
        return [PageSize(*row) for row in rows]

    def image(self, sha256: str, page: int, zoom: int, *, read) -> bytes:
        """The PNG of a page (1-based) at a zoom level, rendered once then read from the cache."""
        if zoom not in ZOOMS:
            raise ParapheurError(N_("Zoom invalide."))
        sizes = self.sizes(sha256, read=read)
        if not 1 <= page <= len(sizes):
            raise PageUnavailable(N_("La page %(page)s n'existe pas (le fichier a %(count)s "
                                     "page%(value)s)."),
                                  page=page, count=len(sizes), value='s' if len(sizes) > 1 else '')
        path = self._dir(sha256) / f"z{zoom}" / f"{page}.png"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        size = sizes[page - 1]
        scale = BASE_SCALE * zoom / 100
        pixels = size.width * size.height * scale * scale
        if pixels > MAX_PIXELS:
            # PDFium rounds each side up: a little margin keeps the image under the limit.
            scale *= (MAX_PIXELS / pixels) ** 0.5 * 0.995
        pdf = _open(read())
        try:
            with _PDFIUM:
                pdf_page = pdf[page - 1]
                try:
                    bitmap = pdf_page.render(scale=scale, may_draw_forms=True)
                    picture = bitmap.to_pil()
                    bitmap.close()
                finally:
                    pdf_page.close()
        except ParapheurError:
            raise
        except Exception as exc:  # noqa: BLE001 — PDFium fails in many ways on odd files
            raise RenderFailed(N_("La page %(page)s ne peut pas être affichée (%(detail)s)."),
                               page=page, detail=exc) from None
        finally:
            _close(pdf)
        out = io.BytesIO()
        picture.save(out, format="PNG", optimize=False, compress_level=6)
        data = out.getvalue()
        _write_atomic(path, data)
        return data

    def page_text(self, sha256: str, page: int, *, read, pdf=None) -> tuple[str, list]:
        """The characters of a page and the box of each (points, top-left origin), cached."""
        path = self._dir(sha256) / "text" / f"{page}.json"
        try:
            cached = json.loads(path.read_text())
            return cached["text"], cached["boxes"]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            pass
        own = pdf is None
        if own:
            pdf = _open(read())
        try:
            with _PDFIUM:
                text, boxes = _extract(pdf, page)
        finally:
            if own:
                _close(pdf)
        _write_atomic(path, json.dumps({"text": text, "boxes": boxes},
                                       ensure_ascii=False).encode())
        return text, boxes

    def search(self, sha256: str, query: str, *, read) -> SearchResult:
        """Find `query` in every page, ignoring case and accents (« deliberation » finds « Délibération »)."""
        query = " ".join((query or "").split())[:MAX_QUERY]
        wanted = _fold(query)
        if not wanted:
            return SearchResult(query, (), False)
        sizes = self.sizes(sha256, read=read)
        pdf = None
        found: list[PageHits] = []
        hits = 0
        try:
            for number in range(1, min(len(sizes), MAX_SEARCH_PAGES) + 1):
                path = self._dir(sha256) / "text" / f"{number}.json"
                if pdf is None and not path.exists():
                    pdf = _open(read())
                text, boxes = self.page_text(sha256, number, read=read, pdf=pdf)
                page_hits = _find(text, boxes, wanted, sizes[number - 1])
                if page_hits is not None:
                    found.append(PageHits(number, *page_hits))
                    hits += page_hits[0]
                    if hits >= MAX_HITS:
                        return SearchResult(query, tuple(found), True)
        finally:
            if pdf is not None:
                _close(pdf)
        return SearchResult(query, tuple(found), len(sizes) > MAX_SEARCH_PAGES)


def _open(data: bytes):
    import pypdfium2 as pdfium

    try:
        with _PDFIUM:
            return pdfium.PdfDocument(data)
    except Exception as exc:  # noqa: BLE001 — PdfiumError and friends
        raise RenderFailed(N_("Le fichier ne peut pas être affiché (%(detail)s)."),
                           detail=exc) from None


def _close(pdf) -> None:
    with _PDFIUM:
        pdf.close()


def _extract(pdf, page: int) -> tuple[str, list]:
    """Characters and their boxes, read from PDFium's text page (caller holds the lock)."""
    import pypdfium2.raw as raw

    pdf_page = pdf[page - 1]
    try:
        height = pdf_page.get_height()
        textpage = pdf_page.get_textpage()
        try:
            chars = []
            boxes = []
            for index in range(textpage.count_chars()):
                code = raw.FPDFText_GetUnicode(textpage, index)
                char = chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else " "
                chars.append(char)
                left, bottom, right, top = textpage.get_charbox(index)
                boxes.append([round(left, 1), round(height - top, 1), round(right - left, 1),
                              round(top - bottom, 1)])
        finally:
            textpage.close()
    finally:
        pdf_page.close()
    return "".join(chars), boxes


def _fold(text: str) -> str:
    """Lower case without accents, one character for one (so positions map back)."""
    return "".join(_fold_char(c) for c in text)


def _fold_char(char: str) -> str:
    base = unicodedata.normalize("NFD", char)[:1].lower()
    if not base or base in "\r\n\t\u00a0\u202f":
        return " "
    return base[:1] if len(base) == 1 else char.lower()[:1]


def _find(text: str, boxes: list, wanted: str, size: PageSize):
    folded = _fold(text)
    # Line breaks and runs of spaces in the text layer match one space of the query.
    squeezed: list[str] = []
    positions: list[int] = []
    for index, char in enumerate(folded):
        if char == " " and squeezed and squeezed[-1] == " ":
            continue
        squeezed.append(char)
        positions.append(index)
    haystack = "".join(squeezed)
    count = 0
    highlights: list[Highlight] = []
    excerpt = ""
    start = haystack.find(wanted)
    while start >= 0:
        count += 1
        first, last = positions[start], positions[start + len(wanted) - 1]
        if not excerpt:
            excerpt = " ".join(text[max(0, first - 40):last + 41].split())
        if size.rotation == 0:
            highlights.extend(_merge(boxes[first:last + 1]))
        start = haystack.find(wanted, start + len(wanted))
    if not count:
        return None
    return count, tuple(highlights), excerpt


def _merge(boxes: list) -> list[Highlight]:
    """One highlight per line of a hit: the union of its characters' boxes on each line."""
    lines: list[list[float]] = []
    for x, y, w, h in boxes:
        if w <= 0 or h <= 0:
            continue
        if lines and abs(lines[-1][1] - y) < max(h, lines[-1][3]) * 0.6:
            line = lines[-1]
            right, bottom = max(line[0] + line[2], x + w), max(line[1] + line[3], y + h)
            line[0], line[1] = min(line[0], x), min(line[1], y)
            line[2], line[3] = right - line[0], bottom - line[1]
        else:
            lines.append([x, y, w, h])
    pad = 1.5
    return [Highlight(round(x - pad, 1), round(y - pad, 1), round(w + 2 * pad, 1),
                      round(h + 2 * pad, 1)) for x, y, w, h in lines]


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
