"""``pipetune dashboard``: serves the web dashboard over a storage and opens it in a browser.

The same application as ``pipetune server`` (its JSON API included, with the same token rules,
Host check and size caps), run until Ctrl-C. Unlike the server it also accepts an ``http://``
storage: the dashboard then shows the studies of that remote server through this machine
(token from ``$PIPETUNE_TOKEN``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import webbrowser

from pipetune.cli.output import EXIT_OK
from pipetune.cli.server import add_listen_options, app_options


def add_dashboard_options(parser: argparse.ArgumentParser) -> None:
    add_listen_options(parser)
    parser.add_argument("--no-browser", action="store_true",
                        help="only print the dashboard's address, do not open a browser")


def cmd_dashboard(args: argparse.Namespace) -> int:
    from pipetune.server import BackgroundServer, create_app
    from pipetune.storage import get_storage

    options = app_options(args)  # refuses before the storage is opened
    app = create_app(get_storage(args.storage), **options)
    stop = threading.Event()
    # SIGTERM ends the loop below like Ctrl-C does, so the server always stops cleanly.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    server = BackgroundServer(app, host=args.host, port=args.port).start()
    try:
        sys.stderr.write(f"pipetune dashboard on {server.url}/ ({args.storage}); Ctrl-C stops "
                         "it\n")
        if not args.no_browser:
            webbrowser.open(server.url + "/")
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK
