"""Commands that need the application: database migrations, demo data, serving, audit, accounts."""

from __future__ import annotations

import signal
import sys

import click

from parapheur.accounts.models import Role


def _app():
    from parapheur import create_app

    return create_app()


@click.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Apply the migrations to the configured database."""
    from parapheur.db import upgrade

    app = _app()
    upgrade(app.config["DATABASE_URL"], revision)
    click.echo(f"Base de données à jour ({_display_url(app.config['DATABASE_URL'])}).")


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.group("demo")
def demo_group() -> None:
    """Demo data: users for each role, a demo PKI, documents waiting."""


@demo_group.command("seed")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@click.option("--reset", is_flag=True, help="Erase the database, the files and the demo PKI first.")
def demo_seed(if_empty: bool, reset: bool) -> None:
    """Create the demo (Métropole de Démo) and print its logins."""
    from parapheur.demo.seed import (
        DEMO_COMMUNE,
        DEMO_COMMUNE_USERS,
        DEMO_PASSPHRASE,
        DEMO_PLATFORM_USER,
        DEMO_USERS,
        reset_data,
        seed_demo,
        seed_demo_organisations,
    )

    app = _app()
    with app.app_context():
        if reset:
            reset_data(app)
        created = seed_demo(app, only_if_empty=if_empty)
        if created:
            seed_demo_organisations(app)
    if created:
        click.echo(f"Démo créée : « Métropole de Démo » et « {DEMO_COMMUNE['name']} ».")
    else:
        click.echo("Données existantes conservées (démo déjà présente).")
    click.echo("Comptes de démonstration (identifiant / mot de passe) :")
    for user in (*DEMO_USERS, *DEMO_COMMUNE_USERS, DEMO_PLATFORM_USER):
        click.echo(f"  {user.username:<18} {user.password:<24} {user.title}")
    click.echo(f"Code des certificats de signature de démonstration : {DEMO_PASSPHRASE}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--worker/--no-worker", default=True, show_default=True,
              help="Also start one queue worker (`parapheur worker`) beside the web server.")
def serve(host: str, port: int, worker: bool) -> None:
    """Serve the web application (threaded; use a WSGI server such as gunicorn in production).

    With the demo PKI and no PARAPHEUR_TSA_URL, the demo's time-stamping, OCSP and CRL responders
    are served on loopback too, so that the demo signs at the levels its circuits ask for.
    """
    from werkzeug.serving import run_simple

    app = _app()
    _start_demo_pki_responders(app)
    # SIGTERM (a service manager, a test) stops the worker too, as Ctrl+C does. One that comes
    # while the worker starts waits until `process` is set: otherwise the worker, started but
    # not yet known here, would be left running alone.
    starting, stop_asked = False, False

    def on_sigterm(*_) -> None:
        nonlocal stop_asked
        if starting:
            stop_asked = True
        else:
            sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    process = None
    try:
        if worker:
            starting = True
            process = _start_worker_process()
            starting = False
            if stop_asked:
                sys.exit(0)
        click.echo(f"Parapheur sur http://{host}:{port}/  (Ctrl+C pour arrêter)")
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if process is not None:
            _stop_worker_process(process)


def _start_worker_process():
    import subprocess

    process = subprocess.Popen([sys.executable, "-m", "parapheur", "worker"])
    click.echo(f"Travailleur de la file de tâches démarré (processus {process.pid}).")
    return process


def _stop_worker_process(process) -> None:
    import subprocess

    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # graceful: the job in hand finishes first
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    click.echo("Travailleur arrêté.")


@click.command("worker")
@click.option("--threads", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Jobs run at once by this worker.")
@click.option("--periodic/--no-periodic", default=True, show_default=True,
              help="Also schedule the periodic jobs (sweep, late reminders, archival refresh); "
                   "they are safe to run on every worker.")
def worker_command(threads: int, periodic: bool) -> None:
    """Run a queue worker: delivers the outbox (mails, exports) and runs the periodic jobs.

    Start as many as needed, on this machine or others sharing the database and Redis
    (PARAPHEUR_REDIS_URL). Ctrl+C (SIGINT) stops after the jobs in hand; a worker killed
    mid-job loses nothing: another takes the job over when its lease expires.
    """
    import logging

    from parapheur.outbox.tasks import QUEUE_KEY, run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = _app()
    queue = app.extensions[QUEUE_KEY]
    where = "Redis" if app.config.get("REDIS_URL") else "SQLite (" + str(
        queue.huey.storage.filename) + ")"
    click.echo(f"Travailleur de la file « {queue.huey.name} » sur {where}.")
    run_worker(app, workers=threads, periodic=periodic)


def _start_demo_pki_responders(app) -> None:
    from pathlib import Path

    pki_dir = Path(app.config["DATA_DIR"]) / "demo-pki"
    if app.config.get("TSA_URL") or not pki_dir.is_dir():
        return
    from signing.pki import DevPki
    from signing.pki_server import PkiServer

    pki = DevPki.load(pki_dir)
    try:
        PkiServer(pki).start()
    except OSError as exc:
        click.echo(f"Attention : les services d'horodatage et OCSP de démonstration n'ont pas pu "
                   f"démarrer sur {pki.base_url} ({exc.strerror}) ; les signatures horodatées "
                   "échoueront.", err=True)
        return
    app.config["TSA_URL"] = pki.tsa_url
    click.echo(f"Horodatage, OCSP et CRL de démonstration servis sur {pki.base_url}")


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit journal."""


