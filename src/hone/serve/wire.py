"""The messages between the HTTP process and the model worker, and how they travel.

Every message is a tuple `(kind, request id, payload)`, pickled (both ends are hone's own processes, started
together over a private socket pair; nothing else can write to it) and framed by a 4-byte big-endian length.
Each side reads and writes the socket on its own event loop (`Channel`): no thread blocks on it, and a send
never waits for the other side.

HTTP process -> worker:
- `RUN`    (op, body): run operation `op` (`hone.serve.worker.OPS`) on `body`, a parsed request model.
- `CANCEL` None: the client went away; stop the request's work, send nothing more for it.
- `STOP`   None: finish (the HTTP process has drained).

worker -> HTTP process:
- `STATUS` dict (id 0): loaded, failure, the served models (`/v1/models` cards), engines.
- `RESULT` dict: the JSON body of a 200 answer; the request is over.
- `ERROR`  (status, body, headers): an OpenAI-style error answer; the request is over.
- `CHUNK`  dict: one chunk of a streamed answer; more follow.
- `END`    None: the stream is over.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from typing import Any

RUN, CANCEL, STOP = "run", "cancel", "stop"
STATUS, RESULT, ERROR, CHUNK, END = "status", "result", "error", "chunk", "end"
FINAL = frozenset({RESULT, ERROR, END})  # the last message of a request
LENGTH = struct.Struct("!I")
LIMIT = 1 << 30  # no message is near this: a length past it means the stream is corrupt


class Channel:
    """One end of the socket pair, on the running event loop: `send` from that loop (or, thread-safe, from any
    other), `receive` awaits the next message (EOFError once the other end is gone)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def over(cls, sock: socket.socket) -> Channel:
        reader, writer = await asyncio.open_connection(sock=sock, limit=LIMIT)
        return cls(reader, writer)

    def send(self, message: tuple[str, int, Any]) -> bool:
        """Queue `message` for writing; False once the channel is closed."""
        if self.writer.is_closing():
            return False
        body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        frame = LENGTH.pack(len(body)) + body
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.writer.write(frame)
        else:
            self.loop.call_soon_threadsafe(self._write, frame)
        return True

    def _write(self, frame: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(frame)

    async def receive(self) -> tuple[str, int, Any]:
        try:
            (size,) = LENGTH.unpack(await self.reader.readexactly(LENGTH.size))
            if size > LIMIT:
                raise EOFError(f"a frame of {size} bytes: the channel is corrupt")
            return pickle.loads(await self.reader.readexactly(size))  # noqa: S301 - our own process wrote it
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise EOFError("the other end closed the channel") from exc

    def close(self) -> None:
        self.writer.close()
