"""Write JSON and CSV files in the working directory and read them back."""

import csv
import json
from pathlib import Path

people = [
    {"name": "Ada", "born": 1815, "languages": ["English", "French"]},
    {"name": "Grace", "born": 1906, "languages": ["English"]},
    {"name": "Linus", "born": 1969, "languages": ["Finnish", "Swedish", "English"]},
]

with open("people.json", "w", encoding="utf-8") as fh:
    json.dump(people, fh, indent=2, sort_keys=True)
with open("people.json", encoding="utf-8") as fh:
    loaded = json.load(fh)
assert loaded == people
print(json.dumps(loaded[0], separators=(",", ":")))

with open("people.csv", "w", newline="", encoding="utf-8") as fh:
    writer = csv.DictWriter(fh, fieldnames=["name", "born", "languages"])
    writer.writeheader()
    for person in people:
        writer.writerow({**person, "languages": ";".join(person["languages"])})

with open("people.csv", newline="", encoding="utf-8") as fh:
    rows = list(csv.DictReader(fh))
for row in rows:
    print(f"{row['name']:<6} {int(row['born']):>5} {len(row['languages'].split(';'))} languages")

print(Path("people.csv").read_text(encoding="utf-8").splitlines()[0])
stats = {"count": len(rows), "oldest": min(rows, key=lambda r: int(r["born"]))["name"]}
Path("stats.json").write_text(json.dumps(stats), encoding="utf-8")
print(json.loads(Path("stats.json").read_text(encoding="utf-8")))
