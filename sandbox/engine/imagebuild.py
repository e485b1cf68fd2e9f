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

import fcntl
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sandbox.engine.docker import DockerAdmin, Progress
from sandbox.engine.images import RUNNER_DIR, VERSION_LABEL, ImageCatalog
from sandbox.errors import EngineError

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
        self.docker = DockerAdmin(timeout=600)

    def close(self) -> None:
        self.docker.close()

    def build_all(self, languages: list[str] | None = None, force: bool = False) -> dict[str, str]:
        """Ensure the base and each language image exist; returns language -> tag.

        One build at a time on this machine (a lock file under the state directory): a server
        building on first use and `sandbox images build` would otherwise both build the base.
        """
        lock_path = self.state_dir / "build" / "images.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("w") as lock:
            if not _try_lock(lock):
                self.progress("waiting for another image build on this machine to finish")
                fcntl.flock(lock, fcntl.LOCK_EX)
            base = self.ensure_base(force=force)
            built = {}
            for name in languages or sorted(self.catalog.languages):
                built[name] = self.ensure_language(name, base, force=force)
            for tag in [base, *built.values()]:
                self.docker.prune_older(tag, self.progress)
        return built

    def ensure_base(self, force: bool = False) -> str:
        tag = self.catalog.base_tag()
        if self.docker.exists(tag) and not force:
            self.progress(f"base image {tag} is up to date")
            return tag
        config = tomllib.loads((self.catalog.base_dir / "base.toml").read_text())
        if self.base_source in ("auto", "registry"):
            self.progress(f"base: trying the registry for {config['registry_image']}")
            if self.docker.pull_as(config["registry_image"], tag, self.progress):
                return tag
        if self.base_source == "registry":
            raise EngineError(f"could not pull {config['registry_image']} and base_source=registry")
        self._debootstrap(config, tag)
        return tag

    def ensure_language(self, name: str, base: str, force: bool = False) -> str:
        tag = self.catalog.image_tag(name)
        labels = self.docker.image_labels(tag)
        if labels is not None and not force:
            self.progress(f"{name}: image {tag} is up to date")
            if VERSION_LABEL not in labels:  # built before versions were recorded
                self.record_version(name, tag)
            return tag
        spec = self.catalog.language(name)
        self.progress(f"{name}: building {tag} from {base}")
        with tempfile.TemporaryDirectory(prefix="sandbox-build-") as ctx:
            # Byte code and tool caches the host left behind are not part of the image (nor of its hash).
            skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
            shutil.copytree(spec.folder, ctx, dirs_exist_ok=True, ignore=skip)
            shutil.copytree(self.catalog.images_dir / RUNNER_DIR, ctx, dirs_exist_ok=True, ignore=skip)
            self._download_wheels(spec.folder / WHEELS_FILE, Path(ctx) / "wheels")
            self.docker.build(Path(ctx), tag, base, name, self.progress)
        version = self.record_version(name, tag)
        self.docker.tag(tag, f"{self.catalog.prefix}-{name}", "latest")
        self.progress(f"{name}: built {tag} ({version})")
        return tag

    def record_version(self, name: str, tag: str) -> str:
        """Run the language's ``version_command`` in the image and keep its first line as a label on it.

        On the image, so it belongs to that exact tag and outlives this process: servers read it
        with one inspect instead of starting a container.
        """
        spec = self.catalog.language(name)
        if not spec.version_command:
            return ""
        output = self.docker.probe(tag, list(spec.version_command))
        version = next((line.strip() for line in output.splitlines() if line.strip()), "")
        self.docker.relabel(tag, {VERSION_LABEL: version})
        self.progress(f"{name}: version {version!r} recorded on {tag}")
        return version

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

    def _debootstrap(self, config: dict[str, Any], tag: str) -> None:
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
            self.docker.import_tarball(tarball, tag)
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
            tarball.unlink(missing_ok=True)


def _try_lock(lock: IO[str]) -> bool:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@dataclass(frozen=True)
class ImageStatus:
    """One language's image as `sandbox images list` shows it."""

    language: str
    tag: str
    size_bytes: int | None  # None: not built
    description: str
    version: str | None = None  # the image's recorded version; None: not built or not recorded


def image_statuses(catalog: ImageCatalog) -> list[ImageStatus]:
    """Each language, its expected tag and whether (and how big, which version) it is built."""
    statuses = []
    with DockerAdmin(timeout=30) as admin:
        for name, spec in sorted(catalog.languages.items()):
            tag = catalog.image_tag(name)
            size = admin.image_size(tag)
            labels = admin.image_labels(tag) if size is not None else None
            version = (labels or {}).get(VERSION_LABEL)
            statuses.append(ImageStatus(name, tag, size, spec.description, version))
    return statuses


def missing_images(catalog: ImageCatalog, languages: list[str]) -> list[str]:
    """Those of ``languages`` (canonical names) whose image is not built."""
    with DockerAdmin(timeout=30) as admin:
        return [name for name in languages if not admin.exists(catalog.image_tag(catalog.language(name).name))]
