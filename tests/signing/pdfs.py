"""Small PDFs built for the signing tests (no binary fixtures in the repository)."""

from __future__ import annotations

from io import BytesIO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PdfFileWriter


def simple_pdf(pages: int = 1, *, text: str = "Délibération n° 2026-042",
               tag_on_page: int | None = None, tag: str = "#signature#",
               tag_at: tuple[float, float] = (350, 200), encrypt_with: str | None = None,
               stream_xrefs: bool = True) -> bytes:
    """A PDF with `pages` A4 pages of Helvetica text; optionally a tag at `tag_at` on one page."""
    writer = PdfFileWriter(stream_xrefs=stream_xrefs)
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
    if encrypt_with is not None:
        writer.encrypt(encrypt_with, encrypt_with)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def hybrid_xref_pdf() -> bytes:
    """A hybrid-reference file: a classic xref section whose trailer has /XRefStm (PDF 1.5 §7.5.8.4).

    The update adds one object listed only in the cross-reference stream, as such files do.
    """
    base = simple_pdf(stream_xrefs=False)
    prev = int(base.rsplit(b"startxref", 1)[1].split()[0])
    trailer = base.rsplit(b"trailer", 1)[1]
    size = int(trailer.split(b"/Size", 1)[1].split()[0])
    root = trailer.split(b"/Root", 1)[1].split(b"R", 1)[0].strip() + b" R"
    extra_num, stream_num = size, size + 1
    body = bytearray(base)
    if not body.endswith(b"\n"):
        body += b"\n"
    extra_offset = len(body)
    body += b"%d 0 obj\n<< /Note (hybrid) >>\nendobj\n" % extra_num
    entries = bytes([1]) + extra_offset.to_bytes(4, "big") + (0).to_bytes(2, "big")
    stream_offset = len(body)
    body += (b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Index [%d 1] /Length %d >>\nstream\n"
             % (stream_num, size + 2, extra_num, len(entries)))
    body += entries + b"\nendstream\nendobj\n"
    xref_offset = len(body)
    body += b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (stream_num, stream_offset)
    body += (b"trailer\n<< /Size %d /Root %s /Prev %d /XRefStm %d >>\nstartxref\n%d\n%%%%EOF\n"
             % (size + 2, root, prev, stream_offset, xref_offset))
    return bytes(body)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


PDFA_XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
            b'xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"><pdfaid:part>2</pdfaid:part>'
            b'<pdfaid:conformance>B</pdfaid:conformance></rdf:Description></rdf:RDF></x:xmpmeta>'
            b'<?xpacket end="w"?>')


def pdfa_marked_pdf() -> bytes:
    """A PDF whose catalog has PDF/A-2B XMP metadata, added by a hand-written update."""
    base = simple_pdf(stream_xrefs=False)
    prev = int(base.rsplit(b"startxref", 1)[1].split()[0])
    trailer = base.rsplit(b"trailer", 1)[1]
    size = int(trailer.split(b"/Size", 1)[1].split()[0])
    root_num = int(trailer.split(b"/Root", 1)[1].split()[0])
    catalog_start = base.index(b"\n%d 0 obj" % root_num) + 1
    catalog = base[catalog_start: base.index(b"endobj", catalog_start)]
    pages = catalog.split(b"/Pages", 1)[1].split(b"R", 1)[0].strip() + b" R"
    body = bytearray(base if base.endswith(b"\n") else base + b"\n")
    meta_offset = len(body)
    body += (b"%d 0 obj\n<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n"
             % (size, len(PDFA_XMP)) + PDFA_XMP + b"\nendstream\nendobj\n")
    root_offset = len(body)
    body += b"%d 0 obj\n<< /Type /Catalog /Pages %s /Metadata %d 0 R >>\nendobj\n" % (
        root_num, pages, size)
    xref = len(body)
    body += b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n%d 1\n%010d 00000 n \n" % (
        root_num, root_offset, size, meta_offset)
    body += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        size + 1, root_num, prev, xref)
    return bytes(body)
