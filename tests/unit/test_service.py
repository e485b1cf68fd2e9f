"""ExecutionService on the FakeBackend: request -> RunSpec -> result, no Docker."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import FakeBackend, ImageCatalog, RunFile, RunOutcome, RunSpec
from sandbox.errors import CapacityUnavailable, PayloadTooLarge, RequestRejected, SandboxError
from sandbox.limits import resolve_limits
from sandbox.models import CompileResult, ExecutionRequest, FileInput, Limits, Status, TestCaseResult, TestSummary
from sandbox.service import ExecutionService, error_result
from sandbox.validation import PolicySet

CATALOG = ImageCatalog(PROJECT_ROOT / "images")


def make_service(
    handler: Callable[[RunSpec], RunOutcome] | None = None, settings: Settings | None = None
) -> tuple[ExecutionService, FakeBackend]:
    backend = FakeBackend(handler or (lambda spec: RunOutcome(status=Status.OK, exit_code=0)))
    settings = settings or Settings()
    policies = PolicySet(settings.policies_dir, settings.default_policy)
    return ExecutionService(settings, backend, CATALOG, policies), backend


def prepare(service: ExecutionService, request: ExecutionRequest) -> RunSpec:
    """The admit stage's plan of ``request`` under its policy (no caller, no rate limit)."""
    return service.planner.plan(request, service.policies.get(request.policy))


# -------------------------------------------------------------------- prepare


def test_prepare_python_puts_code_in_main_py() -> None:
    service, _ = make_service()
    spec = prepare(service, ExecutionRequest(language="python", code="print('hi')", args=["a", "b c"]))
    assert spec.files[0] == RunFile("main.py", b"print('hi')")
    assert spec.mode == "python"
    assert spec.argv == ("python3", "main.py", "a", "b c")
    assert spec.image == CATALOG.image_tag("python")


@pytest.mark.parametrize("language", ["bash", "sh", "shell", "BASH"])
def test_prepare_bash_puts_code_in_main_sh(language: str) -> None:
    service, _ = make_service()
    spec = prepare(service, ExecutionRequest(language=language, code="echo hi", args=["--x"]))
    assert spec.files == (RunFile("main.sh", b"echo hi"),)
    assert spec.mode == "exec"
    assert spec.argv == ("bash", "main.sh", "--x")
    assert spec.image == CATALOG.image_tag("bash")


def test_prepare_args_are_never_interpreted() -> None:
    service, _ = make_service()
    args = ["; rm -rf /", "$(id)", "", "-c"]
    assert prepare(service, ExecutionRequest(language="bash", code="", args=args)).argv[2:] == tuple(args)


def test_prepare_extra_files_and_stdin() -> None:
    service, _ = make_service()
    blob = bytes(range(256))
    spec = prepare(
        service,
        ExecutionRequest(
            code="x",
            stdin="héllo",
            files=[
                FileInput(path="data/in.txt", content="42"),
                FileInput(path="blob.bin", content=base64.b64encode(blob).decode(), encoding="base64"),
            ],
        ),
    )
    assert spec.files[1:] == (RunFile("data/in.txt", b"42"), RunFile("blob.bin", blob))
    assert spec.stdin == "héllo".encode()


@pytest.mark.parametrize(("language", "main"), [("python", "main.py"), ("bash", "main.sh")])
def test_prepare_rejects_a_file_named_like_the_main_file(language: str, main: str) -> None:
    service, _ = make_service()
    with pytest.raises(RequestRejected, match=f"'{main}' given twice"):
        prepare(service, ExecutionRequest(language=language, code="", files=[FileInput(path=main)]))


def test_prepare_rejects_duplicate_extra_files() -> None:
    service, _ = make_service()
    with pytest.raises(RequestRejected, match="given twice"):
        prepare(service, ExecutionRequest(code="", files=[FileInput(path="a.txt"), FileInput(path="a.txt")]))


@pytest.mark.parametrize("paths", [["a", "a/b"], ["a/b", "a"], ["main.py/x"]])
def test_prepare_rejects_a_file_that_is_also_a_directory(paths: list[str]) -> None:
    service, _ = make_service()
    with pytest.raises(RequestRejected):
        prepare(service, ExecutionRequest(code="", files=[FileInput(path=p) for p in paths]))


def test_prepare_rejects_unknown_language_naming_the_choices() -> None:
    service, _ = make_service()
    with pytest.raises(RequestRejected, match=r"unknown language 'cobol'; available: .*bash.*python"):
        prepare(service, ExecutionRequest(language="cobol", code=""))


