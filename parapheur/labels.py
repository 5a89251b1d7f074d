"""The models' and trays' French labels, marked here for the catalogue (Babel extracts `N_`).

The models keep their French labels (CSV and PDF exports, the journal); the pages translate
them when shown: `{{ _(document.status.label) }}`.
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 (the name pybabel looks for)
    """Mark a sentence for translation without translating it now."""
    return message


LABELS = (
    # documents.models.DocumentStatus, VersionKind
    N_("En cours"), N_("Terminé"), N_("Rejeté"), N_("Annulé"),
    N_("Original"), N_("Signé"), N_("Cacheté"), N_("Horodatage d'archive"),
    N_("Fichier remplacé par l'auteur"),
    # invoices.models.InvoiceStatus, InvoiceKind
    N_("Déposée"), N_("Mise à disposition"), N_("Suspendue"), N_("Rejetée"), N_("Service fait"),
    N_("Mandatée"), N_("Mise en paiement"), N_("Comptabilisée"), N_("Facture"), N_("Avoir"),
    # accounting.models.BordereauState, MandatState
    N_("À signer"), N_("Transmis à Hélios"), N_("Pris en charge"), N_("À bordereauter"),
    N_("Sur bordereau"), N_("Rejeté (à corriger)"), N_("Mis en paiement"),
    # accounts.models.Role
    N_("Administrateur"), N_("Agent"), N_("Signataire (élu)"), N_("Auditeur"),
    N_("Administrateur de la plateforme"),
    # documents.trays.SORT_LABELS
    N_("Échéance"), N_("Date de dépôt"), N_("Montant"), N_("Titre"),
)
