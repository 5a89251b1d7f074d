"""PAdES signatures (baseline B-B, B-T, B-LT, B-LTA) as incremental updates, with a visible stamp.

The building blocks (options, preparation, the signing coroutine); `signing.batch` signs with them:
`sign_document` / `sign_file` for one document, `BatchSigner` for many with one key, one
timestamper and one validation context, which is what makes batches fast.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from pyhanko.pdf_utils.content import RawContent
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import AxisAlignment, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.misc import PdfError, PdfReadError
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext

from signing.errors import (
    N_,
    CertificateNotUsable,
    EncryptedPdf,
    RevocationInfoUnavailable,
    SignatureFieldError,
    SigningError,
    StampFontMissing,
    TimestampUnavailable,
    UnreadablePdf,
)
from signing.fetching import collection_context
from signing.keys import check_certificate_usable

PARIS = ZoneInfo("Europe/Paris")
# fontTools warns about every table it drops while subsetting the stamp font.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
#: Where an OpenType font for stamps is looked for, first found wins (PARAPHEUR_STAMP_FONT first).
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)
#: Signature sizes reserved in the file: skipping pyHanko's dry run halves the signing time.
RESERVED_BYTES = {"B-B": 12_288, "B-T": 24_576, "B-LT": 24_576, "B-LTA": 24_576}
DEFAULT_STAMP_SIZE = (220.0, 70.0)
STAMP_MARGIN = 36.0


class Level(enum.Enum):
    """PAdES baseline levels."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"

    @property
    def needs_timestamp(self) -> bool:
        """B-T and above carry an RFC 3161 signature timestamp."""
        return self is not Level.B_B

    @property
    def needs_revocation_info(self) -> bool:
        """B-LT and above carry certificates and OCSP/CRL in the DSS."""
        return self in (Level.B_LT, Level.B_LTA)


@dataclass(frozen=True)
class Stamp:
    """The visible stamp: who signs, in which quality, where."""

    signer_name: str
    quality: str
    #: "en l'absence de …" line for delegations (the text after "en l'absence de").
    on_behalf_of: str | None = None
    #: Page index, -1 = last page; ignored when `text_tag` is found in the document.
    page: int = -1
    #: (x1, y1, x2, y2) in PDF points; None = bottom right of the page.
    box: tuple[float, float, float, float] | None = None
    #: Text the author typed where the stamp goes; searched in the page content.
    text_tag: str | None = "#signature#"


@dataclass(frozen=True)
class SignOptions:
    """What to sign and how."""

    level: Level = Level.B_B
    #: None = a fresh unique field name.
    field_name: str | None = None
    reason: str | None = None
    location: str | None = None
    stamp: Stamp | None = None
    #: DocMDP certification (first signature only); later signatures stay allowed.
    certify: bool = False
    #: Accept hybrid-reference files (xref table + xref streams); refused unless asked.
    allow_hybrid_xref: bool = False
    #: Contact info put in the signature dictionary.
    contact_info: str | None = None


