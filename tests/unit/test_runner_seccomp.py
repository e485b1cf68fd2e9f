"""The runner's own seccomp layer: its BPF program, run through a tiny classic-BPF interpreter."""

from __future__ import annotations

import struct

import pytest

X86_64, I386 = 0xC000003E, 0x40000003


def evaluate(program: bytes, arch: int, nr: int) -> str:
    instructions = [struct.unpack("HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    pc = acc = 0
    for _ in range(len(instructions) + 1):
        code, jt, jf, k = instructions[pc]
        if code == 0x20:  # ld [k]: 4 is the arch, 0 the syscall number
            acc, pc = (arch if k == 4 else nr), pc + 1
        elif code == 0x15:  # jeq
            pc += 1 + (jt if acc == k else jf)
        elif code == 0x35:  # jge
            pc += 1 + (jt if acc >= k else jf)
        elif code == 0x06:  # ret
            return {0x7FFF0000: "allow", 0x00050001: "eperm"}[k]
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")
    raise AssertionError("the program did not return")


@pytest.fixture
def program(runner, monkeypatch) -> bytes:
    monkeypatch.setattr(runner.confinement.os, "uname", lambda: type("U", (), {"machine": "x86_64"})())
    return runner.confinement.seccomp_filter()


@pytest.mark.parametrize("name", ["ptrace", "process_vm_readv", "io_uring_setup", "userfaultfd", "bpf", "keyctl"])
def test_denied_syscalls_get_eperm(runner, program, name) -> None:
    assert evaluate(program, X86_64, runner.confinement.DENIED_SYSCALLS[name][0]) == "eperm"


@pytest.mark.parametrize("nr", [0, 1, 2, 3, 9, 56, 57, 59, 60, 61, 231, 435])  # read ... clone3
def test_ordinary_syscalls_are_allowed(program, nr) -> None:
    assert evaluate(program, X86_64, nr) == "allow"


def test_other_abis_are_refused(program) -> None:
    assert evaluate(program, I386, 1) == "eperm"  # int 0x80
    assert evaluate(program, X86_64, 0x40000000 + 425) == "eperm"  # x32 io_uring_setup


def test_unknown_machines_get_no_filter(runner, monkeypatch) -> None:
    monkeypatch.setattr(runner.confinement.os, "uname", lambda: type("U", (), {"machine": "riscv64"})())
    assert runner.confinement.seccomp_filter() is None
