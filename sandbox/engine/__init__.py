"""Running programs in containers. Import from here, not from the submodules."""

from sandbox.engine.base import Backend, BackendSession, Lease
from sandbox.engine.containers import DockerBackend
from sandbox.engine.docker import remove_owned_containers
from sandbox.engine.doctor import Check, run_checks
from sandbox.engine.fake import FakeBackend, FakeSession
from sandbox.engine.hardening import is_gvisor
from sandbox.engine.imagebuild import ImageBuilder, ImageStatus, image_statuses, missing_images
from sandbox.engine.images import ImageCatalog, LanguageSpec
from sandbox.engine.metered import MeteredBackend
from sandbox.engine.ondemand import ImageBuilds, ImageState, image_builds, language_facts
from sandbox.engine.sizing import Bounds, language_bounds
from sandbox.engine.spec import (
    ArtifactRules,
    CollectedArtifact,
    OutputCallback,
    PoolReport,
    Profile,
    RunFile,
    RunOutcome,
    RunSpec,
    TestInput,
    deliver,
)
from sandbox.engine.wrappers import BreakerBackend

__all__ = [
    "ArtifactRules",
    "Backend",
    "BackendSession",
    "Bounds",
    "BreakerBackend",
    "Check",
    "CollectedArtifact",
    "DockerBackend",
    "FakeBackend",
    "FakeSession",
    "ImageBuilder",
    "ImageBuilds",
    "ImageCatalog",
    "ImageState",
    "ImageStatus",
    "LanguageSpec",
    "Lease",
    "MeteredBackend",
    "OutputCallback",
    "PoolReport",
    "Profile",
    "RunFile",
    "RunOutcome",
    "RunSpec",
    "TestInput",
    "deliver",
    "image_builds",
    "image_statuses",
    "is_gvisor",
    "language_bounds",
    "language_facts",
    "missing_images",
    "remove_owned_containers",
    "run_checks",
]