class _FixedTimePdfSigner(signers.PdfSigner):
    """PdfSigner whose signing time comes from the injected clock, not the system clock."""

    def __init__(self, *args: Any, signed_at: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signed_at = signed_at

    def init_signing_session(self, pdf_out, existing_fields_only=False):  # noqa: ANN001
        session = super().init_signing_session(pdf_out, existing_fields_only)
        if self._signed_at is not None:
            session.system_time = self._signed_at
        return session


def find_stamp_font() -> str:
    """Path of the OpenType font for stamps, or StampFontMissing."""
    configured = os.environ.get("PARAPHEUR_STAMP_FONT")
    candidates = ((configured,) if configured else ()) + FONT_CANDIDATES
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    raise StampFontMissing()


_STYLE_CACHE: dict[tuple[str, bool], TextStampStyle] = {}
#: An opaque white background: hides the author's tag under a stamp placed over it.
_WHITE = RawContent(b"1 g -50 -50 2000 2000 re f")


def _stamp_style(font_path: str, *, opaque: bool = False) -> TextStampStyle:
    # The font factory only keeps the path and size; one style object serves every document.
    style = _STYLE_CACHE.get((font_path, opaque))
    if style is None:
        from signing.stamp_font import ScaledGlyphAccumulatorFactory

        style = TextStampStyle(
            stamp_text="%(text)s",
            text_box_style=TextBoxStyle(font=ScaledGlyphAccumulatorFactory(font_path),
                                        font_size=9, leading=11),
            border_width=1,
            # Only over a tag: elsewhere the stamp must not hide what lies under it.
            background=_WHITE if opaque else None,
            background_opacity=1.0,
            background_layout=SimpleBoxLayoutRule(x_align=AxisAlignment.ALIGN_MIN,
                                                  y_align=AxisAlignment.ALIGN_MIN,
                                                  margins=Margins.uniform(0)),
        )
        _STYLE_CACHE[(font_path, opaque)] = style
    return style


def stamp_text(stamp: Stamp, signed_at: datetime) -> str:
    """The stamp's lines: quality, delegation, name, date (Paris time)."""
    local = signed_at.astimezone(PARIS)
    lines = [stamp.quality]
    if stamp.on_behalf_of:
        lines.append(f"en l'absence de {stamp.on_behalf_of}")
    lines.append(stamp.signer_name)
    lines.append(f"Signé le {local:%d/%m/%Y} à {local:%H:%M}")
    return "\n".join(line for line in lines if line)


def open_pdf(source: bytes | IO[bytes], *, allow_hybrid_xref: bool = False
             ) -> IncrementalPdfFileWriter:
    """An incremental writer over `source`, or UnreadablePdf/EncryptedPdf."""
    stream = BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    head = stream.read(1024)
    stream.seek(0)
    if b"%PDF-" not in head:
        raise UnreadablePdf(N_("Le fichier n'est pas un PDF (en-tête %PDF absent) : il n'a pas "
                               "été signé."))
    try:
        writer = IncrementalPdfFileWriter(stream, strict=not allow_hybrid_xref)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise UnreadablePdf(N_("Le PDF est illisible ou endommagé : il n'a pas été signé "
                               "(%(detail)s)."), detail=exc) \
            from None
    if writer.prev.encrypted or writer.prev.security_handler is not None:
        raise EncryptedPdf()
    if not allow_hybrid_xref and writer.prev.xrefs.hybrid_xrefs_present:
        raise UnreadablePdf(N_("Le PDF utilise des tables de références hybrides, refusées par "
                               "défaut : il n'a pas été signé."))
    try:
        writer.root["/Pages"]  # noqa: B018 - a PDF without a page tree cannot be stamped
    except (PdfError, KeyError) as exc:
        raise UnreadablePdf(N_("Le PDF n'a pas d'arborescence de pages (%(detail)s)."),
                            detail=exc) from None
    return writer


def page_count(writer: IncrementalPdfFileWriter) -> int:
    """Number of pages of the document."""
    return int(writer.root["/Pages"]["/Count"])


def page_size(writer: IncrementalPdfFileWriter, page_index: int) -> tuple[float, float, float, float]:
    """The page's MediaBox (inherited if needed)."""
    page_ref, _ = writer.prev.find_page_for_modification(page_index)
    node = page_ref.get_object()
    while node is not None:
        if "/MediaBox" in node:
            return tuple(float(v) for v in node["/MediaBox"])  # type: ignore[return-value]
        parent = node.get("/Parent")
        node = parent.get_object() if parent is not None else None
    return (0.0, 0.0, 595.0, 842.0)


def _placement(writer: IncrementalPdfFileWriter, stamp: Stamp
               ) -> tuple[int, tuple[int, int, int, int], bool]:
    """(page index, box, whether the box covers the author's tag)."""
    count = page_count(writer)
    if stamp.text_tag:
        from signing.placement import find_text_tag

        found = find_text_tag(writer.prev, stamp.text_tag)
        if found is not None:
            page_index, (x, y) = found
            width, height = DEFAULT_STAMP_SIZE
            # The tag marks the stamp's top-left corner; keep the box on the page.
            px1, py1, px2, py2 = page_size(writer, page_index)
            left = min(max(x, px1), px2 - width)
            bottom = min(max(y - height + 10, py1), py2 - height)
            return page_index, (round(left), round(bottom), round(left + width),
                                round(bottom + height)), True
    page = stamp.page if stamp.page >= 0 else count + stamp.page
    if not 0 <= page < count:
        raise SignatureFieldError(N_("La page %(page)s n'existe pas : le document a %(count)s "
                                     "page(s)."),
                                  page=stamp.page + 1 if stamp.page >= 0 else stamp.page,
                                  count=count)
    if stamp.box is not None:
        return page, tuple(round(v) for v in stamp.box), False  # type: ignore[return-value]
    x1, y1, x2, _ = page_size(writer, page)
    width, height = DEFAULT_STAMP_SIZE
    return page, (round(x2 - STAMP_MARGIN - width), round(y1 + STAMP_MARGIN),
                  round(x2 - STAMP_MARGIN), round(y1 + STAMP_MARGIN + height)), False


def _existing_signature_names(writer: IncrementalPdfFileWriter) -> set[str]:
    return {name for name, _, _ in fields.enumerate_sig_fields(writer.prev)}


def _filled_signatures(writer: IncrementalPdfFileWriter) -> int:
    return sum(1 for _ in fields.enumerate_sig_fields(writer.prev, filled_status=True))


def as_timestamper(timestamper: TimeStamper | str | None) -> TimeStamper | None:
    """Accept a pyHanko TimeStamper or a TSA URL."""
    if isinstance(timestamper, str):
        return HTTPTimeStamper(timestamper, timeout=10)
    return timestamper


def default_validation_context(key: Any, *, at: datetime | None = None) -> ValidationContext:
    """Revocation-fetching context trusting the self-signed roots in the key's own chain.

    Used only to collect validation data for B-LT/B-LTA; trust decisions are the validator's.
    """
    certs = list(key.signer.cert_registry)
    roots = [c for c in certs if c.self_signed] or certs
    return collection_context(roots, at=at)


def build_signer(key: Any, options: SignOptions, *, signed_at: datetime | None,
                 timestamper: TimeStamper | None, validation_context: ValidationContext | None,
                 field_name: str,
                 page_and_box: tuple[int, tuple[int, int, int, int], bool] | None,
                 text: str = "") -> _FixedTimePdfSigner:
    """The pyHanko signer for one document (cheap: no key work here); `text` is the visible
    stamp's, drawn where `page_and_box` says (its font depends on the letters it has)."""
    level = options.level
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=options.reason,
        location=options.location,
        contact_info=options.contact_info,
        name=key.subject_name,
        certify=options.certify,
        docmdp_permissions=MDPPerm.FILL_FORMS,
        embed_validation_info=level.needs_revocation_info,
        use_pades_lta=level is Level.B_LTA,
        validation_context=validation_context if level.needs_revocation_info else None,
        # Our own check (check_certificate_usable) accepts digitalSignature or nonRepudiation;
        # pyHanko's default demands nonRepudiation, which many organisation seals lack.
        signer_key_usage=set(),
    )
    new_field = None
    stamp_style = None
    if page_and_box is not None:
        page, box, over_tag = page_and_box
        new_field = fields.SigFieldSpec(sig_field_name=field_name, on_page=page, box=box)
        from signing.stamp_font import stamp_font_file

        stamp_style = _stamp_style(stamp_font_file(find_stamp_font(), text), opaque=over_tag)
    else:
        new_field = fields.SigFieldSpec(sig_field_name=field_name)
    return _FixedTimePdfSigner(meta, signer=key.signer, timestamper=timestamper,
                               stamp_style=stamp_style, new_field_spec=new_field,
                               signed_at=signed_at)


