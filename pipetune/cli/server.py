"""``pipetune server``: serves a storage as JSON over HTTP(S), for workers and the dashboard.

Workers then use ``--storage http://host:port`` (``https://`` with ``--tls-cert``/``--tls-key``)
and need no database credentials. The default bind is 127.0.0.1; another address needs a
``--token-file`` (or ``--insecure``, for a network where everyone may change every study).
See ``pipetune.server.app`` for the token rules, the Host check and the size caps.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
from typing import Any

from pipetune.cli.optimize import positive_int
from pipetune.cli.output import EXIT_OK
from pipetune.errors import ConfigError, InvalidArgumentError

_WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # every address of this machine


def add_listen_options(parser: argparse.ArgumentParser) -> None:
    """The options ``pipetune server`` and ``pipetune dashboard`` share."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only); "
                             "another one needs --token-file or --insecure")
    parser.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    parser.add_argument("--token-file", metavar="FILE", default=None,
                        help="bearer tokens, one 'write <token>' or 'read <token>' per line (or "
                             "a file of one bare token, a write token): every request then "
                             "needs a listed token, and writes a write token")
    parser.add_argument("--insecure", action="store_true",
                        help="allow a --host other than loopback without --token-file: anyone "
                             "who can reach the port may read and change every study")
    parser.add_argument("--allowed-host", metavar="NAME", action="append", default=[],
                        help="a name clients reach this server by (repeatable); requests "
                             "naming another Host are refused (DNS rebinding). Loopback names "
                             "and --host are always allowed; with a wildcard --host (0.0.0.0) "
                             "and no --allowed-host, any name is")
    parser.add_argument("--max-artifact-mb", type=positive_int, default=1024, metavar="MB",
                        help="largest artifact upload accepted (default: 1024; other requests "
                             "are capped at 8 MiB)")


def add_server_options(parser: argparse.ArgumentParser) -> None:
    add_listen_options(parser)
    parser.add_argument("--tls-cert", metavar="FILE", default=None,
                        help="serve HTTPS with this PEM certificate (chain); needs --tls-key")
    parser.add_argument("--tls-key", metavar="FILE", default=None,
                        help="the PEM private key of --tls-cert")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def app_options(args: argparse.Namespace) -> dict[str, Any]:
    """The tokens, allowed hosts and upload cap of ``create_app`` from the command's options;
    refuses to serve another address than loopback with no token unless ``--insecure``."""
    from pipetune.server import read_token_file
    from pipetune.server.app import LOOPBACK_HOSTS

    if not 0 <= args.port <= 65535:
        raise InvalidArgumentError(f"The '--port' option must be in 0..65535. Got {args.port}.")
    tokens = read_token_file(args.token_file) if args.token_file else {}
    if not tokens and not _is_loopback(args.host):
        if not args.insecure:
            raise ConfigError(
                f"Serving on {args.host} without --token-file would let anyone who can reach "
                "it read and change every study: give --token-file FILE (see docs/security.md), "
                "or --insecure on a network where that is acceptable.")
        sys.stderr.write(f"warning: serving on {args.host} without --token-file (--insecure): "
                         "anyone who can reach this port may read and change the studies.\n")
    if args.host in _WILDCARD_HOSTS and not args.allowed_host:
        allowed_hosts = None
    else:
        allowed_hosts = [*LOOPBACK_HOSTS, args.host, *args.allowed_host]
    return {"tokens": tokens, "allowed_hosts": allowed_hosts,
            "max_artifact_bytes": args.max_artifact_mb << 20}


def cmd_server(args: argparse.Namespace) -> int:
    from pipetune.server import check_tls_files, create_app, serve
    from pipetune.storage import get_storage

    options = app_options(args)
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ConfigError("HTTPS needs both --tls-cert and --tls-key.")
    if args.tls_cert is not None:
        check_tls_files(args.tls_cert, args.tls_key)
    if args.storage.split(":", 1)[0].lower() in ("http", "https"):
        raise InvalidArgumentError(
            f"'pipetune server' serves a database, not another server: give --storage a "
            f"sqlite:// or postgresql:// URL. Got {args.storage!r}.")
    storage = get_storage(args.storage)
    scheme = "https" if args.tls_cert else "http"
    sys.stderr.write(f"pipetune server on {scheme}://{args.host}:{args.port} (dashboard /, API "
                     f"/api/v1, spec /openapi.json), {len(options['tokens'])} token(s)\n")
    # uvicorn stops gracefully on SIGTERM, then re-raises it to the handler found before it
    # started: a no-op one makes that graceful stop exit 0 instead of dying by the signal.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        serve(create_app(storage, **options), host=args.host, port=args.port,
              tls_cert=args.tls_cert, tls_key=args.tls_key)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK
