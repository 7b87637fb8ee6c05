"""Operations: liveness, readiness, metrics, the OpenAPI document and its page."""

from __future__ import annotations

import msgspec
import trio
from prometheus_client import CONTENT_TYPE_LATEST
from quart import Response
from quart_trio import QuartTrio

from exchange.web.app import Services, json_response
from exchange.web.errors import ApiError
from exchange.web.openapi import DOCS_PAGE, build_openapi

READY_TIMEOUT = 2.0


def register(app: QuartTrio, services: Services) -> None:
    openapi = msgspec.json.encode(build_openapi())

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get("/readyz")
    async def readyz() -> Response:
        sequencer = services.sequencer
        if sequencer.closed or not services.readmodel.ready:
            raise ApiError(503, "unavailable", "the engine is recovering or stopping",
                           headers={"Retry-After": "1"})
        if services.journal.stopped:
            raise ApiError(503, "unavailable",
                           "the writer stopped on a permanent write error; the server is "
                           "exiting, and a restart recovers from the last committed batch",
                           headers={"Retry-After": "1"})
        reachable = False
        with trio.move_on_after(READY_TIMEOUT):
            reachable = await services.journal.ready()
        if not reachable:
            raise ApiError(503, "unavailable", "the database is unreachable",
                           headers={"Retry-After": "1"})
        return json_response({"status": "ready"})

    @app.get("/metrics")
    async def metrics() -> Response:
        services.metrics.inbox_depth.set(services.sequencer.depth())
        return Response(services.metrics.render(), content_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json")
    async def openapi_json() -> Response:
        return Response(openapi, content_type="application/json")

    @app.get("/docs")
    async def docs() -> Response:
        return Response(DOCS_PAGE, content_type="text/html; charset=utf-8")
