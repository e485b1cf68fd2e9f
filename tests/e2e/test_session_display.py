"""Sessions like a notebook, over REST against the real engine: last values and figures, interrupts that keep
the session, the session and workdir listings, a missing file; and hostile cells against each of them."""

from __future__ import annotations

import time

import httpx
import pytest

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def api(live_server):
    with live_server.client(live_server.key("e2e-session-display")) as client:
        yield client


def open_session(client: httpx.Client, **body: object) -> str:
    response = client.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def cell(client: httpx.Client, sid: str, code: str, **limits: object) -> dict:
    response = client.post(f"/v1/sessions/{sid}/executions", json={"code": code, "limits": limits})
    assert response.status_code == 200, response.text
    return response.json()


# --------------------------------------------------------------------------------- display
def test_a_cell_shows_its_last_value_and_its_figure(api) -> None:
    sid = open_session(api)
    try:
        shown = cell(api, sid, "x = 6\nx * 7")
        assert (shown["status"], shown["stdout"], shown["session_open"]) == ("ok", "42\n", True)
        assert cell(api, sid, "x = 1")["stdout"] == ""
        plotted = cell(api, sid, "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 3, 2])\nfig")
        assert plotted["status"] == "ok" and plotted["stdout"] == "", plotted
        assert [a["name"] for a in plotted["artifacts"]] == ["out/figure-1.png"], plotted["artifacts"]
        png = api.get(f"/v1/executions/{plotted['id']}/artifacts/out/figure-1.png")
        assert png.status_code == 200 and png.content.startswith(PNG)
        assert png.headers["content-type"] == "image/png"
        # The next cell neither saves that figure again nor loads anything it did not use.
        again = cell(api, sid, "print(plt.get_fignums())")
        assert again["stdout"] == "[]\n" and again["artifacts"] == []
    finally:
        api.delete(f"/v1/sessions/{sid}")


def test_a_repr_png_object_comes_back_as_a_png(api) -> None:
    sid = open_session(api)
    try:
        code = f"class Picture:\n    def _repr_png_(self):\n        return {PNG + b'data'!r}\nPicture()"
        shown = cell(api, sid, code)
        assert shown["status"] == "ok" and [a["name"] for a in shown["artifacts"]] == ["out/display-1.png"]
        data = api.get(f"/v1/executions/{shown['id']}/artifacts/out/display-1.png").content
        assert data == PNG + b"data"
    finally:
        api.delete(f"/v1/sessions/{sid}")


# ------------------------------------------------------------------------------- interrupt
def test_an_interrupted_cell_keeps_the_sessions_state(api) -> None:
    sid = open_session(api)
    try:
        assert cell(api, sid, "x = 1")["status"] == "ok"
        started = time.monotonic()
        spun = cell(api, sid, "while True:\n    pass", wall_time_s=1)
        assert time.monotonic() - started < 5
        assert spun["status"] == "timeout" and spun["session_open"] is True, spun
        assert spun["message"].startswith("interrupted after 1 s") and "the session is still open" in spun["message"]
        assert "KeyboardInterrupt" in spun["stderr"]
        assert api.get(f"/v1/sessions/{sid}").json()["state"] == "open"
        after = cell(api, sid, "print(x)")
        assert (after["status"], after["stdout"], after["session_open"]) == ("ok", "1\n", True)
        stored = api.get(f"/v1/executions/{spun['id']}").json()
        assert stored["session_open"] is True and stored["status"] == "timeout"
    finally:
        api.delete(f"/v1/sessions/{sid}")


def test_a_cell_that_resists_its_interrupt_ends_the_session(api) -> None:
    sid = open_session(api)
    code = "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass"
    started = time.monotonic()
    resisted = cell(api, sid, code, wall_time_s=1)
    took = time.monotonic() - started
    assert resisted["status"] == "timeout" and resisted["session_open"] is False, resisted
    assert "the session has ended" in resisted["message"]
    assert took < 1 + 2 + 3, f"the resisting cell held its session {took:.1f} s"  # wall + grace + margin
    assert api.post(f"/v1/sessions/{sid}/executions", json={"code": "print(1)"}).status_code == 404
    info = api.get(f"/v1/sessions/{sid}").json()
    assert (info["state"], info["closed_reason"]) == ("closed", "ended by a call (timeout)")


