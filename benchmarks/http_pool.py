"""A lean HTTP/1.1 client for the load generator: keep-alive connections, one request each.

Why not aiohttp's client: in `e2e.py` the load generator shares the machine's two
cores with the daemon, the broker and the relay, and every millisecond of CPU it
spends is taken from what it measures. aiohttp's client costs about 0.25 ms of CPU
per request here (a `ClientRequest`, a `ClientResponse`, a connector, a timer
context, header multidicts); two requests per contact (its POST and the desks'
complete) were a third of the load generator's CPU. This sends prepared bytes on a
pooled keep-alive connection and reads the answer's status line, `Content-Length`
and body: what the benchmark needs of HTTP and nothing more.

It reads only what the servers it talks to send (aiohttp servers: the daemon and
the bare relay): answers with a `Content-Length`. Anything else (chunked
encoding, a closed connection mid-answer) fails the request loudly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast


class ConnectionLost(ConnectionError):
    """The connection closed before the whole answer arrived: send the request again."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    #: the answer's `Retry-After`, in seconds, when it has one
    retry_after: float | None
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Answer] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's, but have its interface
        self.transport = cast("asyncio.Transport", transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionLost(f"connection closed mid-answer: {exc}"))

    def request(self, data: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        assert self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self._waiter

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is None:
            return  # nothing asked: a server closing politely, say; dropped with the connection
        try:
            answer = self._answer()
        except ValueError as error:
            self._waiter = None
            waiter.set_exception(error)
            self.close()
            return
        if answer is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(answer)

    def _answer(self) -> Answer | None:
        """The whole answer at the buffer's head, taken off it; None while incomplete."""
        buffer = self._buffer
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        lines = bytes(buffer[:head_end]).split(b"\r\n")
        if not lines[0].startswith(b"HTTP/1.1 "):
            raise ValueError(f"not an HTTP/1.1 answer: {lines[0][:80]!r}")
        status = int(lines[0][9:12])
        length: int | None = None
        retry_after: float | None = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"retry-after":
                retry_after = float(value)
            elif name == b"transfer-encoding":
                raise ValueError("chunked answers are not read here")
        if length is None:
            raise ValueError("an answer without Content-Length")
        end = head_end + 4 + length
        if len(buffer) < end:
            return None
        body = bytes(buffer[head_end + 4 : end])
        del buffer[:end]
        return Answer(status, retry_after, body)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttpPool:
    """Up to `size` keep-alive connections to one server; requests beyond them wait."""

    def __init__(self, base: str, headers: Mapping[str, str], size: int) -> None:
        host_port = base.removeprefix("http://").rstrip("/")
        host, _, port = host_port.rpartition(":")
        self.host, self.port = host, int(port)
        self._head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._head += f"Host: {host_port}\r\n"
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(size)
        self._open: set[_Connection] = set()

    def prepare(self, path: str, body: bytes) -> bytes:
        """The bytes of `POST path` with `body`: made once, sent as often as needed."""
        head = f"POST {path} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    async def send(self, request: bytes) -> Answer:
        """Send a prepared request; its answer, or `ConnectionLost` (send it again)."""
        async with self._slots:
            connection = self._idle_connection() or await self._connect()
            try:
                answer = await connection.request(request)
            except BaseException:
                connection.close()
                self._open.discard(connection)
                raise
            if connection.closed:
                self._open.discard(connection)
            else:
                self._idle.append(connection)
            return answer

    def _idle_connection(self) -> _Connection | None:
        """A kept connection still open (the server may have closed one meanwhile)."""
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
            self._open.discard(connection)
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(_Connection, self.host, self.port)
        self._open.add(connection)
        return connection

    def close(self) -> None:
        for connection in self._open:
            connection.close()
        self._open.clear()
        self._idle.clear()