def test_prepare_payload_cap_counts_code_files_and_stdin() -> None:
    service, _ = make_service(settings=Settings(request_bytes=100))
    at_cap = ExecutionRequest(code="c" * 40, stdin="s" * 30, files=[FileInput(path="f", content="f" * 30)])
    assert sum(len(f.data) for f in prepare(service, at_cap).files) == 70
    for over in (
        ExecutionRequest(code="c" * 101),
        ExecutionRequest(code="c" * 40, stdin="s" * 61),
        ExecutionRequest(code="c" * 40, stdin="s" * 30, files=[FileInput(path="f", content="f" * 31)]),
        ExecutionRequest(code="é" * 51),  # counted in bytes, not characters
    ):
        with pytest.raises(PayloadTooLarge, match="over the server cap of 100"):
            prepare(service, over)


def test_payload_too_large_is_a_413_rejection() -> None:
    assert issubclass(PayloadTooLarge, RequestRejected)
    assert PayloadTooLarge.http_status == 413


def test_prepare_resolves_limits() -> None:
    settings = Settings(nofile=99, cpus=0.5)
    service, _ = make_service(settings=settings)
    spec = prepare(service, ExecutionRequest(code="", limits=Limits(wall_time_s=2, memory_mb=64)))
    assert spec.limits == resolve_limits(Limits(wall_time_s=2, memory_mb=64), settings)
    assert spec.limits.wall_time_s == 2 and spec.limits.memory_mb == 64
    assert spec.limits.cpu_time_s == settings.cpu_time_s
    assert spec.nofile == 99 and spec.cpus == 0.5


def test_prepare_rejects_limits_over_the_maximum() -> None:
    service, _ = make_service()
    with pytest.raises(RequestRejected, match="memory_mb=4096 exceeds the server maximum 2048"):
        prepare(service, ExecutionRequest(code="", limits=Limits(memory_mb=4096)))


def test_default_profile_matches_a_default_request() -> None:
    service, _ = make_service()
    assert service.planner.default_profile("python") == prepare(service, ExecutionRequest(code="")).profile
    javascript = prepare(service, ExecutionRequest(language="javascript", code=""))
    assert service.planner.default_profile("javascript") == javascript.profile


def test_javascript_gets_its_preload_and_a_compiled_language_or_python_none() -> None:
    """The preload (image.toml) goes with the spec and its pool key; a compiled language's waits for no compiler."""
    service, _ = make_service()
    javascript = prepare(service, ExecutionRequest(language="javascript", code="console.log(1)"))
    assert javascript.preload == ("node", "/opt/sandbox/preload/node.js") == javascript.profile[6]
    assert prepare(service, ExecutionRequest(language="typescript", code="")).preload == ()
    assert prepare(service, ExecutionRequest(language="python", code="")).preload == ()
    off, _ = make_service(settings=Settings(preload=False))
    assert prepare(off, ExecutionRequest(language="javascript", code="")).preload == ()
    assert off.planner.default_profile("javascript")[6] == ()


# -------------------------------------------------------------------- execute


@pytest.mark.anyio
async def test_execute_runs_the_prepared_spec_and_maps_the_outcome() -> None:
    outcome = RunOutcome(
        status=Status.RUNTIME_ERROR,
        exit_code=3,
        stdout=b"out\n",
        stderr=b"boom\n",
        stderr_truncated=True,
        wall_ms=12,
        cpu_ms=7,
        peak_memory_bytes=1 << 20,
        message="exited with code 3",
    )
    service, backend = make_service(lambda spec: outcome)
    result = await service.execute(ExecutionRequest(code="raise SystemExit(3)"))
    assert backend.specs == [prepare(service, ExecutionRequest(code="raise SystemExit(3)"))]
    assert result.status is Status.RUNTIME_ERROR
    assert (result.exit_code, result.signal) == (3, None)
    assert (result.stdout, result.stderr) == ("out\n", "boom\n")
    assert result.stderr_truncated and not result.stdout_truncated
    assert (result.wall_ms, result.cpu_ms, result.peak_memory_bytes) == (12, 7, 1 << 20)
    assert result.message == "exited with code 3"


@pytest.mark.anyio
async def test_execute_decodes_output_with_replacement() -> None:
    service, _ = make_service(
        lambda spec: RunOutcome(status=Status.OK, exit_code=0, stdout=b"\xffok\xc3", stderr=b"\x80")
    )
    result = await service.execute(ExecutionRequest(code=""))
    assert result.stdout == "\ufffdok\ufffd"
    assert result.stderr == "\ufffd"


@pytest.mark.anyio
@pytest.mark.parametrize("status", list(Status))
async def test_execute_passes_every_status_through(status: Status) -> None:
    service, _ = make_service(lambda spec: RunOutcome(status=status, signal=9))
    result = await service.execute(ExecutionRequest(code=""))
    assert result.status is status and result.signal == 9


