"""Hostile REST clients (and hostile cells) against sessions after the one-path refactor.

Each test attacks one thing that changed: cells on the staged path (limits,
records, cancellation), session lifetimes, uploads validated like request
files, and the one error object. Tests marked ``xfail(strict=True)`` record a
weakness found here: they assert the correct behaviour and fail until it is fixed.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

PROBLEM = "application/problem+json"
#: A file name of 128 two-byte characters: 255 characters at most (accepted by the schema), 256 bytes (over NAME_MAX).
LONG_NAME = "é" * 128


def open_session(client: httpx.Client, **body: object) -> str:
    response = client.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def cell(client: httpx.Client, sid: str, code: str, **limits: object) -> httpx.Response:
    return client.post(f"/v1/sessions/{sid}/executions", json={"code": code, "limits": limits})


def cell_in_own_client(live_server, key: str, sid: str, code: str, **limits: object) -> httpx.Response:
    with live_server.client(key) as client:
        return cell(client, sid, code, **limits)


def session_containers(docker_client, owner: str) -> list[str]:
    found = docker_client.api.containers(all=True, filters={"label": f"io.sandbox.owner={owner}"})
    return [c["Id"][:12] for c in found if c["Labels"].get("io.sandbox.kind") == "session"]


def assert_not_internal(response: httpx.Response) -> None:
    """A client's request (or its program) never makes the service answer ``internal_error``."""
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert response.json()["status"] != "internal_error", response.json()


def assert_problem(response: httpx.Response, http_status: int, code: str) -> dict:
    assert response.status_code == http_status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == code and body["status"] == http_status and body["message"] == body["detail"]
    assert isinstance(body["findings"], list)
    return body


# ----------------------------------------------------------------------------------- limits and lifecycle
def test_concurrent_opens_stay_within_the_per_key_session_cap(live_server) -> None:
    """At 4e5f8ac all ten concurrent opens succeeded (the cap was checked before the container was awaited)."""
    key = live_server.key("hostile-session-cap")
    cap = live_server.settings.max_sessions_per_key

    def attempt(_: int) -> httpx.Response:
        with live_server.client(key) as client:
            return client.post("/v1/sessions", json={"idle_ttl_s": 60})

    with ThreadPoolExecutor(cap + 6) as pool:
        answers = list(pool.map(attempt, range(cap + 6)))
    opened = [a.json()["id"] for a in answers if a.status_code == 201]
    with live_server.client(key) as client:
        for sid in opened:
            client.delete(f"/v1/sessions/{sid}")
    assert {a.status_code for a in answers} <= {201, 429}
    assert len(opened) <= cap, f"{len(opened)} sessions opened for one key; the cap is {cap}"


def test_cells_queued_behind_a_session_ending_cell_are_not_internal_errors(live_server) -> None:
    key = live_server.key("hostile-queued-behind-end")
    with live_server.client(key) as client:
        sid = open_session(client)
    with ThreadPoolExecutor(3) as pool:
        # Ignoring SIGINT, the cell outlives the interrupt's grace: it is killed, and its session ends.
        ending_code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)"
        ending = pool.submit(cell_in_own_client, live_server, key, sid, ending_code, wall_time_s=2)
        time.sleep(0.7)  # the first cell holds the interpreter; the next two queue behind it
        queued = [pool.submit(cell_in_own_client, live_server, key, sid, f"print({i})") for i in range(2)]
        assert ending.result().json()["status"] == "timeout"
        assert ending.result().json()["session_open"] is False
        answers = [f.result() for f in queued]
    for answer in answers:
        assert_not_internal(answer)


