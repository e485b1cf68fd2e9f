"""Running programs in containers. Import from here, not from the submodules."""

from sandbox.engine.base import Backend, OutputCallback, RunFile, RunOutcome, RunSpec
from sandbox.engine.docker import DockerBackend
from sandbox.engine.fake import FakeBackend
from sandbox.engine.images import ImageCatalog, LanguageSpec

__all__ = [
    "Backend",
    "DockerBackend",
    "FakeBackend",
    "ImageCatalog",
    "LanguageSpec",
    "OutputCallback",
    "RunFile",
    "RunOutcome",
    "RunSpec",
]
