"""The Python client (``sandbox.client``) against a real `sandbox serve` on loopback and the real engine.

One server for the module (a warm pool of one, small request cap for the 413); each test uses the
client as a user would and checks what came back: runs and their statuses, files, env and secrets,
tests mode, the event stream's order, sessions (state kept, files, closed on exit even when the
block raises), validation, catalogues, secrets, every error class the server can answer, retries
after a real 429's Retry-After, the timeout message, and configuration from the environment.
Past 400 lines because one server process serves the whole module (started once, ~5 s).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest

from sandbox.client import (
    AsyncSandboxClient,
    AuthenticationError,
    BadRequest,
    ClientTimeout,
    ExecutionRecord,
    NotFound,
    OutputEvent,
    PayloadTooLarge,
    RateLimited,
    SandboxClient,
    Status,
    ValidationRejected,
)
from tests.docker_fixtures import SESSION_OWNER
from tests.e2e.serving import ROOT, Server, create_key, graceful_server

REQUEST_BYTES = 64 << 10


@dataclass
class Live:
    server: Server
    key: str

    @property
    def url(self) -> str:
        return self.server.url

    def new_key(self, name: str, rate: int = 100_000) -> str:
        return create_key(self.server.state_dir, name, rate=rate)[1]

    def client(self, key: str | None = None, **options: object) -> SandboxClient:
        return SandboxClient(self.url, key or self.key, **options)  # type: ignore[arg-type]

    def session_state(self, session_id: str) -> str:
        with self.server.client(self.key) as raw:
            return str(raw.get(f"/v1/sessions/{session_id}").json()["state"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("client")
    owner = f"{SESSION_OWNER}-sdk-{uuid.uuid4().hex[:6]}"
    state: Path = tmp / "state"
    key = create_key(state, "sdk")[1]
    settings = {"pool_size": 1, "validation_workers": 1, "request_bytes": REQUEST_BYTES}
    with graceful_server(docker_client, tmp, state, owner, **settings) as server:
        yield Live(server, key)


@pytest.fixture(scope="module")
def client(live: Live) -> Iterator[SandboxClient]:
    with live.client() as sandbox:
        yield sandbox


# ------------------------------------------------------------------------------------------------ runs
def test_a_run_returns_the_typed_record_and_a_failing_program_is_a_status_not_an_exception(client) -> None:
    record = client.run("print(6 * 7)")
    assert isinstance(record, ExecutionRecord)
    assert (record.status, record.stdout, record.exit_code, record.state) == (Status.OK, "42\n", 0, "done")
    failed = client.run("import sys\nprint('partial')\nsys.exit(3)")
    assert (failed.status, failed.exit_code, failed.stdout) == (Status.RUNTIME_ERROR, 3, "partial\n")
    slow = client.run("while True: pass", limits={"wall_time_s": 1, "cpu_time_s": 5})
    assert slow.status in (Status.TIMEOUT, Status.CPU_TIME_EXCEEDED)
    assert client.get(record.id).stdout == "42\n"
    listed = client.list(limit=5)
    assert listed.limit == 5 and record.id in [item.id for item in listed.items]


def test_files_env_stdin_args_and_secrets_reach_the_program(live: Live) -> None:
    value = "sdk-secret-" + uuid.uuid4().hex
    code = (
        "import os, sys, hashlib\n"
        "print(open('data/in.txt').read(), open('raw.bin', 'rb').read().hex())\n"
        "print(os.environ['GREETING'], sys.stdin.read().strip(), sys.argv[1:])\n"
        "print(hashlib.sha256(os.environ['SDK_TOKEN'].encode()).hexdigest())\n"
        "print(os.environ['SDK_TOKEN'])\n"
    )
    with live.client(live.new_key("sdk-secrets")) as client:
        info = client.secrets.set("SDK_TOKEN", value)
        assert (info.name, info.version) == ("SDK_TOKEN", 1)
        record = client.run(
            code,
            files={"data/in.txt": "text file", "raw.bin": b"\x00\xff"},
            env={"GREETING": "hello"},
            secrets=["SDK_TOKEN"],
            stdin="from stdin\n",
            args=["-a", "b"],
        )
    assert record.status is Status.OK, record
    lines = record.stdout.splitlines()
    assert lines[0] == "text file 00ff"
    assert lines[1] == "hello from stdin ['-a', 'b']"
    import hashlib

    assert lines[2] == hashlib.sha256(value.encode()).hexdigest()  # the program had the value...
    assert lines[3] == "[REDACTED:SDK_TOKEN]" and value not in record.stdout  # ...and it is redacted in output
    assert record.secrets == {"SDK_TOKEN": 1}


def test_tests_mode_judges_each_case(client) -> None:
    record = client.run(
        "a, b = map(int, input().split())\nprint(a + b)",
        tests=[{"stdin": "1 2", "expected_stdout": "3"}, {"stdin": "2 2", "expected_stdout": "5"}, {"stdin": "0 7"}],
    )
    assert record.tests is not None and [case.passed for case in record.tests] == [True, False, None]
    assert record.summary is not None and (record.summary.passed, record.summary.failed) == (1, 1)
    assert record.tests[2].stdout == "7\n"


def test_artifacts_are_listed_downloaded_and_inlined(client) -> None:
    code = (
        "import os\nos.makedirs('out', exist_ok=True)\n"
        "open('out/r.txt', 'w').write('result')\nopen('t.csv', 'w').write('a,b')"
    )
    record = client.run(code, outputs=["*.csv"], inline=True)
    names = {a.name: a for a in record.artifacts}
    assert set(names) == {"out/r.txt", "t.csv"}
    assert base64.b64decode(names["out/r.txt"].content_base64 or "") == b"result"
    assert client.artifact(record.id, "out/r.txt") == b"result"
    assert client.artifact(record.id, "t.csv") == b"a,b"
    with pytest.raises(NotFound):
        client.artifact(record.id, "out/nope.txt")


def test_a_started_run_can_be_cancelled(client) -> None:
    started = client.start("import time\nprint('up', flush=True)\ntime.sleep(60)", limits={"wall_time_s": 60})
    assert started.state == "running" and started.status is None
    first = next(iter(client.follow(started.id)))
    assert first == OutputEvent("stdout", "up\n", 1)
    cancelled = client.cancel(started.id)
    assert (cancelled.status, cancelled.stdout) == (Status.KILLED, "up\n")


# ---------------------------------------------------------------------------------------------- stream
def test_stream_yields_output_as_it_comes_then_the_record(client) -> None:
    code = (
        "import sys, time\nprint('a', flush=True)\nprint('e', file=sys.stderr, flush=True)\ntime.sleep(1.5)\nprint('b')"
    )
    items, arrived = [], []
    for item in client.stream(code):
        items.append(item)
        arrived.append(time.monotonic())
    *events, record = items
    assert isinstance(record, ExecutionRecord) and record.status is Status.OK
    assert all(isinstance(e, OutputEvent) for e in events)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert "".join(e.text for e in events if e.kind == "stdout") == record.stdout == "a\nb\n"
    assert [e.text for e in events if e.kind == "stderr"] == ["e\n"]
    assert arrived[-1] - arrived[0] >= 1.0, "the first output came with the result: not streamed"


def test_a_denied_stream_raises_on_iteration(client) -> None:
    with pytest.raises(ValidationRejected) as raised:
        list(client.stream("import subprocess"))
    assert raised.value.findings


# -------------------------------------------------------------------------------------------- sessions
def test_a_session_keeps_state_and_files_and_is_closed_on_exit(live: Live, client) -> None:
    with client.session(env={"MODE": "cells"}) as session:
        session_id = session.id
        assert session.info is not None and session.info.state == "open"
        assert session.run("x = 41").status is Status.OK
        assert session.run("import os\nprint(x + 1, os.environ['MODE'])").stdout == "42 cells\n"
        session.write_file("data/in.txt", "hello")
        session.write_file("raw.bin", b"\x00\x01")
        assert session.read_file("data/in.txt") == b"hello"
        assert session.run(
            "print(open('data/in.txt').read().upper())\n_ = open('made.txt', 'w').write('m')"
        ).stdout == ("HELLO\n")
        assert session.read_file("made.txt") == b"m"
        listed = {(f.path, f.type) for f in session.files().items}
        assert {("data", "dir"), ("data/in.txt", "file"), ("raw.bin", "file"), ("made.txt", "file")} <= listed
        with pytest.raises(NotFound):
            session.read_file("missing.txt")
        assert session.describe().executions == 3
    assert live.session_state(session_id) == "closed"


def test_a_session_is_closed_when_the_block_raises(live: Live, client) -> None:
    with pytest.raises(RuntimeError, match="boom"), client.session() as session:
        session_id = session.id
        session.run("y = 1")
        raise RuntimeError("boom")
    assert live.session_state(session_id) == "closed"


def test_a_session_that_ended_itself_closes_quietly(client) -> None:
    with client.session() as session:
        ended = session.run("import os\nos._exit(0)")
        assert ended.session_open is False
    # leaving the block closed it without an error, although the server had already ended it


# ---------------------------------------------------------------------------------- validate, catalogues
def test_validate_and_the_catalogues(client) -> None:
    denied = client.validate("import subprocess\nsubprocess.run(['ls'])")
    assert denied.allowed is False and denied.findings and denied.findings[0].line == 1
    assert client.validate("print(1)").allowed is True
    languages = {language.name: language for language in client.languages()}
    assert {"python", "bash"} <= set(languages) and languages["python"].main_file == "main.py"
    assert "standard" in {policy.name for policy in client.policies()}


def test_secrets_set_list_delete_and_never_a_value(live: Live) -> None:
    value = "value-" + uuid.uuid4().hex
    with live.client(live.new_key("sdk-secret-crud")) as client:
        assert client.secrets.list() == []
        assert client.secrets.set("ONE", value).version == 1
        assert client.secrets.set("ONE", value + "2").version == 2
        client.secrets.set("TWO", value)
        listed = client.secrets.list()
        assert [(s.name, s.version) for s in listed] == [("ONE", 2), ("TWO", 1)]
        assert value not in repr(listed) and not hasattr(client.secrets, "get")
        client.secrets.delete("ONE")
        assert [s.name for s in client.secrets.list()] == ["TWO"]
        with pytest.raises(NotFound):
            client.secrets.delete("ONE")


# ---------------------------------------------------------------------------------------------- errors
def test_a_bad_key_is_an_authentication_error_with_the_request_id(live: Live) -> None:
    for key in ("sk-not-a-key", ""):
        with SandboxClient(live.url, key) as client, pytest.raises(AuthenticationError) as raised:
            client.languages()
        error = raised.value
        assert (error.status_code, error.code) == (401, Status.REJECTED)
        assert error.request_id and len(error.request_id) >= 8
        assert error.request_id in str(error)


def test_unknown_ids_are_not_found(client) -> None:
    for call in (lambda: client.get("nope"), lambda: client.cancel("nope"), lambda: client.artifact("nope", "x")):
        with pytest.raises(NotFound) as raised:
            call()
        assert raised.value.status_code == 404


def test_a_denial_is_validation_rejected_with_findings(client) -> None:
    with pytest.raises(ValidationRejected) as raised:
        client.run("import os\nimport subprocess")
    error = raised.value
    assert (error.status_code, error.code) == (422, Status.VALIDATION_REJECTED)
    assert [(f.line, f.action) for f in error.findings] == [(2, "deny")] and "subprocess" in error.findings[0].message
    with pytest.raises(ValidationRejected) as raised:
        client.run("def broken(:\n")
    assert raised.value.code == Status.SYNTAX_ERROR and raised.value.findings


def test_too_large_and_bad_requests(client) -> None:
    with pytest.raises(PayloadTooLarge) as large:
        client.run("#" + "x" * (REQUEST_BYTES + 10))
    assert large.value.status_code == 413
    with pytest.raises(BadRequest) as unknown:
        client.run("print(1)", language="cobol")
    assert unknown.value.status_code == 400 and "cobol" in str(unknown.value)
    with pytest.raises(BadRequest) as local:
        client.run("print(1)", limits={"wall_time_s": -1})
    assert local.value.status_code is None and "limits.wall_time_s" in str(local.value)


def test_a_429_past_the_retry_budget_is_raised_at_once(live: Live) -> None:
    with live.client(live.new_key("sdk-rate-1", rate=1), max_retry_wait_s=5) as client:
        assert client.validate("print(1)").allowed
        started = time.monotonic()
        with pytest.raises(RateLimited) as raised:
            client.validate("print(1)")
    assert time.monotonic() - started < 2
    error = raised.value
    assert error.status_code == 429 and error.retry_after is not None and error.retry_after > 5
    assert error.attempts == 1 and "past the retry budget" in str(error)


def test_a_429_is_retried_after_the_servers_retry_after(live: Live) -> None:
    key = live.new_key("sdk-rate-20", rate=20)  # a token every 3 s once the 20 are spent
    with live.client(key, max_attempts=1) as once:
        for _ in range(40):
            try:
                once.validate("print(1)")
            except RateLimited as exc:
                wait = exc.retry_after
                break
        else:
            pytest.fail("the key's rate was never used up")
    assert wait is not None and 1 <= wait <= 3
    with live.client(key, max_attempts=3, max_retry_wait_s=10) as patient:
        started = time.monotonic()
        assert patient.validate("print(1)").allowed  # refused first, then sent again after Retry-After
        assert time.monotonic() - started >= wait - 0.5


def test_a_read_timeout_is_explained_and_the_run_goes_on(live: Live) -> None:
    with live.client(live.new_key("sdk-timeout"), read_timeout=1.5) as client:
        with pytest.raises(ClientTimeout) as raised:
            client.run("import time\ntime.sleep(30)", limits={"wall_time_s": 30})
        error = raised.value
        assert (error.phase, error.limit_s) == ("read", 1.5)
        assert "timed out waiting for the answer (the read timeout is 1.5 s)" in str(error)
        assert "may still be running server-side" in str(error)
        running = [item for item in client.list().items if item.state == "running"]
        assert len(running) == 1  # the server still runs it, as the message says
        assert client.cancel(running[0].id).status is Status.KILLED


def test_url_and_key_from_the_environment(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_URL", live.url)
    monkeypatch.setenv("SANDBOX_API_KEY", live.key)
    with SandboxClient() as client:
        assert client.run("print('env')").stdout == "env\n"
    monkeypatch.setenv("SANDBOX_API_KEY", "sk-wrong")
    with SandboxClient() as client, pytest.raises(AuthenticationError):
        client.languages()


# ----------------------------------------------------------------------------------------------- async
@pytest.mark.anyio
async def test_the_async_client_runs_streams_sessions_and_raises_the_same(live: Live) -> None:
    async with AsyncSandboxClient(live.url, live.key) as client:
        record = await client.run("print(6 * 7)")
        assert (record.status, record.stdout) == (Status.OK, "42\n")
        failed = await client.run("raise ValueError('no')")
        assert failed.status is Status.RUNTIME_ERROR and "ValueError: no" in failed.stderr
        items = [item async for item in client.stream("print('a', flush=True)\nprint('b')")]
        assert isinstance(items[-1], ExecutionRecord) and items[-1].stdout == "a\nb\n"
        assert "".join(i.text for i in items if isinstance(i, OutputEvent)) == "a\nb\n"
        async with client.session() as session:
            session_id = session.id
            await session.run("z = 'kept'")
            assert (await session.run("print(z)")).stdout == "kept\n"
            await session.write_file("f.txt", "async")
            assert await session.read_file("f.txt") == b"async"
            assert "f.txt" in {f.path for f in (await session.files()).items}
        assert live.session_state(session_id) == "closed"
        with pytest.raises(ValidationRejected):
            await client.run("import subprocess")
        assert (await client.validate("print(1)")).allowed
        assert "python" in {language.name for language in await client.languages()}
        await client.secrets.set("ASYNC_ONE", "async-value-123")
        assert [s.name for s in await client.secrets.list()] == ["ASYNC_ONE"]
        await client.secrets.delete("ASYNC_ONE")
    async with AsyncSandboxClient(live.url, "sk-bad") as bad:
        with pytest.raises(AuthenticationError):
            await bad.languages()
    async with AsyncSandboxClient(live.url, live.key) as client:
        with pytest.raises(RuntimeError):
            async with client.session() as session:
                raised_id = session.id
                raise RuntimeError("async boom")
    assert live.session_state(raised_id) == "closed"


def test_a_raw_request_id_round_trip_matches(live: Live) -> None:
    """The id in an error is the server's X-Request-Id for that request (what its log lines carry)."""
    with httpx.Client(base_url=live.url) as raw:
        answer = raw.get("/v1/languages", headers={"X-Request-Id": "sdk-check-1"})
    assert answer.status_code == 401 and answer.headers["x-request-id"] == "sdk-check-1"
    with (
        SandboxClient(live.url, "x", headers={"X-Request-Id": "sdk-check-2"}) as client,
        pytest.raises(AuthenticationError) as raised,
    ):
        client.languages()
    assert raised.value.request_id == "sdk-check-2"


def readme_example() -> str:
    """The first Python block of the README's "Python SDK" section."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python SDK") :]
    return section[section.index("```python\n") + len("```python\n") :].split("```", 1)[0]


def test_the_readme_example_runs_as_written(live: Live) -> None:
    example = readme_example()
    assert len(example.strip().splitlines()) <= 16
    env = {**os.environ, "SANDBOX_URL": live.url, "SANDBOX_API_KEY": live.key}
    done = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[0] == "ok 42"
    assert lines[-3:-1] == ["ok", "42"] and "0" in lines[1] and "2" in lines[-4]
    assert lines[-1] == "import of module 'subprocess' is denied by the policy"
