"""Every language of the catalog through the real engine: output, stdin, errors, compile errors, limits.

The programs are data (``PROGRAMS``, one ``Programs`` per language): a language folder added under
images/ without an entry here fails ``test_every_catalog_language_has_programs`` and each of its
parametrized cases, so a new language cannot slip through untested. Compiled languages (those whose
image.toml has a ``compile`` command) also need a program that does not compile.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

import pytest

from sandbox.config import PROJECT_ROOT
from sandbox.engine import ImageCatalog
from sandbox.models import ExecutionRequest, Limits, Status

pytestmark = pytest.mark.anyio

CATALOG = ImageCatalog(PROJECT_ROOT / "images")
LANGUAGES = sorted(CATALOG.languages)
COMPILED = [name for name in LANGUAGES if CATALOG.language(name).compiled]

#: What the echo program prints before it copies its stdin.
HELLO = "hello, world\n"
#: Multi-line stdin with non-ASCII text and no final newline: copied byte for byte.
STDIN = "first line\nzweite Zeile: \u00e4\u00f6\u00fc \u2713\n  indented\tand tabbed\nno newline at the end"


@dataclass(frozen=True)
class Programs:
    """One language's test programs (source of its main file) and what their failures look like."""

    echo: str  # prints HELLO, then copies stdin to stdout unchanged
    crash: str  # fails at run time: an uncaught error or a non-zero exit
    crash_exit: int  # the exit code the crash ends with
    crash_says: str  # a fragment of the crash's stderr
    spin: str  # never ends (a busy loop)
    bomb: str  # allocates and touches memory without end
    broken: str | None = None  # does not compile (compiled languages only)
    compiler_says: str = ""  # a fragment of the compiler's message about ``broken``
    compiler_exit: int = 1  # the compiler's exit code on ``broken``