@audit_group.command("verify")
@click.option("--org", "organisation", help="Only this organisation's chain (its slug).")
def audit_verify(organisation: str | None) -> None:
    """Check every chain (or one organisation's): exit 0 if intact, 1 naming the first broken
    event."""
    from parapheur.audit.services import INSTANCE_CHAIN, verify_chain
    from parapheur.db import get_session
    from parapheur.errors import ParapheurError
    from parapheur.organisations.models import Organisation
    from parapheur.organisations.services import get_organisation

    app = _app()
    with app.app_context():
        session = get_session()
        try:
            chain = get_organisation(session, organisation).id if organisation else None
        except ParapheurError as exc:
            click.echo(exc.message, err=True)
            sys.exit(2)
        report = verify_chain(session, chain)
        broken_chain = report.chain if chain is None else chain
        owner = session.get(Organisation, broken_chain) if broken_chain else None
    scope = f" de {owner.name}" if owner is not None else (
        " de l'instance" if broken_chain == INSTANCE_CHAIN and not report.intact else "")
    if report.intact:
        where = f" de {owner.name}" if owner is not None else ""
        click.echo(f"Journal{where} intègre : {report.events} événements vérifiés.")
        return
    click.echo(f"Journal{scope} altéré à l'événement n°{report.broken_seq} : {report.reason} "
               f"({report.events} événements intègres avant lui).", err=True)
    sys.exit(1)


@click.group("users")
def users_group() -> None:
    """User accounts."""


@users_group.command("create")
@click.argument("username")
@click.option("--full-name", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--title", help="Quality shown on stamps, e.g. « Maire ».")
@click.option("--email")
@click.option("--desk", "desks", multiple=True, help="Slug of a desk the user joins (repeatable).")
@click.option("--org", "organisation", help="Slug of the organisation (default: the only one).")
@click.password_option(envvar="PARAPHEUR_NEW_PASSWORD", help="Password (prompted if absent).")
def users_create(username, full_name, role, title, email, desks, password, organisation) -> None:
    """Create a user, optionally member of desks."""
    from sqlalchemy import select

    from parapheur.accounts.models import Desk
    from parapheur.accounts.services import add_member, create_user
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.errors import NotFound
    from parapheur.organisations.services import resolve_organisation

    app = _app()
    with app.app_context():
        session = get_session()
        with transaction(session):
            org = resolve_organisation(session, organisation)
            user = create_user(session, organisation=org,
                               username=username, full_name=full_name, password=password,
                               role=Role(role), title=title, email=email, now=now())
            for slug in desks:
                desk = session.execute(select(Desk).where(
                    Desk.organisation_id == org.id, Desk.slug == slug)).scalar_one_or_none()
                if desk is None:
                    raise NotFound(f"Le bureau « {slug} » n'existe pas.")
                add_member(session, desk, user, now=now(), actor=None)
    click.echo(f"Utilisateur « {username} » créé.")


@users_group.command("unlock")
@click.argument("username")
def users_unlock(username) -> None:
    """Give an account locked by failed logins its attempts back (journaled)."""
    from parapheur.accounts.services import unlock
    from parapheur.clock import now
    from parapheur.db import get_session, transaction

    app = _app()
    with app.app_context():
        session = get_session()
        with transaction(session):
            unlock(session, username, now=now(), actor=None)
    click.echo(f"Connexion de « {username} » débloquée.")


@click.group("desks")
def desks_group() -> None:
    """Desks (bureaux)."""


@desks_group.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--quality", help="Quality shown on stamps, e.g. « Le Maire ».")
@click.option("--org", "organisation", help="Slug of the organisation (default: the only one).")
def desks_create(slug, name, quality, organisation) -> None:
    """Create a desk."""
    from parapheur.accounts.services import create_desk
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.organisations.services import resolve_organisation

    app = _app()
    with app.app_context():
        session = get_session()
        with transaction(session):
            create_desk(session, organisation=resolve_organisation(session, organisation),
                        slug=slug, name=name, quality=quality, now=now())
    click.echo(f"Bureau « {slug} » créé.")


@click.group("delegations")
def delegations_group() -> None:
    """Delegations between desks (suppléance)."""


@delegations_group.command("create")
@click.argument("from_desk")
@click.argument("to_desk")
@click.option("--start", "starts", type=click.DateTime(["%Y-%m-%d"]), required=True,
              help="First day (Paris time), e.g. 2026-12-01.")
@click.option("--end", "ends", type=click.DateTime(["%Y-%m-%d"]), required=True,
              help="Last day, included (Paris time), e.g. 2026-12-15.")
@click.option("--type", "types", multiple=True, help="Only documents of this type (repeatable).")
@click.option("--org", "organisation", help="Slug of the organisation (default: the only one).")
def delegations_create(from_desk, to_desk, starts, ends, types, organisation) -> None:
    """FROM_DESK hands its work to TO_DESK from the --start day to the --end day, both included."""
    from sqlalchemy import select

    from parapheur.accounts.models import Desk
    from parapheur.accounts.services import create_delegation, delegation_period
    from parapheur.clock import now
    from parapheur.db import get_session, transaction
    from parapheur.errors import NotFound

    app = _app()
    with app.app_context():
        session = get_session()
        from parapheur.organisations.services import resolve_organisation

        org = resolve_organisation(session, organisation)
        desks: dict[str, Desk] = {}
        for slug in (from_desk, to_desk):
            desk = session.execute(select(Desk).where(
                Desk.organisation_id == org.id, Desk.slug == slug)).scalar_one_or_none()
            if desk is None:
                raise NotFound(f"Le bureau « {slug} » n'existe pas.")
            desks[slug] = desk
        starts_at, ends_at = delegation_period(starts.date(), ends.date())
        with transaction(session):
            create_delegation(session, from_desk=desks[from_desk], to_desk=desks[to_desk],
                              starts_at=starts_at, ends_at=ends_at, document_types=list(types),
                              now=now())
    click.echo(f"Délégation de « {from_desk} » à « {to_desk} » enregistrée.")


@audit_group.command("export")
@click.argument("document_id", type=int)
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True,
              help="The ZIP file to write.")
