"""The image catalog: languages, aliases and content-hash tags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandbox.config import PROJECT_ROOT
from sandbox.engine.images import ImageCatalog
from sandbox.errors import RequestRejected

TOY_TOML = """
language = "toy"
aliases = ["t", "toylang"]
main_file = "main.toy"
mode = "exec"
argv = ["toy", "main.toy"]
version_command = ["toy", "--version"]
description = "A toy language"
"""

OTHER_TOML = """
language = "other"
main_file = "main.o"
argv = ["other", "main.o"]
"""


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    (root / "base").mkdir(parents=True)
    (root / "base" / "base.toml").write_text('registry_image = "debian:bookworm-slim"\n')
    (root / "runner" / "sandbox_runner").mkdir(parents=True)
    (root / "runner" / "sandbox_runner" / "__init__.py").write_text("print('runner')\n")
    (root / "runner" / "sandbox_runner" / "pump.py").write_text("print('pump')\n")
    (root / "toy" / "extra").mkdir(parents=True)
    (root / "toy" / "image.toml").write_text(TOY_TOML)
    (root / "toy" / "Dockerfile").write_text("FROM base\n")
    (root / "toy" / "extra" / "helper.sh").write_text("echo hi\n")
    (root / "other").mkdir()
    (root / "other" / "image.toml").write_text(OTHER_TOML)
    return root


def tag(images: Path, language: str = "toy") -> str:
    return ImageCatalog(images).image_tag(language)


def test_languages_are_read_from_image_toml(images: Path) -> None:
    catalog = ImageCatalog(images)
    assert set(catalog.languages) == {"toy", "other"}
    toy = catalog.language("toy")
    assert toy.main_file == "main.toy"
    assert toy.mode == "exec"
    assert toy.argv == ("toy", "main.toy")
    assert toy.version_command == ("toy", "--version")
    assert toy.description == "A toy language"
    assert toy.folder == images / "toy"
    other = catalog.language("other")
    assert other.mode == "exec" and other.aliases == () and other.version_command == ()


@pytest.mark.parametrize("name", ["toy", "t", "toylang", "TOY", "T"])
def test_aliases_resolve(images: Path, name: str) -> None:
    catalog = ImageCatalog(images)
    assert catalog.language(name).name == "toy"
    assert catalog.image_tag(name) == catalog.image_tag("toy")


@pytest.mark.parametrize("name", ["cobol", "", "base", "runner", "to"])
def test_unknown_language_names_the_available_ones(images: Path, name: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        ImageCatalog(images).language(name)
    assert "unknown language" in caught.value.message
    assert "available: other, toy" in caught.value.message
    with pytest.raises(RequestRejected):
        ImageCatalog(images).image_tag(name)


def test_tag_format(images: Path) -> None:
    assert re.fullmatch(r"sandbox-toy:[0-9a-f]{12}", tag(images))
    assert re.fullmatch(r"lab-toy:[0-9a-f]{12}", ImageCatalog(images, "lab").image_tag("toy"))
    assert re.fullmatch(r"sandbox-base:[0-9a-f]{12}", ImageCatalog(images).base_tag())


def test_tag_is_stable(images: Path) -> None:
    first = tag(images)
    assert tag(images) == first
    # Caches and unrelated languages do not count.
    (images / "toy" / "__pycache__").mkdir()
    (images / "toy" / "__pycache__" / "x.pyc").write_bytes(b"\x00junk")
    # The unit tests import the runner package on the host, which leaves byte code next to it.
    (images / "runner" / "sandbox_runner" / "__pycache__").mkdir()
    (images / "runner" / "sandbox_runner" / "__pycache__" / "pump.cpython-311.pyc").write_bytes(b"\x00junk")
    # Tool caches a developer's run may leave (mypy, pytest, ruff), and dot-files, are not the image.
    (images / "runner" / ".mypy_cache" / "3.11").mkdir(parents=True)
    (images / "runner" / ".mypy_cache" / "3.11" / "sandbox_runner.data.json").write_text("{}")
    (images / "toy" / ".pytest_cache").mkdir()
    (images / "toy" / ".pytest_cache" / "v").write_text("x")
    (images / "toy" / ".DS_Store").write_bytes(b"\x00")
    (images / "other" / "Dockerfile").write_text("FROM something-else\n")
    assert tag(images) == first
    assert tag(images, "other") != first


@pytest.mark.parametrize(
    "change",
    [
        "toy/Dockerfile",
        "toy/extra/helper.sh",
        "toy/new-file",
        "runner/sandbox_runner/__init__.py",
        "runner/sandbox_runner/pump.py",
        "runner/sandbox_runner/new_module.py",
        "runner/helper.py",
        "base/base.toml",
        "base/new.conf",
    ],
)
def test_tag_changes_with_any_input(images: Path, change: str) -> None:
    before = tag(images)
    path = images / change
    path.write_text((path.read_text() if path.exists() else "") + "\n# changed\n")
    assert tag(images) != before


def test_host_side_metadata_does_not_change_the_tag(images: Path) -> None:
    before = tag(images)
    path = images / "toy" / "image.toml"
    path.write_text(path.read_text() + "\n# only the host reads this file\n")
    assert tag(images) == before


def test_tag_changes_when_a_file_is_renamed(images: Path) -> None:
    before = tag(images)
    (images / "toy" / "extra" / "helper.sh").rename(images / "toy" / "extra" / "renamed.sh")
    assert tag(images) != before


def test_base_tag_follows_base_only(images: Path) -> None:
    before = ImageCatalog(images).base_tag()
    (images / "toy" / "Dockerfile").write_text("FROM changed\n")
    (images / "runner" / "sandbox_runner" / "pump.py").write_text("changed\n")
    assert ImageCatalog(images).base_tag() == before
    (images / "base" / "base.toml").write_text('registry_image = "debian:trixie-slim"\n')
    assert ImageCatalog(images).base_tag() != before


# -------------------------------------------------------------- the real images/


@pytest.fixture(scope="module")
def real() -> ImageCatalog:
    return ImageCatalog(PROJECT_ROOT / "images")


def test_real_python(real: ImageCatalog) -> None:
    python = real.language("python")
    assert python.main_file == "main.py"
    assert python.mode == "python"
    assert python.argv[1:] == ("main.py",)
    assert real.language("py").name == real.language("python3").name == "python"
    assert re.fullmatch(r"sandbox-python:[0-9a-f]{12}", real.image_tag("python"))


def test_real_bash(real: ImageCatalog) -> None:
    bash = real.language("bash")
    assert bash.main_file == "main.sh"
    assert bash.mode == "exec"
    assert bash.argv == ("bash", "main.sh")
    assert real.language("sh").name == "bash"
    assert re.fullmatch(r"sandbox-bash:[0-9a-f]{12}", real.image_tag("bash"))


def test_real_every_language_has_a_dockerfile_and_distinct_tag(real: ImageCatalog) -> None:
    assert {"python", "bash"} <= set(real.languages)
    tags = {real.image_tag(name) for name in real.languages}
    assert len(tags) == len(real.languages)
    for spec in real.languages.values():
        assert (spec.folder / "Dockerfile").is_file()
        assert spec.main_file in (*spec.argv, *spec.compile_argv) or spec.mode == "python"
