"""PDF pages as images and text, with PDFium: sizes, limits, cache, search and broken input."""

from __future__ import annotations

import hashlib

import pytest

from parapheur.documents import pages


def _pdf(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html).write_pdf()


@pytest.fixture(scope="module")
def poster() -> bytes:
    """One poster-sized page (A0 landscape, 3370 × 2384 pt)."""
    return _pdf("<html><head><style>@page { size: 1189mm 841mm }</style></head>"
                "<body><p>Affiche du marché de Noël.</p></body></html>")


def test_a_poster_is_rendered_within_the_pixel_limit(tmp_path, poster):
    renderer = pages.PageRenderer(tmp_path)
    sha256 = hashlib.sha256(poster).hexdigest()
    [size] = renderer.sizes(sha256, read=lambda: poster)
    assert (round(size.width), round(size.height), size.rotation) == (3370, 2384, 0)
    image = renderer.image(sha256, 1, 300, read=lambda: poster)
    width = int.from_bytes(image[16:20], "big")  # the PNG's IHDR
    height = int.from_bytes(image[20:24], "big")
    assert width * height <= pages.MAX_PIXELS
    assert width > 3000  # still readable: reduced to the limit, not below it
    # Rendered once: the second request is the cached file, whatever the file would give now.
    assert renderer.image(sha256, 1, 300, read=lambda: b"never read") == image


def test_search_finds_words_across_a_line_break_without_accents(tmp_path):
    data = _pdf("<html lang='fr'><body style='width: 9em'><p>Le conseil approuve la "
                "délibération relative à l'éclairage public.</p></body></html>")
    renderer = pages.PageRenderer(tmp_path)
    result = renderer.search(hashlib.sha256(data).hexdigest(), "DELIBERATION relative",
                             read=lambda: data)
    assert result.total == 1 and result.pages[0].page == 1
    assert len(result.pages[0].boxes) >= 1
    assert renderer.search(hashlib.sha256(data).hexdigest(), "  ", read=lambda: data).pages == ()


def test_a_file_pdfium_cannot_open_is_a_clear_refusal(tmp_path):
    renderer = pages.PageRenderer(tmp_path)
    broken = b"%PDF-1.7\n" + b"\x00" * 200
    with pytest.raises(pages.RenderFailed, match="ne peut pas être affiché"):
        renderer.sizes(hashlib.sha256(broken).hexdigest(), read=lambda: broken)


@pytest.mark.parametrize("raw, expected", [(None, 100), ("", 100), ("150", 150), ("75%", 75)])
def test_zoom_levels(raw, expected):
    assert pages.zoom_from(raw) == expected


@pytest.mark.parametrize("raw", ["33", "abc", "1" * 50, "-100"])
def test_other_zooms_are_refused_naming_the_levels(raw):
    with pytest.raises(pages.ParapheurError, match="Zoom invalide : choisissez parmi 50 %"):
        pages.zoom_from(raw)
