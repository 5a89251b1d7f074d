"""Wiring of the registries that side effects need: outbox handlers, exporters, notifiers, queue.

The app factory calls `init_app`; nothing here is a module global, so that two apps (a test and
its worker, two instances) never share a registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from parapheur.circuits import exporters as exporter_registry
from parapheur.circuits import exports
from parapheur.circuits import services as circuits
from parapheur.circuits.errors import CircuitError
from parapheur.config import ConfigError
from parapheur.context import workflows_dir_for
from parapheur.notifications import handlers as notification_handlers
from parapheur.notifications.mail import MailNotifier
from parapheur.notifications.smtp import SmtpSettings
from parapheur.outbox import tasks
from parapheur.outbox.services import HANDLERS_KEY, Handler
from parapheur.signatures import seal

if TYPE_CHECKING:
    from flask import Flask


def outbox_handlers() -> dict[str, Handler]:
    """Every kind of side effect the worker knows how to deliver."""
    from parapheur.webhooks import handlers as webhook_handlers

    return {**exports.handlers(), **seal.handlers(), **notification_handlers.handlers(),
            **webhook_handlers.handlers()}


def exporters(overrides: Mapping[str, Any] | None = None) -> dict[str, exporter_registry.Exporter]:
    """The shipped exporters, plus those a caller (a test, a plug-in) adds under EXPORTERS."""
    return {**exporter_registry.default_exporters(), **dict((overrides or {}).get("EXPORTERS") or {})}


def check_workflows(app: Flask) -> None:
    """Refuse to start when an export step names no installed exporter."""
    try:
        catalogue = circuits.catalogue(workflows_dir_for(app.config))
    except CircuitError:
        return  # a broken directory is reported by the pages and `parapheur workflows check`
    problems = exporter_registry.missing_exporters(
        catalogue.circuits, app.extensions[exporter_registry.EXPORTERS_KEY])
    if problems:
        raise ConfigError("PARAPHEUR_WORKFLOWS_DIR", "un circuit ne peut pas démarrer :\n  "
                          + "\n  ".join(str(p) for p in problems))


def init_app(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Register handlers, exporters and notifiers, check the circuits, build the task queue."""
    app.extensions[HANDLERS_KEY] = outbox_handlers()
    app.extensions[exporter_registry.EXPORTERS_KEY] = exporters(overrides)
    smtp = SmtpSettings.from_url(app.config["SMTP_URL"]) if app.config.get("SMTP_URL") else None
    app.extensions[notification_handlers.NOTIFIERS_KEY] = {
        "mail": MailNotifier(smtp, str(app.config.get("MAIL_FROM")))}
    check_workflows(app)
    from parapheur.webhooks.services import install as install_webhooks

    install_webhooks(app.extensions["parapheur.sessionmaker"])  # fan-out inside each commit
    tasks.init_app(app)
