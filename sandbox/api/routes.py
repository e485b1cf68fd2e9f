"""The ``/v1`` routes: thin translation between HTTP and the service's managers.

Each route names the caller (``Caller`` from the Bearer key) and calls one
method; errors are translated by ``problems.py`` alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from sandbox.api.auth import bearer, current_caller
from sandbox.api.guard import ParsedBodyRoute
from sandbox.api.problems import documented
from sandbox.artifacts import artifact_headers
from sandbox.artifacts import inline as inline_artifact
from sandbox.engine import image_builds, language_facts
from sandbox.errors import PayloadTooLarge
from sandbox.executions import ExecutionManager
from sandbox.models import (
    Artifact,
    Caller,
    ExecutionRecord,
    ExecutionRequest,
    SessionExecution,
    SessionFiles,
    SessionInfo,
    SessionRequest,
)
from sandbox.responses import ExecutionPage, LanguageInfo, PolicyInfo, SessionList, ValidationReport
from sandbox.service import Event, ExecutionService
from sandbox.sessions import SessionManager

router = APIRouter(
    prefix="/v1",
    dependencies=[Depends(bearer)],
    responses=documented(400, 401, 404, 413, 422, 429, 503),
    route_class=ParsedBodyRoute,  # a JSON body is parsed once, by the BodyGuard
)
Key = Annotated[Caller, Depends(current_caller)]
InlineArtifacts = Annotated[
    bool,
    Query(
        description="Put each artifact's bytes in its `content_base64`, for those within the server's inline cap "
        "(SANDBOX_ARTIFACTS_INLINE_MAX_BYTES, 256 KiB by default); larger ones are fetched by name."
    ),
]


def manager(request: Request) -> ExecutionManager:
    found: ExecutionManager = request.app.state.manager
    return found


def service(request: Request) -> ExecutionService:
    found: ExecutionService = request.app.state.service
    return found


def sessions(request: Request) -> SessionManager:
    found: SessionManager = request.app.state.sessions
    return found


def model_response(model: BaseModel, status_code: int = 200) -> Response:
    """A validated model as the JSON answer, serialised once by pydantic (the bytes ``JSONResponse`` would
    send for its ``model_dump(mode="json")``, in half the time: no dict, no second pass through ``json``)."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


@router.post(
    "/executions",
    response_model=ExecutionRecord,
    responses={202: {"model": ExecutionRecord, "description": "Started (`wait=false`)"}},
    summary="Run code once in a fresh sandbox",
)
async def create_execution(
    body: ExecutionRequest,
    key: Key,
    request: Request,
    wait: Annotated[bool, Query(description="Wait for the result (default) or return 202 at once.")] = True,
    inline: InlineArtifacts = False,
) -> Any:
    execution = await manager(request).submit(body, key, record_now=not wait)
    if wait:
        await execution.done.wait()
        if execution.error is not None:  # admitted, but it could not run: 503 (capacity) or 500, as refusals are
            raise execution.error
    view = await manager(request).inlined(execution.view) if inline and wait else execution.view
    # Already a validated model: serialise it directly rather than through response_model again.
    return model_response(view, 200 if wait else 202)


@router.get("/executions", response_model=ExecutionPage, summary="This key's executions, newest first")
async def list_executions(
    key: Key,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ExecutionPage:
    items, total = await manager(request).page(key, limit, offset)
    return ExecutionPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/executions/{execution_id}", response_model=ExecutionRecord, summary="One execution")
async def get_execution(execution_id: str, key: Key, request: Request, inline: InlineArtifacts = False) -> Any:
    record = await manager(request).get(execution_id, key)
    if inline:
        record = await manager(request).inlined(record)
    return model_response(record)


@router.get(
    "/executions/{execution_id}/artifacts/{name:path}",
    response_class=Response,
    responses={
        200: {
            "content": {"application/octet-stream": {}, "application/json": {"schema": Artifact.model_json_schema()}},
            "description": "The artifact's bytes (its media type), or with `inline=true` its entry with the bytes "
            "as base64",
        }
    },
    summary="One artifact's bytes (a file the run left under out/, a figure, or an `outputs` match)",
)
async def get_artifact(
    execution_id: str,
    name: str,
    key: Key,
    request: Request,
    inline: Annotated[
        bool, Query(description="Answer JSON: the entry with `content_base64` (small artifacts only).")
    ] = False,
) -> Response:
    entry, data = await manager(request).artifact(execution_id, key, name)
    if inline:
        cap = service(request).settings.artifacts_inline_max_bytes
        if len(data) > cap:
            raise PayloadTooLarge(
                f"artifact {name!r} is {len(data)} bytes, over the {cap} bytes returned inline "
                "(SANDBOX_ARTIFACTS_INLINE_MAX_BYTES): fetch it without inline=true"
            )
        return model_response(inline_artifact(entry, data, cap))
    return Response(data, media_type=entry.media_type, headers=artifact_headers(entry))


@router.get(
    "/executions/{execution_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "stdout, stderr, then result events; each has an `id:` (1, 2, ...) to resume after",
        }
    },
    summary="Server-sent events: output as it is produced, then the result",
)
async def execution_events(
    execution_id: str,
    key: Key,
    request: Request,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="Resume after this event (its `id:`): what a reconnecting EventSource sends by itself.",
        ),
    ] = None,
) -> StreamingResponse:
    after, stream = await manager(request).events(execution_id, key, last_event_id)

    async def events() -> AsyncIterator[bytes]:
        number = after
        async for event in stream:
            number += 1
            yield sse(event, number)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.post("/executions/{execution_id}/cancel", response_model=ExecutionRecord, summary="Kill a running execution")
