"""A stored file sent back, to a browser or an API client: one response for the pages and the API.

The store checked the file against its SHA-256 when it read it; the response says which one
(`X-Content-SHA256`, also the ETag), is kept by no cache, and is never sniffed as another type.
"""

from __future__ import annotations

import io

from flask import Response, send_file


def stored_file(data: bytes, *, sha256: str, name: str, mimetype: str,
                attachment: bool = True) -> Response:
    """`data` as a download named `name` (or shown inline when not `attachment`).

    send_file writes an ASCII fallback plus RFC 6266 filename*=UTF-8'' for « vœux.pdf ».
    """
    response = send_file(io.BytesIO(data), mimetype=mimetype, download_name=name,
                         as_attachment=attachment, etag=sha256, conditional=False)
    response.headers["X-Content-SHA256"] = sha256
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def pes_file(content: bytes, *, filename: str, sha256: str) -> Response:
    """A PES_Aller file as exported, under its own (ASCII) name, for the pages and the API."""
    response = Response(content, mimetype="application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-SHA256"] = sha256
    response.headers["Cache-Control"] = "private, no-store"
    return response
