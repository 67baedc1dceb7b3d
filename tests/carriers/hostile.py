"""Small deliberate HTTP servers for hostile answers (real sockets over loopback).

A simulator framework answers like a carrier; these answer like a broken or malicious one —
a 200 MB body, a gzip bomb, a body dripping a byte at a time — written by hand on the socket,
so the bytes on the wire are exactly the ones the test means. Each accepted connection gets
its request read, then `answer(conn)` writes whatever it likes; a peer that hangs up early
(knm cutting a body short) is expected and ignored.

    with HostileServer(big_body(500, 200 << 20)) as server:
        carrier = Telnyx({"api_key": "k", "base_url": server.url})
"""

from __future__ import annotations

import functools
import socket
import threading
import time
import zlib
from collections.abc import Callable

Answer = Callable[[socket.socket], None]
CHUNK = 1 << 16


class HostileServer:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._closing = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        self._sock.close()

    def _serve(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.requests.append(_read_request(conn))
                self.answer(conn)
            except OSError:  # the client hung up: knm stopped reading, as it should
                pass


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(CHUNK)
        if not piece:
            return data
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        piece = conn.recv(CHUNK)
        if not piece:
            break
        body += piece
    return head + b"\r\n\r\n" + body


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def big_body(status: int, size: int, content_type: str = "text/plain", *,
             announced: bool = True) -> Answer:
    """`size` bytes of junk (not JSON, not XML) under `status`, streamed as fast as the
    client reads; with `announced=False` no Content-Length (the body ends when the
    connection does)."""
    block = b"x" * CHUNK

    def answer(conn: socket.socket) -> None:
        length = {"Content-Length": str(size)} if announced else {"Connection": "close"}
        conn.sendall(_head(status, {"Content-Type": content_type, **length}))
        sent = 0
        while sent < size:
            piece = block[:min(CHUNK, size - sent)]
            conn.sendall(piece)
            sent += len(piece)
    return answer


@functools.lru_cache(maxsize=2)
def gzip_of_zeros(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(size >> 20)) + packer.flush()


def gzip_bomb(status: int, size: int, content_type: str = "application/json") -> Answer:
    """A small gzip body that inflates to `size` bytes of zeros."""
    packed = gzip_of_zeros(size)

    def answer(conn: socket.socket) -> None:
        conn.sendall(_head(status, {"Content-Type": content_type, "Content-Encoding": "gzip",
                                    "Content-Length": str(len(packed))}) + packed)
    return answer


def drip(status: int, every_s: float, *, headers_too: bool = False,
         content_type: str = "application/json") -> Answer:
    """An answer sent one byte every `every_s` seconds, forever (its status line and headers
    too, with `headers_too`): each read returns well within any per-read timeout."""
    head = _head(status, {"Content-Type": content_type, "Content-Length": "1000000"})

    def answer(conn: socket.socket) -> None:
        if not headers_too:
            conn.sendall(head)
        stream = (head if headers_too else b"") + b'{"data": [' + b" " * 1000000
        for byte in stream:
            conn.sendall(bytes([byte]))
            time.sleep(every_s)
    return answer
