"""The `pes-v2` exporter of the `bordereau-mandats` circuit's export step, run by the queue worker.

Once the ordonnateur has signed, the bordereau's document waits at its export step (« en attente
d'export ») until this has really handed the PES file to the tiers de télétransmission:

1. the bordereau goes into a checked PES_Aller with every other signed bordereau of its budget not
   exported yet (`export_pes`: numbered, kept in the store, exactly once), **committed at once** —
   so the file exists once whatever happens to its deposit, and a retry never builds another one;
2. the export is deposited through the configured connector (folder or HTTP) and journaled; a
   failure raises `DeliveryError` (retried with backoff by the outbox, unless `permanent`), and
   once given up the step follows its on_reject with « échec de l'export : … ».

A bordereau already exported by another document's export (one file for a batch) or by
`parapheur export pes` only needs its file deposited, and then its step completes too.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from parapheur.accounting.models import BordereauState, PesExport
from parapheur.accounting.pes.validation import PesInvalid
from parapheur.accounting.services import (
    AccountingError,
    bordereau_of_document,
    bordereau_setup,
    export_pes,
)
from parapheur.accounting.transmission import TransmissionError, connector_for, deposit_export
from parapheur.context import store_for
from parapheur.errors import N_
from parapheur.outbox.services import DeliveryError

if TYPE_CHECKING:
    from parapheur.circuits.exporters import ExportRun

EXPORTER_NAME = "pes-v2"


def pes_exporter(run: ExportRun) -> Mapping[str, Any]:
    """Export the document's bordereau into a PES file and deposit it; what the journal keeps."""
    session = run.session
    bordereau = bordereau_of_document(session, run.document.id)
    if bordereau is None:
        raise DeliveryError(N_("Le document n° %(document_id)s n'est pas un bordereau de "
                               "mandats : il n'y a rien à exporter en PES."),
                            document_id=run.document.id, permanent=True)
    label = bordereau.label
    if bordereau.export_id is None:
        if bordereau.state is not BordereauState.SIGNE or bordereau.signed_element is None:
            raise DeliveryError(N_("%(label)s n'a pas la signature XAdES de l'ordonnateur "
                                   "(%(value)s) : il ne peut pas être transmis."),
                                label=label, value=bordereau.state.label.lower(), permanent=True)
        store = store_for(run.config)
        try:
            setup = bordereau_setup(session, bordereau,
                                    policy_sha256=run.config["HELIOS_POLICY_SHA256"])
            export_pes(session, store, setup, actor=None, now=run.now)
        except PesInvalid as exc:
            raise DeliveryError(N_("Hélios rejetterait le fichier : %(problems)s"),
                                permanent=True,
                                problems=" ; ".join(str(p) for p in exc.problems)) from None
        except AccountingError as exc:
            raise DeliveryError(exc.template, permanent=True, **exc.params) from None
        # The file is made once: committed before it leaves (the outbox row stays ours, claimed).
        session.commit()
        session.refresh(bordereau)
    # Locked: a concurrent export step of the same file (a batch) waits, then finds it deposited.
    export = session.execute(select(PesExport).where(PesExport.id == bordereau.export_id)
                             .with_for_update().execution_options(populate_existing=True)
                             ).scalar_one()
    where = export.deposited_to
    if export.deposited_at is None:
        try:
            where = deposit_export(session, store_for(run.config), connector_for(run.config),
                                   export, actor=None, now=run.now)
        except TransmissionError as exc:
            raise DeliveryError(exc.template, permanent=exc.permanent, **exc.params) from None
    return {"pes_export": export.number, "filename": export.filename, "sha256": export.sha256,
            "deposited_to": where, "bordereau": bordereau.number, "exercice": bordereau.exercice}


def register_pes_exporter(registry: MutableMapping[str, Any]) -> None:
    """Register the PES V2 exporter under « pes-v2 » in an exporter registry."""
    registry[EXPORTER_NAME] = pes_exporter
