"""JavaScript's preload through the real engine: a warm container's `node` becomes `node main.js` exactly.

Every run here takes a warm container whose preload has finished starting (the pool is full and
given a moment), so what is measured is the program, not node's start-up. The preload's bootstrap
is images/javascript/preload.js; the runner's side is images/runner/sandbox_runner/preload.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from sandbox.config import Settings
from sandbox.models import ExecutionRequest, ExecutionResult, Limits, Status
from sandbox.service import ExecutionService

pytestmark = pytest.mark.anyio


@pytest.fixture
async def warm_js(settings: Settings, service_factory: Callable[..., ExecutionService]) -> AsyncIterator[Callable]:
    """``await run(code, **request fields)`` on a warm javascript container whose preload is up."""
    svc = service_factory(settings.model_copy(update={"pool_size": 1, "pool_languages": ["javascript"]}), warm=True)
    async with svc:
        pool = svc.backend.pool(svc.planner.default_profile("javascript"))
        assert pool is not None

        async def run(code: str, *, limits: Limits | None = None, **fields: object) -> ExecutionResult:
            assert await pool.wait_ready(timeout=60), pool.stats
            await asyncio.sleep(1.5)  # node's start-up in the fresh container is over
            hits = pool.stats.hits
            request = ExecutionRequest(language="javascript", code=code, limits=limits or Limits(), **fields)
            result = await svc.execute(request)
            assert pool.stats.hits == hits + 1, "the run did not take a warm container"
            return result

        yield run


async def test_hello_world_is_quick_and_its_cpu_leaves_node_start_up_out(warm_js) -> None:
    result = await warm_js("console.log('hello world')")
    assert result.status is Status.OK and result.stdout == "hello world\n" and result.stderr == ""
    # `node -e 1` alone costs ~200 ms of CPU in these containers; the program's own part is a fraction.
    assert result.cpu_ms < 120, result
    assert result.wall_ms < 500, result


async def test_argv_main_module_and_file_names_are_those_of_node_main_js(warm_js) -> None:
    code = (
        "console.log(JSON.stringify(process.argv.slice(1)), require.main === module, module.id, __filename,"
        " __dirname, process.cwd(), Object.keys(require.cache).join(','), process.execArgv.length)"
    )
    result = await warm_js(code, args=["a", "b c"])
    assert result.stdout == (
        '["/workspace/main.js","a","b c"] true . /workspace/main.js /workspace /workspace /workspace/main.js 0\n'
    ), result


async def test_the_environment_is_the_requests(warm_js) -> None:
    code = "console.log(process.env.GREETING, process.env.HOME, Object.keys(process.env).sort().join(','))"
    result = await warm_js(code, env={"GREETING": "hi"})
    assert result.stdout == "hi /workspace GREETING,HOME,LANG,PATH,TMPDIR\n", result


async def test_stdin_reads_whole_and_as_a_stream(warm_js) -> None:
    whole = await warm_js("process.stdout.write(require('fs').readFileSync(0, 'utf8').toUpperCase())", stdin="ab\ncd")
    assert whole.stdout == "AB\nCD", whole
    code = "let d = ''; process.stdin.on('data', c => d += c); process.stdin.on('end', () => console.log(d.length))"
    streamed = await warm_js(code, stdin="x" * 100_000)
    assert streamed.stdout == "100000\n", streamed


async def test_exit_codes_and_process_exit(warm_js) -> None:
    code_set = await warm_js("console.log('a'); process.exitCode = 3")
    assert (code_set.status, code_set.exit_code, code_set.stdout) == (Status.RUNTIME_ERROR, 3, "a\n")
    exited = await warm_js("console.log('b'); process.exit(7); console.log('never')")
    assert (exited.exit_code, exited.stdout) == (7, "b\n")


async def test_an_uncaught_exception_and_an_unhandled_rejection_end_it_with_1_and_the_stack(warm_js) -> None:
    thrown = await warm_js("function f() { throw new Error('boom') }\nf()")
    assert thrown.exit_code == 1 and thrown.status is Status.RUNTIME_ERROR
    assert thrown.stderr.startswith("/workspace/main.js:1\nfunction f() { throw new Error('boom') }\n"), thrown.stderr
    assert "Error: boom\n    at f (/workspace/main.js:1:" in thrown.stderr
    assert "\n    at Object.<anonymous> (/workspace/main.js:2:1)\n" in thrown.stderr
    assert "\nNode.js v" in thrown.stderr
    rejected = await warm_js("Promise.reject(new Error('nope'))")
    assert rejected.exit_code == 1 and "Error: nope" in rejected.stderr


async def test_the_cpu_limit_is_the_programs_own(warm_js) -> None:
    result = await warm_js("while (true) {}", limits=Limits(cpu_time_s=1, wall_time_s=10))
    assert result.status is Status.CPU_TIME_EXCEEDED, result
    assert 900 <= result.cpu_ms < 1600, result


async def test_the_wall_clock_limit(warm_js) -> None:
    result = await warm_js("setInterval(() => {}, 1000)", limits=Limits(wall_time_s=1))
    assert result.status is Status.TIMEOUT and 1000 <= result.wall_ms < 1500, result


async def test_a_memory_bomb_meets_the_oom_killer(warm_js) -> None:
    code = "const a = []; while (true) a.push(new Array(1e6).fill(1))"
    result = await warm_js(code, limits=Limits(wall_time_s=10))
    assert result.status is Status.MEMORY_EXCEEDED, result


async def test_typescript_has_no_preload_and_still_runs(run_code) -> None:
    result = await run_code("const n: number = 6 * 7\nconsole.log(n)", language="typescript")
    assert result.status is Status.OK and result.stdout == "42\n", result
