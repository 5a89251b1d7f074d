"""The page viewer's routes (page images, text search), annexes and comments of a document.

Every route answers through `access.get_visible`: a document one may not see is « indisponible »,
its pages, annexes and comments with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    request,
    url_for,
)
from flask_babel import gettext, ngettext
from flask_login import current_user, login_required

from parapheur.circuits import services as circuits
from parapheur.clock import now
from parapheur.context import current_store
from parapheur.db import get_session, transaction
from parapheur.documents import access, annexes, comments, pages, reading, services
from parapheur.documents.models import Document, DocumentVersion
from parapheur.downloads import stored_file
from parapheur.errors import NotFound, ParapheurError

bp = Blueprint("reading", __name__)


def renderer_for(config) -> pages.PageRenderer:
    """The page-image cache of an application (DATA_DIR/pages)."""
    return pages.PageRenderer(Path(config["DATA_DIR"]) / "pages")


def _visible(document_id: int) -> Document:
    return access.get_visible(get_session(), current_user, document_id, now=now())


def _image_response(data: bytes) -> Response:
    response = Response(data, mimetype="image/png")
    # Not kept by the browser: each display reaches the server, which counts it (mandatory reading).
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/documents/<int:document_id>/versions/<int:number>/pages/<int:page>.png")
@login_required
def version_page(document_id: int, number: int, page: int):
    """One page of a version as an image; served to a user, it counts as read by them."""
    session = get_session()
    document = _visible(document_id)
    version = services.get_version(session, document, number)
    zoom = pages.zoom_from(request.args.get("zoom"))
    store = current_store()
    data = renderer_for(current_app.config).image(
        version.sha256, page, zoom, read=lambda: store.read(version.sha256))
    with transaction(session):
        reading.record_page_view(session, document, version, page, user=current_user, now=now())
    return _image_response(data)


@bp.route("/documents/<int:document_id>/annexes/<int:annex_id>/pages/<int:page>.png")
@login_required
def annex_page(document_id: int, annex_id: int, page: int):
    """One page of a PDF annex as an image."""
    document = _visible(document_id)
    annex = annexes.get_annex(get_session(), document, annex_id)
    if not annex.is_pdf:
        raise NotFound(gettext("Cette annexe n'est pas un PDF : elle n'a pas d'aperçu, téléchargez-la."))
    store = current_store()
    sha256 = annex.current_sha256
    data = renderer_for(current_app.config).image(
        sha256, page, pages.zoom_from(request.args.get("zoom")), read=lambda: store.read(sha256))
    return _image_response(data)


def _search_json(result: pages.SearchResult) -> Response:
    response = jsonify({
        "query": result.query, "total": result.total, "truncated": result.truncated,
        "pages": [{"page": p.page, "count": p.count, "excerpt": p.excerpt,
                   "boxes": [[b.x, b.y, b.width, b.height] for b in p.boxes]}
                  for p in result.pages]})
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/documents/<int:document_id>/versions/<int:number>/search")
@login_required
def version_search(document_id: int, number: int):
    """Where a text appears in a version (JSON: pages, hit boxes in points, excerpts)."""
    document = _visible(document_id)
    version = services.get_version(get_session(), document, number)
    store = current_store()
    return _search_json(renderer_for(current_app.config).search(
        version.sha256, request.args.get("q", ""), read=lambda: store.read(version.sha256)))


@bp.route("/documents/<int:document_id>/annexes/<int:annex_id>/file")
@login_required
def annex_file(document_id: int, annex_id: int):
    """An annex as deposited, or as signed (`?signe=1`), checked against its SHA-256."""
    document = _visible(document_id)
    annex = annexes.get_annex(get_session(), document, annex_id)
    signed = bool(request.args.get("signe"))
    if signed and not annex.signed_sha256:
        raise NotFound(gettext("Cette annexe n'a pas été signée."))
    sha256 = annex.signed_sha256 if signed else annex.sha256
    return stored_file(current_store().read(sha256), sha256=sha256, mimetype=annex.media_type,
                       name=annexes.download_name(annex, signed=signed))


@bp.route("/documents/<int:document_id>/annexes", methods=["POST"])
@login_required
def add_annexes(document_id: int):
    """The author joins annexes, before anybody has acted on the document."""
    session = get_session()
    document = _visible(document_id)
    files = [f for f in request.files.getlist("annexes") if f and f.filename]
    uploads = [annexes.AnnexFile(f.filename or "", f.read()) for f in files]
    with transaction(session):
        added = annexes.add_annexes(session, current_store(), document, uploads,
                                    actor=current_user, now=now(),
                                    max_bytes=int(current_app.config["MAX_UPLOAD_MB"]) << 20)
    flash(ngettext("%(num)d annexe jointe au document.", "%(num)d annexes jointes au document.",
                   len(added)), "success")
    return redirect(url_for("documents.show", document_id=document_id) + "#annexes")


@bp.route("/documents/<int:document_id>/comments", methods=["POST"])
@login_required
def add_comment(document_id: int):
    """Comment on a document one may see: public, or private to one of one's desks."""
    session = get_session()
    document = _visible(document_id)
    with transaction(session):
        comments.add_comment(session, document, author=current_user,
                             body=request.form.get("body"),
                             visibility=request.form.get("visibility", "public")[:20],
                             desk_slug=(request.form.get("desk") or "")[:80] or None, now=now())
    flash(gettext("Commentaire ajouté."), "success")
    return redirect(url_for("documents.show", document_id=document_id) + "#historique")