def prepare(pdf: bytes | IO[bytes], key: Any, options: SignOptions, *,
            signed_at: datetime | None, timestamper: TimeStamper | str | None,
            validation_context: ValidationContext | None,
            ) -> tuple[IncrementalPdfFileWriter, _FixedTimePdfSigner, dict[str, str]]:
    """Run every refusal check and set up the writer and signer; nothing is written yet."""
    moment = signed_at or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("signed_at must be timezone-aware")
    check_certificate_usable(key.certificate, moment)
    stamper = as_timestamper(timestamper)
    if options.level.needs_timestamp and stamper is None:
        raise TimestampUnavailable(N_("Le niveau %(level)s demande un horodatage, mais aucun "
                                      "service d'horodatage n'est configuré."),
                                   level=options.level.value)
    writer = open_pdf(pdf, allow_hybrid_xref=options.allow_hybrid_xref)
    existing = _existing_signature_names(writer)
    field_name = options.field_name or f"Signature-{uuid.uuid4().hex[:12]}"
    if options.field_name and options.field_name in existing:
        raise SignatureFieldError(N_("Le champ de signature « %(field_name)s » existe déjà "
                                     "dans le document."), field_name=field_name)
    if options.certify and _filled_signatures(writer):
        raise SignatureFieldError(N_("Seule la première signature d'un document peut le "
                                     "certifier : ce document est déjà signé."))
    page_and_box = _placement(writer, options.stamp) if options.stamp is not None else None
    context = validation_context
    if options.level.needs_revocation_info and context is None:
        context = default_validation_context(key, at=None)
    params = {"text": stamp_text(options.stamp, moment)} if options.stamp is not None else {}
    # A B-B signature stays B-B even when the caller hands over a timestamper.
    pdf_signer = build_signer(key, options, signed_at=moment,
                              timestamper=stamper if options.level.needs_timestamp else None,
                              validation_context=context, field_name=field_name,
                              page_and_box=page_and_box, text=params.get("text", ""))
    return writer, pdf_signer, params


