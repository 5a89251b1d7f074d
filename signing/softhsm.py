"""A SoftHSM2 token holding dev PKI keys, for tests, the benchmark and demos (never production).

SoftHSM reads `SOFTHSM2_CONF` when the module is first loaded in a process, so `provision` must
run (and the variable stay set) before anything opens the module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from signing.pki import DevPki

SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


class SoftHsmUnavailable(RuntimeError):
    """softhsm2-util or the SoftHSM2 module is not installed."""


@dataclass(frozen=True)
class SoftHsmToken:
    """A provisioned token: where its module is, how to find and unlock its keys."""

    module: str
    token_label: str
    pin: str
    so_pin: str
    conf_path: Path
    #: key labels on the token (the dev PKI keys: a person's key, "seal", ...)
    key_labels: tuple[str, ...]


def find_module() -> str:
    """Path of libsofthsm2.so, or SoftHsmUnavailable."""
    for path in SOFTHSM_MODULES:
        if Path(path).is_file():
            return path
    raise SoftHsmUnavailable("libsofthsm2.so not found (Debian package softhsm2)")


def provision(directory: Path, pki: DevPki, *, keys: tuple[str, ...] = ("maire",),
              include_seal: bool = True, token_label: str = "parapheur", pin: str = "123456",
              so_pin: str = "12345678") -> SoftHsmToken:
    """Create a token in `directory` holding the dev PKI keys `keys` (and the seal), with certs."""
    util = shutil.which("softhsm2-util")
    if util is None:
        raise SoftHsmUnavailable("softhsm2-util not found (Debian package softhsm2)")
    module = find_module()
    directory = Path(directory)
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n", encoding="utf-8")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    env = dict(os.environ)
    subprocess.run([util, "--init-token", "--free", "--label", token_label, "--so-pin", so_pin,
                    "--pin", pin], check=True, capture_output=True, env=env)
    sources = [(k, pki.pkcs12_path(k)) for k in keys]
    if include_seal:
        sources.append(("seal", pki.seal_pkcs12_path))
    certificates: list[tuple[str, bytes, bytes]] = []
    for index, (label, path) in enumerate(sources, start=1):
        key, cert, chain = pkcs12.load_key_and_certificates(path.read_bytes(),
                                                            pki.passphrase.encode())
        if key is None or cert is None:
            raise ValueError(f"{path} holds no key and certificate")
        object_id = f"{index:02x}"
        with tempfile.NamedTemporaryFile("wb", suffix=".pem", dir=directory) as pem:
            pem.write(key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
            pem.flush()
            subprocess.run([util, "--import", pem.name, "--token", token_label, "--label", label,
                            "--id", object_id, "--pin", pin], check=True, capture_output=True,
                           env=env)
        certificates.append((label, bytes.fromhex(object_id),
                             cert.public_bytes(serialization.Encoding.DER)))
    ca_der = Path(pki.ca_certificate_path).read_bytes()
    from asn1crypto import pem as asn1_pem

    _, _, ca_der = asn1_pem.unarmor(ca_der)
    certificates.append(("ca", b"\xca", ca_der))
    _store_certificates(module, token_label, pin, certificates)
    return SoftHsmToken(module=module, token_label=token_label, pin=pin, so_pin=so_pin,
                        conf_path=conf, key_labels=tuple(label for label, _ in sources))


def _store_certificates(module: str, token_label: str, pin: str,
                        certificates: list[tuple[str, bytes, bytes]]) -> None:
    import pkcs11
    from asn1crypto import x509 as asn1_x509
    from pkcs11 import Attribute, CertificateType, ObjectClass

    lib = pkcs11.lib(module)
    token = lib.get_token(token_label=token_label)
    with token.open(rw=True, user_pin=pin) as session:
        for label, object_id, der in certificates:
            cert = asn1_x509.Certificate.load(der)
            session.create_object({
                Attribute.CLASS: ObjectClass.CERTIFICATE,
                Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                Attribute.TOKEN: True,
                Attribute.LABEL: label,
                Attribute.ID: object_id,
                Attribute.SUBJECT: cert.subject.dump(),
                Attribute.ISSUER: cert.issuer.dump(),
                Attribute.SERIAL_NUMBER: cert["tbs_certificate"]["serial_number"].dump(),
                Attribute.VALUE: der,
            })
