"""Files that bypass validation (issue 11, class 6), through the real server and the real containers.

Uploads are validated as code (``test_hostile_sessions``); what validation can
never see is a module a program makes at run time (a data file renamed to
``.py``, source built from computed text). Under an enforcing tier the runner
imports from the workdir only source the host validated; under ``permissive``
(validation off) the same program imports its module, which shows the attack
is real and the container alone then holds.
"""

from __future__ import annotations

import base64

import pytest

from tests.e2e.test_hostile_sessions import cell, open_session

RENAME_AND_IMPORT = (
    "import shutil\nshutil.copy('payload.txt', 'made.py')\n"
    "try:\n    import made\nexcept ImportError as e:\n    print('refused:', e)\n"
)
PAYLOAD = {"path": "payload.txt", "content": "print('payload ran')\n"}


@pytest.mark.parametrize(("policy", "ran"), [("standard", False), ("strict", False), ("permissive", True)])
def test_a_one_shot_program_cannot_import_a_module_it_made(live_server, policy: str, ran: bool) -> None:
    code = RENAME_AND_IMPORT if policy != "strict" else "import json\nprint(json.dumps(1))"
    with live_server.client(live_server.key(f"made-module-{policy}", policy=policy)) as client:
        response = client.post("/v1/executions", json={"code": code, "files": [PAYLOAD], "policy": policy})
    assert response.status_code == 200, response.text
    stdout = response.json()["stdout"]
    if policy == "strict":
        assert stdout == "1\n", response.json()  # the allowlisted standard library imports as usual
    elif ran:
        assert stdout == "payload ran\n"
    else:
        assert stdout.startswith("refused: made: /workspace/made.py is not a file validation saw"), stdout


def test_a_session_imports_what_it_uploaded_but_not_what_a_cell_made(live_server) -> None:
    with live_server.client(live_server.key("made-module-session")) as client:
        sid = open_session(client, files=[{"path": "opened.py", "content": "A = 1\n"}])
        assert client.put(f"/v1/sessions/{sid}/files/uploaded.py", content=b"B = 2\n").status_code in (200, 204)
        assert cell(client, sid, "import opened, uploaded\nprint(opened.A + uploaded.B)").json()["stdout"] == "3\n"
        text = base64.b64encode(b"print('payload ran')").decode()
        made = cell(client, sid, f"import base64\nopen('made.py', 'wb').write(base64.b64decode('{text}'))")
        assert made.json()["status"] == "ok", made.text
        refused = cell(client, sid, "import made").json()
        assert refused["status"] == "runtime_error" and "is not a file validation saw" in refused["stderr"], refused
        assert "payload ran" not in refused["stdout"]
        assert cell(client, sid, "print('alive')").json()["stdout"] == "alive\n"
        client.delete(f"/v1/sessions/{sid}")
