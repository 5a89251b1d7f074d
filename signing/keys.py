"""Signing keys: PKCS#12 files and PKCS#11 tokens (smartcards, HSMs), opened once per batch.

A key object exposes `certificate` (asn1crypto), `subject_name` (the CN) and `signer` (the pyHanko
signer handed to `sign_document`). Opening it is the only place a passphrase or PIN is used; a wrong
one raises `WrongPassphrase` and is never retried here, because a card locks after three tries.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asn1crypto import cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.sign.general import get_pyca_cryptography_hash
from pyhanko.sign.signers.pdf_cms import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing.errors import N_, CertificateNotUsable, KeyUnavailable, WrongPassphrase


class Secret(str):
    """A passphrase or PIN: a str whose repr never shows it (logs, tracebacks with locals)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> SecretBytes:
        """The secret's bytes, still hidden from repr."""
        return SecretBytes(str.encode(self, encoding, errors))


class SecretBytes(bytes):
    """Bytes of a secret, hidden from repr like `Secret`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "SecretBytes(b'***')"


def hide(value: str | bytes | None) -> Any:
    """`value` wrapped so that its repr hides it (None stays None)."""
    if value is None or isinstance(value, Secret | SecretBytes):
        return value
    return SecretBytes(value) if isinstance(value, bytes) else Secret(value)


class _TemplateSigning:
    """Mixin for pyHanko signers: later PAdES signatures reuse the first one's CMS encoding.

    pyHanko rebuilds the whole CMS structure from Python dictionaries for every signature (about
    10 ms a document, ten times the RSA operation). For PAdES signatures made by one key,
    everything but the message digest, the signature value and the signature timestamp is the
    same from one document to the next, so the first signature is made by pyHanko and kept as a
    template; later ones reuse its encoded parts and only encode what changed. Anything else
    (CAdES attributes, dry runs, non-PDF use) goes through pyHanko unchanged.
    """

    _templates: dict[str, _CmsTemplate | None]
    async_sign_raw: Any  # provided by the pyHanko signer this is mixed into

    async def async_sign(self, data_digest: bytes, digest_algorithm: str, dry_run: bool = False,
                         use_pades: bool = False, timestamper: Any = None,
                         signed_attr_settings: Any = None, is_pdf_sig: bool = True,
                         encap_content_info: Any = None) -> cms.ContentInfo:
        """Sign a digest; PAdES signatures after the first reuse the first one's encoding."""
        templates = self.__dict__.setdefault("_templates", {})
        plain = (not dry_run and use_pades and is_pdf_sig and encap_content_info is None
                 and (signed_attr_settings is None
                      or (signed_attr_settings.cades_signed_attrs is None
                          and signed_attr_settings.adobe_revinfo_attr is None)))
        if plain:
            template = templates.get(digest_algorithm)
            if template is not None:
                return await template.sign(
                    data_digest, lambda tbs: self.async_sign_raw(tbs, digest_algorithm),
                    timestamper)
        result = await super().async_sign(  # type: ignore[misc]
            data_digest, digest_algorithm, dry_run=dry_run, use_pades=use_pades,
            timestamper=timestamper, signed_attr_settings=signed_attr_settings,
            is_pdf_sig=is_pdf_sig, encap_content_info=encap_content_info)
        if plain and digest_algorithm not in templates:
            templates[digest_algorithm] = _CmsTemplate.from_signature(result)
        return result


