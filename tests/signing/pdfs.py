"""Small PDFs built for the signing tests (no binary fixtures in the repository)."""

from __future__ import annotations

from io import BytesIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PdfFileWriter


def simple_pdf(pages: int = 1, *, text: str = "Délibération n° 2026-042", tag_on_page: int | None = None,
               tag: str = "#signature#", tag_at: tuple[float, float] = (350, 200)) -> bytes:
    """A PDF with `pages` A4 pages of Helvetica text; optionally a tag at `tag_at` on one page."""
    writer = PdfFileWriter()
    font = writer.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Font"),
        generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
        generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
        generic.NameObject("/Encoding"): generic.NameObject("/WinAnsiEncoding"),
    }))
    for index in range(pages):
        body = f"BT /F1 12 Tf 72 770 Td ({_escape(text)} - page {index + 1}) Tj ET\n"
        if tag_on_page is not None and index == tag_on_page:
            x, y = tag_at
            # Split over a TJ with kerning, as word processors do.
            first, second = tag[:4], tag[4:]
            body += (f"q 1 0 0 1 {x - 10} {y - 5} cm BT /F1 10 Tf 10 5 Td "
                     f"[({_escape(first)}) -20 ({_escape(second)})] TJ ET Q\n")
        stream = generic.StreamObject(stream_data=body.encode("cp1252"))
        page = generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(0), generic.NumberObject(0), generic.NumberObject(595),
                 generic.NumberObject(842)]),
            generic.NameObject("/Resources"): generic.DictionaryObject({
                generic.NameObject("/Font"): generic.DictionaryObject(
                    {generic.NameObject("/F1"): font})}),
            generic.NameObject("/Contents"): writer.add_object(stream),
        })
        writer.insert_page(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
