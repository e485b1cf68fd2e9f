"""The tools' input schemas and hints, built from what this server has installed and allows.

A model picks arguments from the schema alone, so every parameter says what it
is, ``language`` and ``policy`` are enums of the languages and policies present
(the image catalog, ``policies/*.yaml``), and each limit names its unit, its
default and its server maximum (from ``Settings``). The enums are built when
the server is built, so a language or policy added later shows after a restart.
Aliases of a language are accepted but not listed in the enum (one name per
language keeps the choice clear); the description names them.

Nothing here enforces a maximum: the service does, with a message naming the
value, the limit and the fix. The schema's ``maximum`` only tells a client
before it asks.
"""

from dataclasses import dataclass

from mcp.types import ToolAnnotations
from pydantic import Field, WithJsonSchema
from pydantic.fields import FieldInfo

from sandbox.config import Settings
from sandbox.engine import ImageCatalog
from sandbox.models import Limits
from sandbox.validation import PolicySet

#: Each limit: (unit as a model reads it, the Settings field of its default).
LIMIT_UNITS: dict[str, str] = {
    "wall_time_s": "seconds",
    "cpu_time_s": "seconds",
    "memory_mb": "MiB",
    "processes": "processes and threads",
    "workdir_mb": "MiB",
    "stdout_bytes": "bytes",
    "stderr_bytes": "bytes",
    "compile_wall_time_s": "seconds",
    "compile_cpu_time_s": "seconds",
    "compile_memory_mb": "MiB",
}

#: Tool hints, set truthfully: nothing reaches a network (openWorld false everywhere).
#: ``execute`` runs in a container removed afterwards, so it changes nothing it could destroy,
#: yet a second run is a second execution (its own record, quota, rate): not idempotent.
#: A session's state is what session tools change: a cell or a write may overwrite it.
ANNOTATIONS: dict[str, ToolAnnotations] = {
    "execute": ToolAnnotations(
        title="Run code once",
        read_only_hint=False,
        destructive_hint=False,
        idempotent_hint=False,
        open_world_hint=False,
    ),
    "validate": ToolAnnotations(
        title="Validate code", read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    ),
    "session_create": ToolAnnotations(
        title="Open a session",
        read_only_hint=False,
        destructive_hint=False,
        idempotent_hint=False,
        open_world_hint=False,
    ),
    "session_execute": ToolAnnotations(
        title="Run code in a session",
        read_only_hint=False,
        destructive_hint=True,  # a cell may overwrite the session's variables and files
        idempotent_hint=False,
        open_world_hint=False,
    ),
    "session_files_write": ToolAnnotations(
        title="Write a session file",
        read_only_hint=False,
        destructive_hint=True,  # replaces a file of that name
        idempotent_hint=True,
        open_world_hint=False,
    ),
    "session_files_read": ToolAnnotations(
        title="Read a session file",
        read_only_hint=True,
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=False,
    ),
    "session_files_list": ToolAnnotations(
        title="List a session's files",
        read_only_hint=True,
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=False,
    ),
    "session_close": ToolAnnotations(
        title="Close a session",
        read_only_hint=False,
        destructive_hint=True,  # the interpreter's state and files are gone
        idempotent_hint=True,  # closing a closed session changes nothing more (it answers not found)
        open_world_hint=False,
    ),
    "sandbox_info": ToolAnnotations(
        title="What the sandbox offers",
        read_only_hint=True,
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=False,
    ),
}


@dataclass(frozen=True)
class Choices:
    """What the schemas offer: languages and policies installed, and the limits' defaults and maxima."""

    languages: dict[str, tuple[str, ...]]  # canonical name -> aliases
    compiled: frozenset[str]
    main_files: dict[str, str]
    policies: tuple[str, ...]  # loosest first
    default_policy: str
    settings: Settings

    @classmethod
    def of(cls, settings: Settings) -> "Choices":
        catalog = ImageCatalog(settings.images_dir, settings.image_prefix)
        policies = PolicySet(settings.policies_dir, settings.default_policy)
        specs = sorted(catalog.languages.items())
        ordered = sorted(policies.policies.values(), key=lambda p: p.strictness)
        return cls(
            languages={name: tuple(spec.aliases) for name, spec in specs},
            compiled=frozenset(name for name, spec in specs if spec.compiled),
            main_files={name: spec.main_file for name, spec in specs},
            policies=tuple(p.name for p in ordered),
            default_policy=settings.default_policy,
            settings=settings,
        )

    def language_list(self) -> str:
        """``python (aliases py, python3; main.py), c (compiled; main.c), ...``: for descriptions."""
        parts = []
        for name, aliases in self.languages.items():
            notes = [f"aliases {', '.join(aliases)}"] if aliases else []
            notes += ["compiled"] if name in self.compiled else []
            parts.append(f"{name} ({'; '.join([*notes, self.main_files[name]])})")
        return ", ".join(parts)

    def language(self, default: str = "python") -> FieldInfo:
        """The ``language`` parameter's field: an enum of canonical names (aliases are accepted too)."""
        description = f"Language of `code`; default {default}. One of: {self.language_list()}."
        field: FieldInfo = Field(description=description, json_schema_extra={"enum": list(self.languages)})
        return field

    def policy(self) -> WithJsonSchema:
        """The ``policy`` parameter's schema: a validation tier of ``policies/``, or null for the key's own."""
        description = (
            f"Validation policy, loosest to strictest: {', '.join(self.policies)}. Null: the API key's policy "
            f"(the server default is {self.default_policy}). A key may ask for a stricter policy, never a looser one."
        )
        return WithJsonSchema(
            {
                "anyOf": [{"type": "string", "enum": list(self.policies)}, {"type": "null"}],
                "default": None,
                "description": description,
            }
        )

    def limits(self, scope: str) -> WithJsonSchema:
        """The ``limits`` parameter's schema: each limit's unit, default and server maximum; ``scope``: which apply.

        Only the schema is documented: the value is validated as a plain ``Limits``, and a
        value over a maximum is refused by the service with a message naming both.
        """
        settings = self.settings
        limits = Limits.model_json_schema()
        for name, field in limits["properties"].items():
            default, maximum = getattr(settings, name), getattr(settings, f"max_{name}")
            described = Limits.model_fields[name].description
            field["description"] = (
                f"{described} Unit: {LIMIT_UNITS[name]}. Default {_number(default)}, server maximum {_number(maximum)}."
            )
            field["maximum"] = maximum
        limits["description"] = f"{limits.get('description', '')} {scope}".strip()
        return WithJsonSchema(
            {
                "anyOf": [limits, {"type": "null"}],
                "default": None,
                "description": f"Resource limits; each may lower its default, never exceed its maximum. {scope}",
            }
        )


def _number(value: float) -> str:
    """``1048576`` stays itself (``:g`` would print 1.04858e+06); ``2.5`` stays 2.5."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
