"""The ops files against a real Prometheus (Debian's ``prometheus`` package) scraping a real server.

A uvicorn server of the app (on a FakeBackend that reports a warm pool: no Docker
needed) runs some executions; a Prometheus on loopback scrapes it every second
with the alert rules loaded. Every metric name the Grafana dashboard and the
rules use must exist in Prometheus, every dashboard query must be valid PromQL,
the rules must load and evaluate, and ``promtool check rules`` must pass.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sandbox.api.app import create_app
from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import FakeBackend, PoolReport, RunOutcome
from sandbox.models import Status
from sandbox.store import Store
from tests.live_uvicorn import free_port, uvicorn_in_thread

pytestmark = pytest.mark.prometheus

OPS = PROJECT_ROOT / "ops"
DASHBOARD = OPS / "grafana-dashboard.json"
RULES = OPS / "prometheus-alerts.yml"
#: Metric names in PromQL text: ours, the client library's process figures, and Prometheus's own `up`.
METRIC_NAME = re.compile(r"\b(?:sandbox|process)_[a-z0-9_]+\b|\bup\b(?=\{)")


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"`{name}` is not installed (Debian's prometheus package; scripts/install installs it)")
    return path


class PooledFake(FakeBackend):
    """A FakeBackend that reports one warm pool, so the pool series exist as with Docker."""

    def pools(self) -> list[PoolReport]:
        return [PoolReport("python/256m", ready=2, target=2, hits=len(self.specs), created=2)]


@dataclass
class Served:
    url: str
    key: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = Settings(state_dir=tmp_path_factory.mktemp("state"), validation_workers=0, pool_size=0)
    backend = PooledFake(lambda spec: RunOutcome(status=Status.OK, exit_code=0, stdout=b"hi\n"))
    store = Store(settings.database)
    key = store.create_key("ops-test", "standard", 8, 1000)[1]
    store.close()
    with uvicorn_in_thread(create_app(settings, backend=backend), log_level="warning") as url:
        yield Served(url, key)


@pytest.fixture(scope="module")
def prometheus(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = _binary("prometheus")
    work = tmp_path_factory.mktemp("prometheus")
    target = served.url.removeprefix("http://")
    (work / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{json.dumps(str(RULES))}]\n"
        f"scrape_configs: [{{job_name: sandbox, static_configs: [{{targets: [{json.dumps(target)}]}}]}}]\n"
    )
    port = free_port()
    log = (work / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while not _answers(f"{url}/-/ready"):
            assert process.poll() is None, f"prometheus exited: {(work / 'prometheus.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "prometheus did not get ready"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{expr!r}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _scraped(prometheus: str, served: Served) -> set[str]:
    """Run some executions, wait until Prometheus has scraped them; the metric names it holds."""
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {served.key}"}, timeout=30) as client:
        assert client.post("/v1/executions", json={"code": "print('hi')"}).status_code == 200
        assert client.post("/v1/executions", json={"code": "import os\nos.system('id')"}).status_code == 422
        session = client.post("/v1/sessions", json={}).json()["id"]
        assert client.post(f"/v1/sessions/{session}/executions", json={"code": "x = 1"}).status_code == 200
        assert client.get("/v1/executions/nope").status_code == 404
    deadline = time.monotonic() + 30
    while True:
        if _query(prometheus, 'sum(sandbox_executions_total{status="ok"}) >= 2'):
            break
        assert time.monotonic() < deadline, f"no scrape: {_query(prometheus, 'up')}"
        time.sleep(0.2)
    names = httpx.get(f"{prometheus}/api/v1/label/__name__/values", timeout=10).json()["data"]
    return set(names)


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def _rule_queries() -> list[str]:
    return re.findall(r"^\s+expr: (?:\|\n)?((?:.+\n)+?)(?=\s+(?:for|labels):)", RULES.read_text(), re.MULTILINE)


def test_the_files_name_what_they_should() -> None:
    dashboard_names = {n for q in _dashboard_queries() for n in METRIC_NAME.findall(q)}
    rule_names = {n for q in _rule_queries() for n in METRIC_NAME.findall(q)}
    assert len(_rule_queries()) == RULES.read_text().count("- alert:")  # every rule's expression was found
    expected = {"sandbox_executions_total", "sandbox_stage_duration_seconds_bucket", "sandbox_pool_ready"}
    assert expected <= dashboard_names
    assert {"sandbox_breaker_state", "sandbox_containers_live", "sandbox_pool_ready", "up"} <= rule_names


def test_every_metric_the_dashboard_and_the_rules_use_exists(prometheus: str, served: Served) -> None:
    exposed = _scraped(prometheus, served)
    used = {n for q in _dashboard_queries() + _rule_queries() for n in METRIC_NAME.findall(q)}
    missing = sorted(used - exposed)
    assert not missing, f"used by ops/ but not scraped: {missing}"


def test_every_dashboard_query_is_valid_promql(prometheus: str) -> None:
    for expr in _dashboard_queries():
        _query(prometheus, expr.replace("$__rate_interval", "1m"))


def test_the_rules_load_and_evaluate(prometheus: str, served: Served) -> None:
    _scraped(prometheus, served)
    deadline = time.monotonic() + 30
    while True:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        evaluated = [r for r in rules if not r.get("lastEvaluation", "0001").startswith("0001")]
        if rules and len(evaluated) == len(rules):
            break
        assert time.monotonic() < deadline, "the rules were not evaluated"
        time.sleep(0.2)
    assert len(rules) == RULES.read_text().count("- alert:")
    assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]
    firing = {r["name"] for r in rules if r["state"] == "firing"}
    assert not firing & {"SandboxDown", "SandboxEngineDown", "SandboxLeakedContainers"}, firing


def test_promtool_checks_the_rules() -> None:
    checked = subprocess.run([_binary("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {RULES.read_text().count('- alert:')} rules found" in checked.stdout