@bp.route("/documents/<int:document_id>/reading")
@login_required
def reading_status(document_id: int):
    """How many pages of the current version the user was shown (JSON, for the action bar)."""
    session = get_session()
    document = _visible(document_id)
    version = document.current_version
    seen = reading.seen_pages(session, current_user, version)
    response = jsonify({"version": version.number, "pages": version.page_count,
                        "seen": len(seen), "complete": len(seen) >= version.page_count})
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- what the document page shows (documents.views.show renders it) -------------------------


@dataclass(frozen=True)
class ViewerPage:
    """One page of the viewer: its number, image size in points, and search highlights."""

    number: int
    width: float
    height: float
    hits: tuple[pages.Highlight, ...]


@dataclass(frozen=True)
class Viewer:
    """What the page viewer shows: which file, at which zoom, its pages, and the search."""

    title: str
    kind: str  # "version" or "annexe"
    version: DocumentVersion | None
    annex: annexes.Annex | None
    zoom: int
    pages: list[ViewerPage]
    search: pages.SearchResult | None
    image_url: Any  # page number, zoom -> URL
    original_url: str
    counts_for_reading: bool


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the history: a step action or a comment, by time."""

    at: Any
    action: Any = None
    comment: comments.Comment | None = None


def page_context(session, document: Document, *, history: list, actions: list) -> dict[str, Any]:
    """The viewer, annexes, comments, reading state and timeline of the document page."""
    store = current_store()
    renderer = renderer_for(current_app.config)
    document_annexes = annexes.annexes_of(session, document)
    zoom = pages.zoom_from(request.args.get("zoom"))
    query = request.args.get("q", "").strip()[:pages.MAX_QUERY]
    chosen = request.args.get("annexe", "")
    annex = None
    if chosen:
        annex = next((a for a in document_annexes if str(a.id) == chosen[:12] and a.is_pdf), None)
        if annex is None:
            raise ParapheurError(gettext("Cette annexe n'a pas d'aperçu (pas un PDF, ou inconnue)."),
                                 status=404)
    if annex is not None:
        sha256 = annex.current_sha256
        image_url = _url_maker("reading.annex_page", document.id, annex_id=annex.id)
        original = url_for("reading.annex_file", document_id=document.id, annex_id=annex.id,
                           **({"signe": 1} if annex.signed_sha256 else {}))
        title = f"Annexe « {annex.filename} »"
        version = None
    else:
        version = document.current_version
        sha256 = version.sha256
        image_url = _url_maker("reading.version_page", document.id, number=version.number)
        original = url_for("documents.download", document_id=document.id,
                           number=version.number, inline=1)
        title = gettext("Document principal (version %(number)s)", number=version.number)
    sizes = renderer.sizes(sha256, read=lambda: store.read(sha256))
    result = renderer.search(sha256, query, read=lambda: store.read(sha256)) if query else None
    viewer_pages = []
    for number, size in enumerate(sizes, start=1):
        hits = result.on(number) if result else None
        viewer_pages.append(ViewerPage(number, size.width, size.height,
                                       hits.boxes if hits else ()))
    mandatory = any(circuits.circuit_of(document).states[p.state].mandatory_reading
                    for p, _ in actions if p.state in circuits.circuit_of(document).states)
    current = document.current_version
    seen = reading.seen_pages(session, current_user, current)
    readable = comments.readable_comments(session, document, current_user)
    timeline = [TimelineEntry(h.acted_at, action=h) for h in history]
    timeline += [TimelineEntry(c.created_at, comment=c) for c in readable]
    timeline.sort(key=lambda e: e.at)
    return {
        "viewer": Viewer(title, "annexe" if annex else "version", version, annex, zoom,
                         viewer_pages, result, image_url, original,
                         counts_for_reading=annex is None),
        "annexes": document_annexes,
        "may_add_annexes": annexes.may_add_annexes(session, document, current_user),
        "annex_kinds": sorted(annexes.KINDS),
        "max_annexes": annexes.MAX_ANNEXES,
        "timeline": timeline,
        "comment_max": comments.MAX_COMMENT,
        "mandatory_reading": mandatory,
        "reading_seen": len(seen),
        "reading_total": current.page_count,
        "zooms": pages.ZOOMS,
    }


def _url_maker(endpoint: str, document_id: int, **values):
    def make(page: int, zoom: int) -> str:
        return url_for(endpoint, document_id=document_id, page=page, zoom=zoom, **values)
    return make
