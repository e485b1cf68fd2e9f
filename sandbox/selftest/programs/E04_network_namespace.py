# row: E04
# attack: Look for the host's network: /sys/class/net, /proc/net/dev, if_nameindex, routes and ARP table.
#   A private netns with network none has only lo, no routes and no neighbours.
# expect-status: ok
# expect-stdout-contains: /sys/class/net: ['lo']
# expect-stdout-contains: /proc/net/dev: ['lo']
# expect-stdout-contains: if_nameindex: ['lo']
# expect-stdout-contains: ipv4-routes: []
# expect-stdout-contains: arp-entries: []
# limits: wall_time_s=5
import os
import socket

print(f"/sys/class/net: {sorted(os.listdir('/sys/class/net'))}")
print(f"/proc/net/dev: {sorted(line.split(':')[0].strip() for line in open('/proc/net/dev').readlines()[2:])}")
print(f"if_nameindex: {[name for _, name in socket.if_nameindex()]}")
print(f"ipv4-routes: {[line.split()[:3] for line in open('/proc/net/route').readlines()[1:]]}")
print(f"arp-entries: {[line.split()[0] for line in open('/proc/net/arp').readlines()[1:]]}")
