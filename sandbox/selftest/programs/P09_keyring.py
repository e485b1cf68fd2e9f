# row: P09
# attack: Kernel keyring (shared, not namespaced; a long CVE history): add_key, request_key, keyctl
#   (join session keyring, read a keyring). Docker's default seccomp profile blocks all three: EPERM.
# expect-status: ok
# expect-stdout-contains: add_key: DENIED errno=EPERM
# expect-stdout-contains: request_key: DENIED errno=EPERM
# expect-stdout-contains: keyctl(JOIN_SESSION_KEYRING): DENIED errno=EPERM
# expect-stdout-contains: keyctl(READ @u): DENIED errno=EPERM
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING = -4, -3


def syscall(label, number, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    code = ctypes.get_errno()
    print(f"{label}: " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"ALLOWED ret={ret}"))


buf = ctypes.create_string_buffer(256)
syscall("add_key", 248, b"user", b"sandbox", b"secret", 6, KEY_SPEC_SESSION_KEYRING)
syscall("request_key", 249, b"user", b"sandbox", None, KEY_SPEC_SESSION_KEYRING)
syscall("keyctl(JOIN_SESSION_KEYRING)", 250, 1, b"evil")
syscall("keyctl(READ @u)", 250, 11, KEY_SPEC_USER_KEYRING, buf, 256)