PROGRAMS: dict[str, Programs] = {
    "python": Programs(
        echo="import sys\nsys.stdout.write('hello, world\\n')\nsys.stdout.write(sys.stdin.read())\n",
        crash="def f():\n    raise ValueError('boom')\nf()\n",
        crash_exit=1,
        crash_says="ValueError: boom",
        spin="while True:\n    pass\n",
        bomb="chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))\n",
    ),
    "bash": Programs(
        echo="echo 'hello, world'\ncat\n",
        crash="echo boom >&2\nexit 3\n",
        crash_exit=3,
        crash_says="boom",
        spin="while :; do :; done\n",
        bomb="x=0123456789abcdef\nwhile :; do x=$x$x; done\n",
    ),
    "javascript": Programs(
        echo="process.stdout.write('hello, world\\n');\nprocess.stdout.write(require('fs').readFileSync(0));\n",
        crash="function f() { throw new Error('boom'); }\nf();\n",
        crash_exit=1,
        crash_says="Error: boom",
        spin="for (;;) {}\n",
        bomb="const kept = [];\nfor (;;) kept.push(Buffer.alloc(1 << 20, 1));\n",
    ),
    "typescript": Programs(
        echo="import * as fs from 'fs';\nprocess.stdout.write('hello, world\\n');\n"
        "process.stdout.write(fs.readFileSync(0));\n",
        crash="function f(): never { throw new Error('boom'); }\nf();\n",
        crash_exit=1,
        crash_says="Error: boom",
        spin="for (;;) {}\n",
        bomb="const kept: Buffer[] = [];\nfor (;;) kept.push(Buffer.alloc(1 << 20, 1));\n",
        broken="const n: number = 'not a number';\nconsole.log(n);\n",
        compiler_says="error TS2322",
        compiler_exit=2,  # tsc: errors were found (it still writes main.js; the run does not start)
    ),
    "c": Programs(
        echo='#include <stdio.h>\nint main(void) {\n  int c;\n  fputs("hello, world\\n", stdout);\n'
        "  while ((c = getchar()) != EOF) putchar(c);\n  return 0;\n}\n",
        crash='#include <stdio.h>\nint main(void) { fprintf(stderr, "boom\\n"); return 3; }\n',
        crash_exit=3,
        crash_says="boom",
        spin="int main(void) { volatile unsigned long n = 0; for (;;) n++; }\n",
        bomb="#include <stdlib.h>\n#include <string.h>\nint main(void) {\n"
        "  for (;;) { char *p = malloc(1 << 20); if (p) memset(p, 1, 1 << 20); }\n}\n",
        broken="int main(void) { return 1 }\n",
        compiler_says="error: expected \u2018;\u2019",
    ),
    "cpp": Programs(
        echo='#include <iostream>\nint main() {\n  std::cout << "hello, world\\n" << std::cin.rdbuf();\n}\n',
        crash='#include <iostream>\nint main() { std::cerr << "boom" << std::endl; return 3; }\n',
        crash_exit=3,
        crash_says="boom",
        spin="int main() { volatile unsigned long n = 0; for (;;) n = n + 1; }\n",
        bomb="#include <cstring>\n#include <vector>\nint main() {\n  std::vector<char *> kept;\n"
        "  for (;;) { char *p = new char[1 << 20]; std::memset(p, 1, 1 << 20); kept.push_back(p); }\n}\n",
        broken='#include <string>\nint main() { int n = std::string("text"); return n; }\n',
        compiler_says="error: cannot convert",
    ),
    "go": Programs(
        echo='package main\n\nimport (\n\t"fmt"\n\t"io"\n\t"os"\n)\n\nfunc main() {\n'
        '\tfmt.Print("hello, world\\n")\n\tio.Copy(os.Stdout, os.Stdin)\n}\n',
        crash='package main\n\nfunc main() {\n\tpanic("boom")\n}\n',
        crash_exit=2,
        crash_says="panic: boom",
        spin="package main\n\nfunc main() {\n\tn := 0\n\tfor {\n\t\tn++\n\t}\n}\n",
        bomb="package main\n\nfunc main() {\n\tvar kept [][]byte\n\tfor {\n\t\tb := make([]byte, 1<<20)\n"
        "\t\tfor i := range b {\n\t\t\tb[i] = 1\n\t\t}\n\t\tkept = append(kept, b)\n\t}\n}\n",
        broken="package main\n\nfunc main() {\n\tunused := 1\n}\n",
        compiler_says="declared but not used",
        compiler_exit=2,  # go build: 2 for a package that does not build
    ),
    "java": Programs(
        echo="public class Main {\n  public static void main(String[] args) throws Exception {\n"
        '    System.out.print("hello, world\\n");\n    System.out.flush();\n'
        "    System.in.transferTo(System.out);\n  }\n}\n",
        crash="public class Main {\n  public static void main(String[] args) {\n"
        '    throw new IllegalStateException("boom");\n  }\n}\n',
        crash_exit=1,
        crash_says='Exception in thread "main" java.lang.IllegalStateException: boom',
        spin="public class Main {\n  public static void main(String[] args) {\n"
        "    long n = 0;\n    while (true) n++;\n  }\n}\n",
        bomb="import java.util.ArrayList;\n\npublic class Main {\n  public static void main(String[] args) {\n"
        "    ArrayList<long[]> kept = new ArrayList<>();\n    while (true) kept.add(new long[1 << 17]);\n  }\n}\n",
        broken="public class Main {\n  public static void main(String[] args) {\n    int n = 1\n  }\n}\n",
        compiler_says="error: ';' expected",
    ),
    "rust": Programs(
        echo="use std::io::{self, Read, Write};\n\nfn main() {\n    let mut input = Vec::new();\n"
        "    io::stdin().read_to_end(&mut input).unwrap();\n    let mut out = io::stdout();\n"
        '    out.write_all(b"hello, world\\n").unwrap();\n    out.write_all(&input).unwrap();\n}\n',
        crash='fn main() {\n    panic!("boom");\n}\n',
        crash_exit=101,
        crash_says="panicked at 'boom'",
        spin="fn main() {\n    let mut n: u64 = 0;\n    loop {\n"
        '        n = n.wrapping_add(1);\n        if n == u64::MAX { println!("{}", n); }\n    }\n}\n',
        bomb="fn main() {\n    let mut kept: Vec<Vec<u8>> = Vec::new();\n"
        "    loop {\n        kept.push(vec![1u8; 1 << 20]);\n    }\n}\n",
        broken='fn main() {\n    let n: i32 = "text";\n    println!("{}", n);\n}\n',
        compiler_says="error[E0308]: mismatched types",
    ),
}


def programs(language: str) -> Programs:
    """The language's programs; a catalog language without them fails its tests (by design)."""
    if language not in PROGRAMS:
        pytest.fail(f"images/{language}/ is in the catalog but has no test programs: add it to PROGRAMS")
    return PROGRAMS[language]