def test_delete_during_a_running_cell_kills_it_promptly(live_server, docker_client) -> None:
    key = live_server.key("hostile-delete-running")
    with live_server.client(key) as client:
        sid = open_session(client)
        with ThreadPoolExecutor(2) as pool:
            running = pool.submit(
                cell_in_own_client,
                live_server,
                key,
                sid,
                "import time\ntime.sleep(14)\nprint('finished')",
                wall_time_s=30,
            )
            time.sleep(1.5)
            queued = pool.submit(cell_in_own_client, live_server, key, sid, "print('queued ran')")
            time.sleep(0.5)
            started = time.monotonic()
            deleted = client.delete(f"/v1/sessions/{sid}")
            took = time.monotonic() - started
            running_answer, queued_answer = running.result(), queued.result()
    assert deleted.status_code == 204
    assert took < 6, f"DELETE took {took:.1f} s: it waited for the running cell"
    for answer in (running_answer, queued_answer):
        assert_not_internal(answer)
    assert running_answer.json().get("stdout", "") == "", "the running cell was not killed by the DELETE"
    assert queued_answer.status_code != 200 or queued_answer.json()["status"] != "ok", "a queued cell ran after DELETE"
    deadline = time.monotonic() + 10
    while session_containers(docker_client, live_server.settings.owner):
        assert time.monotonic() < deadline, "the deleted session's container was left"
        time.sleep(0.2)


def test_a_cell_is_stopped_at_its_sessions_maximum_lifetime_and_stalls_no_reaping(live_server, monkeypatch) -> None:
    key = live_server.key("hostile-reaper-stall")
    with live_server.client(key) as client:
        monkeypatch.setattr(live_server.settings, "session_max_lifetime_s", 2.0)
        short = open_session(client)  # reaches its maximum lifetime ~2 s from now, mid-cell
        monkeypatch.undo()
        started = time.monotonic()
        with ThreadPoolExecutor(1) as pool:

            def timed_cell() -> tuple[httpx.Response, float]:
                answer = cell_in_own_client(live_server, key, short, "import time\ntime.sleep(16)", wall_time_s=30)
                return answer, time.monotonic() - started  # when the cell answered, not when we looked

            long_cell = pool.submit(timed_cell)
            idle = open_session(client, idle_ttl_s=4)  # opened after: it idles out after the other one expired
            time.sleep(max(0.0, started + 12 - time.monotonic()))  # idle TTL 4 s, reaper every second: margin
            idle_state = client.get(f"/v1/sessions/{idle}").json()
            expired_state = client.get(f"/v1/sessions/{short}").json()
            answer, cell_took = long_cell.result()
        for sid in (idle, short):
            client.delete(f"/v1/sessions/{sid}")
    assert idle_state["state"] == "closed", (
        f"an idle session was not reaped while another one hit its lifetime: {idle_state}"
    )
    assert expired_state["state"] == "closed", f"a session 10 s past its lifetime reads {expired_state}"
    assert_not_internal(answer)
    assert cell_took < 12, f"a cell ran {cell_took:.1f} s in a session whose lifetime was 2 s"


def test_work_started_by_a_cell_does_not_run_after_it_answers(live_server) -> None:
    """Once a thread ignoring SIGXCPU used the session's CPU between cells, up to the idle TTL; now the
    runner stops every process of the program when a call is answered."""
    key = live_server.key("hostile-background")
    spin = (
        "import signal, threading\n"
        "signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
        "def spin():\n"
        "    while True:\n"
        "        pass\n"
        "threading.Thread(target=spin, daemon=True).start()\n"
    )
    clock = "import time\nprint(time.process_time())"
    with live_server.client(key) as client:
        sid = open_session(client)
        try:
            assert cell(client, sid, spin, wall_time_s=5).json()["status"] == "ok"
            before = float(cell(client, sid, clock).json()["stdout"])
            time.sleep(3)  # the session is idle: no cell runs
            after = float(cell(client, sid, clock).json()["stdout"])
        finally:
            client.delete(f"/v1/sessions/{sid}")
    assert after - before < 1.0, f"the session used {after - before:.1f} s of CPU while no cell was running"


# ----------------------------------------------------------------------------------------- hostile cells
@pytest.mark.parametrize("reply", [b"[1]", b'{"exit_code": "x"}'], ids=["not-an-object", "bad-exit-code"])
def test_a_cell_cannot_forge_its_interpreters_reply(live_server, reply: bytes) -> None:
    key = live_server.key(f"hostile-forge-{len(reply)}")
    code = (
        f"import os, struct, time\nreply = {reply!r}\n"
        "os.write(4, struct.pack('>I', len(reply)) + reply)  # the interpreter's result pipe\n"
        "time.sleep(0.5)"
    )
    with live_server.client(key) as client:
        sid = open_session(client)
        answer = cell(client, sid, code)
        client.delete(f"/v1/sessions/{sid}")
    assert_not_internal(answer)
    assert "runner" not in answer.json()["message"] and "Error" not in answer.json()["message"]


