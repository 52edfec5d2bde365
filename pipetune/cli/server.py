"""``pipetune server``: serves a storage as JSON over HTTP, for workers and the dashboard.

Workers then use ``--storage http://host:port`` and need no database credentials. The default
bind is 127.0.0.1; bind another address only with a ``--token-file`` (see
``pipetune.server.app`` for the token rules).
"""

from __future__ import annotations

import argparse
import signal
import sys

from pipetune.cli.output import EXIT_OK
from pipetune.errors import InvalidArgumentError


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    parser.add_argument("--token-file", metavar="FILE", default=None,
                        help="bearer tokens, one 'write <token>' or 'read <token>' per line: "
                             "with it every request needs a listed token and writes a write "
                             "token; without it the server is open to anyone who can reach it")


def _check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise InvalidArgumentError(f"The '--port' option must be in 0..65535. Got {port}.")


def _warn_if_open(host: str, tokens: dict[str, str]) -> None:
    if not tokens and host not in ("127.0.0.1", "localhost", "::1"):
        sys.stderr.write(f"warning: serving on {host} without --token-file: anyone who "
                         "can reach this port may change the studies.\n")


def _cmd_server(args: argparse.Namespace) -> int:
    from pipetune.server import create_app, read_token_file, serve
    from pipetune.storage import get_storage

    _check_port(args.port)
    tokens = read_token_file(args.token_file) if args.token_file else {}
    if args.storage.split(":", 1)[0].lower() in ("http", "https"):
        raise InvalidArgumentError(
            f"'pipetune server' serves a database, not another server: give --storage a "
            f"sqlite:// or postgresql:// URL. Got {args.storage!r}.")
    storage = get_storage(args.storage)
    _warn_if_open(args.host, tokens)
    sys.stderr.write(f"pipetune server on http://{args.host}:{args.port} (dashboard /, API "
                     f"/api/v1, spec /openapi.json), {len(tokens)} token(s)\n")
    # uvicorn stops gracefully on SIGTERM, then re-raises it to the handler found before it
    # started: a no-op one makes that graceful stop exit 0 instead of dying by the signal.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        serve(create_app(storage, tokens), host=args.host, port=args.port)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK
