"""The comment header both attack suites use: `# key: value` lines at the top of a program."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sandbox.models import Limits

HEADER_LINE = re.compile(r"# ([a-z-]+):\s*(.*)")
INT_LIMITS = {"cpu_time_s", "memory_mb", "processes", "workdir_mb", "stdout_bytes", "stderr_bytes"}


@dataclass(frozen=True)
class Header:
    code: str
    single: dict[str, str]
    repeated: dict[str, list[str]]
    limits: dict[str, float | int]


def parse(
    path: Path, *, single_keys: set[str], repeatable: set[str], continued: set[str], required: tuple[str, ...]
) -> Header:
    """Parse and check a header; every error names the file. Programs need `row`, `limits` with wall_time_s."""
    code = path.read_text(encoding="utf-8")
    single: dict[str, str] = {}
    repeated: dict[str, list[str]] = {key: [] for key in repeatable}
    last: str | None = None
    for line in code.splitlines():
        if not line.startswith("#"):
            break
        match = HEADER_LINE.fullmatch(line)
        if match and (match[1] in single_keys or match[1] in repeatable):
            key, value = match[1], match[2].strip()
            if key in repeatable:
                repeated[key].append(value)
            elif key in single:
                raise ValueError(f"{path.name}: header key {key!r} given twice")
            else:
                single[key] = value
            last = key
        elif line.startswith("#   ") and last in continued:
            single[last] += " " + line[1:].strip()
        elif match:
            raise ValueError(f"{path.name}: unknown header key {match[1]!r}")
        elif line.strip() != "#":
            raise ValueError(f"{path.name}: unparsable header line {line!r}")
    for key in required:
        if key not in single:
            raise ValueError(f"{path.name}: header lacks {key!r}")
    if not path.name.startswith(single["row"] + "_"):
        raise ValueError(f"{path.name}: row {single['row']!r} does not match the file name")
    limits: dict[str, float | int] = {}
    for item in single["limits"].split():
        name, _, value = item.partition("=")
        limits[name] = int(value) if name in INT_LIMITS else float(value)
    Limits.model_validate(limits)  # unknown or invalid limit names fail collection
    if "wall_time_s" not in limits:
        raise ValueError(f"{path.name}: every program needs an explicit wall_time_s")
    return Header(code, single, repeated, limits)
