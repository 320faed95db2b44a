"""The API's HTTP protocol: uvicorn's h11 protocol with a deadline on each request's head.

Uvicorn waits as long as a client likes for the request line and headers, so a client that
sends them a byte at a time (slowloris) keeps a connection, and its memory, for ever; a few
thousand such clients exhaust the process's file descriptors without a proxy in front. Here a
request's head must be complete within ``header_timeout`` seconds of its first byte (or of the
connection, for a client that sends nothing); otherwise the connection is closed. Bodies are not
concerned: an upload's body may take as long as the network needs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def header_deadline_protocol(header_timeout: float) -> type[H11Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with this deadline (seconds)."""

    class HeaderDeadlineProtocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # h11 leaves the client IDLE until a whole request head is parsed.
            if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
                self._arm()
            else:
                self._disarm()

        def _arm(self) -> None:
            if self._head_deadline is None:
                self._head_deadline = self.loop.call_later(header_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _too_slow(self) -> None:
            self._head_deadline = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.logger.info("request head not complete in %.0f s: closed", header_timeout)
                self.transport.close()

    return HeaderDeadlineProtocol
