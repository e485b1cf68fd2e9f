"""``/v1/secrets``: a key's secrets, write-only (no route ever returns a value).

``PUT /v1/secrets/{name}`` creates (201) or replaces (200, a new version) a
secret; ``GET /v1/secrets`` lists names, versions and times; ``DELETE`` forgets
one (204, or 404 if the key has no such secret). Names are environment-variable
names: a bad one is a 400 saying why. A key sees and uses only its own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from sandbox.api.auth import bearer, current_caller
from sandbox.api.guard import ParsedBodyRoute
from sandbox.api.problems import documented
from sandbox.api.routes import model_response
from sandbox.models import Caller, SecretValue
from sandbox.responses import SecretInfo
from sandbox.secrets.use import SecretAccess

router = APIRouter(
    prefix="/v1/secrets",
    dependencies=[Depends(bearer)],
    responses=documented(400, 401, 404, 413),
    route_class=ParsedBodyRoute,  # a JSON body is parsed once, by the BodyGuard
)
Key = Annotated[Caller, Depends(current_caller)]


def access(request: Request) -> SecretAccess:
    found: SecretAccess = request.app.state.service.secret_access
    return found


def owner(key: Caller) -> str:
    assert key.key_id is not None  # a REST caller always has a key
    return key.key_id


@router.put(
    "/{name}",
    response_model=SecretInfo,
    responses={201: {"model": SecretInfo, "description": "Created"}},
    summary="Create or replace a secret (write-only)",
)
async def put_secret(name: str, body: SecretValue, key: Key, request: Request) -> Response:
    info, created = await access(request).put(owner(key), name, body.value)
    return model_response(info, 201 if created else 200)


@router.get("", response_model=list[SecretInfo], summary="This key's secrets: names, versions, times")
async def list_secrets(key: Key, request: Request) -> list[SecretInfo]:
    return await access(request).names(owner(key))


@router.delete("/{name}", status_code=204, summary="Forget a secret")
async def delete_secret(name: str, key: Key, request: Request) -> Response:
    await access(request).delete(owner(key), name)
    return Response(status_code=204)
