"""`parapheur sign` (bulk signing) and `parapheur pki` (development PKI) commands.

Thin wrappers over the `signing` package: the same `BatchSigner` the web app uses for batches.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def _secret_from_env(variable: str, what: str) -> str:
    value = os.environ.get(variable)
    if value is None:
        raise click.UsageError(f"La variable d'environnement {variable} ({what}) n'est pas "
                               f"définie.")
    return value


@click.command("sign")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder receiving the signed files, under the same names.")
@click.option("--pkcs12", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PKCS#12 file holding the key and certificate.")
@click.option("--passphrase-env", metavar="VAR", help="Environment variable with the passphrase.")
@click.option("--pkcs11-module", metavar="LIB", help="PKCS#11 module (.so) of the card or HSM.")
@click.option("--token-label", metavar="L", help="Label of the PKCS#11 token.")
@click.option("--slot", type=int, help="PKCS#11 slot number (instead of --token-label).")
@click.option("--key-label", metavar="K", help="Label of the key on the token.")
@click.option("--key-id", metavar="HEX", help="Id of the key on the token (hex, instead of a label).")
@click.option("--pin-env", metavar="VAR", help="Environment variable with the PIN.")
@click.option("--level", type=click.Choice(LEVELS), default="B-B", show_default=True,
              help="PAdES baseline level.")
@click.option("--tsa", metavar="URL", help="RFC 3161 timestamping service (needed from B-T up).")
@click.option("--trust", "trust", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Trusted root certificate (PEM/DER) for B-LT/B-LTA revocation collection; "
                   "repeatable. Default: the root in the key's own chain.")
@click.option("--reason", help="Reason recorded in the signature.")
@click.option("--location", help="Location recorded in the signature.")
@click.option("--stamp-quality", metavar="TEXT",
              help='Draw a visible stamp with this quality ("Le Maire"); at the #signature# tag '
                   "if the document has one, else bottom right of the last page.")
@click.option("--allow-hybrid-xref", is_flag=True, help="Accept hybrid-reference PDFs.")
def sign_command(files: tuple[Path, ...], out_dir: Path, pkcs12: Path | None,
                 passphrase_env: str | None, pkcs11_module: str | None, token_label: str | None,
                 slot: int | None, key_label: str | None, key_id: str | None,
                 pin_env: str | None, level: str, tsa: str | None, trust: tuple[Path, ...],
                 reason: str | None, location: str | None, stamp_quality: str | None,
                 allow_hybrid_xref: bool) -> None:
    """Sign each FILE into OUT/<same name> (PAdES); exit 1 if any file failed."""
    from signing.batch import BatchSigner
    from signing.errors import SigningError
    from signing.pades import Level, SignOptions, Stamp

    if bool(pkcs12) == bool(pkcs11_module):
        raise click.UsageError("Choisissez une clé : --pkcs12 FICHIER ou --pkcs11-module LIB.")
    out_dir.mkdir(parents=True, exist_ok=True)
    resolved_out = out_dir.resolve()
    names = [f.name for f in files]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise click.UsageError(f"Plusieurs fichiers portent le même nom : {', '.join(duplicates)}.")
    for source in files:
        if source.resolve().parent == resolved_out:
            raise click.UsageError(f"{source} est déjà dans le dossier de sortie : il serait "
                                   f"écrasé.")
    try:
        key = _open_key(pkcs12, passphrase_env, pkcs11_module, token_label, slot, key_label,
                        key_id, pin_env)
    except SigningError as exc:
        click.echo(f"Erreur : {exc.message}", err=True)
        sys.exit(1)
    try:
        trust_roots = [_load_certificate(p) for p in trust] or None
        stamp = (Stamp(signer_name=key.subject_name, quality=stamp_quality)
                 if stamp_quality else None)
        options = SignOptions(level=Level(level), reason=reason, location=location, stamp=stamp,
                              allow_hybrid_xref=allow_hybrid_xref)
        batch = BatchSigner(key, options, timestamper=tsa, trust_roots=trust_roots)
        failures = 0
        show_bar = sys.stderr.isatty() and len(files) > 1
        with click.progressbar(length=len(files), label="Signature", file=sys.stderr,
                               hidden=not show_bar) as bar:
            def report(outcome) -> None:  # noqa: ANN001
                nonlocal failures
                if outcome.ok:
                    line = f"signé   {outcome.source} -> {outcome.target}"
                else:
                    failures += 1
                    line = f"ÉCHEC   {outcome.source} : {outcome.error.message}"
                if show_bar:
                    # Clear the bar's line so the per-file line stays readable.
                    click.echo("\r\x1b[2K", nl=False, err=True)
                click.echo(line)
                bar.update(1)

            batch.sign_files([(f, out_dir / f.name) for f in files], progress=report)
    finally:
        key.close()
    click.echo(f"{len(files) - failures} signé(s), {failures} échec(s).")
    if failures:
        sys.exit(1)


def _open_key(pkcs12: Path | None, passphrase_env: str | None, module: str | None,
              token_label: str | None, slot: int | None, key_label: str | None,
              key_id: str | None, pin_env: str | None):
    from signing.keys import Pkcs11Key, Pkcs12Key

    if pkcs12 is not None:
        if not passphrase_env:
            raise click.UsageError("--pkcs12 demande --passphrase-env VAR.")
        return Pkcs12Key.open(pkcs12, _secret_from_env(passphrase_env, "mot de passe"))
    if not key_label and not key_id:
        raise click.UsageError("--pkcs11-module demande --key-label (ou --key-id).")
    if token_label is None and slot is None:
        raise click.UsageError("--pkcs11-module demande --token-label (ou --slot).")
    pin = _secret_from_env(pin_env, "code PIN") if pin_env else None
    try:
        identifier = bytes.fromhex(key_id) if key_id else None
    except ValueError:
        raise click.UsageError("--key-id attend un identifiant hexadécimal.") from None
    if not module:
        raise click.UsageError("--pkcs11-module est obligatoire pour une clé PKCS#11.")
    return Pkcs11Key.open(module, pin=pin, token_label=token_label, slot=slot,
                          key_label=key_label, key_id=identifier)


def _load_certificate(path: Path):
    from pyhanko.keys import load_cert_from_pemder

    try:
        return load_cert_from_pemder(str(path))
    except Exception as exc:
        raise click.UsageError(f"{path} n'est pas un certificat lisible ({exc}).") from None


@click.group("pki")
def pki_group() -> None:
    """Development PKI: CA, personal and seal certificates, TSA, OCSP and CRL on loopback."""


@pki_group.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--organisation", default="Commune de démonstration", show_default=True)
@click.option("--person", "people", multiple=True, metavar="KEY:NAME:TITLE",
              help='A personal certificate, e.g. "maire:Martine Dupont:Maire"; repeatable.')
@click.option("--passphrase-env", metavar="VAR", default="PARAPHEUR_PKI_PASSPHRASE",
              show_default=True, help="Environment variable with the PKCS#12 passphrase.")
@click.option("--port", type=int, default=None, help="Loopback port put in the certificates' "
              "OCSP/CRL URLs (default 8765).")
def pki_init(directory: Path, organisation: str, people: tuple[str, ...], passphrase_env: str,
             port: int | None) -> None:
    """Create a development PKI in DIRECTORY (never for production)."""
    from signing.pki import DEFAULT_PORT, Person, init_dev_pki

    passphrase = _secret_from_env(passphrase_env, "mot de passe des PKCS#12")
    persons = []
    for spec in people or ("maire:Martine Dupont:Maire",):
        parts = spec.split(":")
        if len(parts) != 3 or not all(parts):
            raise click.UsageError(f'--person attend KEY:NOM:TITRE, pas "{spec}".')
        persons.append(Person(*parts))
    if (directory / "pki.json").exists():
        raise click.UsageError(f"{directory} contient déjà une PKI.")
    pki = init_dev_pki(directory, organisation=organisation, people=persons,
                       passphrase=passphrase,
                       base_url=f"http://127.0.0.1:{port or DEFAULT_PORT}")
    click.echo(f"PKI de développement créée dans {directory}")
    click.echo(f"  racine de confiance : {pki.ca_certificate_path}")
    click.echo(f"  cachet serveur      : {pki.seal_pkcs12_path}")
    for person in persons:
        click.echo(f"  {person.key:<19} : {pki.pkcs12_path(person.key)}")
    click.echo("  tests               : revoked, expired, untrusted (people/*.p12)")
    click.echo(f"Servez horodatage/OCSP/CRL avec : parapheur pki serve {directory}")


@pki_group.command("serve")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--port", type=int, default=None,
              help="Port on 127.0.0.1 (default: the one in the certificates).")
def pki_serve(directory: Path, port: int | None) -> None:
    """Serve the TSA (/tsa), OCSP (/ocsp) and CRL (/crl/ca.crl) of DIRECTORY on 127.0.0.1."""
    from signing.pki import DevPki
    from signing.pki_server import PkiServer

    try:
        pki = DevPki.load(directory)
    except (OSError, ValueError, KeyError) as exc:
        raise click.UsageError(f"{directory} ne contient pas de PKI lisible ({exc}).") from None
    server = PkiServer(pki, port=port)
    if port is not None and port != pki.port:
        click.echo(f"Attention : les certificats annoncent le port {pki.port} pour OCSP/CRL.",
                   err=True)
    click.echo(f"Horodatage : {server.tsa_url}")
    click.echo(f"OCSP       : {server.ocsp_url}")
    click.echo(f"CRL        : {server.crl_url}")
    try:
        server.serve_forever()
    except OSError as exc:
        click.echo(f"Erreur : impossible d'écouter sur le port {server.port} ({exc}).", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
