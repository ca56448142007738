"""A FreeSWITCH event socket (mod_event_socket, inbound) that plays a recorded session.

It speaks what callboard's client uses: the ``auth/request`` greeting and ``auth``,
``events plain ...`` (a ``command/reply``), ``api callcenter_config tier list`` (an
``api/response`` with a body), and events as ``text/event-plain`` frames with the
values URL-encoded. Each connection plays the slice of the session planned for it;
after a slice that is not the last it closes the socket (a dropped connection) and
accepts the next connection only once ``reconnect`` is set."""

from __future__ import annotations

import socket
import threading
from urllib.parse import quote


def frame(headers: dict[str, str]) -> bytes:
    body = "".join(f"{k}: {quote(v, safe='')}\n" for k, v in headers.items()) + "\n"
    raw = body.encode()
    return (f"Content-Length: {len(raw)}\nContent-Type: text/event-plain\n\n").encode() + raw


class FakeEsl:
    def __init__(self, events: list[dict[str, str]], slices: list[tuple[int, int]],
                 tiers: str, password: str = "ClueCon") -> None:
        self.events, self.slices, self.tiers, self.password = events, slices, tiers, password
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.reconnect = threading.Event()
        self.played: list[int] = []  # connections that played their slice whole
        self.commands: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeEsl:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.reconnect.set()
        self.server.close()
        self.thread.join(10)

    def _serve(self) -> None:
        for n, (start, end) in enumerate(self.slices):
            if n:
                self.reconnect.wait()
            conn = self._accept()
            if conn is None:
                return
            with conn:
                for headers in self.events[start:end]:
                    conn.sendall(frame(headers))
                self.played.append(n)
                if n == len(self.slices) - 1:
                    self._stop.wait()  # the last connection stays open

    def _accept(self) -> socket.socket | None:
        """The next connection that signs in and subscribes (a client that gave up
        waiting for the greeting leaves a dead one in the backlog: skipped)."""
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return None
            try:
                reader = conn.makefile("rb")
                conn.sendall(b"Content-Type: auth/request\n\n")
                if self._command(reader) != f"auth {self.password}":
                    conn.close()
                    continue
                conn.sendall(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
                for _ in range(2):  # the subscription, then the tier list
                    command = self._command(reader)
                    if command.startswith("api "):
                        body = self.tiers.encode()
                        conn.sendall(f"Content-Type: api/response\nContent-Length: {len(body)}"
                                     "\n\n".encode() + body)
                    else:
                        conn.sendall(b"Content-Type: command/reply\n"
                                     b"Reply-Text: +OK event listener enabled plain\n\n")
                return conn
            except OSError:
                conn.close()
        return None

    def _command(self, reader: object) -> str:
        lines = []
        while True:
            line = reader.readline()  # type: ignore[attr-defined]
            if not line:
                return ""
            if line in (b"\n", b"\r\n"):
                if lines:
                    break
                continue
            lines.append(line.decode().strip())
        command = " ".join(lines)
        self.commands.append(command)
        return command
