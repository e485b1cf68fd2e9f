"""Tests mode through the real engine: compile once, one run per case, each case in a fresh workdir.

What a case sees (its stdin, its args, a fresh copy of the workdir, an empty /tmp, no process of an
earlier case), how its output is judged (``cases.normalise``), and how one case's failure, timeout,
output flood or hostile mess is confined to that case.
"""

from __future__ import annotations

import signal

import pytest

from sandbox.models import ExecutionRequest, Limits, Status, TestCase

pytestmark = pytest.mark.anyio


def cases_request(language: str, code: str, cases: list[TestCase], **limits: float) -> ExecutionRequest:
    return ExecutionRequest(language=language, code=code, tests=cases, limits=Limits(**limits), policy="permissive")


def case(stdin: str = "", expected: str | None = None, args: list[str] | None = None) -> TestCase:
    return TestCase(stdin=stdin, expected_stdout=expected, args=args or [])


#: Prints its arguments on one line, then the sum of the two integers on stdin.
SUM = {
    "python": "import sys\nprint(' '.join(sys.argv[1:]))\na, b = map(int, sys.stdin.read().split())\nprint(a + b)\n",
    "cpp": "#include <iostream>\nint main(int argc, char **argv) {\n"
    '  for (int i = 1; i < argc; ++i) std::cout << (i > 1 ? " " : "") << argv[i];\n'
    "  long a, b;\n  std::cin >> a >> b;\n  std::cout << '\\n' << a + b << '\\n';\n}\n",
    "javascript": "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
    "console.log(process.argv.slice(2).join(' '));\nconsole.log(a + b);\n",
}


@pytest.mark.parametrize("language", sorted(SUM))
async def test_cases_pass_fail_or_go_unjudged_with_their_own_stdin_and_args(service, language: str) -> None:
    cases = [
        case("1 2\n", "x y\n3\n", ["x", "y"]),  # right
        case("2 2", "\n5", []),  # wrong sum
        case("40 2\n", None, ["only", "args", "here"]),  # not judged
        case("7 8", "--flag\n15", ["--flag"]),  # an argument that looks like an option stays an argument
    ]
    result = await service.execute(cases_request(language, SUM[language], cases))
    assert result.status is Status.OK and result.exit_code == 0, result
    assert result.tests is not None and [c.index for c in result.tests] == [0, 1, 2, 3]
    assert [c.status for c in result.tests] == [Status.OK] * 4
    assert [c.passed for c in result.tests] == [True, False, None, True]
    assert [c.stdout for c in result.tests] == ["x y\n3\n", "\n4\n", "only args here\n42\n", "--flag\n15\n"]
    assert all(c.exit_code == 0 and c.signal is None for c in result.tests)
    assert result.summary is not None
    assert result.summary.model_dump() == {"total": 4, "passed": 2, "failed": 1, "unjudged": 1}
    assert result.message == "2 of 4 case(s) passed, 1 not judged; case 1 printed other output than expected"
    if language == "cpp":
        assert result.compile is not None and result.compile.status is Status.OK
    else:
        assert result.compile is None


#: (what the program prints, what the case expects, whether they match: see cases.normalise)
COMPARISONS = [
    ("a  \nb\t\n\n\n", "a\nb", True),  # trailing whitespace per line and blank lines at the end
    ("a\nb", "a \t\nb\n\n", True),  # ... on either side
    ("a\r\nb\r\n", "a\nb\n", True),  # CRLF line ends
    ("\n\n", "", True),  # nothing but blank lines is nothing
    (" a\nb\n", "a\nb\n", False),  # leading whitespace is significant
    ("a\n\nb\n", "a\nb\n", False),  # so is an interior blank line
    ("a\nb\n", "a\nB\n", False),  # and case
    ("\u00e4\n", "\u00e4", True),  # UTF-8 compared as bytes
]


async def test_the_comparison_ignores_only_trailing_whitespace_and_trailing_blank_lines(service) -> None:
    cases = [case(stdin=printed, expected=expected) for printed, expected, _ in COMPARISONS]
    code = "import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())\n"
    result = await service.execute(cases_request("python", code, cases))
    assert result.tests is not None
    assert [c.stdout for c in result.tests] == [printed for printed, _, _ in COMPARISONS]
    assert [c.passed for c in result.tests] == [matched for _, _, matched in COMPARISONS]
    passed = sum(matched for _, _, matched in COMPARISONS)
    assert result.summary is not None and (result.summary.passed, result.summary.failed) == (passed, 8 - passed)
    assert result.status is Status.OK


