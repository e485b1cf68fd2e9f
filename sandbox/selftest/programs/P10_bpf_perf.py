# row: P10
# attack: Kernel tracing and JIT surface: bpf(BPF_PROG_LOAD) of a two-instruction socket filter,
#   bpf(BPF_MAP_CREATE), perf_event_open on a software and a hardware counter. All must fail with EPERM.
# expect-status: ok
# expect-stdout-contains: bpf(BPF_MAP_CREATE): DENIED errno=EPERM
# expect-stdout-contains: bpf(BPF_PROG_LOAD): DENIED errno=EPERM
# expect-stdout-contains: perf_event_open(sw cpu-clock): DENIED errno=EPERM
# expect-stdout-contains: perf_event_open(hw cycles, any pid): DENIED errno=EPERM
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import ctypes
import errno
import struct

libc = ctypes.CDLL(None, use_errno=True)


def syscall(label, number, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    code = ctypes.get_errno()
    print(f"{label}: " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"ALLOWED ret={ret}"))


map_attr = ctypes.create_string_buffer(struct.pack("=IIII", 2, 4, 8, 16), 128)  # BPF_MAP_TYPE_ARRAY
syscall("bpf(BPF_MAP_CREATE)", 321, 0, map_attr, 128)
insns = ctypes.create_string_buffer(struct.pack("=BBhi", 0xB7, 0, 0, 0) + struct.pack("=BBhi", 0x95, 0, 0, 0))
license_ = ctypes.create_string_buffer(b"GPL")
prog_attr = ctypes.create_string_buffer(
    struct.pack("=IIQQ", 1, 2, ctypes.addressof(insns), ctypes.addressof(license_)), 128
)  # BPF_PROG_TYPE_SOCKET_FILTER
syscall("bpf(BPF_PROG_LOAD)", 321, 5, prog_attr, 128)
for label, kind, config, pid in (("sw cpu-clock", 1, 0, 0), ("hw cycles, any pid", 0, 0, -1)):
    attr = ctypes.create_string_buffer(struct.pack("=IIQ", kind, 128, config), 128)
    syscall(f"perf_event_open({label})", 298, attr, pid, 0 if pid == -1 else -1, -1, 0)
