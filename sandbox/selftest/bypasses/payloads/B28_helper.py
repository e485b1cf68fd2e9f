# Extra file `helper.py` of row B28 (see ../B28_helper_file_payload.py): the payload sits here, main.py only
# imports it, so the validator must check every Python file of a request, not only the main one.
SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B28"
)


def run():
    try:
        system = __import__("os").system
    except Exception as exc:
        print(f"system() not reached: {type(exc).__name__}: {exc}")
        return
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
