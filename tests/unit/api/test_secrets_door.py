"""Secrets through the REST door on a FakeBackend: write-only management, one key's own, used by runs
through the runner message only, redacted from everything that comes back, audited without values."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sandbox.api.app import create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend, RunOutcome, RunSpec
from sandbox.errors import EngineError, SecretError
from sandbox.models import Status
from sandbox.store import Store

pytestmark = pytest.mark.anyio
VALUE = "sk-test-Q2hlY2tpbmcgdGhlIHJlZGFjdGlvbiE"
KEK = "k1:" + base64.b64encode(b"\x01" * 32).decode()


def echo_env(spec: RunSpec) -> RunOutcome:
    """The program prints its secret, raw and in base64, and says so on stderr too."""
    shown = "".join(f"{name}={value} {base64.b64encode(value.encode()).decode()}\n" for name, value in spec.env.items())
    return RunOutcome(status=Status.OK, exit_code=0, stdout=shown.encode(), stderr=f"oops {shown}".encode())


@dataclass
class Door:
    api: httpx.AsyncClient
    other: httpx.AsyncClient
    backend: FakeBackend
    store: Store


@pytest.fixture
async def door(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Door]:
    monkeypatch.setenv("SANDBOX_SECRETS_KEK", KEK)
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    backend = FakeBackend(echo_env)
    app = create_app(settings, backend=backend)
    async with app.router.lifespan_context(app):
        store = Store(settings.database)
        key, other = store.create_key("k", "standard", 8, 1000)[1], store.create_key("o", "standard", 8, 1000)[1]
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://s", headers=bearer(key)) as api,
            httpx.AsyncClient(transport=transport, base_url="http://s", headers=bearer(other)) as other_api,
        ):
            yield Door(api, other_api, backend, store)
        store.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_secrets_are_write_only_and_versioned(door: Door) -> None:
    created = await door.api.put("/v1/secrets/API_KEY", json={"value": VALUE})
    assert created.status_code == 201 and created.json()["version"] == 1, created.text
    replaced = await door.api.put("/v1/secrets/API_KEY", json={"value": VALUE + "2"})
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    listed = await door.api.get("/v1/secrets")
    assert [(s["name"], s["version"]) for s in listed.json()] == [("API_KEY", 2)]
    for response in (created, replaced, listed):
        assert VALUE not in response.text and "value" not in response.json().__repr__()
    assert (await door.api.delete("/v1/secrets/API_KEY")).status_code == 204
    assert (await door.api.delete("/v1/secrets/API_KEY")).status_code == 404
    assert (await door.api.get("/v1/secrets")).json() == []


@pytest.mark.parametrize("name", ["api_key", "1ABC", "A-B", "A" * 129, "LD_PRELOAD", "PYTHONPATH"])
async def test_a_bad_name_is_a_400_that_says_why(door: Door, name: str) -> None:
    response = await door.api.put(f"/v1/secrets/{name}", json={"value": VALUE})
    assert response.status_code == 400, response.text
    assert "name" in response.json()["message"]


#: What python's image.toml gives every program (matplotlib's backend and config directory).
LANGUAGE_ENV = {"MPLBACKEND": "module://sandbox_figures", "MPLCONFIGDIR": "/tmp/matplotlib"}


async def test_a_run_gets_its_secret_through_the_runner_message_and_everything_back_is_redacted(door: Door) -> None:
    await door.api.put("/v1/secrets/API_KEY", json={"value": VALUE})
    ran = await door.api.post(
        "/v1/executions", json={"code": "print(1)", "secrets": ["API_KEY"], "env": {"MODE": "test"}}
    )
    assert ran.status_code == 200, ran.text
    body = ran.json()
    env = door.backend.specs[-1].env  # what the runner message carried: the language's variables, then these
    assert {name: env[name] for name in ("MODE", "API_KEY")} == {"MODE": "test", "API_KEY": VALUE}
    assert {name: env[name] for name in set(env) - {"MODE", "API_KEY"}} == LANGUAGE_ENV
    assert VALUE not in ran.text and base64.b64encode(VALUE.encode()).decode() not in ran.text
    assert "API_KEY=[REDACTED:API_KEY] [REDACTED:API_KEY]\n" in body["stdout"]
    assert "[REDACTED:API_KEY]" in body["stderr"] and body["secrets"] == {"API_KEY": 1}
    stored = await door.api.get(f"/v1/executions/{body['id']}")
    assert VALUE not in stored.text and stored.json()["secrets"] == {"API_KEY": 1}
    used = [e for e in door.store.audit_events() if e["event"] == "secret.used"]
    assert used and used[-1]["detail"]["versions"] == {"API_KEY": 1}
    assert VALUE not in json.dumps(door.store.audit_events(), default=str)


async def test_the_event_stream_is_redacted(door: Door) -> None:
    await door.api.put("/v1/secrets/API_KEY", json={"value": VALUE})
    started = await door.api.post("/v1/executions?wait=false", json={"code": "print(1)", "secrets": ["API_KEY"]})
    stream = await door.api.get(f"/v1/executions/{started.json()['id']}/events")
    assert "[REDACTED:API_KEY]" in stream.text and VALUE not in stream.text


async def test_an_unknown_or_anothers_secret_is_a_400_before_any_container(door: Door) -> None:
    await door.api.put("/v1/secrets/API_KEY", json={"value": VALUE})
    before = len(door.backend.specs)
    for api in (door.api, door.other):
        refused = await api.post("/v1/executions", json={"code": "print(1)", "secrets": ["API_KEY", "NOPE"]})
        assert refused.status_code == 400, refused.text
        assert "NOPE" in refused.json()["message"]
    refused = await door.other.post("/v1/executions", json={"code": "print(1)", "secrets": ["API_KEY"]})
    assert refused.status_code == 400 and "API_KEY" in refused.json()["message"]
    assert len(door.backend.specs) == before
    assert (await door.other.get("/v1/secrets")).json() == []
    assert (await door.other.delete("/v1/secrets/API_KEY")).status_code == 404
    mine = await door.other.put("/v1/secrets/API_KEY", json={"value": "theirs-value-1234"})
    assert mine.status_code == 201  # its own secret of that name: ours is untouched
    assert (await door.api.get("/v1/secrets")).json()[0]["version"] == 1


async def test_a_session_holds_its_secrets_and_every_cell_is_redacted(door: Door) -> None:
    await door.api.put("/v1/secrets/API_KEY", json={"value": VALUE})
    opened = await door.api.post("/v1/sessions", json={"secrets": ["API_KEY"]})
    assert opened.status_code == 201, opened.text
    opening = door.backend.specs[-1]
    assert opening.mode == "session" and opening.env == {"API_KEY": VALUE, **LANGUAGE_ENV}
    cell = await door.api.post(f"/v1/sessions/{opened.json()['id']}/executions", json={"code": "print(1)"})
    assert cell.status_code == 200, cell.text
    assert door.backend.specs[-1].env == {}  # the cell's message carries no value: the interpreter has it
    assert cell.json()["secrets"] == {"API_KEY": 1}


@pytest.mark.parametrize(
    "env", [{"LD_PRELOAD": "/x.so"}, {"PYTHONSTARTUP": "x"}, {"lower": "x"}, {"A": "x" * (33 << 10)}]
)
async def test_loader_variables_and_oversized_env_are_refused(door: Door, env: dict[str, str]) -> None:
    response = await door.api.post("/v1/executions", json={"code": "print(1)", "env": env})
    assert response.status_code in (400, 422), response.text


async def test_a_server_whose_kek_cannot_unwrap_a_stored_secret_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_SECRETS_KEK", KEK)
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    app = create_app(settings, backend=FakeBackend(echo_env))
    async with app.router.lifespan_context(app):
        key = Store(settings.database).create_key("k", "standard", 8, 1000)[1]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://s", headers=bearer(key)
        ) as api:
            assert (await api.put("/v1/secrets/API_KEY", json={"value": VALUE})).status_code == 201
    monkeypatch.setenv("SANDBOX_SECRETS_KEK", "k2:" + base64.b64encode(b"\x02" * 32).decode())
    again = create_app(Settings(state_dir=tmp_path, validation_workers=0, pool_size=0), backend=FakeBackend(echo_env))
    with pytest.raises(SecretError) as refused:
        async with again.router.lifespan_context(again):
            pass
    assert "k1" in refused.value.message


async def test_no_log_line_holds_a_value(door: Door, caplog: pytest.LogCaptureFixture) -> None:
    """Every record at every level, message and arguments, while a secret is stored, used and fails."""

    def failing(spec: RunSpec) -> RunOutcome:
        raise EngineError(f"runner: crashed; runner stderr: {spec.env.get('API_KEY')}")

    with caplog.at_level(logging.DEBUG):
        await door.api.put("/v1/secrets/API_KEY", json={"value": VALUE})
        await door.api.post("/v1/executions", json={"code": "print(1)", "secrets": ["API_KEY"]})
        door.backend.handler = failing
        failed = await door.api.post("/v1/executions", json={"code": "print(1)", "secrets": ["API_KEY"]})
    assert failed.status_code == 500 and VALUE not in failed.text
    assert caplog.records, "nothing was logged"
    for record in caplog.records:
        assert VALUE not in record.getMessage() and VALUE not in str(record.__dict__), record


@pytest.mark.parametrize("value", ["short", "x" * 7, "has a \x00 nul", "x" * (4 << 10 + 1)])
async def test_values_that_could_not_be_redacted_or_delivered_are_refused(door: Door, value: str) -> None:
    response = await door.api.put("/v1/secrets/API_KEY", json={"value": value})
    assert response.status_code in (400, 422), response.text
    assert (await door.api.get("/v1/secrets")).json() == []