@pytest.mark.parametrize(
    ("code", "limits"),
    [
        (
            "import threading\ndef work():\n    while True:\n        pass\n"
            "threading.Thread(target=work, daemon=True).start()",
            {"cpu_time_s": 1},
        ),
        ("import os, threading\nthreading.Timer(0.3, os._exit, (3,)).start()", {}),
        ("import os\nos.close(3)", {}),
    ],
    ids=["background-thread-past-cpu-limit", "exit-from-a-timer", "control-pipe-closed"],
)
def test_a_cell_after_the_interpreter_died_between_cells_is_not_an_internal_error(
    live_server, code: str, limits: dict
) -> None:
    with live_server.client(live_server.key(f"hostile-died-between-{len(code)}")) as client:
        sid = open_session(client)
        first = cell(client, sid, code, **limits)
        assert first.json()["status"] == "ok", first.text
        time.sleep(4)  # the interpreter dies meanwhile (1 s of CPU, or 0.3 s, or at once)
        answer = cell(client, sid, "print('next')")
        client.delete(f"/v1/sessions/{sid}")
    assert_not_internal(answer)
    assert "BrokenPipe" not in answer.text


def _rss_mib() -> int:
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed heap pages back to the system: RSS is what is still held
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))


def test_finished_cells_do_not_keep_their_whole_output_in_memory(live_server) -> None:
    runs = 10
    code = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(16):\n    sys.stdout.write(chunk)\n"
    with live_server.client(live_server.key("hostile-retained-output")) as client:
        sid = open_session(client)
        assert cell(client, sid, "print(1)").status_code == 200
        before = _rss_mib()
        for _ in range(runs):
            response = cell(client, sid, code, stdout_bytes=16 << 20)
            assert response.json()["stdout_bytes"] == 16 << 20
            del response
        grown = _rss_mib() - before
        client.delete(f"/v1/sessions/{sid}")
    # The server runs in this process; the records keep 64 KiB per stream. 20 MiB per run allows one copy.
    assert grown < runs * 20, f"the service holds {grown} MiB more after {runs} finished cells of 16 MiB output"


# ------------------------------------------------------------------------------- files and their names
def test_opening_a_session_with_an_unwritable_file_name_is_a_client_error(live_server) -> None:
    with live_server.client(live_server.key("hostile-long-name-open")) as client:
        response = client.post("/v1/sessions", json={"files": [{"path": LONG_NAME, "content": "x"}]})
    assert_problem(response, 422, "rejected")  # a request body that breaks the schema: 422, as every such body
    assert "Errno" not in response.json()["message"]


def test_a_one_shot_run_with_an_unwritable_file_name_is_a_client_error(live_server) -> None:
    with live_server.client(live_server.key("hostile-long-name-run")) as client:
        response = client.post(
            "/v1/executions", json={"code": "print(1)", "files": [{"path": LONG_NAME, "content": "x"}]}
        )
    assert_not_internal(response)


def test_request_files_that_overflow_the_workdir_are_not_internal_errors(live_server) -> None:
    files = [{"path": f"f{i}", "content": "x"} for i in range(256)]
    with live_server.client(live_server.key("hostile-workdir-full")) as client:
        response = client.post("/v1/executions", json={"code": "print(1)", "files": files, "limits": {"workdir_mb": 1}})
    assert_not_internal(response)


def test_an_unwritable_upload_name_is_refused_as_a_client_error(live_server) -> None:
    with live_server.client(live_server.key("hostile-long-name-put")) as client:
        sid = open_session(client)
        response = client.put(f"/v1/sessions/{sid}/files/{LONG_NAME}", content=b"x")
        assert_problem(response, 400, "rejected")
        assert "/workspace" not in response.text and "Traceback" not in response.text
        assert cell(client, sid, "print('alive')").json()["stdout"] == "alive\n", "the refusal ended the session"
        client.delete(f"/v1/sessions/{sid}")