class _CachedKeySigner(_TemplateSigning, SimpleSigner):
    """SimpleSigner for a key kept in memory (pyHanko re-parses it for every signature)."""

    def __init__(self, pyca_key: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pyca_key = pyca_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        """Sign with the cached key; other mechanisms than RSA PKCS#1 v1.5/ECDSA go to pyHanko."""
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        try:
            algo = mechanism.signature_algo
        except ValueError:
            algo = mechanism["algorithm"].native
        hash_algo = get_pyca_cryptography_hash(digest_algorithm)
        if algo == "rsassa_pkcs1v15" and isinstance(self._pyca_key, rsa.RSAPrivateKey):
            return self._pyca_key.sign(data, PKCS1v15(), hash_algo)
        if algo == "ecdsa" and isinstance(self._pyca_key, ec.EllipticCurvePrivateKey):
            return self._pyca_key.sign(data, ec.ECDSA(hash_algo))
        return super().sign_raw(data, digest_algorithm)


def _tlv(tag: int, content: bytes) -> bytes:
    """DER tag-length-value."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


_SIGNATURE_TIMESTAMP_OID = cms.CMSAttributeType("signature_time_stamp_token").dump()


class _CmsTemplate:
    """Encoded parts of a detached CMS SignedData that do not change between documents."""

    #: Signed attributes that do not depend on the document or the time.
    CONSTANT_ATTRIBUTES = {"content_type", "signing_certificate_v2", "signing_certificate",
                           "cms_algorithm_protection"}

    def __init__(self, content_info: cms.ContentInfo) -> None:
        signed_data = content_info["content"]
        signer_info = signed_data["signer_infos"][0]
        self.attributes = [(a["type"].native, a.dump()) for a in signer_info["signed_attrs"]]
        self.message_digest_type = next(a["type"] for a in signer_info["signed_attrs"]
                                        if a["type"].native == "message_digest").dump()
        self.digest_algorithm = signer_info["digest_algorithm"]["algorithm"].native
        self.signer_head = b"".join(signer_info[k].dump() for k in
                                    ("version", "sid", "digest_algorithm"))
        self.signature_algorithm = signer_info["signature_algorithm"].dump()
        parts = [signed_data["version"].dump(), signed_data["digest_algorithms"].dump(),
                 signed_data["encap_content_info"].dump()]
        if signed_data["certificates"].native is not None:
            parts.append(signed_data["certificates"].dump())
        if signed_data["crls"].native is not None:
            parts.append(signed_data["crls"].dump())
        self.signed_data_head = b"".join(parts)
        self.content_type = content_info["content_type"].dump()

    @classmethod
    def from_signature(cls, content_info: cms.ContentInfo) -> _CmsTemplate | None:
        """A template from a pyHanko-made signature, or None when it has variable parts."""
        parsed = cms.ContentInfo.load(content_info.dump())
        signer_infos = parsed["content"]["signer_infos"]
        if len(signer_infos) != 1:
            return None
        signer_info = signer_infos[0]
        unsigned = signer_info["unsigned_attrs"]
        if unsigned.native is not None and any(
                a["type"].native != "signature_time_stamp_token" for a in unsigned):
            return None
        types = [a["type"].native for a in signer_info["signed_attrs"]]
        if "message_digest" not in types or not set(types) - {"message_digest"} <= \
                cls.CONSTANT_ATTRIBUTES:
            return None
        return cls(parsed)

    async def sign(self, digest: bytes, async_sign_raw: Any, timestamper: Any = None
                   ) -> cms.ContentInfo:
        """A SignedData for `digest`, signed by `async_sign_raw(der_of_signed_attributes)`.

        With a timestamper, the signature value is timestamped (RFC 3161) into the unsigned
        attribute signature-time-stamp-token, as PAdES B-T requires.
        """
        digest_attribute = _tlv(0x30, self.message_digest_type + _tlv(0x31, _tlv(0x04, digest)))
        # Same order as pyHanko wrote them; verifiers hash the attributes as encoded.
        encoded = b"".join(digest_attribute if kind == "message_digest" else der
                           for kind, der in self.attributes)
        signature = await async_sign_raw(_tlv(0x31, encoded))
        unsigned = b""
        if timestamper is not None:
            token = await timestamper.async_timestamp(
                hashlib.new(self.digest_algorithm, signature).digest(), self.digest_algorithm)
            unsigned = _tlv(0xA1, _tlv(0x30, _SIGNATURE_TIMESTAMP_OID + _tlv(0x31, token.dump())))
        signer_info = _tlv(0x30, self.signer_head + _tlv(0xA0, encoded)
                           + self.signature_algorithm + _tlv(0x04, signature) + unsigned)
        signed_data = _tlv(0x30, self.signed_data_head + _tlv(0x31, signer_info))
        return cms.ContentInfo.load(_tlv(0x30, self.content_type + _tlv(0xA0, signed_data)))


def subject_common_name(certificate: asn1_x509.Certificate) -> str:
    """The certificate subject's CN, or its whole name when it has no CN."""
    subject = certificate.subject.native
    return subject.get("common_name") or certificate.subject.human_friendly


def check_certificate_usable(certificate: asn1_x509.Certificate, at: datetime) -> None:
    """Refuse a certificate expired or not yet valid at `at`, or without a signing key usage."""
    validity = certificate["tbs_certificate"]["validity"]
    not_before = validity["not_before"].native
    not_after = validity["not_after"].native
    name = subject_common_name(certificate)
    if at < not_before:
        raise CertificateNotUsable(
            N_("Le certificat de %(name)s n'est valable qu'à partir du %(date)s : il ne peut "
               "pas encore signer."), name=name, date=_french_date(not_before))
    if at > not_after:
        raise CertificateNotUsable(
            N_("Le certificat de %(name)s a expiré le %(date)s : il ne peut plus signer. "
               "Demandez un nouveau certificat."), name=name, date=_french_date(not_after))
    usage = certificate.key_usage_value
    if usage is not None:
        allowed = set(usage.native)
        if not allowed & {"digital_signature", "non_repudiation"}:
            raise CertificateNotUsable(
                N_("Le certificat de %(name)s n'est pas prévu pour la signature (usage de la "
                   "clé : %(usages)s)."), name=name, usages=', '.join(sorted(allowed)) or 'aucun')


def _french_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%d/%m/%Y")


class Pkcs12Key:
    """A key and certificate from a PKCS#12 file, decrypted once and kept in memory."""

    kind = "pkcs12"

    def __init__(self, certificate: asn1_x509.Certificate, signer: SimpleSigner) -> None:
        self.certificate = certificate
        self.signer = signer
        self.subject_name = subject_common_name(certificate)

    @classmethod
    def open(cls, path: Path, passphrase: str | bytes) -> Pkcs12Key:
        """Decrypt `path`; raise WrongPassphrase or KeyUnavailable."""
        try:
            data = Path(path).read_bytes()
        except OSError:
            raise KeyUnavailable(N_("Le fichier de clé %(file)s est introuvable ou illisible."),
                                 file=Path(path).name) from None
        passphrase = hide(passphrase)
        secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, secret)
        except ValueError as exc:
            # cryptography says "Invalid password or PKCS12 data" for both cases: tell them
            # apart by trying to parse the structure without decrypting.
            if _looks_like_pkcs12(data):
                raise WrongPassphrase() from None
            raise KeyUnavailable(N_("Le fichier %(file)s n'est pas un fichier PKCS#12 valide "
                                    "(%(detail)s)."), file=Path(path).name, detail=exc) from None
        if key is None or cert is None:
            raise KeyUnavailable(N_("Le fichier %(file)s ne contient pas de clé privée avec "
                                    "son certificat."), file=Path(path).name)
        return cls.from_key_and_chain(key, cert, extra or [])

    @classmethod
    def from_key_and_chain(cls, key: Any, cert: Any, chain: list[Any]) -> Pkcs12Key:
        """Build from pyca/cryptography objects (a key, its certificate, the issuer chain)."""
        der = serialization.Encoding.DER
        signing_cert = asn1_x509.Certificate.load(cert.public_bytes(der))
        key_info = asn1_keys.PrivateKeyInfo.load(key.private_bytes(
            der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        registry = SimpleCertificateStore.from_certs(
            [asn1_x509.Certificate.load(c.public_bytes(der)) for c in chain])
        signer = _CachedKeySigner(key, signing_cert=signing_cert, signing_key=key_info,
                                  cert_registry=registry)
        return cls(signing_cert, signer)

    def close(self) -> None:
        """Nothing to release for a file key (kept for symmetry with tokens)."""

    def __enter__(self) -> Pkcs12Key:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _looks_like_pkcs12(data: bytes) -> bool:
    from asn1crypto import pkcs12 as asn1_pkcs12

    try:
        pfx = asn1_pkcs12.Pfx.load(data)
        pfx["auth_safe"]["content_type"].native  # noqa: B018 - forces parsing
        return True
    except Exception:  # asn1crypto raises many kinds on garbage
        return False


def _template_pkcs11_signer_class() -> type:
    from pyhanko.sign.pkcs11 import PKCS11Signer

    class TemplatePkcs11Signer(_TemplateSigning, PKCS11Signer):
        """PKCS11Signer with the batch fast path (the token still makes every signature)."""

    return TemplatePkcs11Signer


def _TemplatePkcs11Signer(*args: Any, **kwargs: Any) -> Any:  # noqa: N802 - a class factory
    global _PKCS11_SIGNER_CLASS
    if _PKCS11_SIGNER_CLASS is None:
        _PKCS11_SIGNER_CLASS = _template_pkcs11_signer_class()
    return _PKCS11_SIGNER_CLASS(*args, **kwargs)


_PKCS11_SIGNER_CLASS: type | None = None
_TOKEN_LOGINS: dict[tuple[str, str | None, int | None], bytes] = {}


class PinTries(enum.Enum):
    """What a PKCS#11 token reports of its remaining PIN tries (its token flags), when it does."""

    LOW = "low"  # CKF_USER_PIN_COUNT_LOW: a wrong PIN was entered since the last good one
    FINAL = "final"  # CKF_USER_PIN_FINAL_TRY: one more wrong PIN locks it
    LOCKED = "locked"  # CKF_USER_PIN_LOCKED

    @property
    def notice(self) -> str:
        """The sentence shown by the PIN field and after a wrong PIN."""
        return {
            PinTries.LOW: "le jeton signale des codes PIN erronés : il ne reste que peu "
                          "d'essais avant son blocage",
            PinTries.FINAL: "dernier essai : un code PIN erroné de plus bloquera la carte ou le "
                            "jeton",
            PinTries.LOCKED: "la carte ou le jeton est bloqué (trop de codes PIN erronés) : "
                             "faites-le débloquer avec le code PUK",
        }[self]


def pin_tries_from_flags(flags: int) -> PinTries | None:
    """The most severe state among a token's PKCS#11 flags (CK_TOKEN_INFO.flags), or None."""
    from pkcs11 import TokenFlag

    if flags & TokenFlag.USER_PIN_LOCKED:
        return PinTries.LOCKED
    if flags & TokenFlag.USER_PIN_FINAL_TRY:
        return PinTries.FINAL
    if flags & TokenFlag.USER_PIN_COUNT_LOW:
        return PinTries.LOW
    return None


def token_pin_tries(module: str | Path, *, token_label: str | None = None,
                    slot: int | None = None) -> PinTries | None:
    """Read a token's remaining-tries flags without logging in (no try is spent).

    None when the token reports nothing, or cannot be read now: the caller then says nothing.
    """
    try:
        import pkcs11

        lib = pkcs11.lib(str(module))
        for candidate in lib.get_slots(token_present=True):
            if slot is not None and candidate.slot_id != slot:
                continue
            token = candidate.get_token()
            if token_label is not None and token.label != token_label:
                continue
            return pin_tries_from_flags(int(token.flags))
    except Exception:  # noqa: BLE001 — a notice only: an unreadable token says nothing
        return None
    return None


def _pin_digest(pin: str | None) -> bytes:
    return hashlib.sha256((pin or "").encode("utf-8")).digest()


class Pkcs11Key:
    """A key on a PKCS#11 token (smartcard, HSM): one login, kept open for a whole batch.

    The token is chosen by `token_label` or `slot`; the key by `key_label` or `key_id`, its
    certificate by `cert_label`/`cert_id` (default: same as the key). The PIN is tried once:
    a wrong PIN raises WrongPassphrase and is never retried (cards lock after three tries).
    """

    kind = "pkcs11"

    def __init__(self, session: Any, signer: Any, certificate: asn1_x509.Certificate) -> None:
        self._session = session
        self.signer = signer
        self.certificate = certificate
        self.subject_name = subject_common_name(certificate)

    @classmethod
    def open(cls, module: str | Path, *, pin: str | None, token_label: str | None = None,
             slot: int | None = None, key_label: str | None = None,
             key_id: bytes | None = None, cert_label: str | None = None,
             cert_id: bytes | None = None) -> Pkcs11Key:
        """Log in to the token and locate the key and its certificate."""
        import pkcs11
        from pkcs11 import exceptions as p11_errors
        from pyhanko.config.pkcs11 import TokenCriteria
        from pyhanko.sign.pkcs11 import open_pkcs11_session

        pin = hide(pin)
        if key_label is None and key_id is None:
            raise KeyUnavailable(N_("Indiquez le libellé (ou l'identifiant) de la clé sur le "
                                    "jeton."))
        if not Path(module).is_file():
            raise KeyUnavailable(N_("Le module PKCS#11 %(module)s est introuvable."), module=module)
        criteria = TokenCriteria(label=token_label) if token_label else None
        try:
            session = open_pkcs11_session(str(module), slot_no=slot, token_criteria=criteria,
                                          user_pin=pin)
        except p11_errors.PinIncorrect:
            tries = token_pin_tries(module, token_label=token_label, slot=slot)
            if tries is PinTries.LOCKED:
                raise WrongPassphrase(N_("Code PIN incorrect : la carte ou le jeton est "
                                         "maintenant bloqué. Faites-le débloquer avec le code "
                                         "PUK.")) from None
            raise WrongPassphrase("Code PIN incorrect : la carte ou le jeton n'a pas été "
                                  "déverrouillé. Vérifiez le code avant de réessayer ("
                                  + (tries.notice if tries is not None else
                                     "une carte se bloque après trois essais") + ").") from None
        except p11_errors.PinLocked:
            raise KeyUnavailable(N_("La carte ou le jeton est bloqué (trop de codes PIN "
                                    "erronés) : faites-le débloquer avec le code PUK.")) from None
        except (p11_errors.PinLenRange, p11_errors.PinInvalid):
            raise WrongPassphrase(
                N_("Le code PIN n'a pas un format valide pour ce jeton.")) from None
        except p11_errors.UserAlreadyLoggedIn:
            # PKCS#11 login is per process: another open key of ours already logged this token
            # in, and a new session shares that login. The token cannot check this PIN again, so
            # compare it with the one that logged in (no card attempt is spent either way).
            login_key = (str(module), token_label, slot)
            known = _TOKEN_LOGINS.get(login_key)
            if known is None:
                raise KeyUnavailable(N_("Le jeton est déjà ouvert par un autre programme de ce "
                                        "processus : réessayez quand il sera libéré.")) from None
            if not hmac.compare_digest(known, _pin_digest(pin)):
                raise WrongPassphrase(N_("Code PIN incorrect : il ne correspond pas à celui "
                                         "qui a déverrouillé ce jeton.")) from None
            session = open_pkcs11_session(str(module), slot_no=slot, token_criteria=criteria,
                                          user_pin=None)
        except pkcs11.PKCS11Error as exc:
            raise KeyUnavailable(N_("Le jeton PKCS#11 n'a pas pu être ouvert (%(error)s)."),
                                 error=type(exc).__name__
                                 ) from None
        except Exception as exc:  # pyHanko raises its own SigningError for "no such token"
            raise KeyUnavailable(N_("Le jeton PKCS#11 est introuvable ou inaccessible : "
                                    "%(detail)s"), detail=exc
                                 ) from None
        try:
            signer = _TemplatePkcs11Signer(
                session, key_label=key_label, key_id=key_id,
                cert_label=cert_label or (key_label if cert_id is None else None),
                cert_id=cert_id if cert_id is not None else (key_id if cert_label is None
                                                            and key_label is None else None),
                other_certs_to_pull=None)
            certificate = signer.signing_cert
        except Exception as exc:
            session.close()
            raise KeyUnavailable(N_("La clé ou le certificat est introuvable sur le jeton : "
                                    "%(detail)s"), detail=exc
                                 ) from None
        _TOKEN_LOGINS[(str(module), token_label, slot)] = _pin_digest(pin)
        return cls(session, signer, certificate)

    def close(self) -> None:
        """Log out and close the session."""
        if self._session is not None:
            try:
                self._session.close()
            finally:
                self._session = None

    def __enter__(self) -> Pkcs11Key:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class KeySpec:
    """Where a configured key lives (e.g. the organisation's seal): a PKCS#12 file or a token.

    `kind` is "pkcs12" (path, passphrase) or "pkcs11" (module, token_label or slot, key_label or
    key_id, pin). Secrets are given by the caller, typically read from the environment.
    """

    kind: str
    path: Path | None = None
    passphrase: str | None = field(default=None, repr=False)
    module: str | None = None
    token_label: str | None = None
    slot: int | None = None
    key_label: str | None = None
    key_id: bytes | None = None
    pin: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Hidden from repr even when the secret itself is printed with the locals of a frame.
        object.__setattr__(self, "passphrase", hide(self.passphrase))
        object.__setattr__(self, "pin", hide(self.pin))


def open_key(spec: KeySpec) -> Pkcs12Key | Pkcs11Key:
    """Open the key described by `spec` (one login; close it when the batch is done)."""
    if spec.kind == "pkcs12":
        if spec.path is None:
            raise KeyUnavailable(N_("Aucun fichier PKCS#12 n'est configuré pour cette clé."))
        return Pkcs12Key.open(Path(spec.path), spec.passphrase or "")
    if spec.kind == "pkcs11":
        if not spec.module:
            raise KeyUnavailable(N_("Aucun module PKCS#11 n'est configuré pour cette clé."))
        return Pkcs11Key.open(spec.module, pin=spec.pin, token_label=spec.token_label,
                              slot=spec.slot, key_label=spec.key_label, key_id=spec.key_id)
    raise KeyUnavailable(N_("Type de clé inconnu : %(kind)s (pkcs12 ou pkcs11)."),
                         kind=repr(spec.kind))
