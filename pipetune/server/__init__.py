"""``pipetune server``: the storage API as JSON over HTTP (FastAPI), used by ``RemoteStorage``.

Needs the ``server`` extra (``pip install 'pipetune[server]'``). ``create_app`` builds the
application over any storage; ``serve`` runs it in the foreground and ``BackgroundServer`` on a
thread of this process (tests, benchmarks).
"""

from __future__ import annotations

from pipetune.server.app import (
    BackgroundServer,
    check_tls_files,
    create_app,
    read_token_file,
    serve,
)

__all__ = ["BackgroundServer", "check_tls_files", "create_app", "read_token_file", "serve"]