async def cancel_execution(execution_id: str, key: Key, request: Request) -> ExecutionRecord:
    return await manager(request).cancel(execution_id, key)


@router.post("/validate", response_model=ValidationReport, summary="Validation only: findings, no container")
async def validate(body: ExecutionRequest, key: Key, request: Request) -> ValidationReport:
    verdict = await service(request).check(body, caller=key)
    return ValidationReport(
        allowed=verdict.allowed,
        status=verdict.status.value,
        policy=verdict.policy,
        policy_version=verdict.policy_version,
        findings=list(verdict.findings),
    )


@router.get("/languages", response_model=list[LanguageInfo], summary="Languages and their runtimes")
async def languages(key: Key, request: Request) -> list[LanguageInfo]:
    current = service(request)
    states = await image_builds(current.settings).states()  # cached: Docker only for images not yet built
    return [
        LanguageInfo(**language_facts(spec, states[name])) for name, spec in sorted(current.catalog.languages.items())
    ]


@router.get("/policies", response_model=list[PolicyInfo], summary="Validation policy tiers")
async def policies(key: Key, request: Request) -> list[PolicyInfo]:
    return [
        PolicyInfo(
            name=p.name, version=p.version, strictness=p.strictness, description=p.description, enforce=p.enforce
        )
        for p in sorted(service(request).policies.policies.values(), key=lambda p: p.strictness)
    ]


@router.post("/sessions", response_model=SessionInfo, status_code=201, summary="Open a stateful session")
async def create_session(body: SessionRequest, key: Key, request: Request) -> SessionInfo:
    return await sessions(request).create(body, key)


@router.get("/sessions", response_model=SessionList, summary="This key's open sessions")
async def list_sessions(key: Key, request: Request) -> SessionList:
    return SessionList(items=await sessions(request).list_open(key))


@router.get("/sessions/{session_id}", response_model=SessionInfo, summary="A session: open, or its closed record")
async def get_session(session_id: str, key: Key, request: Request) -> SessionInfo:
    return await sessions(request).get(session_id, key)


@router.post(
    "/sessions/{session_id}/executions",
    response_model=ExecutionRecord,
    responses={202: {"model": ExecutionRecord, "description": "Started (`wait=false`): follow or cancel it by id"}},
    summary="Run code in the session (a cell: an execution like any other, with its own id and record)",
)
async def session_execute(
    session_id: str,
    body: SessionExecution,
    key: Key,
    request: Request,
    wait: Annotated[bool, Query(description="Wait for the result (default) or return 202 at once.")] = True,
) -> Any:
    execution = await sessions(request).execute(session_id, key, body, record_now=not wait)
    if wait:
        await execution.done.wait()
        if execution.error is not None:
            raise execution.error
    return model_response(execution.view, 200 if wait else 202)


@router.put("/sessions/{session_id}/files/{path:path}", status_code=204, summary="Write a file into the session")
async def put_session_file(session_id: str, path: str, key: Key, request: Request) -> Response:
    await sessions(request).put_file(session_id, key, path, await request.body())
    return Response(status_code=204)


@router.get(
    "/sessions/{session_id}/files",
    response_model=SessionFiles,
    summary="List the session's workdir (at most 1000 entries; links listed, never followed)",
)
async def list_session_files(session_id: str, key: Key, request: Request) -> SessionFiles:
    return await sessions(request).list_files(session_id, key)


@router.get(
    "/sessions/{session_id}/files/{path:path}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
    summary="Read a file from the session (symlinks are refused; a missing file is 404)",
)
async def get_session_file(session_id: str, path: str, key: Key, request: Request) -> Response:
    data = await sessions(request).get_file(session_id, key, path)
    return Response(data, media_type="application/octet-stream")


@router.delete("/sessions/{session_id}", status_code=204, summary="Close a session and remove its container")
async def delete_session(session_id: str, key: Key, request: Request) -> Response:
    await sessions(request).delete(session_id, key)
    return Response(status_code=204)


health = APIRouter()


@health.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get("/readyz", summary="Readiness: engine reachable, pool warm", responses={503: {"description": "Not ready"}})
async def readyz(request: Request, response: Response) -> dict[str, Any]:
    svc: ExecutionService = request.app.state.service
    report = await svc.readiness()
    if not report["ready"]:
        response.status_code = 503
    return report


def sse(event: Event, number: int) -> bytes:
    """One event in the text/event-stream format, with its position in the stream as its id."""
    data = event.data.model_dump(mode="json") if isinstance(event.data, BaseModel) else event.data
    return f"id: {number}\nevent: {event.kind}\ndata: {json.dumps(data)}\n\n".encode()
