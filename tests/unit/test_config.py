"""Settings: defaults within maxima, never root, env prefix SANDBOX_."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sandbox.config import PROJECT_ROOT, Settings

LIMITS = ("wall_time_s", "cpu_time_s", "memory_mb", "processes", "workdir_mb", "stdout_bytes", "stderr_bytes")


def test_defaults_are_valid_and_within_maxima() -> None:
    settings = Settings()
    for name in (*LIMITS, "request_bytes"):
        assert getattr(settings, name) <= getattr(settings, f"max_{name}")
    assert settings.images_dir == PROJECT_ROOT / "images"
    assert settings.runtime is None and settings.seccomp_profile is None


@pytest.mark.parametrize("name", [*LIMITS, "request_bytes"])
def test_default_above_its_maximum_fails_naming_the_variable(name: str) -> None:
    maximum = getattr(Settings(), f"max_{name}")
    with pytest.raises(ValidationError, match=f"SANDBOX_{name.upper()}=.* exceeds SANDBOX_MAX_{name.upper()}="):
        Settings(**{name: maximum * 2})


def test_default_above_its_maximum_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_MEMORY_MB", "4096")
    with pytest.raises(ValidationError, match="SANDBOX_MEMORY_MB=4096 exceeds SANDBOX_MAX_MEMORY_MB=2048"):
        Settings()
    monkeypatch.setenv("SANDBOX_MAX_MEMORY_MB", "8192")
    assert Settings().memory_mb == 4096


@pytest.mark.parametrize("user", ["0", "0:0", "root", "root:root", "0:65534"])
def test_root_user_rejected(user: str) -> None:
    with pytest.raises(ValidationError, match="never run as root"):
        Settings(user=user)


def test_root_user_rejected_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_USER", "0:0")
    with pytest.raises(ValidationError, match="SANDBOX_USER"):
        Settings()


@pytest.mark.parametrize("user", ["00", "00:00", "+0", "000:0"])
def test_root_user_spelled_differently_rejected(user: str) -> None:
    with pytest.raises(ValidationError):
        Settings(user=user)


@pytest.mark.parametrize("user", ["1000:0", "1000:00"])
def test_root_group_rejected(user: str) -> None:
    with pytest.raises(ValidationError, match="gid 0"):
        Settings(user=user)


@pytest.mark.parametrize("user", ["65534:65534", "1000", "1000:1000", "nobody"])
def test_non_root_users_accepted(user: str) -> None:
    assert Settings(user=user).user == user


def test_env_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SANDBOX_CPUS", "2.5")
    monkeypatch.setenv("SANDBOX_WALL_TIME_S", "3")
    monkeypatch.setenv("SANDBOX_RUNTIME", "runsc")
    monkeypatch.setenv("SANDBOX_IMAGES_DIR", str(tmp_path))
    monkeypatch.setenv("SANDBOX_POOL_LANGUAGES", '["python", "bash"]')
    monkeypatch.setenv("WALL_TIME_S", "99")  # no prefix: ignored
    settings = Settings()
    assert settings.cpus == 2.5
    assert settings.wall_time_s == 3.0
    assert settings.runtime == "runsc"
    assert settings.images_dir == tmp_path
    assert settings.pool_languages == ["python", "bash"]


def test_invalid_env_value_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_MEMORY_MB", "lots")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("field", ["wall_time_s", "memory_mb", "cpus", "max_wall_time_s"])
def test_non_positive_values_rejected(field: str) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: 0})


def test_base_source_choices() -> None:
    for value in ("auto", "registry", "debootstrap"):
        assert Settings(base_source=value).base_source == value
    with pytest.raises(ValidationError):
        Settings(base_source="internet")


def test_unknown_settings_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(network="bridge")  # type: ignore[call-arg]


def test_pool_settings_keep_pool_size_as_the_minimum_and_read_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert (settings.pool_size, settings.pool_max, settings.pool_total) == (4, 12, settings.max_concurrency)
    monkeypatch.setenv("SANDBOX_POOL_SIZE", "2")
    monkeypatch.setenv("SANDBOX_POOL_CAPACITY", "6")
    monkeypatch.setenv("SANDBOX_POOL_OVERRIDES", '{"javascript": {"min": 1, "max": 3}, "bash": {"max": 2}}')
    settings = Settings()
    assert settings.pool_size == 2 and settings.pool_total == 6
    bounds = settings.pool_overrides
    assert (bounds["javascript"].minimum, bounds["javascript"].maximum) == (1, 3)
    assert (bounds["bash"].minimum, bounds["bash"].maximum) == (0, 2)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ('{"python": {"min": 5, "max": 2}}', "min=5 exceeds max=2"),
        ('{"python": {"min": 1}}', "max"),
        ('{"python": {"min": 1, "max": 2, "size": 3}}', "size"),
        ('{"python": {"min": -1, "max": 2}}', "min"),
    ],
)
def test_bad_pool_overrides_fail_naming_the_fault(
    monkeypatch: pytest.MonkeyPatch, overrides: str, message: str
) -> None:
    monkeypatch.setenv("SANDBOX_POOL_OVERRIDES", overrides)
    with pytest.raises(ValidationError, match=message):
        Settings()
