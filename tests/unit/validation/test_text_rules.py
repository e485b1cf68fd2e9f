"""The standard tier's text rules for the languages without AST rules: network APIs warn, nothing is denied."""

from __future__ import annotations

import pytest

from sandbox.validation import SourceFile, Verdict, validate_files
from sandbox.validation.policy import Policy
from tests.unit.validation.util import PERMISSIVE, STANDARD, STRICT, where

MAIN = {
    "javascript": "main.js",
    "typescript": "main.ts",
    "c": "main.c",
    "cpp": "main.cpp",
    "go": "main.go",
    "java": "Main.java",
    "rust": "main.rs",
}

#: (language, program, rule, line): each one a network call the sandbox cannot serve.
NETWORK = [
    ("javascript", "const net = require('net');\n", "js.network", 1),
    ("javascript", 'console.log(1);\nconst h = require("node:https");\n', "js.network", 2),
    ("javascript", "import dgram from 'dgram';\n", "js.network", 1),
    ("javascript", "const r = await fetch('http://example.com');\n", "js.fetch", 1),
    ("typescript", 'import * as http from "http";\n', "js.network", 1),
    ("typescript", "const m = await import('node:net');\n", "js.network", 1),
    ("c", "#include <stdio.h>\n#include <sys/socket.h>\n", "c.socket", 2),
    ("c", "int main(void) { int s = socket(2, 1, 0); }\n", "c.socket", 1),
    ("cpp", "#include <netdb.h>\n", "c.socket", 1),
    ("go", 'package main\nimport "net"\nfunc main() { net.Dial("tcp", "x:1") }\n', "go.network", 3),
    ("go", 'package main\nfunc main() { http.Get("http://x") }\n', "go.network", 2),
    ("java", "import java.net.Socket;\n", "java.network", 1),
    ("java", 'class Main { void f() throws Exception { new URL("http://x"); } }\n', "java.network", 1),
    ("java", "var c = java.net.http.HttpClient.newHttpClient();\n", "java.network", 1),
    ("rust", "use std::net::TcpStream;\n", "rust.network", 1),
    ("rust", 'fn main() { let s = UdpSocket::bind("0:0"); }\n', "rust.network", 1),
]

#: Ordinary programs that merely look alike: no finding.
ORDINARY = [
    ("javascript", "const fs = require('fs');\nconst netWorth = 3;\nconsole.log(fs, netWorth);\n"),
    ("javascript", "const { createServer } = require('./http-like');\n"),
    ("typescript", 'import * as path from "path";\nconst prefetch = (x: number) => x;\nprefetch(1);\n'),
    ("c", '#include <stdio.h>\nint main(void) { puts("socket"); return 0; }\n'),
    ("cpp", "#include <iostream>\nint main() { int my_socket_count = 0; std::cout << my_socket_count; }\n"),
    ("go", 'package main\nimport "fmt"\nfunc main() { fmt.Println("net.Dial") }\n'),
    ("java", 'public class Main { public static void main(String[] a) { System.out.println("Socket"); } }\n'),
    ("rust", 'fn main() { println!("TcpStreams are not here"); }\n'),
]


def check(language: str, code: str, policy: Policy = STANDARD) -> Verdict:
    return validate_files([SourceFile(MAIN[language], code)], language, policy)


@pytest.mark.parametrize(("language", "code", "rule", "line"), NETWORK)
def test_network_apis_warn_with_their_line(language: str, code: str, rule: str, line: int) -> None:
    verdict = check(language, code)
    assert verdict.allowed
    assert [(f[0], f[1], f[2]) for f in where(list(verdict.findings))] == [(rule, "warn", line)]
    assert "the sandbox has no network" in verdict.findings[0].message


@pytest.mark.parametrize(("language", "code"), ORDINARY)
def test_ordinary_programs_have_no_finding(language: str, code: str) -> None:
    verdict = check(language, code)
    assert verdict.allowed and verdict.findings == ()


def test_the_rules_apply_only_to_their_languages() -> None:
    # The Go rule's text in a Rust program, the Rust rule's in a Go one: nothing.
    assert check("rust", 'fn main() { net.Dial("tcp", "x") }\n').findings == ()
    assert check("go", "package main // TcpStream\n").findings == ()


def test_permissive_warns_alike() -> None:
    verdict = check("c", "#include <sys/socket.h>\n", PERMISSIVE)
    assert verdict.allowed and [f.rule_id for f in verdict.findings] == ["c.socket"]


def test_strict_stays_python_only() -> None:
    assert STRICT.languages == ("python",)
    assert STANDARD.languages is None and PERMISSIVE.languages is None