async def test_the_whole_stdout_is_compared_though_only_its_head_is_returned(service) -> None:
    """The result keeps ``tests_head_bytes`` (8 KiB) of each case's stdout; the runner compares all of it."""
    line = "0123456789" * 9 + "\n"  # 91 bytes
    code = "import sys\nn = int(sys.stdin.read())\nsys.stdout.write(" + repr(line) + " * n)\n"
    cases = [case("400", line * 400), case("400", line * 399 + "changed at the end\n")]
    result = await service.execute(cases_request("python", code, cases))
    assert result.tests is not None
    assert [c.passed for c in result.tests] == [True, False]
    assert all(len(c.stdout) == 8 << 10 for c in result.tests)


async def test_a_crashing_case_fails_and_the_next_cases_still_run(service) -> None:
    code = "n = int(input())\nif n < 0:\n    raise ValueError('negative')\nprint(n * 2)\n"
    cases = [case("1", "2"), case("-1", "-2"), case("3", "6"), case("-5")]
    result = await service.execute(cases_request("python", code, cases))
    assert result.tests is not None
    assert [c.status for c in result.tests] == [Status.OK, Status.RUNTIME_ERROR, Status.OK, Status.RUNTIME_ERROR]
    assert [c.passed for c in result.tests] == [True, False, True, None]
    crashed = result.tests[1]
    assert crashed.exit_code == 1 and "ValueError: negative" in crashed.stderr
    assert crashed.message == "exited with code 1"
    # The first case that did not end ok gives the request its status and exit code.
    assert result.status is Status.RUNTIME_ERROR and result.exit_code == 1
    assert result.message == "2 of 4 case(s) passed; case 1: runtime_error (exited with code 1)"
    # A case without expected_stdout that crashed is a failure, not "unjudged".
    assert result.summary is not None
    assert result.summary.model_dump() == {"total": 4, "passed": 2, "failed": 2, "unjudged": 0}


async def test_a_case_that_times_out_is_killed_and_the_next_cases_still_run(service) -> None:
    """The runner's own deadline (wall_time_s) ends the case; the host's (wall_time_s + grace, per case)
    is not reached, so the container survives and the remaining cases run (see channel._cases)."""
    code = "import time\nif input() == 'hang':\n    while True:\n        time.sleep(1)\nprint('done')\n"
    cases = [case("go", "done"), case("hang", "done"), case("go", "done")]
    result = await service.execute(cases_request("python", code, cases, wall_time_s=2))
    assert result.tests is not None
    assert [c.status for c in result.tests] == [Status.OK, Status.TIMEOUT, Status.OK]
    assert [c.passed for c in result.tests] == [True, False, True]
    hung = result.tests[1]
    assert hung.signal == signal.SIGKILL and hung.exit_code is None and 1900 <= hung.wall_ms < 3000
    assert hung.message == "wall-clock limit of 2 s reached; the program was killed"
    assert result.status is Status.TIMEOUT
    assert result.message.startswith("2 of 3 case(s) passed; case 1: timeout (")


async def test_a_case_over_the_stdout_cap_is_cut_and_only_that_case_fails(service) -> None:
    code = "import sys\nsys.stdout.write('x' * int(sys.stdin.read()))\n"
    cases = [case("100", "x" * 100), case("5000", "x" * 5000), case("10", "x" * 10)]
    result = await service.execute(cases_request("python", code, cases, stdout_bytes=1000))
    assert result.tests is not None
    assert [c.status for c in result.tests] == [Status.OK, Status.OUTPUT_LIMIT_EXCEEDED, Status.OK]
    assert [c.passed for c in result.tests] == [True, False, True]
    flooded = result.tests[1]
    assert flooded.stdout_truncated and len(flooded.stdout) <= 1000
    assert flooded.message == "stdout passed its byte cap; the program was killed"
    assert result.status is Status.OUTPUT_LIMIT_EXCEEDED


