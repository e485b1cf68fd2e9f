"""Build the runtime images: base root filesystem first, then one image per language.

The base comes from the registry image named in ``images/base/base.toml`` when a
registry answers; otherwise from ``debootstrap`` (minbase) run against the
mirror already configured in the host's apt sources, imported with
``docker import``. Language images are then built from their Dockerfiles with
``BASE`` set to the base tag and host networking (so ``apt-get`` inside the
build reaches the same mirror the host does). Builds are skipped when the
content-hash tag already exists.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors

from sandbox.engine.images import RUNNER_DIR, ImageCatalog
from sandbox.errors import DockerUnavailable, EngineError

Progress = Callable[[str], None]
WHEELS_FILE = "wheels.txt"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


def host_debian_mirror(suite: str) -> str:
    """The first Debian mirror URI in the host's apt sources (one-line or deb822 format)."""
    files: list[Path] = []
    for source in APT_SOURCES:
        if source.is_file():
            files.append(source)
        elif source.is_dir():
            files.extend(sorted(source.glob("*.list")) + sorted(source.glob("*.sources")))
    for path in files:
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for line in stanza.splitlines():
                    key, _, value = line.partition(":")
                    if not line.startswith("#") and value:
                        fields[key.strip().lower()] = value.strip()
                suites = fields.get("suites", "").split()
                if "deb" in fields.get("types", "").split() and suite in suites:
                    return fields["uris"].split()[0]
        else:
            for line in text.splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
                    uri = parts[1] if not parts[1].startswith("[") else parts[2]
                    return uri
    raise EngineError(f"no Debian mirror for suite {suite!r} in the host's apt sources ({', '.join(map(str, files))})")


class ImageBuilder:
    """Builds missing images for a catalog, reporting each step through ``progress``."""

    def __init__(self, catalog: ImageCatalog, state_dir: Path, base_source: str, progress: Progress) -> None:
        self.catalog = catalog
        self.state_dir = state_dir
        self.base_source = base_source
        self.progress = progress
        try:
            self.client = docker.from_env(timeout=600)
            self.client.ping()
        except docker.errors.DockerException as exc:
            raise DockerUnavailable(f"the Docker engine does not answer: {exc}") from exc

    def exists(self, tag: str) -> bool:
        try:
            self.client.images.get(tag)
            return True
        except docker.errors.ImageNotFound:
            return False

    def build_all(self, languages: list[str] | None = None, force: bool = False) -> dict[str, str]:
        """Ensure the base and each language image exist; returns language -> tag."""
        base = self.ensure_base(force=force)
        built = {}
        for name in languages or sorted(self.catalog.languages):
            built[name] = self.ensure_language(name, base, force=force)
        for tag in [base, *built.values()]:
            self._prune_older(tag)
        return built

    def ensure_base(self, force: bool = False) -> str:
        tag = self.catalog.base_tag()
        if self.exists(tag) and not force:
            self.progress(f"base image {tag} is up to date")
            return tag
        config = tomllib.loads((self.catalog.base_dir / "base.toml").read_text())
        if self.base_source in ("auto", "registry") and self._pull(config["registry_image"], tag):
            return tag
        if self.base_source == "registry":
            raise EngineError(f"could not pull {config['registry_image']} and base_source=registry")
        self._debootstrap(config, tag)
        return tag

    def ensure_language(self, name: str, base: str, force: bool = False) -> str:
        tag = self.catalog.image_tag(name)
        if self.exists(tag) and not force:
            self.progress(f"{name}: image {tag} is up to date")
            return tag
        spec = self.catalog.language(name)
        self.progress(f"{name}: building {tag} from {base}")
        with tempfile.TemporaryDirectory(prefix="sandbox-build-") as ctx:
            shutil.copytree(spec.folder, ctx, dirs_exist_ok=True)
            shutil.copytree(self.catalog.images_dir / RUNNER_DIR, ctx, dirs_exist_ok=True)
            self._download_wheels(spec.folder / WHEELS_FILE, Path(ctx) / "wheels")
            stream = self.client.api.build(
                path=ctx,
                tag=tag,
                buildargs={"BASE": base},
                network_mode="host",
                rm=True,
                forcerm=True,
                decode=True,
                labels={"io.sandbox.image": name},
            )
            for event in stream:
                if "error" in event:
                    raise EngineError(f"{name}: image build failed: {event['error'].strip()}")
                line = (event.get("stream") or "").strip()
                if line.startswith("Step "):
                    self.progress(f"{name}: {line}")
        self.client.images.get(tag).tag(f"{self.catalog.prefix}-{name}", "latest")
        self.progress(f"{name}: built {tag}")
        return tag

    # ------------------------------------------------------------------ private
    def _download_wheels(self, wheels_file: Path, target: Path) -> None:
        """Pure-Python wheels pinned in ``wheels.txt``, fetched on the host for the image."""
        if not wheels_file.exists():
            return
        pins = [line.strip() for line in wheels_file.read_text().splitlines() if line.strip() and line[0] != "#"]
        self.progress(f"downloading wheels on the host: {', '.join(pins)}")
        target.mkdir()
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
        cmd += ["--only-binary=:all:", "--python-version", "3.11", "-d", str(target), *pins]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise EngineError(f"could not download wheels {pins}: {done.stderr.strip()[-300:]}")

    def _prune_older(self, current: str) -> None:
        """Remove earlier content-hash tags of the same repository (unused ones only)."""
        repo = current.partition(":")[0]
        for image in self.client.images.list(name=repo):
            for tag in image.tags:
                if tag.startswith(f"{repo}:") and tag not in (current, f"{repo}:latest"):
                    try:
                        self.client.images.remove(tag)
                        self.progress(f"removed outdated image {tag}")
                    except docker.errors.APIError:
                        pass  # still used by a container; a later build removes it

    def _pull(self, image: str, tag: str) -> bool:
        self.progress(f"base: trying the registry for {image}")
        try:
            pulled = self.client.images.pull(image)
        except docker.errors.APIError as exc:
            self.progress(f"base: registry unavailable ({str(exc.explanation or exc)[:80]}); using debootstrap")
            return False
        repo, _, version = tag.partition(":")
        pulled.tag(repo, version)
        return True

    def _debootstrap(self, config: dict, tag: str) -> None:
        if shutil.which("debootstrap") is None:
            raise EngineError("debootstrap is not installed: apt-get install debootstrap (as root)")
        suite = config["suite"]
        mirror = host_debian_mirror(suite)
        work = self.state_dir / "build"
        work.mkdir(parents=True, exist_ok=True)
        rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=work))
        tarball = rootfs.with_suffix(".tar")
        try:
            self.progress(f"base: debootstrap {suite} ({config['variant']}) from the host's mirror (about a minute)")
            cmd = [
                "debootstrap",
                f"--variant={config['variant']}",
                f"--include={','.join(config.get('include', []))}",
                suite,
                str(rootfs),
                mirror,
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise EngineError(f"debootstrap failed ({done.returncode}): {done.stderr.strip()[-500:]}")
            self.progress("base: packing the root filesystem")
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
            self.progress(f"base: docker import as {tag}")
            repo, _, version = tag.partition(":")
            self.client.api.import_image_from_file(str(tarball), repository=repo, tag=version)
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
            tarball.unlink(missing_ok=True)