def audit_export(document_id: int, out: str) -> None:
    """Write a document's evidence bundle: versions, signed PDF, bordereau, journal, validation."""
    from pathlib import Path

    from parapheur.audit.evidence import export_document
    from parapheur.circuits.services import get_document
    from parapheur.clock import now
    from parapheur.context import store_for
    from parapheur.db import get_session
    from parapheur.signatures.reports import trust_anchor_paths

    app = _app()
    with app.app_context():
        session = get_session()
        document = get_document(session, document_id)
        data = export_document(session, store_for(app.config), document,
                               organisation=document.organisation.name,
                               trust_anchors=trust_anchor_paths(app.config),
                               seal_config=app.config, now=now())
    target = Path(out)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    click.echo(f"Dossier de preuve du document n° {document_id} écrit dans {target}.")


@click.group("store")
def store_group() -> None:
    """The content-addressed document store."""


@store_group.command("verify")
def store_verify() -> None:
    """Re-hash the file of every document version: exit 0 if all hold, 1 naming the others."""
    from parapheur.context import store_for
    from parapheur.db import get_session
    from parapheur.documents.maintenance import verify_store

    app = _app()
    with app.app_context():
        report = verify_store(get_session(), store_for(app.config))
    for sha256 in report.missing:
        click.echo(f"manquant : {sha256}", err=True)
    for sha256 in report.altered:
        click.echo(f"altéré : {sha256}", err=True)
    if not report.ok:
        click.echo(f"{len(report.missing) + len(report.altered)} fichier(s) sur {report.checked} "
                   "ne correspondent plus à leur empreinte.", err=True)
        sys.exit(1)
    click.echo(f"Stockage intègre : {report.checked} fichiers vérifiés.")


@store_group.command("gc")
@click.option("--older-than", "minutes", type=click.IntRange(min=1), default=60, show_default=True,
              help="Only files untouched for this many minutes (keeps in-flight transactions' files).")
@click.option("--dry-run", is_flag=True, help="List the files, remove nothing.")
def store_gc(minutes: int, dry_run: bool) -> None:
    """Remove stored files that no document version references (left by rolled-back actions)."""
    from parapheur.context import store_for
    from parapheur.db import get_session
    from parapheur.documents.maintenance import unreferenced_files

    app = _app()
    with app.app_context():
        store = store_for(app.config)
        orphans = unreferenced_files(get_session(), store, older_than_seconds=minutes * 60)
        for sha256 in orphans:
            click.echo(f"{'à supprimer' if dry_run else 'supprimé'} : {sha256}")
            if not dry_run:
                store.path_for(sha256).unlink(missing_ok=True)
    click.echo(f"{len(orphans)} fichier(s) non référencé(s)"
               f"{' (rien supprimé : --dry-run)' if dry_run else ' supprimé(s)'}.")
