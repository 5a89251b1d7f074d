"""The `parapheur-agent` command: serve on 127.0.0.1, list or forget pairings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from parapheur.agent import __version__

DEFAULT_PORT = 9795


def default_config_dir() -> Path:
    """Where pairings are kept: $XDG_CONFIG_HOME/parapheur-agent (or %APPDATA% on Windows)."""
    base = os.environ.get("APPDATA") if sys.platform == "win32" else None
    base = base or os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "parapheur-agent"


config_option = click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path),
                             default=default_config_dir, show_default="~/.config/parapheur-agent",
                             help="Where pairings are kept.")


@click.group()
@click.version_option(__version__, prog_name="parapheur-agent")
def main() -> None:
    """Agent de signature local du parapheur : la carte signe sur ce poste, le PIN y reste."""


@main.command()
@click.option("--module", "modules", multiple=True, required=True,
              help="PKCS#11 module of the card or token (repeatable), e.g. "
                   "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so.")
@click.option("--allow-origin", "origins", multiple=True, required=True,
              help="Origin of the parapheur server allowed to use the agent (repeatable), e.g. "
                   "https://parapheur.ville.fr.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True,
              help="Loopback port (the server's PARAPHEUR_AGENT_URL); 0 picks a free one.")
@config_option
@click.option("--pin-file", type=click.Path(dir_okay=False, path_type=Path),
              envvar="PARAPHEUR_AGENT_PIN_FILE",
              help="FOR AUTOMATION AND TESTS ONLY: read the PIN from this file and accept every "
                   "pairing and batch without asking (each summary is still printed).")
@click.option("--ask", type=click.Choice(["page", "terminal"]), default="page",
              show_default=True,
              help="Where the official confirms and types the PIN: the agent's own page "
                   "(opened in her browser at each question) or this terminal.")
def serve(modules: tuple[str, ...], origins: tuple[str, ...], port: int, config_dir: Path,
          pin_file: Path | None, ask: str) -> None:
    """Listen on 127.0.0.1 for the allowed parapheur servers."""
    from parapheur.agent.interaction import (
        AutomationInteraction,
        Interaction,
        TerminalInteraction,
    )
    from parapheur.agent.page import PageInteraction
    from parapheur.agent.pairing import Pairings
    from parapheur.agent.server import Agent, AgentHTTPServer
    from parapheur.agent.tokens import Tokens

    for module in modules:
        if not Path(module).is_file():
            raise click.UsageError(f"module PKCS#11 introuvable : {module}")
    interaction: Interaction
    if pin_file:
        interaction = AutomationInteraction(pin_file)
    else:
        interaction = PageInteraction() if ask == "page" else TerminalInteraction()
    agent = Agent(Tokens(modules), Pairings(config_dir, list(origins)), interaction)
    try:
        server = AgentHTTPServer(agent, port)
    except OSError as exc:
        raise click.ClickException(
            f"le port {port} de 127.0.0.1 n'est pas libre ({exc.strerror})") from None
    if isinstance(interaction, PageInteraction):
        interaction.base_url = server.url
    # The first line is read by scripts (and tests) to learn the port chosen.
    click.echo(f"parapheur-agent {__version__} à l'écoute sur {server.url} pour "
               f"{', '.join(origins)}", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@main.command()
@config_option
def pairings(config_dir: Path) -> None:
    """List the parapheur servers this agent is paired with."""
    from parapheur.agent.pairing import Pairings

    found = Pairings(config_dir, []).all()
    if not found:
        click.echo("Aucun appairage.")
    for pairing in found:
        click.echo(f"{pairing.origin}\t{pairing.server}\t{pairing.fingerprint}\t"
                   f"{pairing.paired_at}")


@main.command()
@click.argument("origin")
@config_option
def unpair(origin: str, config_dir: Path) -> None:
    """Forget the pairing of ORIGIN (it must pair again, with the official's consent)."""
    from parapheur.agent.pairing import Pairings

    if not Pairings(config_dir, []).forget(origin):
        raise click.ClickException(f"aucun appairage pour {origin}")
    click.echo(f"Appairage de {origin} oublié.")
