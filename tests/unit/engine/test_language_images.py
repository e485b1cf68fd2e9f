"""Every real images/<language>/image.toml: parsed, consistent with its Dockerfile, and runnable as declared."""

from __future__ import annotations

import re

import pytest

from sandbox.config import PROJECT_ROOT
from sandbox.engine import ImageCatalog, LanguageSpec

CATALOG = ImageCatalog(PROJECT_ROOT / "images")
COMPILED = {"c", "cpp", "go", "java", "rust", "typescript"}
#: language -> (main file, aliases it must answer to, suffixes)
EXPECTED = {
    "javascript": ("main.js", {"js", "node"}, {".js", ".mjs"}),
    "typescript": ("main.ts", {"ts"}, {".ts"}),
    "c": ("main.c", set(), {".c"}),
    "cpp": ("main.cpp", {"c++", "cxx"}, {".cpp", ".cc", ".cxx"}),
    "go": ("main.go", {"golang"}, {".go"}),
    "java": ("Main.java", set(), {".java"}),
    "rust": ("main.rs", {"rs"}, {".rs"}),
}
#: In every image already: debootstrap's minbase.
BASE_PACKAGES = {"bash", "coreutils"}
SPECS = sorted(CATALOG.languages.values(), key=lambda s: s.name)


def test_the_new_languages_are_in_the_catalog() -> None:
    assert set(EXPECTED) | {"python", "bash"} == set(CATALOG.languages)
    for name, (main, aliases, suffixes) in EXPECTED.items():
        spec = CATALOG.language(name)
        assert spec.main_file == main and spec.mode == "exec"
        assert aliases <= set(spec.aliases) and suffixes <= set(spec.source_suffixes)
        assert all(CATALOG.language(alias).name == name for alias in aliases)
        assert spec.compiled == (name in COMPILED)


def test_aliases_and_suffixes_name_one_language_each() -> None:
    names = [alias for spec in SPECS for alias in (spec.name, *spec.aliases)]
    suffixes = [suffix for spec in SPECS for suffix in spec.source_suffixes]
    assert len(names) == len(set(names)) and len(suffixes) == len(set(suffixes))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_image_toml_is_complete(spec: LanguageSpec) -> None:
    assert spec.description and spec.version_command and spec.argv
    assert spec.packages, "packages: what /v1/languages says the image installs"
    if spec.compiled:
        assert spec.main_file in spec.compile_argv, "the compiler is handed the main file"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_dockerfile_installs_the_declared_packages_before_the_runner(spec: LanguageSpec) -> None:
    dockerfile = (spec.folder / "Dockerfile").read_text()
    install = re.search(r"apt-get install -y --no-install-recommends\s+(?:\\\n\s*)?([^\\\n]+)", dockerfile)
    assert install is not None
    installed = set(install.group(1).split())
    assert set(spec.packages) <= installed | BASE_PACKAGES
    assert "rm -rf /var/lib/apt/lists/*" in dockerfile
    # The runner changes often: its COPY comes after the apt layer, which Docker's cache then keeps.
    assert dockerfile.index("apt-get install") < dockerfile.index("COPY sandbox_runner")
    assert "USER 65534:65534" in dockerfile and "WORKDIR /workspace" in dockerfile


def test_go_builds_with_its_caches_under_tmp_and_without_modules() -> None:
    env = dict(CATALOG.language("go").compile_env)
    assert env["GOCACHE"].startswith("/tmp/") and env["GOPATH"].startswith("/tmp/")
    assert env["GO111MODULE"] == "off" and env["CGO_ENABLED"] == "0"


def test_typescript_finds_debians_node_typings() -> None:
    argv = CATALOG.language("typescript").compile_argv
    assert argv[argv.index("--typeRoots") + 1] == "/usr/share/nodejs/@types"
    assert argv[argv.index("--types") + 1] == "node"
    assert CATALOG.language("typescript").argv == ("node", "main.js")


def java_check(source: str) -> str | None:
    """The message of the Java source check that ``source`` trips, formatted as the planner does."""
    for pattern, message in CATALOG.language("java").source_checks:
        match = re.search(pattern, source)
        if match:
            return message.format(match.group(0), *match.groups())
    return None


@pytest.mark.parametrize(
    "source",
    [
        "public class Main {\n  public static void main(String[] a) {}\n}\n",
        "public final class Main { }\n",
        "class Helper {}\npublic class Main { public static class Inner {} }\n",
        "public class Main {\n    public class Inner {}\n    public enum Colour { RED }\n}\n",  # nested: fine
        "class Solution {}\n",
    ],
)
def test_java_accepts_a_public_main_and_anything_non_public(source: str) -> None:
    assert java_check(source) is None


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("public class Solution {\n  public static void main(String[] a) {}\n}\n", "Solution"),
        ("import java.util.*;\n\npublic final class Hello { }\n", "Hello"),
        ("public record Point(int x, int y) {}\npublic class Main {}\n", "Point"),
        ("public class MainApp {}\n", "MainApp"),
    ],
)
def test_java_refuses_another_public_class_naming_it(source: str, name: str) -> None:
    message = java_check(source)
    assert message is not None
    assert message.startswith(f"Main.java declares public class {name}: the public class must be named Main")
