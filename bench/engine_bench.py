"""Engine benchmark: `docker run` vs. the warm pool vs. the cold path, and throughput vs. raw Docker.

Run from the project root:  .venv/bin/python bench/engine_bench.py [--runs N] [--quick]

Latency: rounds interleave the four paths in rotating order so machine noise hits
all alike. Before every sample the run is quiesced (the warm pool is full and no
other container of this run exists), so each warm sample is a true warm hit and no
sample pays for the previous one's background removal.
Throughput: each concurrency level runs rounds of up to 20 timed executions per
path in ABBA order (raw, engine, engine, raw, ...) against drift; a round runs
`concurrency` ramp-up executions, the timed ones and `concurrency` drain executions
on `concurrency` workers and counts only the middle completions (steady state: the
pool's head start and the drain are excluded). CPU per execution is machine-wide
busy time over that window (all processes, other tenants included) per execution.
The python image is pinned under a run-private tag so that concurrent rebuilds or
prunes of `sandbox-python:<hash>` cannot pull it away mid-run. Every container
carries this run's owner label and is removed in `finally`, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.types import LogConfig, Ulimit
from rich.console import Console
from rich.table import Table

from sandbox.config import Settings
from sandbox.engine import DockerBackend, ImageCatalog
from sandbox.engine.hardening import LABEL_MANAGED, LABEL_OWNER, container_options
from sandbox.engine.pool import WarmPool
from sandbox.engine.wrappers import Wrapper
from sandbox.models import ExecutionRequest, Status
from sandbox.service import ExecutionService, build_service

OWNER = f"bench-{uuid.uuid4().hex[:8]}"
ARGV = ["python3", "-c", "print('hello world')"]
REQUEST = ExecutionRequest(code="print('hello world')")
LIFETIME_S = 600.0  # expiry label: a janitor may reap anything we leak after this
PATHS = ("docker run", "docker run (hardened)", "engine warm", "engine cold")
NOTES = {
    "docker run": "json-file log, SDK streams it",
    "docker run (hardened)": "container_options(); log none",
    "engine cold": "pool_size=0; removal async",
}
LEVELS = (1, 4, 8)
ROUND = 20  # timed executions per throughput round
Profile = tuple[str, int, int, int, float]
Row = list[str]


class PinnedCatalog(ImageCatalog):
    """The catalog, with python answered by a run-private tag of the same image."""

    def __init__(self, settings: Settings, pinned: str) -> None:
        super().__init__(settings.images_dir, settings.image_prefix)
        self.pinned = pinned

    def image_tag(self, language: str) -> str:
        return self.pinned if self.language(language).name == "python" else super().image_tag(language)


def busy_ms() -> float:
    """Machine-wide busy CPU time so far (every core and process), ms."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) * 1000 / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: int) -> float:
    return values[0] if len(values) == 1 else statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def hardened(profile: Profile, settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """Our exact container options, with the trivial program as command and no stdin."""
    opts = container_options(profile, settings, owner=OWNER, kind="bench", lifetime_s=LIFETIME_S)
    host = dict(opts.host)
    host["ulimits"] = [Ulimit(**u) for u in host["ulimits"]]
    host["log_config"] = LogConfig(**host["log_config"])
    return {**opts.create, "command": ARGV, "stdin_open": False}, host


def docker_run(client: docker.DockerClient, profile: Profile, settings: Settings, harden: bool) -> None:
    """`docker run --rm` through the SDK: create, start, (logs), wait, remove."""
    if harden:  # log driver "none" as in our containers, so the SDK reads no output
        create, host = hardened(profile, settings)
        kwargs = {k: v for k, v in {**create, **host}.items() if k not in ("image", "command", "detach")}
    else:
        kwargs = {"network_mode": "none", "labels": hardened(profile, settings)[0]["labels"]}  # labels: for cleanup
    out = client.containers.run(profile[0], ARGV, remove=True, **kwargs)
    if not harden and out != b"hello world\n":
        raise RuntimeError(f"docker run printed {out!r}")


def raw_once(api: docker.APIClient, profile: Profile, settings: Settings) -> None:
    """One container per execution, the ceiling: create + start + wait + remove."""
    create, host = hardened(profile, settings)
    cid = api.create_container(**create, host_config=api.create_host_config(**host))["Id"]
    try:
        api.start(cid)
        code = api.wait(cid, timeout=60)["StatusCode"]
    finally:
        api.remove_container(cid, force=True)
    if code != 0:
        raise RuntimeError(f"raw container exited {code}")


async def drive(job: Callable[[], Awaitable[None]], concurrency: int, timed: int) -> tuple[int, float, float]:
    """Run `timed + 2 * concurrency` jobs on `concurrency` workers and count the middle `timed` completions.

    The first and last `concurrency` completions are the ramp-up and the drain; over the window
    between them as many jobs are in flight at its end as at its start. Returns (timed, seconds,
    machine-wide CPU ms per job over the window).
    """
    tickets = iter(range(timed + 2 * concurrency))
    done: list[tuple[float, float]] = []

    async def worker() -> None:
        for _ in tickets:
            await job()
            done.append((time.perf_counter(), busy_ms()))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    (t0, cpu0), (t1, cpu1) = done[concurrency - 1], done[concurrency + timed - 1]
    return timed, t1 - t0, (cpu1 - cpu0) / timed


@dataclass
class Results:
    e2e: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PATHS})
    wall: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PATHS})
    warm_hits: int = 0
    warm_misses: int = 0
    tput: dict[int, dict[str, list[float]]] = field(default_factory=dict)  # path -> [timed, seconds, cpu ms]
    tput_pool: dict[int, tuple[int, int]] = field(default_factory=dict)
    others_running: int = 0


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.client = docker.from_env(timeout=120, max_pool_size=16)
        self.base = Settings()
        self.image = ImageCatalog(self.base.images_dir, self.base.image_prefix).image_tag("python")
        self.image_id = self.client.images.get(self.image).id  # ImageNotFound: run `sandbox images build`
        self.catalog = PinnedCatalog(self.base, f"sandbox-bench:{OWNER}")
        self.raw_threads = ThreadPoolExecutor(max_workers=max(LEVELS), thread_name_prefix="raw")
        self.res = Results()
        # Composed up front: one snapshot of policies and config even if files change during the run.
        refill = {"refill_concurrency": args.refill} if args.refill else {}
        self.services = {
            "warm": self.compose(pool_size=args.pool),
            "cold": self.compose(pool_size=0),
            **{f"x{c}": self.compose(pool_size=c, max_concurrency=max(c, 16), **refill) for c in LEVELS},
        }

    def compose(self, **overrides: Any) -> ExecutionService:
        """The product's composition, with our owner label and the pinned image."""
        # Several backends in one process share its instance label, and a janitor removes the containers of
        # its instance that its own engine does not hold: no periodic sweep during the run (and cold starts first).
        settings = self.base.model_copy(update={"janitor_interval_s": 3600.0, **overrides})
        service = build_service(settings, backend=DockerBackend(settings, owner=OWNER))
        service.catalog = service.planner.catalog = self.catalog
        return service

    @staticmethod
    async def start(service: ExecutionService) -> WarmPool[Any] | None:
        await service.start()
        backend = service.backend
        while isinstance(backend, Wrapper):  # the breaker and metering wrap the Docker backend
            backend = backend.inner
        assert isinstance(backend, DockerBackend)
        return backend.pool(service.planner.default_profile("python"))

    async def quiesce(self, pool: WarmPool[Any] | None) -> None:
        """Wait until the pool is full and no other container of this run exists."""
        if pool is not None and not await pool.wait_ready(timeout=120):
            raise RuntimeError(f"warm pool did not refill: {pool.stats}")
        want, deadline = (pool.target if pool else 0), time.monotonic() + 120
        while time.monotonic() < deadline:
            listed = await asyncio.to_thread(self.client.api.containers, all=True)
            mine = [(c.get("Labels") or {}).get(LABEL_OWNER) == OWNER for c in listed]
            others = sum(c["State"] == "running" and not m for c, m in zip(listed, mine, strict=True))
            self.res.others_running, ours = max(self.res.others_running, others), sum(mine)
            if ours <= want:
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("containers of this run were not removed within 120 s")

    async def latency(self) -> None:
        warm, cold = self.services["warm"], self.services["cold"]
        await self.start(cold)  # its start-up sweep would take the warm pool's containers for orphans
        pool = await self.start(warm)
        assert pool is not None
        profile: Profile = warm.planner.default_profile("python")
        settings = warm.settings

        async def sample(path: str) -> None:
            await self.quiesce(pool)
            started = time.perf_counter()
            if path.startswith("docker run"):
                await asyncio.to_thread(docker_run, self.client, profile, settings, "hardened" in path)
            else:
                result = await (warm if path == "engine warm" else cold).execute(REQUEST)
                if result.status is not Status.OK or result.stdout != "hello world\n":
                    raise RuntimeError(f"{path}: {result.status} {result.stdout!r} {result.message}")
                self.res.wall[path].append(result.wall_ms)
            self.res.e2e[path].append((time.perf_counter() - started) * 1000)

        for path in PATHS:  # warm-up: connections, page cache; not recorded
            await sample(path)
        self.res = Results(others_running=self.res.others_running)
        before = pool.stats
        for i in range(self.args.runs):
            for path in PATHS[i % len(PATHS) :] + PATHS[: i % len(PATHS)]:
                await sample(path)
        self.res.warm_hits, self.res.warm_misses = pool.stats.hits - before.hits, pool.stats.misses - before.misses
        await self.quiesce(pool)
        await warm.aclose()
        await cold.aclose()

    async def throughput(self) -> None:
        loop = asyncio.get_running_loop()
        rounds = max(1, self.args.throughput // ROUND)
        per_round = max(1, self.args.throughput // rounds)
        order = [("raw", "engine"), ("engine", "raw")]
        for level in LEVELS:
            service = self.services[f"x{level}"]
            pool = await self.start(service)
            assert pool is not None
            profile: Profile = service.planner.default_profile("python")
            spent = {"engine": [0.0, 0.0, 0.0], "raw": [0.0, 0.0, 0.0]}
            hits = misses = 0

            async def engine_job(service: ExecutionService = service) -> None:
                result = await service.execute(REQUEST)
                if result.status is not Status.OK:
                    raise RuntimeError(f"engine: {result.status} {result.message}")

            async def raw_job(profile: Profile = profile, settings: Settings = service.settings) -> None:
                await loop.run_in_executor(self.raw_threads, raw_once, self.client.api, profile, settings)

            for path in (p for i in range(rounds) for p in order[i % 2]):  # ABBA against drift
                await self.quiesce(pool)
                before = pool.stats
                count, secs, cpu = await drive(engine_job if path == "engine" else raw_job, level, per_round)
                spent[path] = [spent[path][0] + count, spent[path][1] + secs, spent[path][2] + cpu / rounds]
                if path == "engine":
                    hits += pool.stats.hits - before.hits
                    misses += pool.stats.misses - before.misses
            await self.quiesce(pool)
            await service.aclose()
            self.res.tput[level], self.res.tput_pool[level] = spent, (hits, misses)

    async def run(self) -> Results:
        self.client.api.tag(self.image_id, *self.catalog.pinned.split(":"))
        try:
            await self.latency()
            await self.throughput()
            return self.res
        finally:
            for service in self.services.values():
                await service.aclose()
            self.raw_threads.shutdown(wait=True, cancel_futures=True)
            for c in self.client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={OWNER}"}):
                self.client.api.remove_container(c["Id"], force=True)
            self.client.api.remove_image(self.catalog.pinned, noprune=True)  # untag only


def tables(res: Results, args: argparse.Namespace) -> tuple[dict[str, tuple[Row, list[Row]]], bool]:
    """Section title -> (headers, rows); and whether every check passed."""
    lat: list[Row] = []
    for path in PATHS:
        e2e, wall = res.e2e[path], res.wall[path]
        note = NOTES.get(path, f"pool hits {res.warm_hits}/{len(e2e)}, misses {res.warm_misses}")
        if wall:
            note += f"; overhead p50 {pct(e2e, 50) - pct(wall, 50):.1f} ms"
        walls = (f"{pct(wall, 50):.0f}", f"{pct(wall, 95):.0f}") if wall else ("-", "-")
        lat.append([path, str(len(e2e)), f"{pct(e2e, 50):.1f}", f"{pct(e2e, 95):.1f}", *walls, note])
    tput: list[Row] = []
    ratios: dict[int, float] = {}
    for level, spent in res.tput.items():
        engine, raw = (spent[p][0] / spent[p][1] for p in ("engine", "raw"))
        ratios[level] = engine / raw
        hits, misses = res.tput_pool[level]
        cpu = (f"{spent[p][2]:.0f}" for p in ("engine", "raw"))
        tput.append([str(level), f"{engine:.2f}", f"{raw:.2f}", f"{engine / raw:.2f}", *cpu, f"{hits}/{misses}"])
    speedup = pct(res.e2e["docker run"], 50) / pct(res.e2e["engine warm"], 50)
    speedup_h = pct(res.e2e["docker run (hardened)"], 50) / pct(res.e2e["engine warm"], 50)
    checks = [
        ("docker run p50 / warm p50", speedup, ">= 10", speedup >= 10),
        ("docker run (hardened) p50 / warm p50", speedup_h, ">= 10", speedup_h >= 10),
        *((f"warm / raw throughput, concurrency {lv}", r, ">= 0.9", r >= 0.9) for lv, r in ratios.items()),
    ]
    timed = int(next(iter(res.tput.values()))["raw"][0]) if res.tput else 0
    every_hit = res.warm_hits == args.runs and res.warm_misses == 0
    checks.append(("every warm sample a pool hit", res.warm_hits / max(args.runs, 1), "1.00", every_hit))
    summary = [[name, f"{value:.2f}", target, "PASS" if ok else "FAIL"] for name, value, target, ok in checks]
    return {
        "Latency, ms: caller's end-to-end time; wall = the program's own wall_ms": (
            ["path", "n", "p50", "p95", "wall p50", "wall p95", "note"],
            lat,
        ),
        f"Throughput, executions/s ({timed} timed per path and level); CPU = machine-wide ms per execution": (
            ["concurrency", "engine", "raw", "engine/raw", "engine CPU", "raw CPU", "pool hits/misses"],
            tput,
        ),
        "Ratios": (["ratio", "value", "target", "verdict"], summary),
    }, every_hit


def markdown(sections: dict[str, tuple[Row, list[Row]]]) -> str:
    out = []
    for title, (headers, rows) in sections.items():
        out += [f"### {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        out += ["| " + " | ".join(row) + " |" for row in rows] + [""]
    return "\n".join(out)


def replace_section(existing: str, section: str) -> str:
    """RESULTS.md with our `## Engine benchmark` section replaced; other benches' sections are kept."""
    parts = [p for p in re.split(r"(?m)^(?=## )", existing) if p and not p.startswith("## Engine benchmark")]
    if not parts or parts[0].startswith("## "):
        parts.insert(0, "# Benchmark results\n\n")
    return parts[0] + section + "".join(parts[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="latency samples per path (default 50)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 10 samples, 12 timed executions")
    parser.add_argument("--throughput", type=int, default=80, help="timed executions per path and level")
    parser.add_argument("--pool", type=int, default=4, help="warm pool size for the latency phase")
    parser.add_argument("--refill", type=int, default=0, help="refill_concurrency (default: the product's)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.throughput = 10, 12
    console = Console() if sys.stdout.isatty() else Console(width=130)  # no wrapping in logs
    started, load = datetime.datetime.now(datetime.UTC), os.getloadavg()
    git = ["git", "-C", str(Path(__file__).parent), "describe", "--always", "--dirty"]
    code = subprocess.run(git, capture_output=True, text=True).stdout.strip()
    bench = Bench(args)
    machine = f"nproc {os.cpu_count()}, Docker {bench.client.version()['Version']}, kernel {platform.release()}"
    console.print(f"[bold]engine bench[/] owner={OWNER} image={bench.image} {machine} load={load}")
    res = asyncio.run(bench.run())
    sections, ok = tables(res, args)
    for title, (headers, rows) in sections.items():
        table = Table(*headers, title=title)
        for row in rows:
            table.add_row(*row, style="red" if "FAIL" in row else None)
        console.print(table)

    ps = ["docker", "ps", "-a", "--filter", f"label={LABEL_MANAGED}=1"]
    leftover = subprocess.run(ps, capture_output=True, text=True, check=True).stdout.rstrip()
    console.print(f"$ {shlex.join(ps)}\n{leftover}")
    ours = bench.client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={OWNER}"})
    assert not ours, f"containers of this run left behind: {[c['Id'][:12] for c in ours]}"
    minutes = (datetime.datetime.now(datetime.UTC) - started).total_seconds() / 60
    noise = f"up to {res.others_running} containers of other processes were running during the run"
    if res.others_running:
        noise += ": a shared, noisy 2-core machine, so compare the ratios, not absolute figures"
    header = [
        f"## Engine benchmark, {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `{shlex.join(['.venv/bin/python', 'bench/engine_bench.py', *sys.argv[1:]])}`",
        f"- machine: {machine}, load average at start {', '.join(f'{x:.2f}' for x in load)}",
        f"- image: `{bench.image}` ({bench.image_id[:19]}), every path; latency pool size {args.pool}",
        f"- code at start: `git describe --always --dirty` = `{code}`",
        f"- duration {minutes:.1f} min; noise: {noise}",
        "- method: see the docstring of `bench/engine_bench.py` (interleaved, quiesced, ABBA, steady state)",
        "",
    ]
    footer = f"After the run, `{shlex.join(ps)}` (none of this run's):\n\n```\n{leftover}\n```\n"
    out = Path(__file__).with_name("RESULTS.md")
    section = "\n".join(header) + "\n" + markdown(sections) + "\n" + footer + "\n"
    out.write_text(replace_section(out.read_text() if out.exists() else "", section))
    console.print(f"wrote {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
