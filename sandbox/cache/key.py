"""What identifies a run for the result cache, and which results may be kept.

The key is a SHA-256 over a canonical encoding of everything that decides what a
run does: the caller's API key (a tenant's entries are never another's), the
policy's name and version, the server settings that change how every container
runs, and the whole ``RunSpec`` the engine would be given. The spec is the run
after planning, so what does not change the run does not change the key: a
language alias, limits asked equal to their defaults, a policy left unset or
named as the default, a file sent as base64 or as UTF-8 text, the order of env
variables. Every field of the spec is hashed, so a field added to it later is
part of the key without anyone remembering to add it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from pydantic import BaseModel

from sandbox.config import Settings
from sandbox.engine import RunSpec
from sandbox.models import ExecutionResult, Status

#: Changed when the encoding or the stored shape changes: older entries are simply never found.
KEY_VERSION = b"sandbox-result-cache/1\n"

#: Statuses that are the program's own verdict on its inputs, the same every time a deterministic program
#: runs: its exit (ok, runtime_error), its compiler's (compile_error), and the limits it reached on its own
#: account (CPU seconds, memory, bytes of output). Left out: ``timeout``, a wall-clock verdict that a busy
#: host can cause and a quiet one would not; ``killed``, a signal that may be ours (a cancellation, a
#: shutdown, the host's deadline); ``capacity_unavailable`` and ``internal_error``, our failures; and the
#: refusals (``rejected``, ``validation_rejected``, ``syntax_error``), which never reach a run.
CACHEABLE = frozenset(
    {
        Status.OK,
        Status.RUNTIME_ERROR,
        Status.COMPILE_ERROR,
        Status.CPU_TIME_EXCEEDED,
        Status.MEMORY_EXCEEDED,
        Status.OUTPUT_LIMIT_EXCEEDED,
    }
)


def cache_key(spec: RunSpec, *, key_id: str | None, policy: str, policy_version: int, settings: Settings) -> str:
    """The hex digest naming ``spec``'s result for ``key_id`` (None: the local operator) under that policy."""
    digest = hashlib.sha256(KEY_VERSION)
    _feed(digest, ("key", key_id))
    _feed(digest, ("policy", policy, policy_version))
    # Not in the spec, yet they change what a program can do: the OCI runtime (gVisor), its uid, the syscalls.
    _feed(digest, ("server", settings.runtime, settings.user, str(settings.seccomp_profile or "")))
    _feed(digest, spec)
    return digest.hexdigest()


def uncacheable(result: ExecutionResult) -> str | None:
    """Why ``result`` must not be kept, or None when it may.

    A run that left artifacts is not kept: their bytes live in the artifact store of the server that ran
    it (its state directory, with its own retention), which a hit on another replica, or after that
    retention, could not serve; a result whose artifacts are missing would not be the same result.
    """
    statuses = [result.status]
    if result.compile is not None:
        statuses.append(result.compile.status)
    statuses.extend(case.status for case in result.tests or ())
    odd = next((status for status in statuses if status not in CACHEABLE), None)
    if odd is not None:
        return f"status {odd.value} is not the program's own verdict"
    if result.artifacts:
        return "the run left artifacts"
    return None


def _feed(digest: Any, value: object) -> None:
    """Add ``value`` to ``digest`` unambiguously: a type tag, and a length before every variable part."""
    if value is None:
        digest.update(b"N")
    elif isinstance(value, bool):  # before int: a bool is an int
        digest.update(b"T" if value else b"F")
    elif isinstance(value, int):
        digest.update(b"i%d;" % value)
    elif isinstance(value, float):
        digest.update(b"f" + value.hex().encode() + b";")
    elif isinstance(value, str | bytes):
        data = value.encode() if isinstance(value, str) else value
        digest.update(b"%s%d:" % (b"s" if isinstance(value, str) else b"b", len(data)))
        digest.update(data)
    elif isinstance(value, tuple | list):
        digest.update(b"l%d;" % len(value))
        for item in value:
            _feed(digest, item)
    elif isinstance(value, dict):
        digest.update(b"d%d;" % len(value))
        for name in sorted(value):
            _feed(digest, name)
            _feed(digest, value[name])
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _feed(digest, type(value).__name__)
        _feed(digest, {f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    elif isinstance(value, BaseModel):
        _feed(digest, type(value).__name__)
        _feed(digest, {name: getattr(value, name) for name in type(value).model_fields})
    else:
        raise TypeError(f"cannot key a {type(value).__name__}")  # a new kind of spec field: teach it here
