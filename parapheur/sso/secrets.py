"""Client secrets of identity providers, encrypted at rest under a key derived from the
instance's secret key (`PARAPHEUR_SECRET_KEY`): changing that key means entering them again."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from parapheur.errors import ParapheurError


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"parapheur-sso",
               info=b"identity provider client secrets").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret_key: str, value: str) -> str:
    return _fernet(secret_key).encrypt(value.encode()).decode()


def decrypt(secret_key: str, token: str) -> str:
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ParapheurError("Le secret client du fournisseur d'identité ne peut plus être lu "
                             "(la clé secrète de l'instance a changé) : saisissez-le à nouveau.",
                             status=500) from None