@pytest.mark.parametrize(
    "path",
    [
        "__pycache__/helper.cpython-311.pyc",
        "helper.cpython-311-x86_64-linux-gnu.so",
        "helper.abi3.so",
        "helper.pyo",
        "lib.zip",
        "lib.egg",
        "lib.whl",
        "evil.pth",
        "pkg/sub/mod.pyc",
    ],
)
def test_unvalidatable_uploads_are_refused(live_server, path: str) -> None:
    with live_server.client(live_server.key(f"hostile-upload-{path}")) as client:
        sid = open_session(client)
        response = client.put(f"/v1/sessions/{sid}/files/{path}", content=b"PK\x03\x04 not really")
        assert_problem(response, 422, "validation_rejected")
        assert client.get(f"/v1/sessions/{sid}/files/{path}").status_code == 404, "a refused file was written"
        client.delete(f"/v1/sessions/{sid}")


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("pkg/__init__.py", b"import subprocess\n"),
        ("sitecustomize.py", b"import os\nos.system('id')\n"),
        ("helper.py", b"# -*- coding: utf-7 -*-\n#+AAo-import subprocess\n"),
        ("helper.py", b"x = 1\r# coding: latin-1\rimport subprocess\r"),
        ("helper.py", b"print('\xff')\n"),
        ("a/b/c/d/e/f/g/h.py", b"import ctypes\n"),
    ],
    ids=["package-init", "sitecustomize", "utf7-cookie", "cr-newlines", "not-utf8", "deep"],
)
def test_denied_python_uploads_are_refused_under_any_name(live_server, path: str, content: bytes) -> None:
    with live_server.client(live_server.key(f"hostile-py-{path}-{len(content)}")) as client:
        sid = open_session(client)
        response = client.put(f"/v1/sessions/{sid}/files/{path}", content=content)
        assert response.status_code == 422, response.text
        assert response.json()["code"] in ("validation_rejected", "syntax_error")
        client.delete(f"/v1/sessions/{sid}")


@pytest.mark.parametrize(
    "files",
    [
        [{"path": "m.pyc", "content": "AA==", "encoding": "base64"}],
        [{"path": "pkg/__init__.py", "content": "import subprocess"}],
        [{"path": "ok.txt", "content": "x"}, {"path": "lib.zip", "content": "UEsFBg==", "encoding": "base64"}],
    ],
    ids=["pyc", "package", "zip-beside-a-text-file"],
)
def test_files_given_when_a_session_opens_are_validated(live_server, files: list) -> None:
    with live_server.client(live_server.key(f"hostile-open-files-{files[-1]['path']}")) as client:
        response = client.post("/v1/sessions", json={"files": files})
    assert_problem(response, 422, "validation_rejected")
    assert response.json()["findings"][0]["file"] == files[-1]["path"]


@pytest.mark.parametrize(
    "path",
    ["./helper.py", "a//helper.py", "a/../helper.py", "helper.py/", "/etc/x", "a/b/c/d/e/f/g/h/i.py", "x" * 256],
)
def test_upload_path_tricks_are_refused(live_server, path: str) -> None:
    with live_server.client(live_server.key(f"hostile-path-{hash(path)}")) as client:
        sid = open_session(client)
        response = client.put(f"/v1/sessions/{sid}/files/{path}", content=b"import subprocess\n")
        assert response.status_code in (400, 404, 422), response.text
        assert response.headers["content-type"] == PROBLEM
        client.delete(f"/v1/sessions/{sid}")


def test_oversized_cells_and_uploads_are_refused_and_the_session_survives(live_server) -> None:
    cap = live_server.settings.request_bytes
    with live_server.client(live_server.key("hostile-sizes")) as client:
        sid = open_session(client)
        assert_problem(cell(client, sid, "#" * (cap + 1)), 413, "rejected")
        assert_problem(client.put(f"/v1/sessions/{sid}/files/big.bin", content=b"\0" * (cap + 1)), 413, "rejected")
        over_body = live_server.settings.max_body_bytes + 1
        assert_problem(client.put(f"/v1/sessions/{sid}/files/big.bin", content=b"\0" * over_body), 413, "rejected")

        def endless():
            for _ in range(10_000):
                yield b"\0" * 65536

        assert_problem(client.put(f"/v1/sessions/{sid}/files/big.bin", content=endless()), 413, "rejected")
        assert cell(client, sid, "print('alive')").json()["stdout"] == "alive\n"
        client.delete(f"/v1/sessions/{sid}")


