"""Settings: every default and server maximum, declared once (env prefix ``SANDBOX_``).

Loaded once at an entry point (CLI command, server start) and passed down; no
other module reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class PoolBounds(BaseModel):
    """One language's warm pool bounds (``pool_overrides``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    minimum: int = Field(0, ge=0, alias="min", description="Warm containers kept even when idle.")
    maximum: int = Field(ge=0, alias="max", description="Most warm containers the pool grows to.")

    @model_validator(mode="after")
    def _ordered(self) -> PoolBounds:
        if self.minimum > self.maximum:
            raise ValueError(f"min={self.minimum} exceeds max={self.maximum}")
        return self


def _default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "sandbox"


class Settings(BaseSettings):
    """Service settings. A request may lower a limit, never raise it past its ``max_``."""

    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="forbid")

    state_dir: Path = Field(default_factory=_default_state_dir, description="Logs, database, build cache.")
    images_dir: Path = Field(PROJECT_ROOT / "images", description="Runtime image definitions.")
    policies_dir: Path = Field(PROJECT_ROOT / "policies", description="Validation policy files, one per tier.")
    default_policy: str = Field("standard", description="Policy for requests that name none.")
    validation_workers: int = Field(
        2, ge=0, description="Validator processes (killable, memory-capped); 0 validates in-process (CLI)."
    )
    validation_timeout_s: float = Field(5.0, gt=0, description="Longest validation; past it the code is rejected.")
    validation_free_cpu_s: float = Field(
        0.1, ge=0, description="Validation CPU time included in a request's rate token; more is charged extra."
    )
    validation_cpu_s_per_token: float = Field(
        0.1, gt=0, description="Validation CPU time past the free part that costs one more token of the key's rate."
    )
    validation_cache_mb: int = Field(16, ge=1, description="Memory the verdict cache may hold, MiB.")
    validation_max_findings: int = Field(
        100, ge=1, description="Findings a verdict keeps and a response shows; a last finding counts the rest."
    )
    image_prefix: str = Field("sandbox", description="Runtime images are tagged <prefix>-<language>:<hash>.")
    base_source: str = Field(
        "auto", pattern="^(auto|registry|debootstrap)$", description="Where runtime images start from."
    )

    # Limits: defaults and server maxima (DESIGN.md).
    wall_time_s: float = Field(10.0, gt=0, description="Default wall-clock limit, seconds.")
    max_wall_time_s: float = Field(60.0, gt=0, description="Server maximum wall-clock limit, seconds.")
    cpu_time_s: int = Field(5, gt=0, description="Default CPU-time limit, seconds.")
    max_cpu_time_s: int = Field(30, gt=0, description="Server maximum CPU-time limit, seconds.")
    memory_mb: int = Field(256, gt=0, description="Default memory limit, MiB.")
    max_memory_mb: int = Field(2048, gt=0, description="Server maximum memory limit, MiB.")
    processes: int = Field(64, gt=0, description="Default process/thread limit.")
    max_processes: int = Field(256, gt=0, description="Server maximum process/thread limit.")
    workdir_mb: int = Field(64, gt=0, description="Default workdir and /tmp tmpfs size, MiB.")
    max_workdir_mb: int = Field(1024, gt=0, description="Server maximum tmpfs size, MiB.")
    stdout_bytes: int = Field(1 << 20, gt=0, description="Default stdout byte cap.")
    max_stdout_bytes: int = Field(16 << 20, gt=0, description="Server maximum stdout byte cap.")
    stderr_bytes: int = Field(1 << 20, gt=0, description="Default stderr byte cap.")
    max_stderr_bytes: int = Field(16 << 20, gt=0, description="Server maximum stderr byte cap.")
    compile_wall_time_s: float = Field(30.0, gt=0, description="Default wall-clock limit of a compile, seconds.")
    max_compile_wall_time_s: float = Field(120.0, gt=0, description="Server maximum wall-clock limit of a compile.")
    compile_cpu_time_s: int = Field(20, gt=0, description="Default CPU-time limit of a compile, seconds.")
    max_compile_cpu_time_s: int = Field(60, gt=0, description="Server maximum CPU-time limit of a compile.")
    compile_memory_mb: int = Field(512, gt=0, description="Default memory limit of a compile, MiB.")
    max_compile_memory_mb: int = Field(2048, gt=0, description="Server maximum memory limit of a compile, MiB.")
    max_tests: int = Field(100, ge=1, description="Test cases one request may carry (tests mode).")
    tests_head_bytes: int = Field(
        8 << 10, ge=0, le=64 << 10, description="Bytes of each test case's stdout and stderr returned in its result."
    )
    max_request_wall_time_s: float = Field(
        600.0,
        gt=0,
        description="Longest one request may take in all: its compile plus wall_time_s for each run (tests mode).",
    )
    artifacts_max_files: int = Field(
        32, ge=1, le=1000, description="Artifacts one run (or session cell) returns; more are listed as skipped."
    )
    artifacts_max_bytes: int = Field(
        16 << 20, ge=1, le=32 << 20, description="Bytes of artifacts one run returns; past it, files are skipped."
    )
    artifacts_retention_h: float = Field(
        24.0, gt=0, description="Hours an execution's artifacts are kept under state_dir/artifacts."
    )
    artifacts_inline_max_bytes: int = Field(
        256 << 10, ge=0, description="Largest artifact returned inline as base64 (`?inline=true`)."
    )
    request_bytes: int = Field(2 << 20, gt=0, description="Cap on code + files + stdin of one request.")
    max_request_bytes: int = Field(32 << 20, gt=0, description="Hard ceiling for request_bytes.")
    nofile: int = Field(256, gt=0, description="Open-file limit of the program (RLIMIT_NOFILE).")
    cpus: float = Field(1.0, gt=0, description="CPU quota of one container, in CPUs.")

    # Service (REST API).
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite under state_dir.")
    host: str = Field("127.0.0.1", description="Address `sandbox serve` listens on.")
    port: int = Field(8080, ge=1, le=65535, description="Port `sandbox serve` listens on.")
    keep_output_bytes: int = Field(64 << 10, ge=0, description="Output kept per stream in execution records.")
    keep_finished_mb: int = Field(
        64, ge=0, description="Memory finished executions may hold for GET and late event streams; older: the store."
    )
    max_json_depth: int = Field(32, ge=2, description="Deepest JSON nesting a request body may have.")
    default_key_rate_per_min: int = Field(120, ge=1, description="Rate limit of keys created without one.")
    default_key_concurrency: int = Field(8, ge=1, description="Concurrency limit of keys created without one.")
    header_timeout_s: float = Field(
        5.0, gt=0, description="Longest wait for a request's whole head, from connect or the last response."
    )
    body_timeout_s: float = Field(30.0, gt=0, description="Longest read of one request's body; then 408.")
    keep_alive_s: int = Field(5, ge=1, description="An idle keep-alive connection is closed after this long.")
    max_connections_per_client: int = Field(
        64, ge=0, description="Connections one client address may hold open (0: no cap; raise it behind a proxy)."
    )
    max_connections: int = Field(
        1000,
        ge=1,
        description="Open connections per process; past it a lingering close, else the longest head wait, is cut.",
    )
    http_protocol: Literal["httptools", "h11"] = Field(
        "httptools",
        description="HTTP/1.1 parser of the servers: httptools (C, on uvloop; the faster) or h11 (pure Python, on "
        "asyncio's loop: for a platform without their wheels). Both carry the same connection limits.",
    )

    # Sessions.
    session_idle_ttl_s: float = Field(600.0, gt=0, description="Default idle time after which a session closes.")
    max_session_idle_ttl_s: float = Field(3600.0, gt=0, description="Longest idle TTL a session may ask for.")
    session_max_lifetime_s: float = Field(3600.0, gt=0, description="A session closes this long after it opened.")
    max_sessions_per_key: int = Field(4, ge=1, description="Open sessions one API key may hold.")
    session_cpu_budget_s: int = Field(
        600, ge=1, description="CPU seconds a session may use over its life (all its processes); then it ends."
    )
    session_freeze: bool = Field(
        True, description="Stop a session's processes between calls (turn off only to measure what it costs)."
    )
    session_interrupt_grace_s: float = Field(
        2.0,
        ge=0,
        le=30,
        description="A cell past its wall limit gets KeyboardInterrupt and this long to stop; then it is killed "
        "with its session (0: killed at once).",
    )

    # Secrets: the key-encryption key (KEK) that wraps every secret's data key (sandbox.secrets).
    secrets_kek: SecretStr | None = Field(
        None,
        description="KEKs as comma-separated `id:base64key` entries (32 random bytes each), primary first; "
        "from a secret manager. Takes precedence over the key file.",
    )
    secrets_kek_file: Path | None = Field(
        None,
        description="File holding the KEKs in the same format, mode 0600/0400 (e.g. delivered by the "
        "orchestrator); default: state_dir/secrets.kek, created on first use (development only).",
    )

    # Engine.
    owner: str | None = Field(
        None, max_length=63, description="Owner label of this process's containers; random per process if unset."
    )
    user: str = Field("65534:65534", description="uid:gid the container and program run as; never root.")
    runtime: str | None = Field(None, description="OCI runtime (e.g. runsc for gVisor); engine default if unset.")
    seccomp_profile: Path | None = Field(None, description="Custom seccomp JSON; Docker's default if unset.")
    pool_size: int = Field(
        4,
        ge=0,
        description="Minimum of each language's warm pool (default limits profile): kept even when idle. "
        "0 turns every warm pool off, on-demand ones included (every run creates its container).",
    )
    pool_max: int = Field(
        12, ge=0, description="Most warm containers one pool grows to under load (never below its minimum)."
    )
    pool_overrides: dict[str, PoolBounds] = Field(
        default_factory=dict,
        description='Per-language pool bounds, e.g. {"javascript": {"min": 1, "max": 4}}; a language named here '
        "gets a pool even if it is not in pool_languages (min 0: it fills once runs come).",
    )
    pool_capacity: int = Field(
        0,
        ge=0,
        description="Warm containers all pools together may keep, shared fairly (each its minimum first); "
        "0: max_concurrency.",
    )
    pool_shrink_after_s: float = Field(
        60.0,
        gt=0,
        description="A pool that had spare containers for this long without a miss gives back half of them; "
        "an on-demand pool idle this long is dropped.",
    )
    pool_on_demand_uses: int = Field(
        3,
        ge=0,
        description="Runs within pool_shrink_after_s after which limits that no pool serves get an on-demand "
        "pool (minimum 0); 0: never.",
    )
    pool_miss_wait_s: float = Field(
        0.0,
        ge=0,
        le=30,
        description="A run that finds its pool empty waits up to this long for a container already being "
        "created for the pool rather than create its own; 0: it creates its own at once (measured: the same "
        "throughput and latency when the host is saturated, README).",
    )
    pool_languages: list[str] = Field(["python"], description="Languages whose pools are kept warm.")
    pool_max_idle_s: float = Field(300.0, gt=0, description="A warm container older than this is replaced.")
    preload: bool = Field(
        True,
        description="Start a language's declared preload (image.toml) in its containers before the request: "
        "its runtime is up when the program comes (JavaScript: ~250 ms less per run).",
    )
    refill_concurrency: int = Field(2, ge=1, description="Containers created in parallel to refill pools.")
    refill_holdoff_s: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Runs go first: a refill creation waits until no run has started for this long (at most "
        "4x as long in all); 0: refills never wait.",
    )
    max_concurrency: int = Field(16, ge=1, description="Executions running at once; more wait in a queue.")
    queue_timeout_s: float = Field(30.0, ge=0, description="Longest wait for an execution slot.")
    start_timeout_s: float = Field(10.0, gt=0, description="Longest wait for a container's runner to greet.")
    kill_grace_s: float = Field(1.0, ge=0, description="Host deadline = wall limit + this; then SIGKILL.")
    janitor_interval_s: float = Field(60.0, gt=0, description="How often leftover containers are reaped.")

    # The opt-in result cache (README "Result cache"): requests with `cache: true`, per API key.
    result_cache_ttl_s: float = Field(
        3600.0, ge=0, description="How long a cached result is served; 0 turns the cache off (such requests run)."
    )
    result_cache_entries: int = Field(
        1024, ge=0, description="Results this process keeps in memory at most (without Redis), oldest use out first."
    )
    result_cache_mb: int = Field(64, ge=0, description="Memory this process's cached results may take, MiB.")
    result_cache_entry_kb: int = Field(
        1024, ge=1, description="Largest result kept, KiB (its output mostly); a larger one is not cached."
    )

    # Scale-out (README "Scaling out"): with Redis, `sandbox serve` replicas dispatch runs to `sandbox worker`s.
    redis_url: str | None = Field(
        None,
        description="Redis URL (redis://host:port/db): rate limits and concurrency shared by every replica, and "
        "runs dispatched to `sandbox worker`s on Redis Streams. Unset: this process runs everything itself.",
    )
    worker_name: str | None = Field(
        None, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="This worker's name in the cluster (unique; default: host name and pid).",
    )  # fmt: skip
    worker_heartbeat_s: float = Field(1.0, gt=0, description="How often a worker says it is alive.")
    worker_dead_after_s: float = Field(
        5.0, gt=0, description="A worker silent this long is dead: its running executions end, its sessions close."
    )
    worker_host: str = Field("127.0.0.1", description="Where `sandbox worker` serves /healthz, /readyz and /metrics.")
    worker_port: int = Field(
        8081, ge=0, le=65535, description="Port of the worker's /healthz, /readyz, /metrics (0: none)."
    )
    redis_timeout_s: float = Field(2.0, gt=0, description="Longest wait for one Redis command (not a blocking read).")

    # Resilience: the circuit breaker around the engine, retries of safe engine calls, shutdown.
    breaker_failures: int = Field(5, ge=1, description="Engine failures in a row that open the circuit breaker.")
    breaker_open_s: float = Field(1.0, gt=0, description="How long an open breaker refuses before it probes.")
    breaker_probes: int = Field(1, ge=1, description="Requests let through at once while the breaker probes.")
    engine_timeout_s: float = Field(
        30.0, gt=0, description="Longest wait for one engine call (create, start, remove, list, ping)."
    )
    retry_attempts: int = Field(3, ge=1, description="Tries of an engine call that is safe to repeat.")
    retry_base_s: float = Field(0.05, ge=0, description="First retry backoff (exponential, full jitter).")
    retry_max_s: float = Field(1.0, ge=0, description="Longest retry backoff.")
    shutdown_grace_s: float = Field(30.0, ge=0, description="On SIGTERM, how long running executions may finish.")

    # Observability.
    log_format: str = Field(
        "auto", pattern="^(auto|json|text)$", description="Log lines: JSON, text, or auto (text on a terminal)."
    )
    log_level: str = Field("info", pattern="^(debug|info|warning|error)$", description="Lowest level logged.")
    metrics: bool = Field(True, description="Collect Prometheus metrics and serve /metrics (false: neither).")
    metrics_access: str = Field(
        "loopback",
        pattern="^(loopback|open|key)$",
        description="Who may scrape /metrics: loopback clients without a key, anyone, or key holders only.",
    )
    tracing: bool = Field(False, description="OpenTelemetry traces: a span per stage (OTLP when an endpoint is set).")
    otlp_endpoint: str | None = Field(None, description="OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318.")

    @property
    def database(self) -> str:
        """The database URL in force."""
        return self.database_url or f"sqlite:///{self.state_dir / 'sandbox.db'}"

    @property
    def pool_total(self) -> int:
        """The cap on warm containers of all pools together (``pool_capacity``, or ``max_concurrency``)."""
        return self.pool_capacity or self.max_concurrency

    @property
    def max_body_bytes(self) -> int:
        """Request body cap: the payload cap, grown for base64 and JSON escaping, plus room for the rest."""
        return self.request_bytes * 2 + (64 << 10)

    @model_validator(mode="after")
    def _defaults_within_maxima(self) -> Settings:
        for name in (
            "wall_time_s",
            "cpu_time_s",
            "memory_mb",
            "processes",
            "workdir_mb",
            "stdout_bytes",
            "stderr_bytes",
            "compile_wall_time_s",
            "compile_cpu_time_s",
            "compile_memory_mb",
            "request_bytes",
        ):
            if getattr(self, name) > getattr(self, f"max_{name}"):
                raise ValueError(
                    f"SANDBOX_{name.upper()}={getattr(self, name)} exceeds "
                    f"SANDBOX_MAX_{name.upper()}={getattr(self, f'max_{name}')}"
                )
        if self.max_request_wall_time_s < self.max_wall_time_s:
            raise ValueError(
                f"SANDBOX_MAX_REQUEST_WALL_TIME_S={self.max_request_wall_time_s:g} is below "
                f"SANDBOX_MAX_WALL_TIME_S={self.max_wall_time_s:g}: a run allowed alone would not fit a request"
            )
        if any(_is_root(part) for part in self.user.split(":")):
            raise ValueError(f"SANDBOX_USER={self.user!r}: sandboxes never run as root (uid or gid 0)")
        return self


def _is_root(name: str) -> bool:
    """True for 'root' and every integer spelling of 0 ('0', '00', '+0'), as Docker parses them."""
    name = name.strip()
    if name == "root":
        return True
    try:
        return int(name) == 0
    except ValueError:
        return False
