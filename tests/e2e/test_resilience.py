"""Resilience with real `sandbox serve` processes and the real engine: SIGKILL, SIGTERM, an engine restart.

- A SIGKILLed server leaves its warm pool and an open session's container; the
  next server on the same database removes them at start (its janitor: the
  creator is dead) and closes the session record with a reason.
- SIGTERM drains: a run that fits in the grace finishes, the rest are killed as
  "server shutting down", sessions close, nothing is left; a second signal ends
  the grace at once and still leaves nothing behind.
- The engine fault test stops the dockerd the project's set-up started
  (``scripts/ensure-docker.sh`` records its pid) while clients keep posting, then
  starts it again the same way: no request hangs, the outage answers 503 fast,
  the breaker opens and closes, service resumes within 2 s, no container is left.
- A server whose engine does not answer at start-up starts anyway (breaker open,
  503s) and resumes once the engine answers.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest

from sandbox.store import Store
from tests.docker_fixtures import SESSION_OWNER
from tests.e2e.serving import ROOT, ServeProcesses, Server, create_key, database, owned

HELLO = {"code": "print('hello world')"}


@dataclass
class Harness:
    """Server processes of one test; their containers carry ``owner``."""

    processes: ServeProcesses
    owner: str
    state_dir: Path
    docker: docker.DockerClient

    def start(self, **settings: object) -> Server:
        return self.processes.start(self.state_dir, self.owner, **settings)

    def containers(self) -> list[dict]:
        return owned(self.docker, self.owner)


@pytest.fixture
def harness(tmp_path: Path, docker_client: docker.DockerClient, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """Kills the test's servers still running, then fails the test if any container of its owner is left."""
    processes = ServeProcesses(tmp_path)
    owner = f"{SESSION_OWNER}-res-{uuid.uuid4().hex[:6]}"
    try:
        yield Harness(processes, owner, tmp_path / "state", docker_client)
    finally:
        processes.close()
    left = owned(docker_client, owner)
    for c in left:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.api.remove_container(c["Id"], force=True)
    if left:
        pytest.fail(f"{request.node.nodeid} left containers {[(c['Id'][:12], c['State']) for c in left]}")


