"""The cards and tokens the agent reaches through PKCS#11: list certificates, sign hashes."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

#: DER prefix of a SHA-256 DigestInfo: CKM_RSA_PKCS signs DigestInfo(hash), not the bare hash.
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


class TokenError(Exception):
    """A failure the official must read: `message` is French, `code` stable for the browser."""

    code = "token_error"
    status = 400

    def __init__(self, message: str, *, status: int | None = None, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra
        if status is not None:
            self.status = status


class WrongPin(TokenError):
    """The card refused the PIN (never retried by the agent)."""

    code = "wrong_pin"
    status = 401


class PinLocked(TokenError):
    """Too many wrong PINs: the card is blocked."""

    code = "pin_locked"
    status = 423


@dataclass(frozen=True)
class CardCertificate:
    """A signing certificate on a token, with the CA certificates found beside it."""

    id: str  # "<module index>:<token label>:<CKA_ID hex>", stable while the card is plugged in
    module: str
    token_label: str
    object_id: bytes
    label: str
    der: bytes
    chain: tuple[bytes, ...] = field(default=())

    @property
    def sha256(self) -> str:
        """Fingerprint of the certificate (the server binds its preparation to it)."""
        return hashlib.sha256(self.der).hexdigest()

    def describe(self) -> dict[str, object]:
        """JSON form for the browser: who, issued by whom, until when, and the DER."""
        import base64

        from asn1crypto import x509

        cert = x509.Certificate.load(self.der)
        return {"id": self.id, "label": self.label, "token": self.token_label,
                "subject": cert.subject.human_friendly, "issuer": cert.issuer.human_friendly,
                "common_name": cert.subject.native.get("common_name"),
                "not_after": cert.not_valid_after.isoformat(), "sha256": self.sha256,
                "certificate": base64.b64encode(self.der).decode("ascii"),
                "chain": [base64.b64encode(c).decode("ascii") for c in self.chain]}


def _is_ca(der: bytes) -> bool:
    from asn1crypto import x509

    return bool(x509.Certificate.load(der).ca)


class Tokens:
    """The PKCS#11 modules the agent was configured with (`--module`)."""

    def __init__(self, modules: Sequence[str]) -> None:
        self.modules = list(modules)
        # PKCS#11 modules are not all thread-safe, and the server answers requests in threads.
        self._lock = threading.RLock()

    def _libraries(self):
        import pkcs11

        for index, module in enumerate(self.modules):
            try:
                yield index, module, pkcs11.lib(module)
            except (RuntimeError, OSError, pkcs11.PKCS11Error) as exc:
                raise TokenError(f"Le module PKCS#11 {module} n'a pas pu être chargé ({exc}).") \
                    from None

    def certificates(self) -> list[CardCertificate]:
        """Signing certificates on every present token (public objects: no PIN needed)."""
        with self._lock:
            return self._certificates()

    def _certificates(self) -> list[CardCertificate]:
        import pkcs11
        from pkcs11 import Attribute, ObjectClass, TokenFlag

        found: list[CardCertificate] = []
        for index, module, lib in self._libraries():
            for slot in lib.get_slots(token_present=True):
                try:
                    token = slot.get_token()
                except pkcs11.PKCS11Error:
                    continue  # a reader with an unreadable card: nothing to offer from it
                if not token.flags & TokenFlag.TOKEN_INITIALIZED:
                    continue  # a blank token (SoftHSM always shows one)
                try:
                    with token.open() as session:
                        objects = [(bytes(o[Attribute.ID]), str(o[Attribute.LABEL]),
                                    bytes(o[Attribute.VALUE]))
                                   for o in session.get_objects(
                                       {Attribute.CLASS: ObjectClass.CERTIFICATE})]
                except pkcs11.PKCS11Error as exc:
                    raise TokenError(f"Le jeton « {token.label} » n'a pas pu être lu "
                                     f"({type(exc).__name__}).") from None
                authorities = tuple(der for _, _, der in objects if _is_ca(der))
                for object_id, label, der in objects:
                    if der in authorities:
                        continue
                    found.append(CardCertificate(
                        id=f"{index}:{token.label}:{object_id.hex()}", module=module,
                        token_label=token.label, object_id=object_id, label=label, der=der,
                        chain=authorities))
        return found

    def find(self, certificate_id: str) -> CardCertificate:
        """The certificate with this id, or TokenError."""
        for certificate in self.certificates():
            if certificate.id == certificate_id:
                return certificate
        raise TokenError("Ce certificat n'est plus présent : la carte a-t-elle été retirée ?",
                         status=404)

    def sign(self, certificate: CardCertificate, digests: Sequence[tuple[str, str, bytes]],
             pin: str) -> list[bytes]:
        """Sign each (digest algorithm, signature algorithm, digest) with one login.

        The PIN is tried once; a wrong one raises WrongPin with what the token says of the
        tries left, and nothing is signed.
        """
        with self._lock:
            return self._sign(certificate, digests, pin)

    def _sign(self, certificate: CardCertificate, digests: Sequence[tuple[str, str, bytes]],
              pin: str) -> list[bytes]:
        import pkcs11
        from pkcs11 import Mechanism, ObjectClass, TokenFlag
        from pkcs11 import exceptions as p11

        for digest_algorithm, signature_algorithm, digest in digests:
            if digest_algorithm != "sha256" or len(digest) != 32:
                raise TokenError(f"Empreinte non prise en charge ({digest_algorithm}).")
            if signature_algorithm not in ("rsassa_pkcs1v15", "ecdsa"):
                raise TokenError(f"Algorithme de signature non pris en charge "
                                 f"({signature_algorithm}).")
        lib = pkcs11.lib(certificate.module)
        token = lib.get_token(token_label=certificate.token_label)
        try:
            session = token.open(user_pin=pin)
        except p11.PinIncorrect:
            flags = lib.get_token(token_label=certificate.token_label).flags
            if flags & TokenFlag.USER_PIN_LOCKED:
                raise PinLocked("Code PIN incorrect : la carte est maintenant bloquée. Faites-la "
                                "débloquer avec son code PUK.") from None
            tries = ("il ne vous reste qu'un essai avant le blocage de la carte"
                     if flags & TokenFlag.USER_PIN_FINAL_TRY else
                     "il vous reste peu d'essais avant le blocage de la carte"
                     if flags & TokenFlag.USER_PIN_COUNT_LOW else None)
            remaining = 1 if flags & TokenFlag.USER_PIN_FINAL_TRY else None
            raise WrongPin("Code PIN incorrect : rien n'a été signé. Vérifiez-le avant de "
                           "réessayer" + (f" ({tries})." if tries else
                                          " (une carte se bloque après quelques essais)."),
                           remaining_tries=remaining, tries_low=tries is not None) from None
        except p11.PinLocked:
            raise PinLocked("La carte est bloquée (trop de codes PIN erronés) : faites-la "
                            "débloquer avec son code PUK.") from None
        except (p11.PinLenRange, p11.PinInvalid):
            raise WrongPin("Le code PIN n'a pas un format valide pour cette carte : rien n'a "
                           "été signé.") from None
        except pkcs11.PKCS11Error as exc:
            raise TokenError(f"La carte n'a pas pu être ouverte ({type(exc).__name__}).") from None
        try:
            key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=certificate.object_id)
            signatures = []
            for _, signature_algorithm, digest in digests:
                if signature_algorithm == "rsassa_pkcs1v15":
                    signatures.append(bytes(key.sign(SHA256_DIGEST_INFO + digest,
                                                     mechanism=Mechanism.RSA_PKCS)))
                else:
                    from pkcs11.util.ec import encode_ecdsa_signature

                    signatures.append(encode_ecdsa_signature(
                        key.sign(digest, mechanism=Mechanism.ECDSA)))
            return signatures
        except (p11.NoSuchKey, p11.MultipleObjectsReturned):
            raise TokenError("La clé privée de ce certificat est introuvable sur la carte.") \
                from None
        except pkcs11.PKCS11Error as exc:
            raise TokenError(f"La carte a refusé de signer ({type(exc).__name__}).") from None
        finally:
            session.close()