async def test_a_case_out_of_memory_is_memory_exceeded_and_the_next_cases_still_run(service) -> None:
    code = (
        "import sys\nkept = []\nif sys.stdin.read() == 'bomb':\n"
        "    while True:\n        kept.append(bytearray(1 << 20))\nprint('small')\n"
    )
    cases = [case("bomb", "small"), case("", "small")]
    result = await service.execute(cases_request("python", code, cases, memory_mb=64))
    assert result.tests is not None
    assert [c.status for c in result.tests] == [Status.MEMORY_EXCEEDED, Status.OK]
    assert [c.passed for c in result.tests] == [False, True]
    assert result.status is Status.MEMORY_EXCEEDED


#: Case "write" leaves files in the workdir and /tmp and a process in its own session; case "look"
#: lists what it finds. Each also counts the processes whose command line is "sleep 1000".
ISOLATION = """read mode
count() {
  for p in /proc/[0-9]*; do tr '\\0' ' ' < "$p/cmdline" 2>/dev/null; echo; done | grep -c '^sleep 1000 $' || true
}
if [ "$mode" = write ]; then
  echo left > left.txt
  mkdir -p sub && echo left > sub/left.txt
  echo left > main.sh.orig
  echo left > /tmp/left.txt
  setsid nohup sleep 1000 > /dev/null 2>&1 < /dev/null &
  for _ in 1 2 3 4 5 6 7 8 9 10; do [ "$(count)" = 1 ] && break; sleep 0.1; done
  echo "sleepers: $(count)"
else
  ls -A .
  echo "tmp: $(ls -A /tmp)"
  echo "sleepers: $(count)"
fi
"""


async def test_a_case_sees_neither_files_nor_processes_of_the_case_before(service) -> None:
    cases = [case("write", "sleepers: 1"), case("look", "main.sh\ntmp: \nsleepers: 0"), case("write", "sleepers: 1")]
    result = await service.execute(cases_request("bash", ISOLATION, cases))
    assert result.tests is not None
    assert [c.stdout for c in result.tests] == ["sleepers: 1\n", "main.sh\ntmp: \nsleepers: 0\n", "sleepers: 1\n"]
    assert [c.passed for c in result.tests] == [True, True, True]
    assert result.status is Status.OK


#: A C program; with an argument it vandalises the workdir: deletes its own binary, rewrites its
#: source, adds a file, and makes the workdir read-only. Without one it reports what it finds.
VANDAL = """#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc > 1) {
    unlink("main");
    FILE *f = fopen("main.c", "w");
    fputs("tampered", f);
    fclose(f);
    fclose(fopen("extra", "w"));
    chmod(".", 0500);
    puts(access("main", F_OK) == 0 ? "binary still here" : "binary gone");
    return 0;
  }
  char head[9] = {0};
  FILE *f = fopen("main.c", "r");
  fread(head, 1, 8, f);
  fclose(f);
  printf("source: %s\\n", head);
  puts(access("extra", F_OK) == 0 ? "extra: yes" : "extra: no");
  FILE *w = fopen("written", "w");
  puts(w ? "workdir writable" : "workdir read-only");
  return 0;
}
"""


async def test_a_case_that_deletes_the_binary_and_locks_the_workdir_does_not_spoil_the_next(service) -> None:
    fresh = "source: #include\nextra: no\nworkdir writable\n"
    cases = [case(args=["vandalise"]), case(expected=fresh), case(args=["vandalise"]), case(expected=fresh)]
    result = await service.execute(cases_request("c", VANDAL, cases))
    assert result.tests is not None
    assert [c.stdout for c in result.tests] == ["binary gone\n", fresh, "binary gone\n", fresh], result.tests
    assert [c.status for c in result.tests] == [Status.OK] * 4
    assert result.summary is not None and result.summary.passed == 2 and result.summary.unjudged == 2


