# row: P12
# attack: Change machine-wide state: reboot (power off), kexec_load, settimeofday, clock_settime,
#   adjtimex (set offset), sethostname, setdomainname, swapoff, acct. Each must fail with EPERM.
# expect-status: ok
# expect-stdout-contains: reboot(POWER_OFF): DENIED errno=EPERM
# expect-stdout-contains: kexec_load: DENIED errno=EPERM
# expect-stdout-contains: settimeofday: DENIED errno=EPERM
# expect-stdout-contains: clock_settime(CLOCK_REALTIME): DENIED errno=EPERM
# expect-stdout-contains: adjtimex(ADJ_OFFSET): DENIED errno=EPERM
# expect-stdout-contains: sethostname: DENIED errno=EPERM
# expect-stdout-contains: setdomainname: DENIED errno=EPERM
# expect-stdout-contains: swapoff: DENIED errno=EPERM
# expect-stdout-contains: acct: DENIED errno=EPERM
# expect-stdout-contains: hostname unchanged: sandbox
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import ctypes
import errno
import socket
import struct

libc = ctypes.CDLL(None, use_errno=True)


def syscall(label, number, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    code = ctypes.get_errno()
    print(f"{label}: " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"ALLOWED ret={ret}"))


timeval = ctypes.create_string_buffer(struct.pack("=qq", 0, 0))
timex = ctypes.create_string_buffer(struct.pack("=I4xq", 0x0001, 10**6), 208)  # modes=ADJ_OFFSET
syscall("reboot(POWER_OFF)", 169, 0xFEE1DEAD, 672274793, 0x4321FEDC, 0)
syscall("kexec_load", 246, 0, 0, None, 0)
syscall("settimeofday", 164, timeval, None)
syscall("clock_settime(CLOCK_REALTIME)", 227, 0, timeval)
syscall("adjtimex(ADJ_OFFSET)", 159, timex)
syscall("sethostname", 170, b"pwned", 5)
syscall("setdomainname", 171, b"pwned", 5)
syscall("swapoff", 168, b"/dev/vda")
syscall("acct", 163, b"/tmp/acct")
print(f"hostname unchanged: {socket.gethostname()}")
