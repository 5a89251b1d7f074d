"""Administration of circuits: upload a YAML file, read its check and diagram, activate it."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from markupsafe import Markup

from parapheur.accounts.admin_views import admin_required
from parapheur.circuits import graph, versions
from parapheur.circuits.exporters import EXPORTERS_KEY
from parapheur.clock import now
from parapheur.context import current_workflows_dir
from parapheur.db import get_session, transaction
from parapheur.errors import ParapheurError
from parapheur.organisations.scope import current_organisation_id

bp = Blueprint("admin_circuits", __name__, url_prefix="/admin/circuits")


def _index(check: versions.UploadCheck | None = None, error: str | None = None,
           status: int = 200):
    session = get_session()
    return render_template(
        "admin/circuits.html", check=check, error=error,
        typology=versions.typology_circuits(session, current_organisation_id(),
                                            current_workflows_dir()),
        versions=versions.all_versions(session, current_organisation_id())), status


@bp.route("/")
@admin_required
def index():
    """Which circuit each type / sous-type follows, every stored version, the upload form."""
    return _index()


@bp.route("/", methods=["POST"])
@admin_required
def upload():
    """Check an uploaded circuit; without problems it is kept as a version (not yet active)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _index(error=gettext("Choisissez un fichier de circuit (.yaml) à vérifier."), status=400)
    session = get_session()
    try:
        text = versions.decode_upload(upload.read(versions.MAX_CIRCUIT_BYTES + 1),
                                      upload.filename)
    except ParapheurError as exc:
        return _index(error=exc.message, status=exc.status)
    check = versions.check_upload(session, text, upload.filename,
                                  organisation_id=current_organisation_id(),
                                  exporters=current_app.extensions[EXPORTERS_KEY])
    if not check.ok:
        return _index(check=check, status=400)
    try:
        with transaction(session):
            version, created = versions.store(session, check, text,
                                              organisation_id=current_organisation_id(),
                                              actor=current_user, now=now())
    except ParapheurError as exc:
        return _index(error=exc.message, status=exc.status)
    if not created:
        flash(gettext("Ce circuit est déjà enregistré à l'identique (version %(version)s) : "
                      "rien de nouveau n'a été enregistré.", version=version.version), "info")
        return redirect(url_for("admin_circuits.show", version_id=version.id))
    flash(f"Circuit « {check.circuit.title} » vérifié sans problème et enregistré "
          f"(version {version.version}). Activez-le pour un type / sous-type.", "success")
    return redirect(url_for("admin_circuits.show", version_id=version.id))


def _show(version_id: int, error: str | None = None, status: int = 200):
    session = get_session()
    version = versions.get_version(session, version_id, current_organisation_id())
    circuit = versions.parsed(version)
    registry = versions.desk_registry(session, current_organisation_id())
    check = versions.check_version(session, version,
                                   organisation_id=current_organisation_id(),
                                   exporters=current_app.extensions[EXPORTERS_KEY])
    return render_template(
        "admin/circuit_version.html", version=version, circuit=circuit, error=error, check=check,
        diagram=Markup(graph.render_svg(circuit, desk_labels=registry)),
        typology=versions.typology_circuits(session, current_organisation_id(),
                                            current_workflows_dir()),
        activations=versions.activations_of(session, current_organisation_id(),
                                            version.id),
        lines=version.source.splitlines()), status


@bp.route("/versions/<int:version_id>")
@admin_required
def show(version_id: int):
    """A stored version: its diagram, its text, its activations and the activation form."""
    return _show(version_id)


@bp.route("/versions/<int:version_id>/activer", methods=["POST"])
@admin_required
def activate(version_id: int):
    """New documents of the chosen type / sous-type follow this version from now on."""
    session = get_session()
    version = versions.get_version(session, version_id, current_organisation_id())
    doc_type, _, doc_subtype = request.form.get("typology", "")[:201].partition("/")
    if not doc_type or not doc_subtype:
        return _show(version_id, "Choisissez le type / sous-type à faire suivre ce circuit.", 400)
    try:
        with transaction(session):
            versions.activate(session, version, doc_type=doc_type, doc_subtype=doc_subtype,
                              actor=current_user, now=now(), directory=current_workflows_dir(),
                              exporters=current_app.extensions[EXPORTERS_KEY])
    except ParapheurError as exc:
        return _show(version_id, exc.message, exc.status)
    flash(f"Les nouveaux documents « {doc_type} / {doc_subtype} » suivront le circuit "
          f"« {version.title} » (version {version.version}) ; ceux en cours gardent le leur.",
          "success")
    return redirect(url_for("admin_circuits.index"))
