"""SECURITY-BAR 3.8: exfiltration attempts with a secret injected, validation on (standard) and off
(permissive), through the REST door of a live server on the real engine.

Each row's program tries to get the secret out; whatever comes back (the result, the stored record,
the audit log) must not hold it, raw or encoded. Rows the bar accepts as limits (a program that
transforms its own value) are strict xfails saying so.
"""

from __future__ import annotations

import base64
import codecs
import json
import secrets
import urllib.parse

import pytest

from tests.e2e.conftest import live_server  # noqa: F401  (the live server fixture)

VALUE = "sk-test-" + secrets.token_urlsafe(24)  # the bar's test secret: sk-test-<32 random chars>
OTHER = "sk-test-" + secrets.token_urlsafe(24)  # another key's secret of the same name

ROWS = {
    "S01-print": "import os\nprint(os.environ['API_KEY'])",
    "S02-environ-json": "import os, json\nprint(json.dumps(dict(os.environ)))\nprint(repr(dict(os.environ)))",
    "S03-encodings": (
        "import os, base64, json, urllib.parse\n"
        "v = os.environ['API_KEY'].encode()\n"
        "for pad in (b'', b'x', b'xy'):\n"
        "    print(base64.b64encode(pad + v).decode(), base64.urlsafe_b64encode(pad + v).decode())\n"
        "    print(base64.b64encode(pad + v).decode().rstrip('='))\n"
        "print(v.hex(), v.hex().upper())\n"
        "print(urllib.parse.quote(v), urllib.parse.quote_plus(v))\n"
        "print(json.dumps({'k': v.decode()}))\n"
    ),
    "S06-errors": (
        "import os, warnings, sys\n"
        "warnings.warn(os.environ['API_KEY'])\n"
        "sys.stderr.write('err: ' + os.environ['API_KEY'] + '\\n')\n"
        "raise ValueError(os.environ['API_KEY'])\n"
    ),
    "S09-scan-others": (
        "import os, glob\n"
        "found = []\n"
        "for path in glob.glob('/proc/*/environ'):\n"
        "    try:\n"
        "        found.append(open(path, 'rb').read())\n"
        "    except OSError:\n"
        "        pass\n"
        "print(b'\\n'.join(found).decode(errors='replace'))\n"
    ),
    "S10-kek-hunt": (
        "import os\n"
        "for path in ['/proc/1/environ', '/run/secrets', '/etc/environment']:\n"
        "    try:\n"
        "        print(path, open(path, 'rb').read()[:4000])\n"
        "    except OSError as exc:\n"
        "        print(path, 'DENIED', type(exc).__name__)\n"
        "for top in ('/etc', '/run', '/var', '/opt', '/home', '/srv', '/tmp'):\n"
        "    for root, _, names in os.walk(top):\n"
        "        print([os.path.join(root, n) for n in names if n.endswith('.kek') or 'secret' in n][:20])\n"
        "print(sorted(os.environ))\n"
    ),
}
#: What the bar accepts as a limit of redaction (the owner can always transform their own value).
LIMITS = {
    "S04-reversed": "import os\nprint(os.environ['API_KEY'][::-1])",
    "S04-one-per-line": "import os\nprint('\\n'.join(os.environ['API_KEY']))",
    "S05-rot13": "import os, codecs\nprint(codecs.encode(os.environ['API_KEY'], 'rot13'))",
}


def forms(value: str) -> list[str]:
    raw = value.encode()
    found = {value, raw.hex(), raw.hex().upper(), urllib.parse.quote(value, safe=""), json.dumps(value)[1:-1]}
    for pad in (b"", b"x", b"xy"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(pad + raw).decode()
            found.add(text[len(pad) * 2 : len(text) - 4])  # the part that does not depend on neighbours
    return sorted(found)


@pytest.fixture(scope="module")
def keys(live_server):  # noqa: F811
    ours, theirs = live_server.key("s38-owner", policy="permissive"), live_server.key("s38-other")
    with live_server.client(ours) as api:
        assert api.put("/v1/secrets/API_KEY", json={"value": VALUE}).status_code in (200, 201)
    with live_server.client(theirs) as api:
        assert api.put("/v1/secrets/API_KEY", json={"value": OTHER}).status_code in (200, 201)
    kek_file = live_server.settings.state_dir / "secrets.kek"  # S10: the KEK must never reach a run
    for line in kek_file.read_text().split(",") if kek_file.exists() else []:
        KEKS.append(line.strip().split(":", 1)[-1])
    return ours


KEKS: list[str] = []


def leaks(text: str) -> list[str]:
    found = [form for value in (VALUE, OTHER) for form in forms(value) if form in text]
    return found + [f"KEK {kek[:4]}..." for kek in KEKS if kek and kek in text]


def attempt(live_server, key: str, code: str, policy: str) -> tuple[str, str]:  # noqa: F811
    with live_server.client(key) as api:
        ran = api.post("/v1/executions", json={"code": code, "secrets": ["API_KEY"], "policy": policy})
        assert ran.status_code in (200, 422), ran.text
        stored = api.get(f"/v1/executions/{ran.json()['id']}").text if ran.status_code == 200 else ""
    return ran.text, stored


@pytest.mark.parametrize("policy", ["standard", "permissive"], ids=["V-on", "V-off"])
@pytest.mark.parametrize("row", sorted(ROWS))
def test_exfiltration_rows_leak_nothing(live_server, keys, row: str, policy: str) -> None:  # noqa: F811
    answer, stored = attempt(live_server, keys, ROWS[row], policy)
    assert leaks(answer) == [], answer
    assert leaks(stored) == [], stored
    audit = json.dumps(live_server.store.audit_events(500), default=str)
    assert leaks(audit) == []


def test_s07_a_secret_written_to_tmp_is_gone_for_the_next_run(live_server, keys) -> None:  # noqa: F811
    code = "import os\nopen('/tmp/s07', 'w').write(os.environ['API_KEY'])\nprint(open('/tmp/s07').read())"
    first, _ = attempt(live_server, keys, code, "permissive")
    assert "[REDACTED:API_KEY]" in first
    with live_server.client(keys) as api:
        later = api.post("/v1/executions", json={"code": "import os\nprint(os.path.exists('/tmp/s07'))"}).json()
    assert later["stdout"] == "False\n", later


@pytest.mark.parametrize("row", sorted(LIMITS))
@pytest.mark.xfail(
    strict=True, reason="SECURITY-BAR S04/S05: a program can transform its own value; redaction is best-effort"
)
def test_transformed_values_are_a_documented_limit(live_server, keys, row: str) -> None:  # noqa: F811
    answer, _ = attempt(live_server, keys, LIMITS[row], "permissive")
    body = json.loads(answer)
    transformed = {"S04-reversed": VALUE[::-1], "S04-one-per-line": "\n".join(VALUE)}
    transformed["S05-rot13"] = codecs.encode(VALUE, "rot13")
    assert transformed[row] not in body["stdout"]
