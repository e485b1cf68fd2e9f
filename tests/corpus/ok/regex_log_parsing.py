"""Parse web-server log lines with named groups; summarise statuses and slow requests."""

import re
from collections import Counter

LOG = """\
192.168.1.10 - - [10/Oct/2023:13:55:36 +0000] "GET /index.html HTTP/1.1" 200 2326 0.012
10.0.0.5 - - [10/Oct/2023:13:55:40 +0000] "POST /api/login HTTP/1.1" 401 128 0.220
10.0.0.5 - - [10/Oct/2023:13:56:01 +0000] "POST /api/login HTTP/1.1" 200 512 0.180
172.16.0.2 - - [10/Oct/2023:13:57:12 +0000] "GET /images/logo.png HTTP/1.1" 304 0 0.002
garbage line that does not match
192.168.1.10 - - [10/Oct/2023:13:58:30 +0000] "GET /api/report?year=2023 HTTP/1.1" 500 64 2.503
"""

LINE = re.compile(
    r"(?P<ip>\d{1,3}(?:\.\d{1,3}){3}) \S+ \S+ \[(?P<when>[^\]]+)\] "
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) (?P<size>\d+) (?P<secs>[\d.]+)'
)

entries, rejected = [], 0
for line in LOG.splitlines():
    match = LINE.fullmatch(line)
    if match is None:
        rejected += 1
        continue
    entry = match.groupdict()
    entry["status"], entry["secs"] = int(entry["status"]), float(entry["secs"])
    entries.append(entry)

print(f"{len(entries)} parsed, {rejected} rejected")
print(Counter(e["status"] // 100 * 100 for e in entries))
print("slow:", [e["path"] for e in entries if e["secs"] > 1])
print("api paths:", sorted({re.sub(r"\?.*$", "", e["path"]) for e in entries if e["path"].startswith("/api/")}))
print(re.findall(r"\b\d{2}:\d{2}:\d{2}\b", LOG)[:3])
print(re.split(r"[;,\s]+", "a, b;c  d"), re.sub(r"(\w+)@(\w+)", r"\2 at \1", "user@example"))
