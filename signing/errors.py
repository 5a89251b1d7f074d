"""Errors of the signing layer: one base, subclasses carrying a French message shown as is."""

from __future__ import annotations


class SigningError(Exception):
    """Base of every refusal of the signing layer; `message` is French and shown to users as is."""

    default_message = "La signature a échoué."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class WrongPassphrase(SigningError):
    """Wrong PKCS#12 passphrase or wrong PIN; never retried automatically (cards lock)."""

    default_message = ("Mot de passe ou code PIN incorrect : la clé de signature n'a pas pu être "
                       "ouverte. Vérifiez-le avant de réessayer (une carte se bloque après trois "
                       "essais).")


class KeyUnavailable(SigningError):
    """The key file, token, slot or key label cannot be found or read."""

    default_message = "La clé de signature est introuvable ou illisible."


class CertificateNotUsable(SigningError):
    """Expired, not yet valid, or key usage allows neither digitalSignature nor nonRepudiation."""

    default_message = "Le certificat de signature ne peut pas être utilisé pour signer."


class UnreadablePdf(SigningError):
    """The input is not a PDF or cannot be parsed."""

    default_message = "Le fichier n'est pas un PDF lisible : il n'a pas été signé."


class EncryptedPdf(SigningError):
    """The input PDF is encrypted; signing it would need its password and change its protection."""

    default_message = ("Le PDF est chiffré (protégé par mot de passe) : il ne peut pas être signé. "
                       "Déposez une version non protégée.")


class TimestampUnavailable(SigningError):
    """The timestamping authority (TSA) cannot be reached while the level needs a timestamp."""

    default_message = ("Service d'horodatage indisponible, réessayez dans quelques minutes : la "
                       "signature (horodatée) n'a pas été faite et rien n'a changé.")


class RevocationInfoUnavailable(SigningError):
    """Certificates' revocation status (OCSP/CRL) could not be obtained for a B-LT/B-LTA signature."""

    default_message = ("Service de révocation (OCSP/CRL) indisponible, réessayez dans quelques "
                       "minutes : la signature longue durée n'a pas été faite et rien n'a changé.")


class StampFontMissing(SigningError):
    """No OpenType font is available to draw the visible stamp."""

    default_message = ("Aucune police de caractères n'est disponible pour dessiner le cachet visible "
                       "(installez fonts-dejavu-core ou configurez une police).")


class SignatureFieldError(SigningError):
    """The requested signature field or placement is impossible (page out of range, field taken)."""

    default_message = "L'emplacement demandé pour la signature est invalide."
