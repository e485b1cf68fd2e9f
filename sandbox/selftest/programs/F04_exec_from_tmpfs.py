# row: F04
# attack: Write an executable (a shell script and a copy of /bin/true), chmod 755, and execute it from
#   every writable place: /tmp, /workspace and /dev/shm. All are mounted noexec, so execve gives EACCES.
# expect-status: ok
# expect-stdout-contains: /tmp/x.sh: DENIED errno=EACCES
# expect-stdout-contains: /tmp/true: DENIED errno=EACCES
# expect-stdout-contains: /workspace/x.sh: DENIED errno=EACCES
# expect-stdout-contains: /workspace/true: DENIED errno=EACCES
# expect-stdout-contains: /dev/shm/x.sh: DENIED errno=EACCES
# expect-stdout-contains: /dev/shm/true: DENIED errno=EACCES
# expect-stdout-contains: control /bin/true: ran
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import os
import shutil
import subprocess

subprocess.run(["/bin/true"], check=True)
print("control /bin/true: ran")
for d in ("/tmp", "/workspace", "/dev/shm"):
    with open(f"{d}/x.sh", "w") as f:
        f.write("#!/bin/sh\necho ALLOWED-script-ran\n")
    shutil.copy("/bin/true", f"{d}/true")
    for path in (f"{d}/x.sh", f"{d}/true"):
        os.chmod(path, 0o755)
        try:
            subprocess.run([path], check=True)
        except OSError as exc:
            print(f"{path}: DENIED errno={errno.errorcode[exc.errno]}")
        else:
            print(f"{path}: ALLOWED")
