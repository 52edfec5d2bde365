"""The JSON API routes of experiment tracking: metric series, artifacts and trial search.

Metric points travel as compact arrays (``[name, step, value, timestamp]``, see
``pipetune.storage.remote``); artifact bytes travel raw in the request or response body, with
their media type, so a worker on another machine stores files in the server's artifact root.
An upload is streamed to a temporary file (``$TMPDIR``) before the storage takes it, so its
size costs disk, not memory (the server caps it, see ``pipetune.server.app``); an artifact is
always served as a download that no browser renders, whatever media type its uploader gave.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from pipetune.storage.artifacts import check_name
from pipetune.storage.base import BaseStorage
from pipetune.storage.remote import (
    API,
    artifact_to_json,
    encode_float,
    metric_point_from_json,
    metric_point_to_json,
    trial_to_json,
)

__all__ = ["ARTIFACT_UPLOAD", "add_tracking_routes", "download_headers"]

# The path of an artifact upload (PUT), which may carry a larger body than the other routes.
ARTIFACT_UPLOAD = re.compile(re.escape(API) + r"/trials/[^/]+/artifacts/.+")


class MetricsIn(BaseModel):
    points: list[list[Any]]


def download_headers(filename: str) -> dict[str, str]:
    """Headers that make a browser save a response as ``filename`` and never render it: an
    HTML or SVG artifact must not run as a page of this server (it could read the dashboard's
    token)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in filename) or "download"
    return {"Content-Disposition": f'attachment; filename="{safe}"',
            "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


def add_tracking_routes(app: FastAPI, st: Callable[[], BaseStorage]) -> None:
    """Adds the tracking routes to ``app``; ``st`` returns the storage served."""
    plain: dict[str, Any] = {"response_model": None}

    @app.post(API + "/trials/{trial_id}/metrics", **plain)
    def add_trial_metrics(trial_id: int, body: MetricsIn) -> dict[str, int]:
        points = [metric_point_from_json(p) for p in body.points]
        st().add_trial_metrics(trial_id, points)
        return {"stored": len(points)}

    @app.get(API + "/trials/{trial_id}/metrics", **plain)
    def get_metric_history(trial_id: int, name: str | None = None) -> dict[str, Any]:
        return {"points": [metric_point_to_json(p)
                           for p in st().get_metric_history(trial_id, name)]}

    @app.get(API + "/studies/{study_id}/metrics/last", **plain)
    def get_last_metrics(study_id: int) -> dict[str, dict[str, Any]]:
        return {str(trial_id): {name: encode_float(v) for name, v in values.items()}
                for trial_id, values in st().get_last_metrics(study_id).items()}

    @app.get(API + "/studies/{study_id}/trials/search", **plain)
    def search_trials(study_id: int, filter: str | None = None, order_by: str | None = None,
                      limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        return [trial_to_json(t) for t in
                st().search_trials(study_id, filter, order_by, limit, offset)]

    @app.get(API + "/trials/{trial_id}/artifacts", **plain)
    def list_artifacts(trial_id: int) -> list[dict[str, Any]]:
        return [artifact_to_json(a) for a in st().list_artifacts(trial_id)]

    @app.put(API + "/trials/{trial_id}/artifacts/{name:path}", **plain)
    async def put_artifact(trial_id: int, name: str, request: Request,
                           media_type: str | None = None) -> dict[str, Any]:
        name = check_name(name)  # a bad name is refused before the body is read
        with tempfile.NamedTemporaryFile(prefix="pipetune-upload-") as spool:
            async for chunk in request.stream():
                await run_in_threadpool(spool.write, chunk)
            spool.flush()
            info = await run_in_threadpool(st().put_artifact, trial_id, name,
                                           Path(spool.name), media_type)
        return artifact_to_json(info)

    @app.get(API + "/trials/{trial_id}/artifacts/{name:path}", **plain)
    def read_artifact(trial_id: int, name: str,
                      last_bytes: int | None = Query(None, ge=1)) -> Response:
        """The artifact's bytes (its last ``last_bytes`` only, when given), as a download."""
        data = st().read_artifact(trial_id, name, last_bytes=last_bytes)
        return Response(data, media_type="application/octet-stream",
                        headers=download_headers(name.rsplit("/", 1)[-1]))
