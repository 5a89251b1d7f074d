"""The `parapheur` command: each domain contributes its commands to this group."""

from __future__ import annotations

import importlib
import sys

import click

from parapheur.config import ConfigError
from parapheur.errors import ParapheurError

# Command name → "module:attribute". Commands are imported only when used, so that a command
# such as `parapheur verify`, run once per batch by auditors' scripts, does not pay for Flask,
# SQLAlchemy or the signing stack at start-up.
COMMANDS: dict[str, str] = {
    "db": "parapheur.app_cli:db_group",
    "demo": "parapheur.app_cli:demo_group",
    "serve": "parapheur.app_cli:serve",
    "worker": "parapheur.app_cli:worker_command",
    "notifications": "parapheur.notifications.cli:notifications_group",
    "audit": "parapheur.app_cli:audit_group",
    "users": "parapheur.app_cli:users_group",
    "desks": "parapheur.app_cli:desks_group",
    "orgs": "parapheur.organisations.cli:orgs_group",
    "sso": "parapheur.sso.cli:sso_group",
    "delegations": "parapheur.app_cli:delegations_group",
    "store": "parapheur.app_cli:store_group",
    "workflows": "parapheur.circuits.cli:workflows_group",
    "sign": "parapheur.signatures.cli:sign_command",
    "pki": "parapheur.signatures.cli:pki_group",
    "verify": "parapheur.verification.cli:verify_command",
    "invoices": "parapheur.invoices.cli:invoices_group",
    "engagements": "parapheur.invoices.cli:engagements_group",
    "archive": "parapheur.archival.cli:archive_group",
    "pes": "parapheur.accounting.cli:pes_group",
    "export": "parapheur.accounting.cli:export_group",
    "certificates": "parapheur.signatures.agent_cli:certificates_group",
    "tokens": "parapheur.api.cli:tokens_group",
}


class ParapheurGroup(click.Group):
    """Lazily loaded commands; configuration and domain errors become a message and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module_name), attribute)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"Erreur de configuration : {exc}", err=True)
            sys.exit(2)
        except ParapheurError as exc:
            click.echo(f"Erreur : {exc.message}", err=True)
            sys.exit(1)


@click.group(cls=ParapheurGroup)
@click.version_option(package_name="parapheur")
def main() -> None:
    """Parapheur électronique: circuits, PAdES signatures, audit and accounting exports."""