async def test_a_tree_deeper_than_the_runner_clears_ends_the_run_with_the_rest_not_run(service) -> None:
    """workspace.MAX_CLEAR_DEPTH is 64: a case that nests 100 directories leaves a workdir the runner
    will not reset; the remaining cases are reported as not run (status killed, passed False)."""
    code = 'if [ "$1" = deep ]; then mkdir -p "$(printf \'d/%.0s\' $(seq 100))" && echo deep; else echo ok; fi\n'
    cases = [case("", "ok"), case("", "deep", ["deep"]), case("", "ok"), case("", "ok")]
    result = await service.execute(cases_request("bash", code, cases))
    assert result.tests is not None and len(result.tests) == 4
    assert [c.status for c in result.tests] == [Status.OK, Status.OK, Status.KILLED, Status.KILLED]
    assert [c.passed for c in result.tests] == [True, True, False, False]
    for skipped in result.tests[2:]:
        assert skipped.message.startswith("not run: the workdir could not be reset after case 1: ")
        assert "directories nested deeper than 64" in skipped.message
        assert skipped.stdout == "" and skipped.exit_code is None
    assert result.status is Status.KILLED
    assert result.summary is not None
    assert result.summary.model_dump() == {"total": 4, "passed": 2, "failed": 2, "unjudged": 0}


async def test_a_tree_within_the_depth_limit_is_cleared(service) -> None:
    code = 'if [ "$1" = deep ]; then mkdir -p "$(printf \'d/%.0s\' $(seq 60))" && chmod -R a-w d; fi; ls -A\n'
    cases = [case("", None, ["deep"]), case("", "main.sh")]
    result = await service.execute(cases_request("bash", code, cases))
    assert result.tests is not None
    assert [c.stdout for c in result.tests] == ["d\nmain.sh\n", "main.sh\n"]
    assert result.status is Status.OK and result.tests[1].passed is True


async def test_a_compile_error_in_tests_mode_runs_no_case(service) -> None:
    cases = [case("1 2", "3"), case("2 2", "4")]
    result = await service.execute(cases_request("cpp", "int main() { return }\n", cases))
    assert result.status is Status.COMPILE_ERROR and result.exit_code == 1
    assert result.compile is not None and "error" in result.compile.output
    assert result.tests is None and result.summary is None


def fat_binary(mib: int) -> str:
    """A C program whose binary carries ``mib`` MiB of data (an assembler ``.fill``); it prints its last byte."""
    size = mib << 20
    return (
        "#include <stdio.h>\n"
        f'__asm__(".data\\n.globl blob\\nblob: .fill {size}, 1, 0x5a\\n.text");\n'
        "extern char blob[];\n"
        f'int main(void) {{ printf("%c\\n", blob[{size - 1}]); return 0; }}\n'
    )


async def test_a_binary_that_runs_once_within_memory_runs_as_several_cases(service) -> None:
    """The runner keeps a copy of the workdir (the 28 MiB binary) between cases: the host adds its size
    to the run's memory limit, so the program still gets its whole memory_mb."""
    code = fat_binary(28)
    once = await service.execute(ExecutionRequest(language="c", code=code, limits=Limits(memory_mb=64)))
    assert once.status is Status.OK and once.stdout == "Z\n", once
    result = await service.execute(cases_request("c", code, [case(expected="Z"), case(expected="Z")], memory_mb=64))
    assert result.tests is not None
    assert [(c.status, c.passed) for c in result.tests] == [(Status.OK, True), (Status.OK, True)], result.tests


async def test_a_binary_over_the_session_file_cap_is_copied_for_every_case(service) -> None:
    """The snapshot reads each workdir file whole (not through read_file's 32 MiB cap for session files):
    a 40 MiB binary runs as every case."""
    code = fat_binary(40)
    result = await service.execute(cases_request("c", code, [case(expected="Z"), case(expected="Z")], memory_mb=64))
    assert result.tests is not None
    assert [(c.status, c.passed) for c in result.tests] == [(Status.OK, True), (Status.OK, True)], result.tests
    assert result.status is Status.OK


async def test_a_case_that_makes_a_directory_unreadable_does_not_stop_the_next(service) -> None:
    code = 'if [ "$1" = lock ]; then mkdir -p d/e && touch d/e/f && chmod 000 d; fi; ls -A\n'
    result = await service.execute(cases_request("bash", code, [case(args=["lock"]), case(expected="main.sh")]))
    assert result.tests is not None
    assert [(c.status, c.stdout) for c in result.tests] == [(Status.OK, "d\nmain.sh\n"), (Status.OK, "main.sh\n")]