@pytest.mark.parametrize(
    "limits", [{"memory_mb": 1}, {"memory_mb": 8}, {"processes": 1}], ids=["memory_mb=1", "memory_mb=8", "processes=1"]
)
@pytest.mark.parametrize("door", ["one-shot", "session"])
def test_limits_the_engine_cannot_honour_are_refused_as_client_errors(live_server, door: str, limits: dict) -> None:
    name, value = next(iter(limits.items()))
    with live_server.client(live_server.key(f"hostile-tiny-{door}-{name}-{value}")) as client:
        if door == "one-shot":
            response = client.post("/v1/executions", json={"code": "print(1)", "limits": limits})
        else:
            response = client.post("/v1/sessions", json={"limits": limits})
            if response.status_code == 201:
                client.delete(f"/v1/sessions/{response.json()['id']}")
    assert_not_internal(response)
    assert response.status_code == 400 and "below the minimum" in response.json()["message"], response.text
    assert "Docker" not in response.text and "runner" not in response.text


@pytest.mark.parametrize("door", ["one-shot", "session"])
def test_the_minimum_limits_are_enough_to_run(live_server, door: str) -> None:
    limits = {"memory_mb": 16, "processes": 2}
    with live_server.client(live_server.key(f"minimum-{door}")) as client:
        if door == "one-shot":
            ran = client.post("/v1/executions", json={"code": "print(1)", "limits": limits}).json()
        else:
            sid = client.post("/v1/sessions", json={"limits": limits}).json()["id"]
            ran = client.post(f"/v1/sessions/{sid}/executions", json={"code": "print(1)"}).json()
            client.delete(f"/v1/sessions/{sid}")
    assert (ran["status"], ran["stdout"]) == ("ok", "1\n"), ran


@pytest.mark.parametrize("route", ["/v1/executions", "/v1/validate"])
def test_a_lone_surrogate_in_args_is_a_client_error(live_server, route: str) -> None:
    body = b'{"code": "print(1)", "args": ["\\ud800"]}'
    with live_server.client(live_server.key(f"hostile-surrogate-{route}")) as client:
        response = client.post(route, content=body, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422), response.text


# ------------------------------------------------------------------------------- storms and accounting
def test_a_storm_of_cells_on_one_session_runs_each_once_and_records_each(live_server) -> None:
    key = live_server.key("hostile-storm")
    storm = 20
    with live_server.client(key) as client:
        sid = open_session(client)
        assert cell(client, sid, "seen = []").json()["status"] == "ok"
        with ThreadPoolExecutor(storm) as pool:
            answers = list(
                pool.map(lambda i: cell_in_own_client(live_server, key, sid, f"seen.append({i})"), range(storm))
            )
        assert [a.status_code for a in answers] == [200] * storm
        assert {a.json()["status"] for a in answers} == {"ok"}
        final = cell(client, sid, "print(sorted(seen))").json()
        assert final["stdout"] == f"{list(range(storm))}\n"
        info = client.get(f"/v1/sessions/{sid}").json()
        assert info["executions"] == storm + 2
        listed = client.get("/v1/executions", params={"limit": 100}).json()
        ids = {item["id"] for item in listed["items"] if item["session_id"] == sid}
        assert {a.json()["id"] for a in answers} <= ids, "a cell's record is missing"
        assert listed["total"] == storm + 2
        client.delete(f"/v1/sessions/{sid}")


