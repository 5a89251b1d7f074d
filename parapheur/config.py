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


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be a whole number, 0 or more")
    return number


def _positive_seconds(value: str) -> float:
    number = float(value)
    if not 0 < number <= 3600:
        raise ValueError("must be a number of seconds between 0 and 3600")
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


def _rate_limit(value: str) -> str:
    from limits import parse_many

    parse_many(value)  # raises ValueError when it is not "N per minute; M per hour"
    return value


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
    Setting("DATABASE_POOL_SIZE", "PARAPHEUR_DATABASE_POOL_SIZE", _positive_int,
            "Database connections each process keeps open (default: 5)."),
    Setting("DATABASE_MAX_OVERFLOW", "PARAPHEUR_DATABASE_MAX_OVERFLOW", _non_negative_int,
            "Connections opened beyond the pool under load, closed afterwards (default: 10)."),
    Setting("DATABASE_POOL_TIMEOUT", "PARAPHEUR_DATABASE_POOL_TIMEOUT", _positive_seconds,
            "Seconds a request waits for a free connection before answering 503 (default: 5)."),
    Setting("SECRET_KEY", "PARAPHEUR_SECRET_KEY", str,
            "Key that signs sessions and CSRF tokens (default: generated once into DATA_DIR/secret_key)."),
    Setting("MAX_UPLOAD_MB", "PARAPHEUR_MAX_UPLOAD_MB", _positive_int,
            "Largest accepted upload, in megabytes (default: 50)."),
    Setting("SESSION_HOURS", "PARAPHEUR_SESSION_HOURS", _positive_int,
            "Hours a login lasts before the user must log in again (default: 8)."),
    Setting("SESSION_IDLE_MINUTES", "PARAPHEUR_SESSION_IDLE_MINUTES", _positive_int,
            "Minutes without any request after which a login ends (default: 60)."),
    Setting("LOGIN_RATE_LIMIT", "PARAPHEUR_LOGIN_RATE_LIMIT", _rate_limit,
            "Login attempts accepted from one address, as Flask-Limiter limits "
            "(default: 20 per minute; 100 per hour)."),
    Setting("API_RATE_LIMIT", "PARAPHEUR_API_RATE_LIMIT", _rate_limit,
            "Requests of the REST API accepted per token, as Flask-Limiter limits "
            "(default: 600 per minute)."),
    Setting("WEBHOOK_ALLOW_PRIVATE", "PARAPHEUR_WEBHOOK_ALLOW_PRIVATE", _boolean,
            "Accept webhook URLs on loopback or private addresses (default: false)."),
    Setting("PKCS11_MODULES", "PARAPHEUR_PKCS11_MODULES", _paths,
            "PKCS#11 modules (.so files, separated by ':') administrators may register tokens "
            "with (default: none)."),
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
    Setting("INVOICES_DEFAULT_DESK", "PARAPHEUR_INVOICES_DEFAULT_DESK", str,
            "Desk that certifies service fait when neither an engagement nor the code service "
            "(BT-10) names one (default: finances)."),
    Setting("INVOICES_ECB_RATE", "PARAPHEUR_INVOICES_ECB_RATE", lambda v: _decimal(v),
            "ECB main refinancing rate in percent, for intérêts moratoires (ECB + 8 points; "
            "default: 2.15)."),
    Setting("INVOICES_MAX_MB", "PARAPHEUR_INVOICES_MAX_MB", _positive_int,
            "Largest accepted invoice file, in megabytes (default: 20; its XML: 5)."),
    Setting("REDIS_URL", "PARAPHEUR_REDIS_URL", lambda v: _redis_url(v),
            "Redis of the task queue and of the login rate limits (redis://host:6379/0); "
            "default: a SQLite queue file in DATA_DIR and limits in each process's memory, "
            "enough for one machine."),
    Setting("QUEUE_NAME", "PARAPHEUR_QUEUE_NAME", lambda v: _slug(v),
            "Name of the task queue, so that several instances can share one Redis "
            "(default: parapheur)."),
    Setting("SMTP_URL", "PARAPHEUR_SMTP_URL", lambda v: _smtp_url(v),
            "Mail server for notifications: smtp://host:25, smtp+starttls://user:password@host:587 "
            "or smtps://host:465 (default: none, notifications are journaled as not sent)."),
    Setting("MAIL_FROM", "PARAPHEUR_MAIL_FROM", str,
            "Sender of notifications (default: Parapheur <parapheur@localhost>)."),
    Setting("BASE_URL", "PARAPHEUR_BASE_URL", lambda v: _http_url(v),
            "Public address of the application, for links in mails "
            "(default: http://127.0.0.1:5000)."),
    Setting("QUIET_HOURS", "PARAPHEUR_QUIET_HOURS", lambda v: _quiet_hours(v),
            "Quiet hours of the organisation (droit à la déconnexion), Paris time, plus weekends "
            "and public holidays; users may change theirs (default: 19:00-08:00)."),
    Setting("OUTBOX_MAX_ATTEMPTS", "PARAPHEUR_OUTBOX_MAX_ATTEMPTS", _positive_int,
            "Tries of a side effect (mail, export) before it is given up (default: 8)."),
    Setting("OUTBOX_RETRY_SECONDS", "PARAPHEUR_OUTBOX_RETRY_SECONDS", _positive_int,
            "Delay before the first retry, doubled at each try, at most an hour (default: 30)."),
    Setting("OUTBOX_LEASE_SECONDS", "PARAPHEUR_OUTBOX_LEASE_SECONDS", _positive_int,
            "How long a worker holds a side effect it took; past it another worker takes it "
            "over (default: 300)."),
    Setting("HELIOS_POLICY_SHA256", "PARAPHEUR_HELIOS_POLICY_SHA256", lambda v: _sha256_b64(v),
            "Base64 SHA-256 of the Hélios signature policy (default: Libriciel's value)."),
    Setting("PES_DEPOSIT_DIR", "PARAPHEUR_PES_DEPOSIT_DIR", lambda v: Path(v).expanduser().resolve(),
            "Folder the tiers de télétransmission's client watches; PES files are deposited there "
            "(default: $PARAPHEUR_DATA_DIR/pes-depot)."),
    Setting("PES_HTTP_URL", "PARAPHEUR_PES_HTTP_URL", lambda v: _http_url(v),
            "Endpoint of the tiers de télétransmission PES files are POSTed to, instead of the "
            "deposit folder (default: none)."),
    Setting("PES_HTTP_TOKEN_FILE", "PARAPHEUR_PES_HTTP_TOKEN_FILE", lambda v: _existing_file(v),
            "File whose first line is the bearer token sent to PARAPHEUR_PES_HTTP_URL "
            "(default: none, no Authorization header)."),
    Setting("PES_HTTP_TIMEOUT", "PARAPHEUR_PES_HTTP_TIMEOUT", _positive_int,
            "Seconds to wait for the tiers de télétransmission's answer (default: 30)."),
    Setting("PES_UPLOAD_MAX_MB", "PARAPHEUR_PES_UPLOAD_MAX_MB", _positive_int,
            "Largest PES_ACQUIT or PES_Retour accepted from the accounting pages, in megabytes "
            "(default: 20)."),
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


