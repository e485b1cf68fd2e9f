# row: B29
# attack: Unvalidatable code in an extra file: `evil.pyc`, bytecode compiled from payloads/B29_evil.py
#   (which does `__import__('os').system(...)` at import time); main.py only says `import evil`, and
#   Python imports a sourceless .pyc found on sys.path. No validator can read bytecode, so the file
#   itself must be refused.
# extra-file: evil.pyc payloads/B29_evil.py
# v-on-finding: rule=file.unvalidatable source=policy file=evil.pyc
# v-on-clean-file: main.py
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B29
# limits: wall_time_s=5
import evil  # noqa: F401
