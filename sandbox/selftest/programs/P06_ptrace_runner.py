# row: P06
# attack: Take over the trusted runner (this program's parent, which holds the host protocol pipe): ptrace
#   attach, process_vm_readv, open /proc/<runner>/mem, environ and fd/. The runner marks itself non-dumpable,
#   so each must fail. Also attach to PID 1 (docker-init): Docker 20.10's default seccomp profile allows
#   ptrace, so this only checks that PID 1 holds nothing to gain (same uid, no capabilities, no_new_privs,
#   seccomp); the missing denial is the strict-xfail row P06_ptrace_pid1.
# expect-status: ok
# expect-stdout-contains: runner is parent and non-dumpable: yes
# expect-stdout-contains: ptrace-attach runner: DENIED errno=EPERM
# expect-stdout-contains: process_vm_readv runner: DENIED errno=EPERM
# expect-stdout-contains: open /proc/runner/mem: DENIED errno=EACCES
# expect-stdout-contains: open /proc/runner/environ: DENIED errno=EACCES
# expect-stdout-contains: listdir /proc/runner/fd: DENIED errno=EACCES
# expect-stdout-contains: pid1 holds no privilege: uid=65534 CapEff=0 CapBnd=0 NoNewPrivs=1 Seccomp=2
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
# xfail-under-runsc: a gap of runsc 2022-12: /proc/1/environ of the non-dumpable runner is readable (it holds no
#   secret: HOME, LANG, PATH); /proc/self/status has no NoNewPrivs line, which the program reads
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
runner = os.getppid()
runner_cmd = open(f"/proc/{runner}/cmdline", "rb").read()
non_dumpable = os.stat(f"/proc/{runner}/mem").st_uid == 0  # a non-dumpable process's /proc files belong to root
print(f"runner pid={runner} cmd={runner_cmd!r}")
print(f"runner is parent and non-dumpable: {'yes' if b'sandbox_runner' in runner_cmd and non_dumpable else 'no'}")


def syscall(label, number, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    code = ctypes.get_errno()
    print(f"{label}: " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"ALLOWED ret={ret}"))
    return ret


if syscall("ptrace-attach runner", 101, PTRACE_ATTACH, runner, 0, 0) == 0:
    os.waitpid(runner, 0x40000000)
    syscall("ptrace-detach runner", 101, PTRACE_DETACH, runner, 0, 0)
buf = ctypes.create_string_buffer(64)
local = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 64)
remote = (ctypes.c_void_p * 2)(0x400000, 64)
syscall("process_vm_readv runner", 310, runner, local, 1, remote, 1, 0)
for name in ("mem", "environ"):
    try:
        os.close(os.open(f"/proc/{runner}/{name}", os.O_RDONLY))
    except OSError as exc:
        print(f"open /proc/runner/{name}: DENIED errno={errno.errorcode[exc.errno]}")
    else:
        print(f"open /proc/runner/{name}: ALLOWED")
try:
    print(f"listdir /proc/runner/fd: ALLOWED {os.listdir(f'/proc/{runner}/fd')}")
except OSError as exc:
    print(f"listdir /proc/runner/fd: DENIED errno={errno.errorcode[exc.errno]}")

ctypes.set_errno(0)
if libc.syscall(ctypes.c_long(101), ctypes.c_long(PTRACE_ATTACH), ctypes.c_long(1), None, None) == 0:
    os.waitpid(1, 0x40000000)  # __WALL: wait for the attach stop, then let go
    libc.syscall(ctypes.c_long(101), ctypes.c_long(PTRACE_DETACH), ctypes.c_long(1), None, None)
    print("ptrace-attach pid1: succeeded (default seccomp profile; see P06_ptrace_pid1)")
else:
    print(f"ptrace-attach pid1: DENIED errno={errno.errorcode[ctypes.get_errno()]}")
status = dict(line.split(":\t", 1) for line in open("/proc/1/status").read().splitlines() if ":\t" in line)
uid = status["Uid"].split()[1]
print(
    "pid1 holds no privilege: "
    f"uid={uid} CapEff={int(status['CapEff'], 16)} CapBnd={int(status['CapBnd'], 16)} "
    f"NoNewPrivs={status['NoNewPrivs'].strip()} Seccomp={status['Seccomp'].strip()}"
)
