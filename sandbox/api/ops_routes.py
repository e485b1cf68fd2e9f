"""``GET /v1/ops``: the operations snapshot (``sandbox.ops``), for keys with the ops permission only.

The snapshot shows every key's recent failures and the server's state, so an
ordinary key gets 403 saying which permission it lacks and how an operator makes
a key that has it (``sandbox keys create --ops``). The answer is never cached:
the ``/ops`` page polls it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from sandbox import ops
from sandbox.api.auth import bearer, current_key
from sandbox.api.problems import documented
from sandbox.errors import Forbidden
from sandbox.models import ApiKeyInfo

router = APIRouter(prefix="/v1", dependencies=[Depends(bearer)], responses=documented(401, 403))


async def ops_key(request: Request) -> ApiKeyInfo:
    """The caller's live key if it has the ops permission: 401 without a live key, 403 without the permission."""
    key = await current_key(request)
    if not key.ops:
        raise Forbidden(
            f"the API key {key.name!r} lacks the ops permission that GET /v1/ops needs; "
            "an operator creates a key with it: `sandbox keys create --name NAME --ops`"
        )
    return key


@router.get(
    "/ops",
    response_model=ops.OpsSnapshot,
    summary="Operations snapshot: engine, pools, executions per minute, latency, recent failures (ops keys only)",
)
async def operations(
    _: Annotated[ApiKeyInfo, Depends(ops_key)], request: Request, response: Response
) -> ops.OpsSnapshot:
    state = request.app.state
    response.headers["Cache-Control"] = "no-store"
    return await ops.snapshot(state.service, state.manager, state.sessions, store_figures(request))


def store_figures(request: Request) -> ops.StoreFigures:
    """The app's one ``StoreFigures`` (made on first use, for the store of this app's lifespan)."""
    state = request.app.state
    figures: ops.StoreFigures | None = getattr(state, "ops_figures", None)
    if figures is None or figures.store is not state.store:
        figures = state.ops_figures = ops.StoreFigures(state.store)
    return figures
