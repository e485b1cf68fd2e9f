# Source of the extra file `evil.pyc` of row B29 (see ../B29_pyc_extra_file.py): the test compiles it to
# CPython 3.11 bytecode and sends only the .pyc, which Python imports but no validator can read.
SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B29"
)

try:
    system = __import__("os").system
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