def request(language: str, code: str, stdin: str = "", **limits: float) -> ExecutionRequest:
    return ExecutionRequest(language=language, code=code, stdin=stdin, limits=Limits(**limits), policy="permissive")


def assert_compiled(result, language: str) -> None:
    """A compiled language's run carries its good compile; an interpreted one carries none."""
    if language in COMPILED:
        assert result.compile is not None and result.compile.status is Status.OK, result.compile
        assert result.compile.exit_code == 0 and result.compile.wall_ms > 0
    else:
        assert result.compile is None


def test_every_catalog_language_has_programs() -> None:
    assert set(PROGRAMS) == set(LANGUAGES), "PROGRAMS and images/ name different languages"
    for name in COMPILED:
        assert PROGRAMS[name].broken is not None and PROGRAMS[name].compiler_says, name
    for name in set(LANGUAGES) - set(COMPILED):
        assert PROGRAMS[name].broken is None, f"{name} has no compile stage"


@pytest.mark.parametrize("language", LANGUAGES)
async def test_hello_world_and_stdin_echo(service, language: str) -> None:
    result = await service.execute(request(language, programs(language).echo, stdin=STDIN))
    assert result.status is Status.OK, result
    assert result.stdout == HELLO + STDIN
    assert result.exit_code == 0 and result.signal is None and result.message == ""
    assert_compiled(result, language)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_runtime_error_keeps_its_exit_code_and_stderr(service, language: str) -> None:
    spec = programs(language)
    result = await service.execute(request(language, spec.crash))
    assert result.status is Status.RUNTIME_ERROR, result
    assert result.exit_code == spec.crash_exit and result.signal is None
    assert result.message == f"exited with code {spec.crash_exit}"
    assert spec.crash_says in result.stderr
    assert_compiled(result, language)


@pytest.mark.parametrize("language", COMPILED)
async def test_a_compile_error_is_reported_with_the_compilers_message(service, language: str) -> None:
    spec = programs(language)
    assert spec.broken is not None
    result = await service.execute(request(language, spec.broken))
    assert result.status is Status.COMPILE_ERROR, result
    assert result.exit_code == spec.compiler_exit and result.signal is None
    assert spec.compiler_says in result.stderr
    assert result.stdout == ""
    assert result.message == f"compilation failed: exited with code {spec.compiler_exit}"
    compiled = result.compile
    assert compiled is not None
    assert compiled.status is Status.COMPILE_ERROR and compiled.exit_code == spec.compiler_exit
    assert spec.compiler_says in compiled.output
    assert compiled.output == result.stderr, "the compiler's output is the run's stderr too"
    assert compiled.message == result.message


@pytest.mark.parametrize("language", LANGUAGES)
async def test_an_endless_loop_times_out(service, language: str) -> None:
    result = await service.execute(request(language, programs(language).spin, wall_time_s=2))
    assert result.status is Status.TIMEOUT, result
    assert result.signal == signal.SIGKILL and result.exit_code is None
    assert "wall-clock limit of 2 s" in result.message
    assert 1900 <= result.wall_ms < 5000
    assert_compiled(result, language)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_memory_bomb_is_stopped(service, language: str) -> None:
    result = await service.execute(request(language, programs(language).bomb, memory_mb=96, wall_time_s=10))
    assert_compiled(result, language)
    if language == "java":
        # The image runs java with -XX:MaxRAMPercentage=75 (images/java/image.toml): the heap stops at
        # 75 % of the container's memory, below the cgroup's limit, so the JVM itself throws
        # OutOfMemoryError and exits 1 before the OOM killer has a reason to act. An honest verdict
        # with the JVM's own message, and the container's memory was never exceeded.
        assert result.status is Status.RUNTIME_ERROR, result
        assert result.exit_code == 1
        assert 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space' in result.stderr
        assert result.peak_memory_bytes <= 96 << 20
        return
    assert result.status is Status.MEMORY_EXCEEDED, result
    assert result.signal == signal.SIGKILL and result.exit_code is None
    assert result.message == "memory limit reached; the program was killed by the OOM killer"


# ------------------------------------------------------------------ the compile's own limits

#: Nested constexpr loops (each under GCC's per-loop limit, 4e10 steps in all): g++ computes for minutes.
ENDLESS_CONSTEXPR = """constexpr long spin() {
  long n = 0;
  for (long i = 0; i < 200000; ++i)
    for (long j = 0; j < 200000; ++j) n += i ^ j;
  return n;
}
constexpr long x = spin();
int main() { return x == 0; }
"""

