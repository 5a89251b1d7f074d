"""Errors of the signing layer: one base, subclasses carrying a stable code and a French sentence.

The library has no Flask and no Babel: an error carries a machine `code` (stable, one per class),
a `template` — the French sentence with `%(name)s` placeholders, marked for extraction with `N_`
so it is a msgid of the application's catalogue — and the `params` that fill it. `message` is the
French sentence filled in (what the command line and logs show); the web layer translates
`template` for the reader and fills in the same `params` (`parapheur.errors.localized`).
"""

from __future__ import annotations

from typing import Any


def N_(template: str) -> str:
    """Mark a French sentence for extraction into the catalogue (pybabel) without translating."""
    return template


def fill(template: str, params: dict[str, Any]) -> str:
    """The French sentence of `template` with its params (a param may itself be an error)."""
    if not params or "%(" not in template:  # a sentence without placeholders is shown as is
        return template
    try:
        return template % {name: getattr(value, "message", value)
                           for name, value in params.items()}
    except (KeyError, TypeError, ValueError):  # a sentence with a bare « % » and no placeholder
        return template


class SigningError(Exception):
    """Base of every refusal of the signing layer: `code`, `template` and `params`; `message` in
    French."""

    code = "signing_failed"
    default_message = N_("La signature a échoué.")

    def __init__(self, message: str | None = None, **params: Any) -> None:
        self.template = message or self.default_message
        self.params = params
        self.message = fill(self.template, params)
        super().__init__(self.message)


class WrongPassphrase(SigningError):
    """Wrong PKCS#12 passphrase or wrong PIN; never retried automatically (cards lock)."""

    code = "wrong_passphrase"
    default_message = N_("Mot de passe ou code PIN incorrect : la clé de signature n'a pas pu être "
                         "ouverte. Vérifiez-le avant de réessayer (une carte se bloque après trois "
                         "essais).")


class KeyUnavailable(SigningError):
    """The key file, token, slot or key label cannot be found or read."""

    code = "key_unavailable"
    default_message = N_("La clé de signature est introuvable ou illisible.")


class CertificateNotUsable(SigningError):
    """Expired, not yet valid, or key usage allows neither digitalSignature nor nonRepudiation."""

    code = "certificate_not_usable"
    default_message = N_("Le certificat de signature ne peut pas être utilisé pour signer.")


class UnreadablePdf(SigningError):
    """The input is not a PDF or cannot be parsed."""

    code = "unreadable_pdf"
    default_message = N_("Le fichier n'est pas un PDF lisible : il n'a pas été signé.")


class EncryptedPdf(SigningError):
    """The input PDF is encrypted; signing it would need its password and change its protection."""

    code = "encrypted_pdf"
    default_message = N_("Le PDF est chiffré (protégé par mot de passe) : il ne peut pas être "
                         "signé. Déposez une version non protégée.")


class TimestampUnavailable(SigningError):
    """The timestamping authority (TSA) cannot be reached while the level needs a timestamp."""

    code = "timestamp_unavailable"
    default_message = N_("Service d'horodatage indisponible, réessayez dans quelques minutes : la "
                         "signature (horodatée) n'a pas été faite et rien n'a changé.")


class RevocationInfoUnavailable(SigningError):
    """Certificates' revocation status (OCSP/CRL) could not be obtained for a B-LT/B-LTA signature."""

    code = "revocation_info_unavailable"
    default_message = N_("Service de révocation (OCSP/CRL) indisponible, réessayez dans quelques "
                         "minutes : la signature longue durée n'a pas été faite et rien n'a "
                         "changé.")


class StampFontMissing(SigningError):
    """No OpenType font is available to draw the visible stamp."""

    code = "stamp_font_missing"
    default_message = N_("Aucune police de caractères n'est disponible pour dessiner le cachet "
                         "visible (installez fonts-dejavu-core ou configurez une police).")


class SignatureFieldError(SigningError):
    """The requested signature field or placement is impossible (page out of range, field taken)."""

    code = "signature_field_invalid"
    default_message = N_("L'emplacement demandé pour la signature est invalide.")
