"""Each status of the vocabulary, produced for real in a container."""

from __future__ import annotations

import base64
import signal

import pytest

from sandbox.errors import RequestRejected, SyntaxRejected
from sandbox.models import FileInput, Status

pytestmark = pytest.mark.anyio


async def test_hello_world(run_code) -> None:
    result = await run_code("print('hello world')")
    assert result.status is Status.OK
    assert result.stdout == "hello world\n"
    assert result.exit_code == 0 and result.signal is None
    assert result.wall_ms >= 0 and result.peak_memory_bytes > 0


async def test_python_main_semantics(run_code) -> None:
    code = "import sys, os\nprint(__name__, sys.argv, os.getcwd(), __file__)\n"
    result = await run_code(code)
    assert result.stdout == "__main__ ['main.py'] /workspace /workspace/main.py\n"


async def test_stdin_is_fed(run_code) -> None:
    result = await run_code("import sys\nprint(sys.stdin.read().upper())", stdin="abc\ndef")
    assert result.stdout == "ABC\nDEF\n"


async def test_extra_files_text_and_binary(run_code) -> None:
    blob = bytes(range(256))
    files = [
        FileInput(path="data/in.txt", content="42"),
        FileInput(path="blob.bin", content=base64.b64encode(blob).decode(), encoding="base64"),
    ]
    code = "print(open('data/in.txt').read(), open('blob.bin','rb').read() == bytes(range(256)))"
    result = await run_code(code, files=files)
    assert result.stdout == "42 True\n"


async def test_bash(run_code) -> None:
    result = await run_code("echo hi; read x; echo got $x; exit 3", language="bash", stdin="val\n")
    assert result.status is Status.RUNTIME_ERROR
    assert result.stdout == "hi\ngot val\n" and result.exit_code == 3


async def test_runtime_error_keeps_traceback_of_the_program_only(run_code) -> None:
    result = await run_code("def f():\n    raise ValueError('boom')\nf()\n")
    assert result.status is Status.RUNTIME_ERROR and result.exit_code == 1
    # The first frame is the program's: the runner drops exactly its own frame (program.report).
    first_frame = '  File "/workspace/main.py", line 3, in <module>\n'
    assert result.stderr.startswith("Traceback (most recent call last):\n" + first_frame)
    assert "ValueError: boom" in result.stderr
    assert "sandbox_runner" not in result.stderr


async def test_sys_exit_code(run_code) -> None:
    result = await run_code("import sys; print('x'); sys.exit(7)")
    assert (result.status, result.exit_code, result.stdout) == (Status.RUNTIME_ERROR, 7, "x\n")


async def test_timeout_by_sleep(run_code) -> None:
    result = await run_code("import time; print('start', flush=True); time.sleep(30)", wall_time_s=1)
    assert result.status is Status.TIMEOUT
    assert result.stdout == "start\n"
    assert result.wall_ms < 3000


async def test_timeout_by_busy_loop(run_code) -> None:
    result = await run_code("while True: pass", wall_time_s=1, cpu_time_s=20)
    assert result.status is Status.TIMEOUT


async def test_cpu_time_limit(run_code) -> None:
    result = await run_code("while True: pass", wall_time_s=10, cpu_time_s=1)
    assert result.status is Status.CPU_TIME_EXCEEDED, result
    assert 900 <= result.cpu_ms <= 3500, result


async def test_memory_bomb(run_code) -> None:
    code = "b = []\nwhile True:\n    b.append(bytearray(16 << 20))\n"
    result = await run_code(code, memory_mb=128)
    assert result.status is Status.MEMORY_EXCEEDED
    assert result.signal == signal.SIGKILL


async def test_output_flood_is_truncated_and_killed(run_code) -> None:
    result = await run_code("while True: print('A' * 1000)", stdout_bytes=100_000)
    assert result.status is Status.OUTPUT_LIMIT_EXCEEDED
    assert result.stdout_truncated and not result.stderr_truncated
    assert len(result.stdout.encode()) == 100_000


async def test_huge_single_line_is_capped_by_bytes(run_code) -> None:
    result = await run_code("import sys; sys.stdout.write('A' * (64 << 20))", stdout_bytes=1 << 20)
    assert result.status is Status.OUTPUT_LIMIT_EXCEEDED
    assert len(result.stdout) == 1 << 20


async def test_stderr_cap(run_code) -> None:
    result = await run_code("import sys\nwhile True: sys.stderr.write('E' * 4096)", stderr_bytes=10_000)
    assert result.status is Status.OUTPUT_LIMIT_EXCEEDED and result.stderr_truncated
    assert len(result.stderr) == 10_000


async def test_killed_by_signal(run_code) -> None:
    result = await run_code("import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    assert result.status is Status.KILLED and result.signal == signal.SIGTERM


async def test_limit_above_server_maximum_is_rejected(run_code) -> None:
    with pytest.raises(RequestRejected, match="wall_time_s=90 exceeds the server maximum 60"):
        await run_code("print(1)", wall_time_s=90)


async def test_unknown_language_is_rejected(run_code) -> None:
    with pytest.raises(RequestRejected, match="unknown language 'cobol'"):
        await run_code("x", language="cobol")


async def test_interpreter_exit_semantics(run_code) -> None:
    code = (
        "import atexit, sys, threading, time\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "def late():\n    time.sleep(0.2)\n    print('thread joined')\n"
        "threading.Thread(target=late).start()\n"
        "sys.stdout.write('unflushed ')\n"
        "sys.exit('bye')\n"
    )
    result = await run_code(code)
    assert result.status is Status.RUNTIME_ERROR and result.exit_code == 1
    assert result.stdout == "unflushed thread joined\natexit ran\n"
    assert result.stderr == "bye\n"


async def test_syntax_error_never_reaches_a_container(run_code) -> None:
    with pytest.raises(SyntaxRejected) as caught:
        await run_code("x = 1\ndef f(:\n    pass\n")
    (finding,) = caught.value.findings
    assert (finding.rule_id, finding.line, finding.col) == ("syntax.error", 2, 6)
    assert caught.value.status is Status.SYNTAX_ERROR