def wait_for(predicate, timeout: float, interval: float = 0.05):
    """Poll ``predicate`` until it returns something true; that value, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# ----------------------------------------------------------------------------------------------- SIGKILL
def test_sigkill_leftovers_are_reaped_and_the_session_closed_by_the_next_start(harness: Harness) -> None:
    _, key = create_key(harness.state_dir, "kill")
    first = harness.start(pool_size=2, validation_workers=0)
    first.wait_ready()
    with first.client(key) as api:
        opened = api.post("/v1/sessions", json={})
        assert opened.status_code == 201, opened.text
        sid = opened.json()["id"]
        cell = api.post(f"/v1/sessions/{sid}/executions", json={"code": "x = 41\nprint(x + 1)"})
        assert (cell.status_code, cell.json()["status"], cell.json()["stdout"]) == (200, "ok", "42\n")
    before = {c["Id"]: c for c in harness.containers()}
    kinds = sorted(c["Labels"]["io.sandbox.kind"] for c in before.values())
    assert kinds == ["session", "warm", "warm"], kinds

    first.process.kill()  # SIGKILL: no lifespan shutdown, nothing cleaned up
    assert first.wait(10) == -signal.SIGKILL
    left = {c["Id"]: c for c in harness.containers()}
    assert set(left) == set(before), "SIGKILL itself removed containers?"
    assert all(c["State"] == "running" for c in left.values()), [c["State"] for c in left.values()]

    second = harness.start(pool_size=2, validation_workers=0)
    gone = wait_for(lambda: not set(before) & {c["Id"] for c in harness.containers()}, timeout=15, interval=0.1)
    reaped_after = time.monotonic() - second.started
    assert gone, f"the dead instance's containers are still there after 15 s:\n{second.tail()}"
    assert reaped_after < 10, f"reaped {reaped_after:.1f} s after the second start (want < 10 s)"
    # By the second server's start sweep (another server's janitor on this host would race it: none runs in CI).
    said = wait_for(lambda: "janitor: removed 3 dead container(s)" in second.output(), timeout=10, interval=0.1)
    assert said, f"the second server did not say it removed the 3 dead containers:\n{second.tail()}"
    second.wait_ready()
    with second.client(key) as api:
        info = wait_for(lambda: (r := api.get(f"/v1/sessions/{sid}").json())["state"] == "closed" and r, timeout=10)
        assert info, api.get(f"/v1/sessions/{sid}").text
        assert "server stopped" in info["closed_reason"], info
        assert api.post(f"/v1/sessions/{sid}/executions", json={"code": "print(x)"}).status_code == 404
    print(
        f"\nSIGKILL recovery: the dead instance's 3 containers were removed {reaped_after:.2f} s after the next start"
    )

    second.signal(signal.SIGTERM)
    code = second.wait(30)
    assert code in (0, -signal.SIGTERM), f"exit {code}:\n{second.tail()}"
    assert harness.containers() == []


# ----------------------------------------------------------------------------------------------- SIGTERM
def start_run(api: httpx.Client, code: str, wall_time_s: float) -> str:
    response = api.post("/v1/executions?wait=false", json={"code": code, "limits": {"wall_time_s": wall_time_s}})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_running(server: Server, count: int) -> None:
    """Until ``count`` one-shot executions hold a container (``sandbox_executions_running``)."""

    def running() -> bool:
        text = httpx.get(f"{server.url}/metrics", timeout=5).text
        found = re.search(r"^sandbox_executions_running (\S+)$", text, re.MULTILINE)
        return found is not None and float(found.group(1)) >= count

    assert wait_for(running, timeout=15, interval=0.1), f"{count} executions never ran at once:\n{server.tail()}"


def records(state_dir: Path, key_id: str, *ids: str) -> list:
    store = Store(database(state_dir))
    try:
        return [store.get_execution(i, key_id) for i in ids]
    finally:
        store.close()


LONG = "import time\ntime.sleep(30)\nprint('not reached')"
SHORT = "import time\ntime.sleep(1.0)\nprint('short done')"


def test_sigterm_lets_short_runs_finish_kills_the_rest_and_leaves_nothing(harness: Harness) -> None:
    grace = 2.0
    key_id, key = create_key(harness.state_dir, "term")
    server = harness.start(pool_size=2, validation_workers=0, shutdown_grace_s=grace)
    server.wait_ready()
    with server.client(key) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        long_id = start_run(api, LONG, 40)
        short_id = start_run(api, SHORT, 10)
        wait_running(server, 2)  # both programs started (the short one has at most 1 s to go)
        assert [api.get(f"/v1/executions/{i}").json()["state"] for i in (long_id, short_id)] == ["running"] * 2

    signalled = time.monotonic()
    server.signal(signal.SIGTERM)
    code = server.wait(grace + 15)
    took = time.monotonic() - signalled
    # uvicorn re-raises the signal it captured once it has shut down: the exit is "killed by SIGTERM".
    assert code == -signal.SIGTERM, f"exit {code}:\n{server.tail()}"
    assert grace <= took < grace + 6, f"exited {took:.1f} s after SIGTERM (grace {grace} s):\n{server.tail()}"
    long, short = records(harness.state_dir, key_id, long_id, short_id)
    assert (short.status, short.stdout) == ("ok", "short done\n"), short
    assert long.status == "killed" and "server shutting down" in long.message, long
    store = Store(database(harness.state_dir))
    try:
        session = store.get_session(sid, key_id)
    finally:
        store.close()
    assert session is not None and (session.state, session.closed_reason) == ("closed", "server shutdown"), session
    assert harness.containers() == []
    print(f"\nSIGTERM: exit {code} after {took:.2f} s (grace {grace} s)")


@pytest.mark.parametrize(
    "signals", [(signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGINT)], ids=["TERM-TERM", "INT-INT"]
)
def test_a_second_signal_ends_the_grace_at_once_and_still_cleans_up(harness: Harness, signals) -> None:
    grace = 30.0
    key_id, key = create_key(harness.state_dir, "twice")
    server = harness.start(pool_size=1, validation_workers=0, shutdown_grace_s=grace)
    server.wait_ready()
    waited: list[httpx.Response | BaseException] = []

    def wait_true() -> None:  # a client waiting on its answer while the server shuts down
        with server.client(key, timeout=60) as client:
            try:
                waited.append(client.post("/v1/executions", json={"code": LONG, "limits": {"wall_time_s": 40}}))
            except BaseException as exc:
                waited.append(exc)

    with server.client(key) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        background = start_run(api, LONG, 40)
        waiter = threading.Thread(target=wait_true)
        waiter.start()
        wait_running(server, 2)

    first, second = signals
    signalled = time.monotonic()
    server.signal(first)
    time.sleep(1.5)  # a repeat sooner than 1 s is the same stop said twice
    assert server.process.poll() is None, "the first signal did not give the grace"
    server.signal(second)
    code = server.wait(15)
    took = time.monotonic() - signalled
    waiter.join(timeout=10)
    assert took < 8, f"exited {took:.1f} s after the first signal (grace {grace} s): the second did not hurry it"
    # uvicorn re-raises the first signal once it has shut down: SIGTERM ends the process by that signal, SIGINT
    # is a KeyboardInterrupt that uvicorn.run swallows (exit 0).
    assert code == (-signal.SIGTERM if first == signal.SIGTERM else 0), f"exit {code}:\n{server.tail()}"
    assert len(waited) == 1 and isinstance(waited[0], httpx.Response), waited
    assert waited[0].status_code == 200 and waited[0].json()["status"] == "killed", waited[0].text
    assert "server shutting down" in waited[0].json()["message"]
    (record,) = records(harness.state_dir, key_id, background)
    assert record.status == "killed" and "server shutting down" in record.message, record
    store = Store(database(harness.state_dir))
    try:
        session = store.get_session(sid, key_id)
    finally:
        store.close()
    assert session is not None and session.closed_reason == "server shutdown", session
    assert harness.containers() == [], "the second signal skipped the cleanup"
    print(f"\n{signal.Signals(first).name} then {signal.Signals(second).name}: exit {code} after {took:.2f} s")


# ------------------------------------------------------------------------------- no engine at start-up
def engine_socket() -> Path:
    """The Unix socket of the engine the tests use."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        pytest.skip(f"DOCKER_HOST {host} is not a Unix socket: cannot hide it behind a link")
    return Path(host.removeprefix("unix://"))


