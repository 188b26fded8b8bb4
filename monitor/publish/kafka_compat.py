"""A loopback relay that lets librdkafka 2.0 clients (Debian's kcat) talk to the local broker.

The bundled broker (Tansu) answers ApiVersions v3 with all four tagged fields
of KIP-511/KIP-584 (SupportedFeatures, FinalizedFeaturesEpoch,
FinalizedFeatures, ZkMigrationReady), defaults included. librdkafka 2.0
misreads that tail ("Read underflow ... ApiVersion v3") and gives up; no
client setting avoids the request (``api.version.request=false`` only works
with ``broker.version.fallback`` < 0.10, whose Fetch and ListOffsets versions
Tansu does not serve). kafka-python reads the reply fine.

The relay forwards bytes both ways and changes one thing: in a response to
an ApiVersions request of version 3 or more it drops the top-level tagged
fields (all optional; an empty tag section is the same answer without the
feature flags nobody here uses). The local broker advertises the relay's
port, so every client, kcat included, goes through it. It is for the
development broker only; a production cluster is reached directly.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading

__all__ = ["ApiVersionsRelay", "strip_api_versions_tags"]

log = logging.getLogger(__name__)

_API_VERSIONS = 18
_MAX_FRAME = 64 * 1024 * 1024


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _skip_tags(data: bytes, pos: int) -> int:
    count, pos = _uvarint(data, pos)
    for _ in range(count):
        _, pos = _uvarint(data, pos)
        size, pos = _uvarint(data, pos)
        pos += size
    return pos


def strip_api_versions_tags(body: bytes) -> bytes:
    """An ApiVersions v3+ response body (after the correlation id) without its top-level
    tagged fields; anything that does not parse is returned unchanged."""
    try:
        pos = 2  # error_code
        count, pos = _uvarint(body, pos)
        for _ in range(max(0, count - 1)):
            pos = _skip_tags(body, pos + 6)  # api_key, min_version, max_version
        pos += 4  # throttle_time_ms
        if pos > len(body):
            return body
        _skip_tags(body, pos)
    except IndexError:
        return body
    return body[:pos] + b"\x00"


async def _frames(reader: asyncio.StreamReader):  # type: ignore[no-untyped-def]
    while True:
        head = await reader.readexactly(4)
        size = struct.unpack(">i", head)[0]
        if not 0 <= size <= _MAX_FRAME:
            raise ConnectionError(f"frame of {size} bytes")
        yield await reader.readexactly(size)


class ApiVersionsRelay:
    """Relay ``127.0.0.1:listen_port`` to ``127.0.0.1:target_port`` (see the module docstring).

    Runs its own event loop in a daemon thread, so the synchronous
    :class:`~monitor.publish.local_broker.LocalBroker` can own it.
    """

    def __init__(self, listen_port: int, target_port: int, host: str = "127.0.0.1") -> None:
        self.host, self.listen_port, self.target_port = host, listen_port, target_port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._loop is not None and self._started.is_set() and self._error is None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="kafka-relay", daemon=True)
        self._thread.start()
        self._started.wait(10)
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            self._server = loop.run_until_complete(asyncio.start_server(
                self._client, self.host, self.listen_port, reuse_address=True))
        except OSError as exc:
            self._error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
            # let the cancelled connections finish before the loop goes
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            loop.close()

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None or loop.is_closed():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    async def _client(self, c_reader: asyncio.StreamReader,
                      c_writer: asyncio.StreamWriter) -> None:
        try:
            b_reader, b_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            c_writer.close()
            return
        asked: set[int] = set()  # correlation ids of ApiVersions v3+ requests

        async def upstream() -> None:
            async for frame in _frames(c_reader):
                key, version, corr = struct.unpack_from(">hhi", frame)
                if key == _API_VERSIONS and version >= 3:
                    asked.add(corr)
                b_writer.write(struct.pack(">i", len(frame)) + frame)
                await b_writer.drain()

        async def downstream() -> None:
            async for frame in _frames(b_reader):
                corr = struct.unpack_from(">i", frame)[0]
                if corr in asked:
                    asked.discard(corr)
                    frame = frame[:4] + strip_api_versions_tags(frame[4:])
                c_writer.write(struct.pack(">i", len(frame)) + frame)
                await c_writer.drain()

        tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in (c_writer, b_writer):
                writer.close()