def test_a_concurrency_limited_key_gets_429s_and_no_slot_leaks(live_server) -> None:
    key = live_server.key("hostile-storm-limited", concurrency=2)
    with live_server.client(key) as client:
        sid = open_session(client)
        with ThreadPoolExecutor(10) as pool:
            answers = list(
                pool.map(lambda _: cell_in_own_client(live_server, key, sid, "import time\ntime.sleep(0.5)"), range(10))
            )
        codes = sorted(a.status_code for a in answers)
        assert set(codes) <= {200, 429} and codes.count(200) >= 1 and 429 in codes
        for answer in answers:
            if answer.status_code == 429:
                assert answer.json()["code"] == "rejected" and int(answer.headers["retry-after"]) >= 1
        # Every slot came back: the key's full concurrency is available again.
        other = open_session(client)
        with ThreadPoolExecutor(2) as pool:
            again = list(
                pool.map(
                    lambda s: cell_in_own_client(live_server, key, s, "import time\ntime.sleep(0.5)"), [sid, other]
                )
            )
        assert [a.status_code for a in again] == [200, 200], [a.text for a in again]
        for s in (sid, other):
            client.delete(f"/v1/sessions/{s}")


def test_refused_cells_release_their_slot(live_server) -> None:
    key = live_server.key("hostile-refused-slots", concurrency=1)
    with live_server.client(key) as client:
        sid = open_session(client, limits={"memory_mb": 128})
        for _ in range(3):
            assert cell(client, sid, "import subprocess").status_code == 422
            assert cell(client, sid, "x = (").status_code == 422
            assert cell(client, sid, "print(1)", memory_mb=256).status_code == 400
            assert cell(client, sid, "print(1)", wall_time_s=600).status_code == 400
        assert cell(client, sid, "print('still')").json()["stdout"] == "still\n"
        client.delete(f"/v1/sessions/{sid}")


# ------------------------------------------------------------------------------------------- ownership
def test_another_key_cannot_reach_a_sessions_cells_or_files(live_server) -> None:
    owner_key, other_key = live_server.key("hostile-owner"), live_server.key("hostile-intruder")
    with live_server.client(owner_key) as owner, live_server.client(other_key) as other:
        sid = open_session(owner, files=[{"path": "secret.txt", "content": "s3cret"}])
        record = cell(owner, sid, "print('mine')").json()
        for response in (
            other.get(f"/v1/executions/{record['id']}"),
            other.post(f"/v1/executions/{record['id']}/cancel"),
            other.get(f"/v1/executions/{record['id']}/events"),
            other.get(f"/v1/sessions/{sid}/files/secret.txt"),
            other.put(f"/v1/sessions/{sid}/files/secret.txt", content=b"overwritten"),
            cell(other, sid, "print(open('secret.txt').read())"),
            other.delete(f"/v1/sessions/{sid}"),
        ):
            assert_problem(response, 404, "rejected")
            assert "s3cret" not in response.text
        assert record["id"] not in {i["id"] for i in other.get("/v1/executions").json()["items"]}
        assert owner.get(f"/v1/sessions/{sid}/files/secret.txt").content == b"s3cret"
        assert owner.post(f"/v1/executions/{record['id']}/cancel").json()["status"] == "ok"
        owner.delete(f"/v1/sessions/{sid}")


# ------------------------------------------------------------------------- between calls, and for life
#: The container's CPU so far, in seconds (cgroup v1 or v2), printed by a cell.
CONTAINER_CPU = (
    "def container_cpu():\n"
    "    try:\n"
    "        return int(open('/sys/fs/cgroup/cpuacct/cpuacct.usage').read()) / 1e9\n"
    "    except OSError:\n"
    "        stat = dict(line.split() for line in open('/sys/fs/cgroup/cpu.stat'))\n"
    "        return int(stat['usage_usec']) / 1e6\n"
)


def test_processes_a_cell_started_do_not_run_between_calls(live_server) -> None:
    """A daemon in its own session (setsid) is stopped between calls like the interpreter's threads."""
    key = live_server.key("hostile-background-process", policy="permissive")
    spawn = (
        "import subprocess, sys\n"
        "for _ in range(2):\n"
        "    subprocess.Popen([sys.executable, '-c', 'while True: pass'], start_new_session=True)\n"
    )
    with live_server.client(key) as client:
        sid = open_session(client)
        try:
            assert cell(client, sid, CONTAINER_CPU).json()["status"] == "ok"
            assert cell(client, sid, spawn).json()["status"] == "ok"
            before = float(cell(client, sid, "print(container_cpu())").json()["stdout"])
            time.sleep(3)
            after = float(cell(client, sid, "print(container_cpu())").json()["stdout"])
        finally:
            client.delete(f"/v1/sessions/{sid}")
    assert after - before < 1.0, f"the session's container used {after - before:.1f} s of CPU between calls"


