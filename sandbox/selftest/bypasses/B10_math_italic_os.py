# row: B10
# attack: NFKC identifiers: `import` and use of os spelled with MATHEMATICAL SANS-SERIF ITALIC letters
#   (U+1D630 U+1D634), which the parser normalises to `os`; `os.system` is never written in ASCII.
# v-on-finding: rule=name.qualified_denied source=ast text='os.system'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B10
# limits: wall_time_s=5
import 𝘰𝘴

SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B10"
)

try:
    system = 𝘰𝘴.system
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
