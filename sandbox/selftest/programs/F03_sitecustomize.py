# row: F03
# attack: Persistence: write sitecustomize.py / usercustomize.py (and a .pth file) into every system
#   site-packages directory and into the standard library directory, so later interpreters would run them.
# expect-status: ok
# expect-stdout-contains: dirs-tried=
# expect-stdout-regex: ^/usr/lib/python3/dist-packages/sitecustomize\.py: DENIED errno=(EROFS|EACCES)$
# expect-stdout-regex: ^/usr/lib/python3\.\d+/sitecustomize\.py: DENIED errno=(EROFS|EACCES)$
# expect-stdout-regex: ^/usr/local/lib/python3\.\d+/dist-packages/zz-evil\.pth: DENIED errno=(EROFS|EACCES|ENOENT)$
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import os
import site
import sysconfig

dirs = sorted({*site.getsitepackages(), sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]})
print(f"dirs-tried={dirs}")
for d in dirs:
    for name in ("sitecustomize.py", "usercustomize.py", "zz-evil.pth"):
        path = os.path.join(d, name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            print(f"{path}: DENIED errno={errno.errorcode[exc.errno]}")
        else:
            os.write(fd, b"import os; os.system('id')\n")
            os.close(fd)
            print(f"{path}: ALLOWED")
