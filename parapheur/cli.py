"""The `parapheur` command: each domain contributes its commands to this group."""

from __future__ import annotations

import sys

import click

from parapheur.config import ConfigError


class ParapheurGroup(click.Group):
    """Turns configuration and domain errors into a message and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context):
        from parapheur.errors import ParapheurError

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


def _register() -> None:
    # Each domain owns its commands; they are gathered here.
    from parapheur.app_cli import (
        audit_group,
        db_group,
        delegations_group,
        demo_group,
        desks_group,
        serve,
        users_group,
    )

    main.add_command(db_group)
    main.add_command(demo_group)
    main.add_command(serve)
    main.add_command(audit_group)
    main.add_command(users_group)
    main.add_command(desks_group)
    main.add_command(delegations_group)
    from parapheur.circuits.cli import workflows_group

    main.add_command(workflows_group)
    from parapheur.signatures.cli import pki_group, sign_command

    main.add_command(sign_command)
    main.add_command(pki_group)
    from parapheur.verification.cli import verify_command

    main.add_command(verify_command)


_register()
