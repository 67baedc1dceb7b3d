"""Run an ASGI app on a loopback port in a background thread.

Simulators, the demo and the HTTP API tests all need "a real server on 127.0.0.1, started
and stopped from Python"; this is that, once.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BackgroundServer:
    """`with BackgroundServer(app) as server: httpx.get(server.url + "/path")`."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning", ssl_certfile: str | None = None,
                 ssl_keyfile: str | None = None) -> None:
        """`ssl_certfile`/`ssl_keyfile` (PEM paths) serve HTTPS, for SDKs that only speak
        HTTPS to the host they are given (the `vonage` SDK)."""
        self.host = host
        self.port = port or free_port()
        self.app = app
        self.scheme = "https" if ssl_certfile else "http"
        self._server = uvicorn.Server(uvicorn.Config(
            app, host=host, port=self.port, log_level=log_level, lifespan="off",
            access_log=False, timeout_graceful_shutdown=1, ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
        ))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        self._server.config.install_signal_handlers = False  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.run, name=f"server-{self.port}",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