# ------------------------------------------------------------------------------- listings
def test_sessions_and_their_files_are_listed(live_server) -> None:
    with live_server.client(live_server.key("e2e-session-lists")) as client:
        assert client.get("/v1/sessions").json() == {"items": []}
        first = open_session(client, files=[{"path": "seed.txt", "content": "seed"}])
        second = open_session(client)
        try:
            listed = client.get("/v1/sessions").json()["items"]
            assert [s["id"] for s in listed] == [first, second] and {s["state"] for s in listed} == {"open"}
            with live_server.client(live_server.key("e2e-session-lists-other")) as other:
                assert other.get("/v1/sessions").json() == {"items": []}
                assert other.get(f"/v1/sessions/{first}/files").status_code == 404
            code = "import os\nos.makedirs('data')\nopen('data/a.txt', 'w').write('abc')\nos.symlink('/etc', 'etc')"
            assert cell(client, first, code)["status"] == "ok"
            files = client.get(f"/v1/sessions/{first}/files")
            assert files.status_code == 200, files.text
            entries = {item["path"]: item for item in files.json()["items"]}
            assert set(entries) == {"seed.txt", "data", "data/a.txt", "etc"}
            assert (entries["data/a.txt"]["type"], entries["data/a.txt"]["size"]) == ("file", 3)
            assert entries["etc"]["type"] == "link" and entries["data"]["type"] == "dir"
            assert files.json()["truncated"] is False
            missing = client.get(f"/v1/sessions/{first}/files/nope.txt")
            assert missing.status_code == 404 and missing.json()["code"] == "rejected", missing.text
            assert "/workspace" not in missing.text
            assert client.get(f"/v1/sessions/{first}/files/etc/passwd").status_code == 400  # a link: refused
            assert cell(client, first, "print('alive')")["stdout"] == "alive\n"
        finally:
            for sid in (first, second):
                client.delete(f"/v1/sessions/{sid}")
        assert client.get("/v1/sessions").json() == {"items": []}


def test_a_listing_is_bounded(api) -> None:
    sid = open_session(api)
    try:
        assert cell(api, sid, "for i in range(1500):\n    open(f'f{i:04}', 'w').close()")["status"] == "ok"
        listing = api.get(f"/v1/sessions/{sid}/files").json()
        assert len(listing["items"]) == 1000 and listing["truncated"] is True
        assert listing["items"][0]["path"] == "f0000"
    finally:
        api.delete(f"/v1/sessions/{sid}")


# ---------------------------------------------------------------------------------- hostile cells
def test_a_cell_with_its_own_sigint_handler(api) -> None:
    """A handler that ignores SIGINT resists the interrupt (the session ends); one that raises is an
    interrupt like any other (the session goes on, the handler with it)."""
    raising = open_session(api)
    ignoring = open_session(api)
    try:
        code = "import signal, time\ndef stop(*_):\n    raise RuntimeError('mine')\nsignal.signal(signal.SIGINT, stop)"
        assert cell(api, raising, code)["status"] == "ok"
        stopped = cell(api, raising, "time.sleep(30)", wall_time_s=1)
        assert stopped["status"] == "timeout" and stopped["session_open"] is True, stopped
        assert "RuntimeError: mine" in stopped["stderr"]
        assert cell(api, raising, "print('next')")["stdout"] == "next\n"
        code = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)"
        ignored = cell(api, ignoring, code, wall_time_s=1)
        assert ignored["status"] == "timeout" and ignored["session_open"] is False, ignored
    finally:
        for sid in (raising, ignoring):
            api.delete(f"/v1/sessions/{sid}")


def test_a_raising_repr_is_the_cells_error_and_the_session_goes_on(api) -> None:
    sid = open_session(api)
    try:
        code = "class Bad:\n    def __repr__(self):\n        raise ValueError('no repr')\nBad()"
        failed = cell(api, sid, code)
        assert failed["status"] == "runtime_error" and failed["session_open"] is True, failed
        assert "ValueError: no repr" in failed["stderr"] and 'File "<cell 1>"' in failed["stderr"]
        assert "sandbox_runner" not in failed["stderr"]
        assert cell(api, sid, "print('alive')")["stdout"] == "alive\n"
    finally:
        api.delete(f"/v1/sessions/{sid}")


def test_a_huge_repr_is_held_to_the_output_cap(api) -> None:
    sid = open_session(api)
    huge = cell(api, sid, "'x' * (3 << 20)", stdout_bytes=1 << 20)
    assert huge["status"] == "output_limit_exceeded" and huge["stdout_truncated"], {
        k: v for k, v in huge.items() if k != "stdout"
    }
    assert huge["stdout_bytes"] == 1 << 20 and huge["session_open"] is False
    api.delete(f"/v1/sessions/{sid}")


@pytest.mark.parametrize(
    ("returned", "note"),
    [("b'GIF89a garbage'", "bytes that are not a PNG"), ("'iVBORw0KGgo='", "str"), ("object()", "object")],
    ids=["garbage-bytes", "str", "object"],
)
def test_a_repr_png_that_returns_no_png_is_shown_as_text(api, returned: str, note: str) -> None:
    sid = open_session(api)
    try:
        code = (
            "class Odd:\n"
            f"    def _repr_png_(self):\n        return {returned}\n"
            "    def __repr__(self):\n        return 'Odd()'\n"
            "Odd()"
        )
        shown = cell(api, sid, code)
        assert (shown["status"], shown["stdout"], shown["artifacts"]) == ("ok", "Odd()\n", []), shown
        assert f"_repr_png_() returned {note}; shown as text" in shown["stderr"]
    finally:
        api.delete(f"/v1/sessions/{sid}")
