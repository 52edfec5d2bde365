"""A real ``pipetune server`` (or ``pipetune dashboard``) process on 127.0.0.1, for the tests that
attack the server as a client on the network would: ``started`` runs the command on a free port
and waits for ``/api/v1/health``; ``RealServer.request`` talks to it like any HTTP client."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

WRITE, READ = "w-token-0123456789", "r-token-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pipetune_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipetune.cli", *args]


@dataclass
class RealServer:
    """A running ``pipetune server``/``dashboard`` process and how to talk to it."""

    url: str
    port: int
    process: subprocess.Popen
    folder: Path
    log: Path  # the process's stderr
    tls: ssl.SSLContext | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                token: str | None = None, headers: dict[str, str] | None = None,
                timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
        """One request as any HTTP client sends it; returns (status, lower-case headers, body)."""
        if self.tls is not None:
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=self.tls)
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()},
                    response.read())
        finally:
            connection.close()

    def rss_bytes(self) -> int:
        """The server process's resident memory."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@contextlib.contextmanager
def started(folder: Path, command: str, *args: str,
            tls: ssl.SSLContext | None = None) -> Iterator[RealServer]:
    """Runs ``pipetune <command> --port <free> <args>`` until the block ends (SIGTERM)."""
    port = free_port()
    # stderr to a file: a pipe nobody reads while the server runs would fill and freeze it
    log = folder / f"{command}-{port}.stderr"
    with log.open("w") as stderr:
        process = subprocess.Popen(pipetune_command(command, "--port", str(port), *args),
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    scheme = "https" if tls is not None else "http"
    server = RealServer(f"{scheme}://127.0.0.1:{port}", port, process, folder, log, tls)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if server.request("GET", "/api/v1/health", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None:
                raise AssertionError(f"pipetune {command} exited: {log.read_text()}")
            assert time.monotonic() < deadline, f"pipetune {command} did not start"
            time.sleep(0.1)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def token_file(folder: Path, text: str = f"write {WRITE}\nread {READ}\n") -> Path:
    path = folder / "tokens"
    path.write_text(text)
    return path
