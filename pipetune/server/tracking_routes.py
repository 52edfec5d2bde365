"""The JSON API routes of experiment tracking: metric series, artifacts and trial search.

Metric points travel as compact arrays (``[name, step, value, timestamp]``, see
``pipetune.storage.remote``); artifact bytes travel raw in the request or response body, with
their media type, so a worker on another machine stores files in the server's artifact root.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from pipetune.errors import ArtifactNotFoundError
from pipetune.storage.base import BaseStorage
from pipetune.storage.remote import (
    API,
    artifact_to_json,
    encode_float,
    metric_point_from_json,
    metric_point_to_json,
    trial_to_json,
)

__all__ = ["add_tracking_routes"]


class MetricsIn(BaseModel):
    points: list[list[Any]]


def add_tracking_routes(app: FastAPI, st: Callable[[], BaseStorage], read: dict[str, Any],
                        write: dict[str, Any]) -> None:
    """Adds the tracking routes to ``app``; ``st`` returns the storage served, ``read`` and
    ``write`` are the route options that check a reading or writing token."""

    @app.post(API + "/trials/{trial_id}/metrics", **write)
    def add_trial_metrics(trial_id: int, body: MetricsIn) -> dict[str, int]:
        points = [metric_point_from_json(p) for p in body.points]
        st().add_trial_metrics(trial_id, points)
        return {"stored": len(points)}

    @app.get(API + "/trials/{trial_id}/metrics", **read)
    def get_metric_history(trial_id: int, name: str | None = None) -> dict[str, Any]:
        return {"points": [metric_point_to_json(p)
                           for p in st().get_metric_history(trial_id, name)]}

    @app.get(API + "/studies/{study_id}/metrics/last", **read)
    def get_last_metrics(study_id: int) -> dict[str, dict[str, Any]]:
        return {str(trial_id): {name: encode_float(v) for name, v in values.items()}
                for trial_id, values in st().get_last_metrics(study_id).items()}

    @app.get(API + "/studies/{study_id}/trials/search", **read)
    def search_trials(study_id: int, filter: str | None = None, order_by: str | None = None,
                      limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        return [trial_to_json(t) for t in
                st().search_trials(study_id, filter, order_by, limit, offset)]

    @app.get(API + "/trials/{trial_id}/artifacts", **read)
    def list_artifacts(trial_id: int) -> list[dict[str, Any]]:
        return [artifact_to_json(a) for a in st().list_artifacts(trial_id)]

    @app.put(API + "/trials/{trial_id}/artifacts/{name:path}", **write)
    async def put_artifact(trial_id: int, name: str, request: Request,
                           media_type: str | None = None) -> dict[str, Any]:
        data = await request.body()
        info = await run_in_threadpool(st().put_artifact, trial_id, name, data, media_type)
        return artifact_to_json(info)

    @app.get(API + "/trials/{trial_id}/artifacts/{name:path}", **read)
    def read_artifact(trial_id: int, name: str) -> Response:
        storage = st()
        data = storage.read_artifact(trial_id, name)
        info = next((a for a in storage.list_artifacts(trial_id) if a.name == name), None)
        if info is None:  # deleted between the two reads
            raise ArtifactNotFoundError(f"No artifact named {name!r} on trial id {trial_id}.")
        return Response(content=data, media_type=info.media_type)
