"""`parapheur archive refresh`: renew the archive time stamps of B-LTA documents before they expire."""

from __future__ import annotations

import sys
from datetime import timedelta

import click


@click.group("archive")
def archive_group() -> None:
    """Long-term archiving of signed documents (B-LTA)."""


@archive_group.command("refresh")
@click.option("--within", "within", type=click.IntRange(min=0, max=36500), default=180, show_default=True,
              metavar="JOURS",
              help="Renouveler les documents dont le certificat du dernier horodatage expire dans ce délai.")
def archive_refresh(within: int) -> None:
    """Add a document time stamp to every B-LTA document whose newest TSA certificate expires soon.

    Each refreshed document gets a new version and a journal event. Exit code 1 when a document
    could not be refreshed (the others are).
    """
    from parapheur import create_app
    from parapheur.archival.services import refresh_archives
    from parapheur.clock import now
    from parapheur.context import store_for
    from parapheur.db import get_session
    from parapheur.signatures.options import SigningSetup

    app = create_app()
    with app.app_context():
        setup = SigningSetup.from_config(app.config)
        moment = now()
        report = refresh_archives(get_session(), store_for(app.config), now=moment, tsa_url=setup.tsa_url,
                                  trust_roots=setup.trust_roots, within=timedelta(days=within))
    for item in report.refreshed:
        until = f" ; prochain renouvellement avant le {item.expires_at:%d/%m/%Y}" if item.expires_at else ""
        click.echo(f"Document n° {item.document_id} « {item.title} » : horodatage d'archive ajouté "
                   f"(version {item.version}){until}.")
    for item in report.still_due(moment):
        click.echo(f"Attention : le nouvel horodatage du document n° {item.document_id} expire lui aussi "
                   f"le {item.expires_at:%d/%m/%Y} ; le certificat du service d'horodatage doit être "
                   "renouvelé.", err=True)
    for document_id, title, reason in report.failed:
        click.echo(f"Document n° {document_id} « {title} » : échec du renouvellement : {reason}", err=True)
    click.echo(f"{report.checked} document(s) B-LTA examiné(s), {len(report.refreshed)} renouvelé(s), "
               f"{len(report.failed)} en échec (délai : {within} jours).")
    if report.failed:
        sys.exit(1)
