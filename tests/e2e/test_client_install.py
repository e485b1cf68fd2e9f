"""The client alone, installed for real: a fresh venv, ``pip install`` of the repository without extras.

Slow (a venv, a wheel build and a download of httpx and pydantic, about 30 s; pip's cache helps):
marked ``slow``. It checks what a user of the SDK gets: none of the server's libraries installed,
``import sandbox.client`` loading none of them, a round trip with a real server, and the
``sandbox`` script saying in one line to install ``sandbox[server]``.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.docker_fixtures import SESSION_OWNER
from tests.e2e.serving import ROOT, ServeProcesses, Server, create_key, owned

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

#: Distributions of the server's dependencies (as pip lists them) that the client must not pull.
SERVER_DISTRIBUTIONS = {
    "docker", "bandit", "fastapi", "starlette", "uvicorn", "mcp", "sqlalchemy", "cryptography",
    "restrictedpython", "typer", "rich", "pyyaml", "pydantic-settings", "tenacity", "prometheus-client",
    "opentelemetry-api", "opentelemetry-sdk", "pillow", "fastapi-offline",
}  # fmt: skip
#: Their import names.
SERVER_MODULES = {
    "docker", "bandit", "fastapi", "starlette", "uvicorn", "mcp", "sqlalchemy", "cryptography",
    "RestrictedPython", "typer", "rich", "yaml", "pydantic_settings", "tenacity", "prometheus_client",
    "opentelemetry", "PIL", "fastapi_offline",
}  # fmt: skip

ROUND_TRIP = """
import json, sys
from sandbox.client import SandboxClient
with SandboxClient() as client:  # SANDBOX_URL and SANDBOX_API_KEY
    languages = [language.name for language in client.languages()]
    record = client.run("print(6 * 7)")
    with client.session() as session:
        session.run("x = 1")
        cell = session.run("print(x + 1)")
print(json.dumps({
    "languages": languages, "status": record.status, "stdout": record.stdout, "cell": cell.stdout,
    "modules": sorted({m.split(".")[0] for m in sys.modules}),
}))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("install")
    processes = ServeProcesses(tmp)
    owner = f"{SESSION_OWNER}-sdk-install-{uuid.uuid4().hex[:6]}"
    try:
        started = processes.start(tmp / "state", owner, pool_size=1, validation_workers=1)
        started.wait_ready(90)
        yield started
        started.signal(signal.SIGTERM)
        started.wait(60)
    finally:
        processes.close()
    assert not owned(docker_client, owner), "the server left containers behind"


def client_only_venv(tmp: Path) -> Path:
    """A venv with the repository installed without extras (a copy of its sources: the build writes files)."""
    source = tmp / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    # Links are followed (sandbox/validation/strict_compile.py points into images/runner).
    shutil.copytree(ROOT / "sandbox", source / "sandbox", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    done = subprocess.run([*pip, "install", str(source)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def test_the_client_alone_installs_without_the_server_and_talks_to_it(server: Server, tmp_path: Path) -> None:
    venv = client_only_venv(tmp_path)
    python = str(venv / "bin" / "python")
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {entry["name"].lower().replace("_", "-") for entry in json.loads(listed.stdout)}
    assert {"sandbox", "httpx", "pydantic"} <= installed
    assert not installed & SERVER_DISTRIBUTIONS, sorted(installed & SERVER_DISTRIBUTIONS)

    key = create_key(server.state_dir, "sdk-install")[1]
    env = {"PATH": "/usr/bin:/bin", "SANDBOX_URL": server.url, "SANDBOX_API_KEY": key}
    done = subprocess.run(
        [python, "-c", ROUND_TRIP], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert "python" in got["languages"]
    assert (got["status"], got["stdout"], got["cell"]) == ("ok", "42\n", "2\n")
    assert not set(got["modules"]) & SERVER_MODULES, got["modules"]

    script = subprocess.run([str(venv / "bin" / "sandbox"), "serve"], capture_output=True, text=True, timeout=60)
    assert script.returncode == 1 and script.stdout == ""
    assert script.stderr.count("\n") == 1 and "Traceback" not in script.stderr, script.stderr
    assert "pip install 'sandbox[server]'" in script.stderr
