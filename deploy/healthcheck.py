#!/usr/bin/env python3
"""The container health check of ``pipetune server``: exits 0 when ``/api/v1/health`` answers
``{"status": "ok"}``, 1 otherwise (the image's HEALTHCHECK and the compose file run it).

It probes the server of its own container over loopback, so it needs no token (the health
route is open) and names the URL as its one argument (default
``http://127.0.0.1:8080/api/v1/health``). Over ``https://`` it does not verify the certificate:
that names the server as the other containers reach it, never 127.0.0.1, and the probe never
leaves the container. Standard library only: the slim image has no curl.
"""

from __future__ import annotations

import json
import ssl
import sys
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8080/api/v1/health"


def healthy(url: str, timeout: float = 4.0) -> bool:
    """Whether the pipetune server at ``url`` answers its health route with status ok."""
    context = None
    if url.startswith("https://"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status == 200 and json.load(response).get("status") == "ok"
    except (OSError, ValueError) as error:
        sys.stderr.write(f"pipetune server at {url} is not healthy: {error}\n")
        return False


if __name__ == "__main__":
    sys.exit(0 if healthy(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL) else 1)