def test_a_session_ends_at_its_lifetime_cpu_budget(live_server, monkeypatch) -> None:
    """Each cell within its own CPU limit, together past the session's budget: the session ends."""
    monkeypatch.setattr(live_server.settings, "session_cpu_budget_s", 3)
    key = live_server.key("hostile-cpu-budget")
    burn = "import time\nend = time.process_time() + 1.2\nwhile time.process_time() < end:\n    pass\n"
    with live_server.client(key) as client:
        sid = open_session(client)
        monkeypatch.undo()
        answers = [cell(client, sid, burn, cpu_time_s=2, wall_time_s=60) for _ in range(3)]
        after = cell(client, sid, "print('after')")
        client.delete(f"/v1/sessions/{sid}")
    assert [a.json()["status"] for a in answers[:2]] == ["ok", "ok"], [a.json() for a in answers]
    last = answers[2].json()
    assert last["status"] == "cpu_time_exceeded", last
    assert "CPU budget of 3 s" in last["message"] and "the session has ended" in last["message"], last
    assert_problem(after, 404, "rejected")


def test_a_cell_that_burns_the_budget_in_threads_ignoring_sigxcpu_is_stopped(live_server, monkeypatch) -> None:
    monkeypatch.setattr(live_server.settings, "session_cpu_budget_s", 2)
    key = live_server.key("hostile-cpu-budget-threads")
    burn = (
        "import signal, threading, time\n"
        "signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
        "def spin():\n    while True:\n        pass\n"
        "for _ in range(2):\n    threading.Thread(target=spin, daemon=True).start()\n"
        "time.sleep(120)\n"
    )
    with live_server.client(key) as client:
        sid = open_session(client)
        monkeypatch.undo()
        answer = cell(client, sid, burn, wall_time_s=60).json()
        client.delete(f"/v1/sessions/{sid}")
    # Stopped for its CPU (2 s, on a busy machine that may take a while), not at its wall limit.
    assert answer["status"] == "cpu_time_exceeded", answer
    assert "CPU budget of 2 s" in answer["message"], answer


FIFO = "import os\nos.mkfifo('special')"
SOCKET = "import socket\ns = socket.socket(socket.AF_UNIX)\ns.bind('special')\ns.listen()"


@pytest.mark.parametrize("code", [FIFO, SOCKET], ids=["fifo", "socket"])
@pytest.mark.parametrize("op", ["get", "put"])
def test_special_files_are_refused_and_the_session_goes_on(live_server, op: str, code: str) -> None:
    key = live_server.key(f"hostile-special-{op}-{len(code)}", policy="permissive")  # socket is not standard's
    with live_server.client(key) as client:
        sid = open_session(client)
        assert cell(client, sid, code).json()["status"] == "ok"
        started = time.monotonic()
        if op == "get":
            response = client.get(f"/v1/sessions/{sid}/files/special")
        else:
            response = client.put(f"/v1/sessions/{sid}/files/special", content=b"data")
        took = time.monotonic() - started
        body = assert_problem(response, 400, "rejected")
        assert "'special' is not a regular file" in body["message"], body
        assert cell(client, sid, "print('alive')").json()["stdout"] == "alive\n"
        client.delete(f"/v1/sessions/{sid}")
    assert took < 5, f"the file operation took {took:.1f} s"


