# row: F05
# attack: Piston #206: copy a binary to /tmp, chmod 4755, run it. Also try to set the setuid bit on a
#   root-owned binary in the image. The tmpfs is nosuid and noexec, the image is read-only, and the
#   process has no-new-privileges, so nothing may gain privileges. nosuid is checked where the kernel reports
#   it (gVisor's mountinfo lists it on no mount at all: "not reported"), no_new_privs with prctl.
# expect-status: ok
# expect-stdout-regex: ^/tmp mount nosuid: (yes|not reported by this kernel on any mount)$
# expect-stdout-contains: /tmp/id-suid exec: DENIED errno=EACCES
# expect-stdout-regex: ^chmod 4755 /usr/bin/id: DENIED errno=(EPERM|EROFS)$
# expect-stdout-contains: NoNewPrivs: 1
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import ctypes
import errno
import os
import shutil
import subprocess

mountinfo = [line.split() for line in open("/proc/self/mountinfo")]
reported = any("nosuid" in fields[5].split(",") for fields in mountinfo)
for fields in mountinfo:
    if fields[4] == "/tmp":
        nosuid = "yes" if "nosuid" in fields[5].split(",") else "no" if reported else "not reported by this kernel"
        print(f"/tmp mount nosuid: {nosuid}{' on any mount' if not reported else ''}")
shutil.copy("/usr/bin/id", "/tmp/id-suid")
os.chmod("/tmp/id-suid", 0o4755)
print(f"/tmp/id-suid mode={oct(os.stat('/tmp/id-suid').st_mode)} owner={os.stat('/tmp/id-suid').st_uid}")
try:
    out = subprocess.run(["/tmp/id-suid", "-u"], capture_output=True, text=True).stdout.strip()
except OSError as exc:
    print(f"/tmp/id-suid exec: DENIED errno={errno.errorcode[exc.errno]}")
else:
    print(f"/tmp/id-suid exec: ALLOWED uid={out}")
try:
    os.chmod("/usr/bin/id", 0o4755)
except OSError as exc:
    print(f"chmod 4755 /usr/bin/id: DENIED errno={errno.errorcode[exc.errno]}")
else:
    print("chmod 4755 /usr/bin/id: ALLOWED")
print(f"NoNewPrivs: {ctypes.CDLL(None).prctl(39, 0, 0, 0, 0)}")  # PR_GET_NO_NEW_PRIVS
