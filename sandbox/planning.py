"""The stateless half of admission: a request turned into a ``RunSpec`` under a policy.

Which policy a caller may use, which limits a run gets (defaults filled in,
maxima enforced), how big the code, files and stdin may be, and how files lie in
the workdir. Every door and every kind of work (one-shot runs, sessions and
their cells, file uploads) is checked by the same functions here, called from
the admit stage of ``service.Execution`` (and from session opening).
"""

from __future__ import annotations

import re

from sandbox.config import Settings
from sandbox.engine import (
    ArtifactRules,
    Bounds,
    ImageCatalog,
    LanguageSpec,
    Profile,
    RunFile,
    RunSpec,
    TestInput,
    is_gvisor,
    language_bounds,
)
from sandbox.errors import PayloadTooLarge, RequestRejected, ValidationRejected
from sandbox.limits import resolve_limits
from sandbox.models import EffectiveLimits, ExecutionRequest, FileInput, Finding, Limits, SessionRequest
from sandbox.validation import Policy, PolicySet, SourceFile

#: Limits fixed when a container is created: a session's cells cannot change them.
CONTAINER_LIMITS = ("memory_mb", "processes", "workdir_mb")


class Planner:
    """See the module docstring."""

    def __init__(self, settings: Settings, catalog: ImageCatalog, policies: PolicySet) -> None:
        self.settings = settings
        self.catalog = catalog
        self.policies = policies

    def choose_policy(self, requested: str | None, ceiling: str | None = None) -> Policy:
        """The request's policy; with ``ceiling`` (a key's tier), never a looser one than it."""
        policy = self.policies.get(requested or ceiling)
        if ceiling is not None:
            limit = self.policies.get(ceiling)
            if policy.strictness < limit.strictness:
                raise RequestRejected(
                    f"policy {policy.name!r} is looser than this key's tier {limit.name!r}; "
                    f"ask for {limit.name!r} or a stricter one"
                )
        return policy

    def limits(self, asked: Limits | None, policy: Policy) -> EffectiveLimits:
        return resolve_limits(asked, self.settings, policy.limits.defaults, policy.limits.maxima)

    def pool_bounds(self) -> dict[str, Bounds]:
        """The languages that get a warm pool at start, with its bounds (``sizing.language_bounds``); an
        unknown language in ``pool_overrides`` is a ``ValueError`` naming the setting."""
        try:
            return language_bounds(self.settings, lambda name: self.catalog.language(name).name)
        except RequestRejected as exc:
            raise ValueError(f"SANDBOX_POOL_OVERRIDES or SANDBOX_POOL_LANGUAGES: {exc.message}") from None

    def default_profile(self, language: str) -> Profile:
        """The warm-pool key of a request for ``language`` with default limits and policy."""
        spec = self.catalog.language(language)
        limits = self.limits(Limits(), self.policies.get(None))
        return (
            self.catalog.image_tag(language),
            self.container_memory(spec, limits)[0],
            limits.processes,
            limits.workdir_mb,
            self.settings.cpus,
            spec.compiled,
            self.preload(spec),
        )

    def preload(self, language: LanguageSpec) -> tuple[str, ...]:
        """The language's preload, if the server starts preloads and the language can use one.

        A compiled language gets none: its compiler runs first (and clears the container after
        it), and a runtime waiting meanwhile would only take the compiler's memory.
        """
        if not self.settings.preload or language.compiled or language.mode != "exec":
            return ()
        return language.preload

    def container_memory(self, language: LanguageSpec, limits: EffectiveLimits) -> tuple[int, bool]:
        """The container's memory when created, and whether the run's is set after the compile.

        A compiled language's container starts with the compile's limit; the host then sets the
        run's (one engine call, ~25 ms), plus, in tests mode, the size of the workdir copy the
        runner keeps between cases. gVisor's runsc cannot change a running container's memory:
        there the compile and the run share the larger of the two limits.
        """
        if not language.compiled:
            return limits.memory_mb, False
        if is_gvisor(self.settings.runtime):
            return max(limits.memory_mb, limits.compile_memory_mb), False
        return limits.compile_memory_mb, True

    def plan(self, request: ExecutionRequest, policy: Policy) -> RunSpec:
        """A one-shot run: the code as the language's main file, extra files, stdin, argv."""
        language = self.catalog.language(request.language)
        check_language(language, policy)
        check_source(language, request.code)
        limits = self.limits(request.limits, policy)
        stdin = request.stdin.encode()
        files = [RunFile(language.main_file, request.code.encode())]
        files.extend(RunFile(extra.path, extra.data()) for extra in request.files)
        check_file_layout([f.path for f in files], language.main_file)
        tests = self.tests(request, language, limits)
        tests_size = sum(
            len(t.stdin) + len(t.expected_stdout or b"") + sum(len(a.encode()) for a in t.args) for t in tests or ()
        )
        self.check_size(
            sum(len(f.data) for f in files) + len(stdin) + sum(len(a.encode()) for a in request.args) + tests_size
        )
        check_fits(files, limits.workdir_mb)
        restricted = language.mode == "python" and policy.python.restricted_python
        container_memory, set_run_memory = self.container_memory(language, limits)
        return RunSpec(
            compile_argv=language.compile_argv,
            compile_env=dict(language.compile_env),
            container_memory_mb=container_memory,
            set_run_memory=set_run_memory,
            tests=tests,
            head_bytes=self.settings.tests_head_bytes,
            image=self.catalog.image_tag(language.name),
            mode="restricted" if restricted else language.mode,
            allowed_modules=tuple(policy.python.modules.allow or ()) if restricted else (),
            validated_imports=language.mode == "python" and policy.enforce,
            argv=(*language.argv, *request.args),
            files=tuple(files),
            limits=limits,
            stdin=stdin,
            env={**dict(language.env), **request.env},
            nofile=self.settings.nofile,
            cpus=self.settings.cpus,
            preload=self.preload(language),
            artifacts=self.artifact_rules(request.outputs) if tests is None else None,
        )

    def artifact_rules(self, outputs: list[str]) -> ArtifactRules:
        """What a run sends back: ``out/`` and the request's globs, within the server's caps."""
        settings = self.settings
        return ArtifactRules(tuple(outputs), settings.artifacts_max_files, settings.artifacts_max_bytes)

    def tests(
        self, request: ExecutionRequest, language: LanguageSpec, limits: EffectiveLimits
    ) -> tuple[TestInput, ...] | None:
        """Tests mode's cases, within the server's count and the request's time budget."""
        compile_s = limits.compile_wall_time_s if language.compiled else 0.0
        runs = len(request.tests) if request.tests is not None else 1
        if request.tests is not None:
            if not request.tests:
                raise RequestRejected("tests is empty: give at least one case, or leave tests out")
            if len(request.tests) > self.settings.max_tests:
                raise RequestRejected(
                    f"{len(request.tests)} test cases, over the server's {self.settings.max_tests}",
                    limit="tests",
                    maximum=self.settings.max_tests,
                )
            if request.stdin or request.args:
                raise RequestRejected("with tests, stdin and args belong to each case, not to the request")
        budget = compile_s + runs * limits.wall_time_s
        if budget > self.settings.max_request_wall_time_s:
            compiled = f" + compile_wall_time_s {limits.compile_wall_time_s:g} s" if compile_s else ""
            raise RequestRejected(
                f"{runs} run(s) x wall_time_s {limits.wall_time_s:g} s{compiled} = {budget:g} s, over the server's "
                f"{self.settings.max_request_wall_time_s:g} s for one request: lower limits.wall_time_s or send "
                "fewer cases",
                limit="max_request_wall_time_s",
                maximum=self.settings.max_request_wall_time_s,
            )
        if request.tests is None:
            return None
        return tuple(
            TestInput(
                stdin=case.stdin.encode(),
                args=tuple(case.args),
                expected_stdout=None if case.expected_stdout is None else case.expected_stdout.encode(),
            )
            for case in request.tests
        )

    def plan_session(self, request: SessionRequest, policy: Policy) -> RunSpec:
        """A session's container: python only, never RestrictedPython, its initial files."""
        language = self.catalog.language(request.language)
        check_language(language, policy)
        if language.mode != "python":
            raise RequestRejected(f"sessions are available for python only, not {language.name!r}")
        if policy.python.restricted_python:
            raise RequestRejected(f"policy {policy.name!r} runs code under RestrictedPython: no sessions")
        files = [RunFile(extra.path, extra.data()) for extra in request.files]
        check_file_layout([f.path for f in files], language.main_file)
        self.check_size(sum(len(f.data) for f in files))
        limits = self.limits(request.limits, policy)
        check_fits(files, limits.workdir_mb)
        return RunSpec(
            image=self.catalog.image_tag(language.name),
            mode="session",
            validated_imports=policy.enforce,
            argv=("python3",),
            files=tuple(files),
            limits=limits,
            env={**dict(language.env), **request.env},
            nofile=self.settings.nofile,
            cpus=self.settings.cpus,
        )

    def plan_cell(self, request: ExecutionRequest, policy: Policy, session: RunSpec, defaults: Limits) -> RunSpec:
        """A cell of an open session: its per-call limits over the session's defaults.

        Container-level limits (memory, processes, workdir) were fixed when the
        session opened; asking for others is refused rather than silently ignored.
        """
        asked = request.limits.model_dump(exclude_none=True)
        changed = sorted(
            name for name in CONTAINER_LIMITS if name in asked and asked[name] != getattr(session.limits, name)
        )
        if changed:
            raise RequestRejected(
                f"{', '.join(changed)} of a session is fixed when it opens ({session.limits.memory_mb} MiB, "
                f"{session.limits.processes} processes, {session.limits.workdir_mb} MiB workdir); "
                "open another session to change it"
            )
        merged = Limits(**{**defaults.model_dump(exclude_none=True), **asked})
        limits = self.limits(merged, policy).model_copy(
            update={name: getattr(session.limits, name) for name in CONTAINER_LIMITS}
        )
        code = request.code.encode()
        self.check_size(len(code))
        language = self.catalog.language(request.language)
        return RunSpec(
            image=session.image,
            mode="cell",
            argv=(),
            files=(RunFile(language.main_file, code),),
            limits=limits,
            nofile=session.nofile,
            cpus=session.cpus,
            artifacts=self.artifact_rules(request.outputs),
        )

    def plan_upload(self, language: str, path: str, data: bytes) -> SourceFile:
        """A file written into an open session, as the validator must see it."""
        check_path(path)
        self.check_size(len(data))
        spec = self.catalog.language(language)
        return source_file(path, data, spec)

    def check_size(self, size: int) -> None:
        if size > self.settings.request_bytes:
            raise PayloadTooLarge(
                f"code, files and stdin total {size} bytes, over the server cap of {self.settings.request_bytes} "
                "(SANDBOX_REQUEST_BYTES)"
            )


