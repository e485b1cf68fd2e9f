# row: B14
# attack: Names built from strings: `getattr(__import__('o' + 's'), 'sys' + 'tem')`: neither the module
#   nor the attribute appears as a name or a literal.
# v-on-finding: rule=import.dynamic source=ast text=__import__()
# v-on-finding: rule=attribute.dynamic source=ast text=getattr()
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B14
# limits: wall_time_s=5
SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B14"
)

try:
    system = getattr(__import__("o" + "s"), "sys" + "tem")
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
