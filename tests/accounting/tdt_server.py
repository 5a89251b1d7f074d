"""A tiers de télétransmission on loopback: a real HTTP server taking PES files by POST.

Each answer is scripted (`answers`: status codes, "stall" to hold the request until released),
then 201 with a JSON receipt; every request received is kept (headers and body).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """One request the TdT received."""

    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass
class TdtServer:
    """The server, its script and what it received."""

    answers: list = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def start(self) -> TdtServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                owner.received.append(Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                answer = owner.answers.pop(0) if owner.answers else 201
                if answer == "stall":
                    owner.release.wait(30)  # the client gives up first (its timeout)
                    return
                if answer == 201:
                    payload = json.dumps({"id": f"TDT-{len(owner.received)}"}).encode()
                    self.send_response(201)
                    self.send_header("Content-Type", "application/json")
                else:
                    payload = f"erreur {answer} du TdT".encode()
                    self.send_response(int(answer))
                    self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/pes"

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
