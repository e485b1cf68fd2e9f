# row: B25
# attack: Attribute walk inside a format string (RestrictedPython CVE-2023-41039 class):
#   `'{0.__globals__[__builtins__].__import__}'.format(f)` reads dunders with no attribute syntax
#   (a program's `__builtins__` is the builtins module, as under `python3 main.py`). Format fields
#   cannot call, so this leaks objects (here the import function), not a shell: the program then
#   shows what the leak is worth inside the container.
# v-on-finding: rule=string.format_attribute source=ast text='__globals__'
# v-off-status: ok
# v-off-stdout-contains: str.format leaked: <built-in function __import__>
# v-off-stdout-contains: uid=65534 euid=65534
# v-off-stdout-contains: /etc/shadow: DENIED errno=EACCES
# v-off-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import os


def probe():
    return None


try:
    template = "{0.__globals__[__builtins__].__import__}"
    print(f"str.format leaked: {template.format(probe)}")
except Exception as exc:
    print(f"str.format leaked nothing: {type(exc).__name__}: {exc}")
print(f"uid={os.getuid()} euid={os.geteuid()}")
try:
    with open("/etc/shadow") as f:
        print(f"/etc/shadow: ALLOWED {f.read()[:40]!r}")
except OSError as exc:
    print(f"/etc/shadow: DENIED errno={errno.errorcode[exc.errno]}")
