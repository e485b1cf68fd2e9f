"""The MCP door's schemas, hints and identity, through the SDK 2.x in-memory client (no Docker)."""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from sandbox.config import Settings
from sandbox.engine import ImageCatalog
from sandbox.mcp import build_mcp
from sandbox.validation import PolicySet

pytestmark = pytest.mark.anyio


def never() -> Any:
    raise AssertionError("listing tools needs no door")


async def listed(settings: Settings, mode: str = "auto") -> tuple[tuple[str, Any], dict[str, Any]]:
    """((the negotiated revision, serverInfo), the tools by name) of one in-memory session."""
    async with Client(build_mcp(never, settings), mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        return (client.protocol_version, client.server_info), tools


async def test_server_info_is_the_product_and_both_eras_are_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(state_dir=tmp_path)
    caplog.set_level(logging.DEBUG, logger="mcp")
    for mode, revision in (("auto", "2026-07-28"), ("legacy", "2025-11-25")):
        (negotiated, info), tools = await listed(settings, mode)
        assert negotiated == revision
        assert info is not None and (info.name, info.version) == ("sandbox", version("sandbox"))
        assert len(tools) == 9
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or "validation error" in r.getMessage()]
    assert not noisy, [r.getMessage() for r in noisy]


async def test_enums_come_from_the_catalog_and_the_policies(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    _, tools = await listed(settings)
    languages = sorted(ImageCatalog(settings.images_dir, settings.image_prefix).languages)
    policies = PolicySet(settings.policies_dir, settings.default_policy).policies
    for name in ("execute", "validate"):
        properties = tools[name].input_schema["properties"]
        assert properties["language"]["enum"] == languages
        assert "python (aliases py, python3; main.py)" in properties["language"]["description"]
        assert sorted(properties["policy"]["anyOf"][0]["enum"]) == sorted(policies)
        assert properties["policy"]["anyOf"][1] == {"type": "null"}


async def test_limits_say_their_unit_default_and_maximum_from_settings(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, wall_time_s=7, max_wall_time_s=42, memory_mb=300, max_memory_mb=900)
    _, tools = await listed(settings)
    for name in ("execute", "session_create", "session_execute"):
        limits = tools[name].input_schema["properties"]["limits"]["anyOf"][0]["properties"]
        assert limits["wall_time_s"]["maximum"] == 42
        assert "Unit: seconds. Default 7, server maximum 42." in limits["wall_time_s"]["description"]
        assert "Unit: MiB. Default 300, server maximum 900." in limits["memory_mb"]["description"]
    cell = tools["session_execute"].input_schema["properties"]["limits"]["description"]
    assert "fixed when the session opens" in cell


async def test_every_parameter_has_a_description(tmp_path: Path) -> None:
    _, tools = await listed(Settings(state_dir=tmp_path))
    missing = [
        f"{tool.name}.{name}"
        for tool in tools.values()
        for name, schema in tool.input_schema.get("properties", {}).items()
        if not schema.get("description")
    ]
    assert not missing


async def test_hints_are_truthful(tmp_path: Path) -> None:
    _, tools = await listed(Settings(state_dir=tmp_path))
    hints = {name: tool.annotations for name, tool in tools.items()}
    assert all(h is not None and h.open_world_hint is False for h in hints.values())  # no network anywhere
    expected = {  # read_only, destructive, idempotent
        "execute": (False, False, False),
        "validate": (True, False, True),
        "session_create": (False, False, False),
        "session_execute": (False, True, False),
        "session_files_write": (False, True, True),
        "session_files_read": (True, False, True),
        "session_files_list": (True, False, True),
        "session_close": (False, True, True),
        "sandbox_info": (True, False, True),
    }
    found = {n: (h.read_only_hint, h.destructive_hint, h.idempotent_hint) for n, h in hints.items() if h}
    assert found == expected
