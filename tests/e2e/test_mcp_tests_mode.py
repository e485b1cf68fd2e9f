"""MCP `execute` with a compiled language and tests mode, through the SDK's own client over HTTP."""

from __future__ import annotations

import pytest

from tests.e2e.mcp_clients import connect
from tests.e2e.test_mcp import call

pytestmark = pytest.mark.anyio

ADD_CPP = "#include <iostream>\nint main(){ long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }\n"


@pytest.fixture(scope="module")
def mcp_key(live_server) -> str:
    return live_server.key("e2e-mcp-tests")


async def test_execute_compiles_once_and_judges_each_case(live_server, mcp_key, tmp_path) -> None:
    cases = [
        {"stdin": "1 2", "expected_stdout": "3"},
        {"stdin": "2 2", "expected_stdout": "5"},
        {"stdin": "40 2"},
    ]
    async with connect("http", live_server, mcp_key, tmp_path) as client:
        result = await call(client, "execute", code=ADD_CPP, language="cpp", tests=cases)
    assert not result.is_error
    record = result.structured_content
    assert record["status"] == "ok"
    assert record["compile"]["status"] == "ok"
    assert [case["passed"] for case in record["tests"]] == [True, False, None]
    assert [case["stdout"] for case in record["tests"]] == ["3\n", "4\n", "42\n"]
    assert record["summary"] == {"total": 3, "passed": 1, "failed": 1, "unjudged": 1}
    text = result.content[0].text
    assert "[case 1: FAILED, ok]" in text and "compiled in" in text


async def test_execute_reports_a_compile_error_with_the_compilers_output(live_server, mcp_key, tmp_path) -> None:
    async with connect("http", live_server, mcp_key, tmp_path) as client:
        result = await call(client, "execute", code="int main() { return missing; }\n", language="c")
    record = result.structured_content
    assert record["status"] == "compile_error"
    assert "missing" in record["stderr"] and "error" in record["stderr"]
    assert record["compile"]["output"] == record["stderr"]
    assert record["exit_code"] == record["compile"]["exit_code"] == 1