def test_a_server_whose_engine_is_down_at_start_answers_503_then_recovers(harness: Harness, tmp_path: Path) -> None:
    """The engine is a link that does not exist yet: the server starts with the breaker open and answers
    503 fast; once the link points at the real engine, service resumes without a restart."""
    link = tmp_path / "engine" / "docker.sock"
    link.parent.mkdir()
    _, key = create_key(harness.state_dir, "late")
    server = harness.processes.start(
        harness.state_dir, harness.owner, env={"DOCKER_HOST": f"unix://{link}"}, pool_size=1, validation_workers=0
    )
    with server.client(key, timeout=10) as api:
        ready = wait_for(lambda: _answer(api, "/readyz"), timeout=60, interval=0.1)
        assert ready is not None, f"serve did not start:\n{server.tail()}"
        assert ready.status_code == 503 and ready.json()["breaker"] == "open", ready.text
        started = time.monotonic()
        refused = api.post("/v1/executions", json=HELLO)
        took = time.monotonic() - started
        assert refused.status_code == 503 and refused.json()["code"] == "capacity_unavailable", refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert took < 0.5, f"an outage answer took {took:.2f} s"

        link.symlink_to(engine_socket())  # the engine answers from now on
        back = time.monotonic()
        ran = wait_for(lambda: (r := api.post("/v1/executions", json=HELLO)).status_code == 200 and r, timeout=10)
        assert ran, f"no run succeeded 10 s after the engine answered:\n{server.tail()}"
        assert ran.json()["stdout"] == "hello world\n", ran.text
        resumed = time.monotonic() - back
        server.wait_ready(timeout=30)
    print(f"\nengine down at start-up: 503 in {took * 1000:.0f} ms; first run {resumed:.2f} s after it answered")
    server.signal(signal.SIGTERM)
    assert server.wait(30) in (0, -signal.SIGTERM), server.tail()


def _answer(api: httpx.Client, path: str) -> httpx.Response | None:
    try:
        return api.get(path)
    except httpx.TransportError:
        return None


# ------------------------------------------------------------------------------------------ engine fault
def project_state_dir() -> Path:
    """Where ``scripts/ensure-docker.sh`` keeps dockerd's log, pid and command line (its own rule)."""
    default = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "sandbox"
    return Path(os.environ.get("SANDBOX_STATE_DIR") or default).resolve()


