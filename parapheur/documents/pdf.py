"""Checking that uploaded bytes are a PDF we can carry through a circuit and sign.

The file comes from outside: every parser failure, whatever its kind (deep nesting, broken
streams, page-tree loops, decompression bombs), becomes an InvalidUpload saying why. The PDF is
parsed as strictly as the signer will parse it, so that a file accepted here can be signed later.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from parapheur.documents.errors import InvalidUpload
from parapheur.errors import N_

#: Compressed streams may inflate to at most this many bytes in all, plus INFLATE_RATIO × the file.
INFLATE_BASE = 64 * 1024 * 1024
INFLATE_RATIO = 20
MAX_PAGES = 20_000
MAX_OBJECTS = 500_000

_STREAM_START = re.compile(rb"stream\r?\n")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class PdfInfo:
    """What the checks learnt about an accepted PDF."""

    page_count: int
    signature_count: int


#: Accepted files remembered by digest: the same bytes deposited again (a template, a retried
#: upload) are not parsed again. The checks are a function of the bytes alone.
_ACCEPTED: OrderedDict[bytes, PdfInfo] = OrderedDict()
_ACCEPTED_MAX = 256
_ACCEPTED_LOCK = threading.Lock()


def inspect_pdf(data: bytes) -> PdfInfo:
    """Accept a real, parseable, unencrypted PDF; raise InvalidUpload saying what is wrong."""
    digest = hashlib.sha256(data).digest()
    with _ACCEPTED_LOCK:
        known = _ACCEPTED.get(digest)
        if known is not None:
            _ACCEPTED.move_to_end(digest)
            return known
    info = _inspect(data)
    with _ACCEPTED_LOCK:
        _ACCEPTED[digest] = info
        while len(_ACCEPTED) > _ACCEPTED_MAX:
            _ACCEPTED.popitem(last=False)
    return info


def _inspect(data: bytes) -> PdfInfo:
    if not data:
        raise InvalidUpload(N_("Le fichier est vide."), reason="empty")
    if not data[:1024].lstrip().startswith(b"%PDF-"):
        raise InvalidUpload(N_("Ce fichier n'est pas un PDF (en-tête %PDF absent)."),
                            reason="not_pdf")
    if b"%%EOF" not in data[-2048:]:
        raise InvalidUpload(N_("Le PDF est incomplet ou tronqué (marque de fin %%EOF absente)."),
                            reason="truncated")
    check_inflation(data)
    try:
        pages, signatures = _parse(data)
    except InvalidUpload:
        raise
    except RecursionError:
        raise InvalidUpload(N_("Le PDF est mal formé (structure imbriquée trop profondément) : "
                               "il ne pourrait pas être signé."), reason="unreadable") from None
    except MemoryError:
        raise InvalidUpload(N_("Le PDF est trop complexe pour être lu."),
                            reason="unreadable") from None
    except Exception as exc:  # noqa: BLE001 — a parser of untrusted input fails in many ways
        detail = str(exc).strip()[:200] or type(exc).__name__
        raise InvalidUpload(N_("Le PDF est illisible ou endommagé et ne pourrait pas être "
                               "signé (%(detail)s)."), detail=detail, reason="unreadable") from None
    if pages < 1:
        raise InvalidUpload(N_("Le PDF ne contient aucune page."), reason="no_pages")
    return PdfInfo(page_count=pages, signature_count=signatures)


def inspect_pdf_file(path: Path) -> PdfInfo:
    """Check a PDF the application made on disk from an accepted version (a signed one), streaming.

    The file is parsed strictly from disk, never read whole into memory: header, end marker,
    encryption, page tree. The decoding of every stream, done when its first version was
    uploaded, is not repeated for what our own signer appended (the validator checked it).
    """
    with open(path, "rb") as handle:
        head = handle.read(1024)
        size = handle.seek(0, io.SEEK_END)
        handle.seek(max(0, size - 2048))
        tail = handle.read()
        if not head.lstrip().startswith(b"%PDF-"):
            raise InvalidUpload(N_("Ce fichier n'est pas un PDF (en-tête %PDF absent)."),
                                reason="not_pdf")
        if b"%%EOF" not in tail:
            raise InvalidUpload(N_("Le PDF est incomplet ou tronqué (marque de fin %%EOF "
                                   "absente)."),
                                reason="truncated")
        handle.seek(0)
        try:
            pages, signatures = _parse_stream(handle, load_objects=False)
        except InvalidUpload:
            raise
        except Exception as exc:  # noqa: BLE001 — same net as inspect_pdf
            detail = str(exc).strip()[:200] or type(exc).__name__
            raise InvalidUpload(N_("Le PDF est illisible ou endommagé (%(detail)s)."),
                                detail=detail,
                                reason="unreadable") from None
    if pages < 1:
        raise InvalidUpload(N_("Le PDF ne contient aucune page."), reason="no_pages")
    return PdfInfo(page_count=pages, signature_count=signatures)


def _parse(data: bytes) -> tuple[int, int]:
    return _parse_stream(io.BytesIO(data), load_objects=True)


def _parse_stream(stream: BinaryIO, *, load_objects: bool) -> tuple[int, int]:
    from pyhanko.pdf_utils.reader import PdfFileReader

    # strict=True: the signer's incremental writer reads the file strictly too.
    reader = PdfFileReader(stream, strict=True)
    if reader.encrypted:
        raise InvalidUpload(N_("Le PDF est chiffré ou protégé par mot de passe : il ne peut "
                               "pas être signé. Déposez une version sans protection."),
                            reason="encrypted")
    if load_objects:
        _load_every_object(reader)
    declared = int(reader.root["/Pages"]["/Count"])
    counted = _count_pages(reader.root["/Pages"])
    if declared != counted:
        raise InvalidUpload(N_("L'arbre des pages du PDF est incohérent (%(declared)s pages "
                               "annoncées, %(counted)s trouvées) : il ne pourrait pas être "
                               "signé."), declared=declared, counted=counted,
                            reason="unreadable")
    return counted, len(reader.embedded_signatures)


def _load_every_object(reader) -> None:
    """Read each object strictly and decode its non-image streams, as signing and checks will.

    A stream whose /Length does not match its data, or whose compressed data is broken, makes
    signatures that strict verifiers reject: such a file is refused now, not after its circuit.
    """
    from pyhanko.pdf_utils.generic import StreamObject

    refs = set()
    for revision in range(reader.xrefs.total_revisions):
        refs |= set(reader.xrefs.explicit_refs_in_revision(revision))
    if len(refs) > MAX_OBJECTS:
        raise InvalidUpload(N_("Le PDF compte plus de %(MAX_OBJECTS)s objets."),
                            MAX_OBJECTS=MAX_OBJECTS, reason="unreadable")
    for ref in sorted(refs, key=lambda r: (r.idnum, r.generation)):
        obj = reader.get_object(ref)
        if isinstance(obj, StreamObject) and obj.get("/Subtype") != "/Image":
            try:
                obj.data  # noqa: B018 — decoding is the check
            except NotImplementedError:
                pass  # a filter pyHanko does not decode (DCT, JBIG2…): left to viewers


def _count_pages(root) -> int:
    """Walk the page tree without recursion, refusing loops and absurd sizes."""
    from pyhanko.pdf_utils.generic import IndirectObject

    seen: set[tuple[int, int]] = set()
    pending = [root]
    pages = 0
    while pending:
        node = pending.pop()
        kids = node.get("/Kids") if node.get("/Type") != "/Page" else None
        if kids is None:
            pages += 1
            if pages > MAX_PAGES:
                raise InvalidUpload(N_("Le PDF a plus de %(MAX_PAGES)s pages."),
                                    MAX_PAGES=MAX_PAGES, reason="unreadable")
            continue
        for kid in kids.raw_get_list() if hasattr(kids, "raw_get_list") else list(kids):
            if isinstance(kid, IndirectObject):
                key = (kid.idnum, kid.generation)
                if key in seen:
                    raise InvalidUpload(N_("L'arbre des pages du PDF forme une boucle : il ne "
                                           "pourrait pas être signé."), reason="unreadable")
                seen.add(key)
                kid = kid.get_object()
            pending.append(kid)
    return pages


def check_inflation(data: bytes) -> None:
    """Refuse compressed streams that would inflate beyond the limit (decompression bombs)."""
    limit = INFLATE_BASE + INFLATE_RATIO * len(data)
    total = 0
    view = memoryview(data)
    for match in _STREAM_START.finditer(data):
        end = data.find(b"endstream", match.end())
        if end < 0:
            break
        inflater = zlib.decompressobj()
        pending: bytes | memoryview = view[match.end():end]
        try:
            while pending:
                total += len(inflater.decompress(pending, _CHUNK))
                if total > limit:
                    raise InvalidUpload(N_("Le PDF contient des données compressées démesurées "
                                           "(bombe de décompression) : il est refusé."),
                                        reason="unreadable")
                pending = inflater.unconsumed_tail
                if inflater.eof:
                    break
        except zlib.error:
            continue  # not a Flate stream, or a broken one: the parser judges it
