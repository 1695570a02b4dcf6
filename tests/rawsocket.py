"""A WebSocket client written by hand, for what a well-behaved library will not do: put frames and a close in one
TCP write, close without a status code, stop reading, or vanish without a close frame."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any

CLOSE = 0x8
TEXT = 0x1


def frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (FIN set)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


def text(message: dict[str, Any] | str) -> bytes:
    body = message if isinstance(message, str) else json.dumps(message)
    return frame(TEXT, body.encode("utf-8", "surrogatepass"))


def close(code: int | None = None) -> bytes:
    """A close frame; without ``code``, an empty one (what ``ws.close()`` with no arguments sends)."""
    return frame(CLOSE, b"" if code is None else struct.pack("!H", code))


class RawSocket:
    """An open WebSocket over a plain TCP socket; reads only when asked to."""

    def __init__(self, port: int, path: str = "/api/call/signal", receive_buffer: int | None = None) -> None:
        self.socket = socket.socket()
        if receive_buffer is not None:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.socket.settimeout(10)
        self.socket.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.socket.recv(1)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            response += chunk
        assert response.startswith(b"HTTP/1.1 101"), response

    def write(self, *frames: bytes) -> None:
        """Send the frames in one TCP write."""
        self.socket.sendall(b"".join(frames))

    def read_frame(self) -> tuple[int, bytes]:
        first, second = self._exactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._exactly(8))
        return first & 0x0F, self._exactly(length)

    def read_message(self) -> dict[str, Any]:
        while True:
            opcode, payload = self.read_frame()
            if opcode == TEXT:
                message: dict[str, Any] = json.loads(payload)
                return message
            if opcode == CLOSE:
                raise ConnectionError(f"closed: {payload!r}")

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.socket.recv(count - len(data))
            if not chunk:
                raise ConnectionError("connection closed")
            data += chunk
        return data

    def abort(self) -> None:
        """Vanish: RST, no close frame (a crashed tab, a lost network)."""
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.socket.close()

    def shut(self) -> None:
        self.socket.close()
