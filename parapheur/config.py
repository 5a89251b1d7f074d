"""Settings in one place: defaults, then PARAPHEUR_* environment variables, then test overrides."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A setting has a value the application cannot use."""

    def __init__(self, variable: str, message: str):
        super().__init__(f"{variable}: {message}")
        self.variable = variable


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("must be one of 1/0, true/false, yes/no, on/off")


def _paths(value: str) -> tuple[Path, ...]:
    paths = tuple(Path(p).expanduser() for p in value.split(os.pathsep) if p.strip())
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ValueError(f"not found: {', '.join(missing)}")
    return paths


def _database_url(value: str) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(value)
    if url.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ValueError("only sqlite:/// and postgresql+psycopg:// URLs are supported")
    return value


@dataclass(frozen=True)
class Setting:
    """One configuration key, the environment variable that sets it and how to read it."""

    key: str
    variable: str
    parse: Callable[[str], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("DATA_DIR", "PARAPHEUR_DATA_DIR", lambda v: Path(v).expanduser().resolve(),
            "Directory for the database, the document store and the demo PKI (default: ./var)."),
    Setting("DATABASE_URL", "PARAPHEUR_DATABASE_URL", _database_url,
            "SQLAlchemy URL (default: sqlite under DATA_DIR; PostgreSQL: postgresql+psycopg://…)."),
    Setting("SECRET_KEY", "PARAPHEUR_SECRET_KEY", str,
            "Key that signs sessions and CSRF tokens (default: generated once into DATA_DIR/secret_key)."),
    Setting("MAX_UPLOAD_MB", "PARAPHEUR_MAX_UPLOAD_MB", _positive_int,
            "Largest accepted upload, in megabytes (default: 50)."),
    Setting("SESSION_HOURS", "PARAPHEUR_SESSION_HOURS", _positive_int,
            "Hours a login lasts before the user must log in again (default: 8)."),
    Setting("SESSION_COOKIE_SECURE", "PARAPHEUR_SECURE_COOKIES", _boolean,
            "Send session cookies over HTTPS only (default: false; set true behind TLS)."),
    Setting("ORGANISATION_NAME", "PARAPHEUR_ORGANISATION_NAME", str,
            "Name of the collectivité shown in pages and documents (default: Métropole de Démo)."),
    Setting("TRUST_ANCHORS", "PARAPHEUR_TRUST_ANCHORS", _paths,
            "Trusted root certificates (PEM/DER files or directories, separated by ':') for "
            "validation reports (default: the demo CA when the demo PKI exists)."),
    Setting("DEMO_PKI_PORT", "PARAPHEUR_DEMO_PKI_PORT", _positive_int,
            "Loopback port of the demo PKI's TSA/OCSP/CRL, written into the demo certificates "
            "when the demo is seeded (default: 8765)."),
    Setting("TSA_URL", "PARAPHEUR_TSA_URL", str,
            "RFC 3161 time-stamping service for PAdES B-T and above (default: none)."),
    Setting("SEAL_PKCS12", "PARAPHEUR_SEAL_PKCS12", lambda v: _existing_file(v),
            "PKCS#12 file of the organisation's seal, applied by the server at cachet steps "
            "(default: the demo PKI's seal.p12 when the demo PKI exists)."),
    Setting("SEAL_PASSPHRASE_FILE", "PARAPHEUR_SEAL_PASSPHRASE_FILE", lambda v: _existing_file(v),
            "File holding the seal's passphrase (first line), so it is never on a command line "
            "(default: the demo PKI's passphrase with the demo seal)."),
    Setting("AGENT_URL", "PARAPHEUR_AGENT_URL", str,
            "Where browsers reach the officials' local signing agent, parapheur-agent "
            "(default: http://127.0.0.1:9795)."),
    Setting("AGENT_PREPARE_MINUTES", "PARAPHEUR_AGENT_PREPARE_MINUTES", _positive_int,
            "Minutes a signature prepared for the local agent stays valid (default: 10)."),
    Setting("WORKFLOWS_DIR", "PARAPHEUR_WORKFLOWS_DIR", lambda v: _existing_file(v, directory=True),
            "Directory of the circuit YAML files and typologie.yaml (default: ./workflows)."),
)


def _existing_file(value: str, *, directory: bool = False) -> Path:
    # Defined after SETTINGS (the lambdas above call it lazily) so that settings stay together.
    path = Path(value).expanduser().resolve()
    if not (path.is_dir() if directory else path.is_file()):
        raise ValueError(f"{'directory' if directory else 'file'} not found")
    return path


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the settings from defaults and the environment; raise ConfigError naming a bad one."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {
        "DATA_DIR": (PROJECT_ROOT / "var").resolve(),
        "DATABASE_URL": None,
        "SECRET_KEY": None,
        "MAX_UPLOAD_MB": 50,
        "SESSION_HOURS": 8,
        "SESSION_COOKIE_SECURE": False,
        "TSA_URL": None,
        "ORGANISATION_NAME": "Métropole de Démo",
        "TRUST_ANCHORS": (),
        "DEMO_PKI_PORT": 8765,
        "AGENT_URL": "http://127.0.0.1:9795",
        "AGENT_PREPARE_MINUTES": 10,
    }
    for setting in SETTINGS:
        raw = environ.get(setting.variable)
        if raw is None:
            continue
        try:
            values[setting.key] = setting.parse(raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(setting.variable, f"invalid value {raw!r}: {exc}") from None
    return values


def finalize(config: dict[str, Any]) -> None:
    """Fill in the settings that derive from others (database path, secret key, upload limit)."""
    data_dir = Path(config["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = f"sqlite:///{data_dir / 'parapheur.sqlite3'}"
    if not config.get("SECRET_KEY"):
        key_file = data_dir / "secret_key"
        if not key_file.exists():
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        config["SECRET_KEY"] = key_file.read_text().strip()
    config["MAX_CONTENT_LENGTH"] = int(config["MAX_UPLOAD_MB"]) * 1024 * 1024
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=int(config["SESSION_HOURS"]))