def project_dockerd() -> tuple[int | None, str]:
    """The pid of the running dockerd if ``scripts/ensure-docker.sh`` started it, else None and why not."""
    state = project_state_dir()
    try:
        pid = int((state / "dockerd.pid").read_text())
        command = (state / "dockerd.cmd").read_text().split()
    except (OSError, ValueError):
        return (
            None,
            f"{state}/dockerd.pid or dockerd.cmd missing: the running dockerd was not started by ensure-docker.sh",
        )
    running = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout.split()
    if running != [str(pid)]:
        return None, f"{state}/dockerd.pid names {pid} but the running dockerd is {running or 'none'}"
    try:
        cmdline = [part.decode() for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]
    except OSError as exc:
        return None, f"cannot read dockerd's command line: {exc}"
    if cmdline != command:
        return None, f"dockerd {pid} runs {cmdline}, not what ensure-docker.sh started ({command})"
    return pid, ""


class Engine:
    """The project's dockerd: stopped by its pid, started again by ``scripts/ensure-docker.sh``."""

    def __init__(self, pid: int, log: Path) -> None:
        self.pid = pid
        self.log = log
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        self._socket = host.removeprefix("unix://") if host.startswith("unix://") else "/var/run/docker.sock"

    def answers(self) -> bool:
        """``GET /_ping`` on the engine's socket answers OK (a socket of its own, closed every time)."""
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(2)
                sock.connect(self._socket)
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                return sock.recv(64).split(b"\r\n", 1)[0].split()[1:2] == [b"200"]
        except OSError:
            return False

    def alive(self) -> bool:
        return Path(f"/proc/{self.pid}").exists()

    def stop(self) -> float:
        """SIGTERM dockerd; the time its API stopped answering (then waits for the process to end)."""
        os.kill(self.pid, signal.SIGTERM)
        assert wait_for(lambda: not self.answers(), timeout=30), "dockerd still answers 30 s after SIGTERM"
        down = time.monotonic()
        assert wait_for(lambda: not self.alive(), timeout=40, interval=0.1), "dockerd did not exit within 40 s"
        return down

    def start(self) -> float:
        """Start it the project's way; the time it answered again."""
        with self.log.open("ab") as out:
            script = subprocess.Popen(
                [str(ROOT / "scripts" / "ensure-docker.sh")],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # dockerd outlives this test run, whatever happens to it
            )
        assert wait_for(self.answers, timeout=60, interval=0.02), f"dockerd did not answer:\n{self.log.read_text()}"
        up = time.monotonic()
        assert script.wait(timeout=70) == 0, self.log.read_text()
        pid, why = project_dockerd()
        assert pid is not None, why
        self.pid = pid
        return up

    def ensure_running(self) -> None:
        """Whatever happened: a dockerd started the project's way, answering, before the test returns."""
        deadline = time.monotonic() + 120
        while not self.answers() and time.monotonic() < deadline:
            if subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode != 0:
                subprocess.run(
                    [str(ROOT / "scripts" / "ensure-docker.sh")],
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    timeout=90,
                    start_new_session=True,
                )
            else:  # starting, or still stopping (then it is started again on the next round)
                time.sleep(0.2)


@dataclass
class Answer:
    started: float
    ended: float
    status: int  # HTTP status; -1 when no answer came (an exception)
    code: str  # the body's error code, or the result's status for a 200
    retry_after: str | None
    error: str = ""

    @property
    def latency(self) -> float:
        return self.ended - self.started


def post_until(server: Server, key: str, stop: threading.Event, answers: list[Answer]) -> None:
    with server.client(key, timeout=20) as client:
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = client.post("/v1/executions", json=HELLO)
            except httpx.HTTPError as exc:
                answers.append(Answer(started, time.monotonic(), -1, "", None, repr(exc)))
                continue
            ended = time.monotonic()
            try:
                body = response.json()
            except ValueError:
                body = {}
            code = body.get("status", "") if response.status_code == 200 else body.get("code", "")
            answers.append(Answer(started, ended, response.status_code, code, response.headers.get("retry-after")))
            if response.status_code != 200:
                time.sleep(0.05)  # a polite client (not a busy loop on a 2-core machine)


