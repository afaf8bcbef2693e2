"""A tiny SMTP server on 127.0.0.1 for tests: takes every message (EHLO, optional AUTH, MAIL, RCPT, DATA) and keeps it."""

from __future__ import annotations

import base64
import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    login: str | None = None


@dataclass
class SmtpDouble:
    received: list[Received] = field(default_factory=list)
    refuse: bool = False  # answer 554 to every MAIL FROM (a server that is down for mail)
    host: str = "127.0.0.1"
    port: int = 0
    _server: socketserver.ThreadingTCPServer | None = None

    def start(self) -> SmtpDouble:
        double = self

        class Handler(socketserver.StreamRequestHandler):
            def send(self, line: str) -> None:
                self.wfile.write((line + "\r\n").encode())

            def handle(self) -> None:
                self.send("220 smtp-double ready")
                sender, recipients, login = "", [], None
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    verb = line.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.send("250-smtp-double")
                        self.send("250 AUTH PLAIN LOGIN")
                    elif verb == "AUTH":
                        parts = line.split(" ")
                        if parts[1].upper() == "PLAIN" and len(parts) > 2:
                            login = base64.b64decode(parts[2]).split(b"\0")[1].decode()
                        self.send("235 2.7.0 Authentication successful")
                    elif verb == "MAIL":
                        if double.refuse:
                            self.send("554 5.7.1 refused by the test")
                            continue
                        sender, recipients = line.split(":", 1)[1].strip().strip("<>").split(">")[0], []
                        self.send("250 OK")
                    elif verb == "RCPT":
                        recipients.append(line.split(":", 1)[1].strip().strip("<>"))
                        self.send("250 OK")
                    elif verb == "DATA":
                        self.send("354 End data with <CR><LF>.<CR><LF>")
                        lines = []
                        while (data := self.rfile.readline()) not in (b".\r\n", b""):
                            lines.append(data[1:] if data.startswith(b"..") else data)
                        message = message_from_bytes(b"".join(lines), policy=policy.default)
                        double.received.append(Received(sender, recipients, message, login))  # type: ignore[arg-type]
                        self.send("250 OK queued")
                    elif verb == "QUIT":
                        self.send("221 Bye")
                        return
                    else:  # RSET, NOOP…
                        self.send("250 OK")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="smtp-double", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
