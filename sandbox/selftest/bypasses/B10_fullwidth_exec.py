# row: B10
# attack: NFKC identifiers: the call is spelled with FULLWIDTH LATIN letters (U+FF45 U+FF58 U+FF45
#   U+FF43), which the parser normalises to `exec`; a policy matching the source text would miss it.
#   The exec'd string imports os.
# v-on-finding: rule=name.denied source=ast text='exec'
# v-on-finding: rule=B102 source=bandit
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B10
# limits: wall_time_s=5
SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B10"
)

namespace = {}
try:
    ｅｘｅｃ("import os\nsystem = os.system\n", namespace)
    system = namespace["system"]
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