@pytest.mark.anyio
async def test_on_output_sync_callback_receives_chunks() -> None:
    service, _ = make_service(lambda spec: RunOutcome(status=Status.OK, exit_code=0, stdout=b"o", stderr=b"e"))
    seen: list[tuple[str, bytes]] = []
    await service.execute(ExecutionRequest(code=""), on_output=lambda kind, chunk: seen.append((kind, chunk)))
    assert seen == [("stdout", b"o"), ("stderr", b"e")]


@pytest.mark.anyio
async def test_on_output_async_callback_receives_chunks() -> None:
    service, _ = make_service(lambda spec: RunOutcome(status=Status.OK, exit_code=0, stdout=b"only out"))
    seen: list[tuple[str, bytes]] = []

    async def callback(kind: str, chunk: bytes) -> None:
        seen.append((kind, chunk))

    await service.execute(ExecutionRequest(code=""), on_output=callback)
    assert seen == [("stdout", b"only out")]


@pytest.mark.anyio
async def test_execute_refuses_before_running() -> None:
    service, backend = make_service()
    with pytest.raises(RequestRejected):
        await service.execute(ExecutionRequest(code="", limits=Limits(wall_time_s=1000)))
    assert backend.specs == []


@pytest.mark.anyio
async def test_engine_errors_propagate() -> None:
    def handler(spec: RunSpec) -> RunOutcome:
        raise CapacityUnavailable("no room")

    service, _ = make_service(handler)
    with pytest.raises(CapacityUnavailable):
        await service.execute(ExecutionRequest(code=""))


@pytest.mark.anyio
async def test_context_manager_starts_and_closes_the_backend() -> None:
    service, backend = make_service()
    async with service as running:
        assert running is service
        assert (await service.execute(ExecutionRequest(code=""))).status is Status.OK
    assert backend.closed
    with pytest.raises(RuntimeError):  # a closed service is a bug in its caller
        await service.execute(ExecutionRequest(code=""))


# -------------------------------------------------------------------- results


def test_to_result_copies_every_field() -> None:
    outcome = RunOutcome(
        status=Status.KILLED,
        exit_code=None,
        signal=15,
        stdout=b"a",
        stderr=b"b",
        stdout_truncated=True,
        stderr_truncated=True,
        wall_ms=1,
        cpu_ms=2,
        peak_memory_bytes=3,
        message="killed by signal 15 (SIGTERM)",
        compile=CompileResult(status=Status.OK, output="warning"),
        tests=[TestCaseResult(index=0, status=Status.KILLED)],
        summary=TestSummary(total=1, passed=0, failed=1),
    )
    result = outcome.to_result()
    assert result.model_dump() == {
        "status": Status.KILLED,
        "exit_code": None,
        "signal": 15,
        "stdout": "a",
        "stderr": "b",
        "stdout_truncated": True,
        "stderr_truncated": True,
        "wall_ms": 1,
        "cpu_ms": 2,
        "peak_memory_bytes": 3,
        "message": "killed by signal 15 (SIGTERM)",
        "findings": [],
        "compile": CompileResult(status=Status.OK, output="warning").model_dump(),
        "tests": [TestCaseResult(index=0, status=Status.KILLED).model_dump()],
        "summary": {"total": 1, "passed": 0, "failed": 1, "unjudged": 0},
        "artifacts": [],
        "session_open": None,  # set by the run stage, for a session's cell only
        "cached": False,  # set by the lookup stage, on a hit only
        "cached_from": None,
    }


@pytest.mark.parametrize(
    ("exc", "status", "message"),
    [
        (RequestRejected("bad"), Status.REJECTED, "bad"),
        (CapacityUnavailable("busy"), Status.CAPACITY_UNAVAILABLE, "busy"),
        (SandboxError("ours"), Status.INTERNAL_ERROR, "ours"),
        (None, Status.INTERNAL_ERROR, "internal error"),  # an unexpected failure: no details
    ],
)
def test_error_result(exc: SandboxError | None, status: Status, message: str) -> None:
    result = error_result(exc)
    assert result.status is status
    assert result.message == message
    assert result.stdout == "" and result.exit_code is None


def test_files_that_cannot_fit_the_workdir_are_refused_before_anything_runs() -> None:
    service, _ = make_service()
    many = [FileInput(path=f"f{i}", content="x") for i in range(256)]  # 256 pages of tmpfs
    with pytest.raises(PayloadTooLarge, match=r"limits.workdir_mb=1"):
        prepare(service, ExecutionRequest(code="", files=many, limits=Limits(workdir_mb=1)))
    prepare(service, ExecutionRequest(code="", files=many, limits=Limits(workdir_mb=2)))