#: tmpfs gives every file at least one page; and some room stays free for the program itself.
PAGE = 4096
WORKDIR_HEADROOM = 64 << 10


def check_fits(files: list[RunFile], workdir_mb: int) -> None:
    """The files must fit the workdir they are written to: a request, not our failure, if they do not."""
    need = sum(max(1, -(-len(f.data) // PAGE)) * PAGE for f in files) + WORKDIR_HEADROOM
    room = workdir_mb << 20
    if need > room:
        raise PayloadTooLarge(
            f"the {len(files)} file(s) take {need >> 10} KiB in the workdir, over its {room >> 10} KiB "
            f"(limits.workdir_mb={workdir_mb}): fewer or smaller files, or a larger workdir_mb"
        )


def check_language(language: LanguageSpec, policy: Policy) -> None:
    """The tier must allow the language: its rules may not cover another (strict validates Python only)."""
    allowed = policy.languages
    if allowed is None or language.name in allowed:
        return
    message = (
        f"language {language.name!r} is not allowed by policy {policy.name!r} "
        f"(it allows: {', '.join(allowed) or 'none'})"
    )
    finding = Finding(rule_id="language.not_allowed", message=message, source="policy", file=language.main_file)
    raise ValidationRejected(message, findings=[finding], policy=policy.name)


def check_source(language: LanguageSpec, code: str) -> None:
    """The language's own rules for its main file (``source_checks`` in its image.toml), e.g. Java's class name."""
    for pattern, message in language.source_checks:
        match = re.search(pattern, code, re.MULTILINE)
        if match:
            groups = [match.group(0), *(g or "" for g in match.groups())]
            raise RequestRejected(message.format(*groups), language=language.name)


def check_path(path: str) -> None:
    """A workdir path as a request's file path must be (the runner checks it again, without following links)."""
    try:
        FileInput(path=path)
    except ValueError as exc:
        raise RequestRejected(f"invalid file path {path!r}: relative, without '.', '..' or empty parts") from exc


def source_files(request: ExecutionRequest, language: LanguageSpec) -> list[SourceFile]:
    """The request's files as the validator sees them: the main file first."""
    files = [SourceFile(language.main_file, request.code)]
    files.extend(source_file(extra.path, extra.data(), language) for extra in request.files)
    return files


def source_file(path: str, data: bytes, language: LanguageSpec) -> SourceFile:
    """One extra file for the validator: a program file if its suffix is the language's."""
    text = data.decode("utf-8", errors="surrogateescape")
    return SourceFile(path, text, program=path.endswith(language.source_suffixes))


def check_file_layout(paths: list[str], main_file: str) -> None:
    """Reject a path given twice, or used both as a file and as a directory."""
    seen: set[str] = set()
    directories: set[str] = set()
    for path in paths:
        parents = {"/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)}
        if path in seen:
            raise RequestRejected(f"file {path!r} given twice (the code is {main_file})")
        if path in directories or parents & seen:
            clash = path if path in directories else sorted(parents & seen)[0]
            raise RequestRejected(f"{clash!r} is used both as a file and as a directory")
        seen.add(path)
        directories |= parents
