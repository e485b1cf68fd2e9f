"""Languages benchmark: warm hello-world latency per language, and compile + run for the compiled ones.

Run from the project root once every image is built (``sandbox images build --all``):

    .venv/bin/python bench/languages_bench.py [--rounds N] [--languages python,javascript,...]

Every language has a warm pool of one container at the default profile (a compiled language's
starts with the compile's memory). Each round visits the languages in a new random order, waits
until the language's pool is full again (every sample is a pool hit), and runs its hello world
through the product's composition (``build_service``). Figures per language: the caller's
end-to-end time (p50, p90), and, from the result, the compile's wall time and the run's. The
ratio JavaScript / Python is of the end-to-end p50s of the same interleaved run.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import time
import uuid
from typing import Any

from sandbox.config import Settings
from sandbox.engine import DockerBackend
from sandbox.engine.wrappers import Wrapper
from sandbox.models import ExecutionRequest, Status
from sandbox.service import ExecutionService, build_service

HELLO = {
    "python": 'print("hello world")\n',
    "bash": "echo hello world\n",
    "javascript": 'console.log("hello world");\n',
    "typescript": 'const greeting: string = "hello world";\nconsole.log(greeting);\n',
    "c": '#include <stdio.h>\nint main(void) { puts("hello world"); return 0; }\n',
    "cpp": '#include <iostream>\nint main() { std::cout << "hello world" << std::endl; }\n',
    "go": 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello world") }\n',
    "java": 'public class Main {\n  public static void main(String[] a) { System.out.println("hello world"); }\n}\n',
    "rust": 'fn main() { println!("hello world"); }\n',
}


def compose(languages: list[str]) -> ExecutionService:
    settings = Settings(pool_size=1, pool_languages=languages, max_concurrency=4)
    return build_service(settings, backend=DockerBackend(settings, owner=f"langbench-{uuid.uuid4().hex[:6]}"))


def backend_of(service: ExecutionService) -> DockerBackend:
    backend = service.backend
    while isinstance(backend, Wrapper):
        backend = backend.inner
    assert isinstance(backend, DockerBackend)
    return backend


async def wait_full(service: ExecutionService, language: str) -> None:
    pool = backend_of(service).pool(service.planner.default_profile(language))
    assert pool is not None, f"no warm pool for {language}"
    deadline = time.monotonic() + 120
    while pool.stats.ready < pool.target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {language} pool did not fill in 120 s")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the refill's engine work settles before the sample


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench(languages: list[str], rounds: int) -> dict[str, dict[str, list[float]]]:
    samples: dict[str, dict[str, list[float]]] = {lang: {"e2e": [], "compile": [], "run": []} for lang in languages}
    service = compose(languages)
    await service.start()
    try:
        for _ in range(rounds):
            order = list(languages)
            random.shuffle(order)
            for language in order:
                await wait_full(service, language)
                request = ExecutionRequest(language=language, code=HELLO[language])
                started = time.perf_counter()
                result = await service.execute(request)
                elapsed = (time.perf_counter() - started) * 1000
                if result.status is not Status.OK or result.stdout.strip() != "hello world":
                    raise RuntimeError(f"{language}: {result.status.value} {result.message} {result.stderr[:300]}")
                samples[language]["e2e"].append(elapsed)
                samples[language]["run"].append(result.wall_ms)
                if result.compile is not None:
                    samples[language]["compile"].append(result.compile.wall_ms)
        for language in languages:  # every sample must have been a pool hit
            pool = backend_of(service).pool(service.planner.default_profile(language))
            assert pool is not None and pool.stats.misses == 0, f"{language}: {pool and pool.stats}"
    finally:
        await service.aclose()
    return samples


def report(samples: dict[str, dict[str, Any]], rounds: int) -> None:
    print(f"# {rounds} rounds, interleaved; {platform.node()}, {platform.machine()}")
    print("| language | end-to-end p50 ms | p90 ms | compile wall p50 ms | run wall p50 ms |")
    print("|---|---:|---:|---:|---:|")
    for language, figures in samples.items():
        compile_p50 = f"{statistics.median(figures['compile']):.0f}" if figures["compile"] else "-"
        print(
            f"| {language} | {statistics.median(figures['e2e']):.1f} | {percentile(figures['e2e'], 0.9):.1f} "
            f"| {compile_p50} | {statistics.median(figures['run']):.0f} |"
        )
    if "python" in samples and "javascript" in samples:
        ratio = statistics.median(samples["javascript"]["e2e"]) / statistics.median(samples["python"]["e2e"])
        print(f"\njavascript / python end-to-end p50: {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--languages", default=",".join(HELLO))
    options = parser.parse_args()
    languages = [name.strip() for name in options.languages.split(",") if name.strip()]
    report(asyncio.run(bench(languages, options.rounds)), options.rounds)


if __name__ == "__main__":
    main()
