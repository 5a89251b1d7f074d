"""A real SMTP server on loopback (aiosmtpd) whose messages the tests read."""

from __future__ import annotations

import asyncio
import email
import threading
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller

from signing.pki_server import free_loopback_port


class Mailbox:
    """What arrived, by recipient; can refuse (451) or stall the next messages on demand."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse_next = 0
        self.stall_next = False
        self.stalled = threading.Event()  # set when a message is held open
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.port = free_loopback_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.stall_next:
            self.stall_next = False
            self.stalled.set()
            while not self.release.is_set():  # the sender is killed meanwhile
                await asyncio.sleep(0.05)
            return "451 4.3.0 Interrompu"
        if self.refuse_next:
            self.refuse_next -= 1
            return "451 4.3.0 Serveur occupé, réessayez plus tard"
        message = email.message_from_bytes(envelope.content, policy=default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages for this address."""
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]

    @staticmethod
    def text(message: EmailMessage) -> str:
        """The plain-text part."""
        part = message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @staticmethod
    def html(message: EmailMessage) -> str:
        """The HTML part."""
        part = message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""
