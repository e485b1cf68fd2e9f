"""Client configuration: URL and key from arguments or SANDBOX_URL / SANDBOX_API_KEY; read timeouts."""

from __future__ import annotations

import pytest

from sandbox.client import AsyncSandboxClient, ConfigurationError, SandboxClient, calls
from sandbox.client.config import ASSUMED_COMPILE_S, ASSUMED_WALL_S, ClientConfig
from sandbox.models import Limits


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_URL", "http://env.example:1")
    monkeypatch.setenv("SANDBOX_API_KEY", "env-key")
    config = ClientConfig.resolve("https://arg.example:2/", "arg-key")
    assert (config.base_url, config.api_key) == ("https://arg.example:2", "arg-key")
    config = ClientConfig.resolve(None, None)
    assert (config.base_url, config.api_key) == ("http://env.example:1", "env-key")
    assert config.http_options()["headers"]["Authorization"] == "Bearer env-key"


def test_without_a_url_anywhere_the_error_says_how_to_give_one() -> None:
    with pytest.raises(ConfigurationError, match=r"no server URL: pass url=.* or set SANDBOX_URL"):
        SandboxClient()
    with pytest.raises(ConfigurationError, match="SANDBOX_URL"):
        AsyncSandboxClient(api_key="k")


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://host", "http://"])
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="must be http:// or https://"):
        SandboxClient(url)


def test_no_key_sends_no_authorization_header() -> None:
    assert "Authorization" not in ClientConfig.resolve("http://h", None).http_options()["headers"]


def test_the_read_timeout_follows_the_request_limits() -> None:
    config = ClientConfig.resolve("http://h", None, margin_s=60.0)
    plain = calls.run(config, calls.execution_request("print(1)"))
    assert plain.read_s == ASSUMED_COMPILE_S + ASSUMED_WALL_S + 60
    long = calls.run(config, calls.execution_request("x", limits={"wall_time_s": 500, "compile_wall_time_s": 5}))
    assert long.read_s == 5 + 500 + 60
    cases = calls.run(config, calls.execution_request("x", limits=Limits(wall_time_s=2), tests=[{}, {}, {}]))
    assert cases.read_s == ASSUMED_COMPILE_S + 3 * 2 + 60
    assert config.timeout(long.read_s).read == 565
    fixed = ClientConfig.resolve("http://h", None, read_timeout_s=3.0)
    assert fixed.timeout(long.read_s).read == 3.0  # a fixed read timeout replaces the estimate


def test_a_cell_waits_for_its_own_wall_limit_else_the_sessions() -> None:
    config = ClientConfig.resolve("http://h", None, margin_s=10.0)
    assert calls.session_run(config, "s1", "x", limits={"wall_time_s": 100}).read_s == 110
    assert calls.session_run(config, "s1", "x", session_limits=Limits(wall_time_s=40)).read_s == 50
    assert calls.session_run(config, "s1", "x").read_s == ASSUMED_WALL_S + 10


def test_bad_timeouts_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="connect_timeout must be a positive"):
        SandboxClient("http://h", connect_timeout=0)
    with pytest.raises(ConfigurationError, match="max_attempts"):
        SandboxClient("http://h", max_attempts=0)
