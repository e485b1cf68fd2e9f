# row: B28
# attack: Payload in an extra file: main.py only imports `helper.py`, a second file of the request
#   (payloads/B28_helper.py), whose `run()` does `__import__('os').system(...)`. Validating main.py
#   alone would let it through.
# extra-file: helper.py payloads/B28_helper.py
# v-on-finding: rule=name.denied source=ast file=helper.py text='__import__'
# v-on-clean-file: main.py
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B28
# limits: wall_time_s=5
import helper

helper.run()