async def async_sign_prepared(writer: IncrementalPdfFileWriter, pdf_signer: _FixedTimePdfSigner,
                              params: dict[str, str], level: Level,
                              output: IO[bytes] | None = None,
                              bytes_reserved: int | None = None) -> IO[bytes]:
    """Sign a prepared document, mapping pyHanko's failures to our refusals."""
    reserved = bytes_reserved or RESERVED_BYTES[level.value]
    try:
        return await pdf_signer.async_sign_pdf(
            writer, output=output, bytes_reserved=reserved,
            appearance_text_params=params or None)
    except SigningError:
        raise
    except Exception as exc:  # pyHanko and aiohttp raise many kinds; classify, never leak
        raise classify_failure(exc, level) from exc


def classify_failure(exc: BaseException, level: Level) -> SigningError:
    """Turn a pyHanko/aiohttp failure during signing into one of our French refusals."""
    chain: list[BaseException] = [exc]
    while True:
        nxt = chain[-1].__cause__ or chain[-1].__context__
        if nxt is None or nxt in chain:
            break
        chain.append(nxt)
    names = {type(e).__name__ for e in chain}
    modules = " ".join(type(e).__module__ for e in chain)
    detail = str(exc)
    if names & {"RevokedError"}:
        return CertificateNotUsable(N_("Le certificat de signature est révoqué : il ne peut "
                                       "plus signer."))
    if names & {"InsufficientRevinfoError", "StaleRevinfoError", "OCSPFetchError",
                "CRLFetchError", "OCSPValidationError", "CRLValidationError"}:
        return RevocationInfoUnavailable()
    if names & {"TimestampRequestError"} or "timestamp" in detail.lower():
        return TimestampUnavailable()
    if "aiohttp" in modules or names & {"ClientConnectorError", "ServerDisconnectedError",
                                        "TimeoutError"}:
        return RevocationInfoUnavailable() if level.needs_revocation_info and \
            not level.needs_timestamp else TimestampUnavailable()
    if names & {"PathBuildingError", "PathValidationError", "InvalidCertificateError",
                "ExpiredError", "NotYetValidError", "DisallowedAlgorithmError"}:
        return CertificateNotUsable(
            N_("Le certificat de signature n'a pas pu être validé (chaîne de confiance ou "
               "révocation) : la signature longue durée n'a pas été faite (%(detail)s)."),
            detail=detail)
    if isinstance(exc, (PdfReadError, PdfError)):
        return UnreadablePdf(N_("Le PDF est illisible ou endommagé : il n'a pas été signé "
                                "(%(detail)s)."), detail=exc)
    if isinstance(exc, PyHankoSigningError):
        return SigningError(N_("La signature a échoué : %(detail)s"), detail=detail)
    return SigningError(N_("La signature a échoué (%(error)s : %(detail)s)."),
                        error=type(exc).__name__, detail=detail)


def run_sync(coroutine: Any) -> Any:
    """Run a coroutine from synchronous code, also when a loop already runs in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Called from inside a running loop (e.g. an async web worker): use a private thread.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def signature_count(pdf: bytes) -> int:
    """How many filled signature fields the document has (used by callers and tests)."""
    writer = open_pdf(pdf)
    return _filled_signatures(writer)


__all__ = ["Level", "SignOptions", "Stamp", "stamp_text", "signature_count"]