#: Touches argv[1] MiB page by page (volatile: -O2 may not drop the allocation), then says so.
TOUCH_MIB = """#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  size_t n = (size_t)atoi(argv[1]) << 20;
  volatile char *p = malloc(n);
  if (!p) return 2;
  for (size_t i = 0; i < n; i += 4096) p[i] = 1;
  printf("touched %s MiB\\n", argv[1]);
  return 0;
}
"""


async def test_a_compile_past_its_wall_time_is_a_timeout_that_names_the_compile(service) -> None:
    result = await service.execute(request("cpp", ENDLESS_CONSTEXPR, compile_wall_time_s=1))
    assert result.status is Status.TIMEOUT, result
    expected = "the compile: wall-clock limit of 1 s reached; the compiler was killed (limits.compile_wall_time_s)"
    assert result.message == expected
    assert result.compile is not None
    assert result.compile.status is Status.TIMEOUT and result.compile.message == expected
    assert result.compile.signal == signal.SIGKILL and 900 <= result.compile.wall_ms < 4000
    assert result.stdout == "" and result.tests is None


#: gcc, g++ and go build run the real compiler (cc1, cc1plus, compile, link) as a child process: when
#: the OOM killer takes the child, the driver reports it ("g++: fatal error: Killed signal terminated
#: program cc1plus", "link: signal: killed") and exits 1; the others are killed themselves.
KILLED_ITSELF = (
    "the compile: memory limit reached; the compiler was killed by the OOM killer (limits.compile_memory_mb)"
)
KILLED_A_CHILD = (
    "the compile: memory limit reached; the OOM killer killed a process of the compiler, which exited with code 1 "
    "(limits.compile_memory_mb)"
)


#: A million-element initializer from a 200-byte source: gcc and g++ need ~200 MiB for it. A small program
#: may compile in 16 MiB when the compiler's pages are in the page cache already (charged to another cgroup).
HEAVY_C = (
    "#include <stdio.h>\n#define X10(a) a, a, a, a, a, a, a, a, a, a\n"
    "static const int big[] = { X10(X10(X10(X10(X10(X10(7)))))) };\n"
    'int main(void) { printf("%zu\\n", sizeof big / sizeof big[0]); return 0; }\n'
)


@pytest.mark.parametrize("language", COMPILED)
async def test_a_compile_past_its_memory_is_memory_exceeded_naming_the_compile(service, language: str) -> None:
    """The echo program, which compiles with the default compile memory (test_hello_world_and_stdin_echo),
    cannot compile in 16 MiB (the least a limit may be); C and C++ get a program that needs 200 MiB and 64.
    Whether the compiler or a process it started (cc1, compile, link) is the OOM killer's choice varies."""
    heavy = language in ("c", "cpp")
    code, memory = (HEAVY_C, 64) if heavy else (programs(language).echo, 16)
    result = await service.execute(request(language, code, compile_memory_mb=memory))
    assert result.compile is not None
    assert result.status is Status.MEMORY_EXCEEDED and result.message in (KILLED_ITSELF, KILLED_A_CHILD), result
    assert result.compile.status is Status.MEMORY_EXCEEDED and result.compile.message == result.message
    assert result.stdout == ""
    if heavy:  # the same program compiles and runs with the default compile memory
        fine = await service.execute(request(language, code))
        assert (fine.status, fine.stdout) == (Status.OK, "1000000\n"), fine


async def test_the_runs_memory_limit_holds_after_a_larger_compile_limit(service) -> None:
    """The container starts with the compile's 512 MiB; the host lowers it to the run's 64 MiB before
    the program starts: 200 MiB are refused, 32 MiB are fine."""
    big = request("c", TOUCH_MIB, memory_mb=64, compile_memory_mb=512).model_copy(update={"args": ["200"]})
    result = await service.execute(big)
    assert result.compile is not None and result.compile.status is Status.OK
    assert result.status is Status.MEMORY_EXCEEDED, result
    assert result.signal == signal.SIGKILL and result.stdout == ""
    assert 0 < result.peak_memory_bytes <= 64 << 20
    small = big.model_copy(update={"args": ["32"]})
    result = await service.execute(small)
    assert result.status is Status.OK and result.stdout == "touched 32 MiB\n", result
    assert 32 << 20 <= result.peak_memory_bytes <= 64 << 20