def poll_breaker(server: Server, stop: threading.Event, seen: list[tuple[float, str]]) -> None:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        while not stop.is_set():
            try:
                seen.append((time.monotonic(), client.get("/readyz").json().get("breaker", "?")))
            except (httpx.HTTPError, ValueError) as exc:
                seen.append((time.monotonic(), f"error {exc!r}"))
            time.sleep(0.1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


CLIENTS = 12


def test_engine_restart_under_load(harness: Harness, tmp_path: Path) -> None:
    pid, why = project_dockerd()
    if pid is None:
        pytest.skip(f"the fault test restarts only a dockerd started by scripts/ensure-docker.sh: {why}")
    engine = Engine(pid, tmp_path / "ensure-docker.log")
    _, key = create_key(harness.state_dir, "fault")
    server = harness.start(pool_size=2, validation_workers=1, breaker_open_s=1, breaker_failures=3, shutdown_grace_s=5)
    answers: list[Answer] = []
    breaker: list[tuple[float, str]] = []
    stop_clients, stop_poll = threading.Event(), threading.Event()
    threads = [threading.Thread(target=post_until, args=(server, key, stop_clients, answers)) for _ in range(CLIENTS)]
    poller = threading.Thread(target=poll_breaker, args=(server, stop_poll, breaker))
    try:
        server.wait_ready()
        poller.start()
        for thread in threads:
            thread.start()
        began = time.monotonic()
        assert wait_for(lambda: sum(a.status == 200 for a in answers) >= 20, timeout=30), "no steady success first"
        time.sleep(max(0.0, began + 3 - time.monotonic()))

        down = engine.stop()
        time.sleep(max(0.0, down + 8 - time.monotonic()))
        up = engine.start()
        time.sleep(10)
        stop_clients.set()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads), "a client is still waiting on an answer"
        metrics = httpx.get(f"{server.url}/metrics", timeout=5).text
        stop_poll.set()
        poller.join(timeout=10)

        server.signal(signal.SIGTERM)
        code = server.wait(30)
        left = harness.containers()
    finally:
        stop_clients.set()
        stop_poll.set()
        engine.ensure_running()

    outage = [a for a in answers if down <= a.started < up]
    refused = [a for a in outage if a.status == 503]
    after = [a for a in answers if a.ended > up and a.status == 200]
    first_ok = min(a.ended for a in after) - up if after else float("inf")
    by_status: dict[tuple[int, str], int] = {}
    for a in answers:
        by_status[a.status, a.code] = by_status.get((a.status, a.code), 0) + 1
    latencies = [a.latency for a in refused]
    states = [state for _, state in breaker]
    closed_at = min((t for t, state in breaker if t > up and state == "closed"), default=float("inf")) - up
    transitions = {
        (m.group(1), m.group(2)): int(float(m.group(3)))
        for m in re.finditer(r'sandbox_breaker_transitions_total\{from_state="(\w+)",to_state="(\w+)"\} (\S+)', metrics)
    }
    figures = (
        f"\nengine fault: {len(answers)} answers {by_status}; outage {up - down:.1f} s: {len(outage)} answers, "
        f"{len(refused)} 503 (latency median {statistics.median(latencies) * 1000 if latencies else -1:.1f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1000 if latencies else -1:.1f} ms); first 200 {first_ok:.2f} s after "
        f"the engine answered ({len(after)} 200s after it; /readyz saw the breaker closed after {closed_at:.2f} s); "
        f"breaker transitions {transitions}; "
        f"containers left {len(left)}; exit {code}"
    )
    print(figures)

    assert not [a for a in answers if a.status == -1], f"requests without an answer: {figures}"
    assert max(a.latency for a in answers) < 20, figures
    errors = "\n".join(line for line in server.output().splitlines() if " ERROR " in line or "Error" in line[:40])
    assert not [a for a in answers if a.status >= 500 and a.status != 503], f"5xx other than 503: {figures}\n{errors}"
    unexpected = {k: n for k, n in by_status.items() if k not in ((200, "ok"), (503, "capacity_unavailable"))}
    assert not unexpected, f"answers other than 200 ok and 503 capacity_unavailable: {figures}"
    assert all(a.retry_after and int(a.retry_after) >= 1 for a in answers if a.status == 503), figures
    assert len(refused) >= CLIENTS, f"the outage was hardly refused: {figures}"
    assert statistics.median(latencies) < 0.1, f"503s are not fast: {figures}"
    assert "open" in states, f"the breaker never opened: {figures}"
    assert states[-1] == "closed", f"the breaker did not close again: {breaker[-5:]}"
    assert transitions.get(("closed", "open"), 0) >= 1 and transitions.get(("half_open", "closed"), 0) >= 1, transitions
    assert first_ok <= 2.0, f"the first success came {first_ok:.2f} s after the engine answered: {figures}"
    settled = [a for a in answers if a.started >= up + 3]
    assert settled and all(a.status == 200 for a in settled), f"not every run succeeded 3 s after recovery: {figures}"
    assert code == -signal.SIGTERM, f"exit {code}:\n{server.tail()}"
    assert left == [], f"containers left after the server stopped: {[(c['Id'][:12], c['State']) for c in left]}"