def _sha256_b64(value: str) -> str:
    import base64
    import binascii

    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise ValueError("not a base64 SHA-256 (32 bytes)")
    return value.strip()


def _decimal(value: str):
    from decimal import Decimal, InvalidOperation

    try:
        return Decimal(value.strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError("not a decimal number") from None
_SECRET_KEYS = frozenset({"SECRET_KEY", "SMTP_URL", "REDIS_URL", "DATABASE_URL"})


def _redis_url(value: str) -> str:
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("redis://host:6379/0, rediss://… or unix://… expected")
    return value


def _slug(value: str) -> str:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,60}", value):
        raise ValueError("lowercase letters, digits, - and _ only")
    return value


def _smtp_url(value: str) -> str:
    from parapheur.notifications.smtp import SmtpSettings

    SmtpSettings.from_url(value)  # the message never repeats the URL: it may hold a password
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("http:// or https:// address expected")
    return value.rstrip("/")


def _quiet_hours(value: str) -> str:
    from parapheur.notifications.quiet_hours import QuietHours

    QuietHours.parse(value)
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the settings from defaults and the environment; raise ConfigError naming a bad one."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {
        "DATA_DIR": (Path.cwd() / "var").resolve(),
        "DATABASE_URL": None,
        "SECRET_KEY": None,
        "DATABASE_POOL_SIZE": 5,
        "DATABASE_MAX_OVERFLOW": 10,
        "DATABASE_POOL_TIMEOUT": 5.0,
        "MAX_UPLOAD_MB": 50,
        "SESSION_HOURS": 8,
        "SESSION_IDLE_MINUTES": 60,
        "LOGIN_RATE_LIMIT": "20 per minute; 100 per hour",
        "API_RATE_LIMIT": "600 per minute",
        "WEBHOOK_ALLOW_PRIVATE": False,
        "PKCS11_MODULES": (),
        "SESSION_COOKIE_SECURE": False,
        "TSA_URL": None,
        "ORGANISATION_NAME": "Métropole de Démo",
        "TRUST_ANCHORS": (),
        "DEMO_PKI_PORT": 8765,
        "INVOICES_DEFAULT_DESK": "finances",
        "INVOICES_ECB_RATE": _decimal("2.15"),
        "INVOICES_MAX_MB": 20,
        "REDIS_URL": None,
        "QUEUE_NAME": "parapheur",
        "SMTP_URL": None,
        "MAIL_FROM": "Parapheur <parapheur@localhost>",
        "BASE_URL": "http://127.0.0.1:5000",
        "QUIET_HOURS": "19:00-08:00",
        "OUTBOX_MAX_ATTEMPTS": 8,
        "OUTBOX_RETRY_SECONDS": 30,
        "OUTBOX_LEASE_SECONDS": 300,
        "HELIOS_POLICY_SHA256": "roF9+cfRHNPtVJolhdqfIqGMVuUXX8aR4rpiquf0u5E=",
        "PES_DEPOSIT_DIR": None,
        "PES_HTTP_URL": None,
        "PES_HTTP_TOKEN_FILE": None,
        "PES_HTTP_TIMEOUT": 30,
        "PES_UPLOAD_MAX_MB": 20,
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
            # URLs that may carry a password are never repeated back.
            shown = "(hidden)" if setting.key in _SECRET_KEYS else repr(raw)
            raise ConfigError(setting.variable, f"invalid value {shown}: {exc}") from None
    return values


def finalize(config: dict[str, Any]) -> None:
    """Fill in the settings that derive from others (database path, secret key, upload limit)."""
    data_dir = Path(config["DATA_DIR"])
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if data_dir.stat().st_uid == os.getuid():
        data_dir.chmod(0o700)  # documents, keys and the database: the service's account only
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