def test_a_file_a_thread_keeps_appending_to_is_read_as_it_was_when_the_call_answered(live_server) -> None:
    """The program is stopped during file operations too: the file does not grow under the read."""
    grow = (
        "import threading, time\n"
        "def grow():\n"
        "    with open('log.txt', 'a') as f:\n"
        "        while True:\n"
        "            f.write('x' * 4096)\n"
        "            f.flush()\n"
        "            time.sleep(0.001)\n"
        "threading.Thread(target=grow, daemon=True).start()\n"
        "time.sleep(0.2)\n"
    )
    flood = "threading.Thread(target=lambda: open('big', 'w').write('x' * (40 << 20)), daemon=True).start()"
    with live_server.client(live_server.key("hostile-growing-file")) as client:
        sid = open_session(client, limits={"workdir_mb": 64})
        assert cell(client, sid, grow).json()["status"] == "ok"
        first = client.get(f"/v1/sessions/{sid}/files/log.txt")
        time.sleep(1)
        second = client.get(f"/v1/sessions/{sid}/files/log.txt")
        alive = cell(client, sid, "print('alive')").json()
        assert cell(client, sid, flood + "\ntime.sleep(3)", wall_time_s=20).json()["status"] == "ok"
        over = client.get(f"/v1/sessions/{sid}/files/big")
        still = cell(client, sid, "print('still')").json()
        client.delete(f"/v1/sessions/{sid}")
    assert first.status_code == 200 and len(first.content) > 0, first.text[:300]
    assert second.content == first.content, "the file grew between two reads with no cell running"
    assert alive["stdout"] == "alive\n", alive
    body = assert_problem(over, 400, "rejected")
    assert "'big' is over the 33554432 byte cap" in body["message"], body
    assert still["stdout"] == "still\n", still


def test_a_forged_reply_ends_only_its_session_with_a_clear_status(live_server) -> None:
    code = (
        'import os, struct, time\nreply = b\'{"cell": 99, "exit_code": 0}\'\n'
        "os.write(4, struct.pack('>I', len(reply)) + reply)\ntime.sleep(5)"
    )
    with live_server.client(live_server.key("hostile-forge-clear")) as client:
        sid = open_session(client)
        started = time.monotonic()
        answer = cell(client, sid, code).json()
        took = time.monotonic() - started
        after = cell(client, sid, "print(1)")
        other = open_session(client)
        fine = cell(client, other, "print('other')").json()
        for s in (sid, other):
            client.delete(f"/v1/sessions/{s}")
    assert answer["status"] == "killed" and "result pipe" in answer["message"], answer
    assert "the session has ended" in answer["message"]
    assert took < 4, f"the forged reply held the cell for {took:.1f} s"
    assert_problem(after, 404, "rejected")
    assert fine["stdout"] == "other\n"


def test_sessions_count_against_the_servers_concurrency(tmp_path, docker_client) -> None:
    """A session holds an execution slot for its life: past ``max_concurrency`` a 503, as for runs."""
    from sandbox.api import create_app
    from sandbox.config import Settings
    from sandbox.store import Store
    from tests.docker_fixtures import SESSION_OWNER
    from tests.live_uvicorn import uvicorn_in_thread

    settings = Settings(
        state_dir=tmp_path,
        pool_size=0,
        max_concurrency=2,
        queue_timeout_s=0.5,
        validation_workers=1,
        owner=f"{SESSION_OWNER}-slots",
    )
    app = create_app(settings)
    with uvicorn_in_thread(app, start_timeout=60, log_level="warning") as url:
        store = Store(settings.database)
        key = store.create_key("slots", "standard", 64, 10_000)[1]
        store.close()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            first, second = open_session(client), open_session(client)
            third = client.post("/v1/sessions", json={})
            run = client.post("/v1/executions", json={"code": "print(1)"})
            assert cell(client, first, "print('cell')").json()["stdout"] == "cell\n", "a cell needs no other slot"
            client.delete(f"/v1/sessions/{first}")
            time.sleep(0.2)
            after = client.post("/v1/executions", json={"code": "print(1)"})
            client.delete(f"/v1/sessions/{second}")
    for refused in (third, run):
        body = assert_problem(refused, 503, "capacity_unavailable")
        assert "open sessions" in body["message"] and refused.headers.get("retry-after"), body
    assert after.status_code == 200 and after.json()["stdout"] == "1\n", after.text
    left = docker_client.api.containers(all=True, filters={"label": f"io.sandbox.owner={settings.owner}"})
    assert not left, f"the server left containers behind: {[c['Id'][:12] for c in left]}"
