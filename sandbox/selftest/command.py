"""``sandbox selftest``: load the cases, run them against the target, print the verdict, pick the exit code.

Exit codes: 0 every case held; 1 at least one did not (known gaps included: they
are holes, documented or not); 2 a usage mistake (an unknown row in ``--only``, a
corpus header that does not parse, ``--runtime`` with ``--url``); 3 the target could
not be tested at all (engine down, images missing, bad URL or key, a key whose tier
forbids ``permissive``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from sandbox.config import Settings
from sandbox.selftest import plan, report, runner, targets
from sandbox.selftest.cases import CORPUS
from sandbox.selftest.report import COULD_NOT_RUN, USAGE
from sandbox.selftest.targets import CouldNotRun


async def _run(
    cases: Sequence[plan.Case], url: str | None, key: str | None, settings: Settings, concurrency: int, err: Console
) -> runner.Report:
    with report.progress(len(cases), err) as on_done:
        if url is not None and key is not None:
            async with targets.rest(url, key) as remote:
                return await runner.run(remote, cases, concurrency=concurrency, on_done=on_done)
        async with targets.local(settings) as local:
            return await runner.run(local, cases, concurrency=concurrency, on_done=on_done)


def main(
    settings: Settings,
    *,
    url: str | None = None,
    key: str | None = None,
    only: Sequence[str] = (),
    corpus: Path | None = None,
    concurrency: int = runner.DEFAULT_CONCURRENCY,
    json_output: bool = False,
) -> int:
    """Run the selftest and print its report (stdout) and progress (stderr); returns the exit code.

    ``settings`` configure the local engine (its ``runtime`` included); with ``url`` and
    ``key`` the cases go to that deployment over REST instead.
    """
    err = Console(stderr=True, highlight=False)
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=200)  # a log or a pipe: no terminal to fit
    if (url is None) != (key is None):
        err.print("[red]selftest[/]: --url and --key go together")
        return USAGE
    # The local engine's runtime is known (its rows marked xfail-under-runsc are known gaps under gVisor);
    # a deployment's is not: over REST only plain xfail rows are.
    runtime = settings.runtime if url is None else None
    try:
        cases = plan.load(corpus or CORPUS, only, runtime=runtime)
    except (ValueError, OSError) as exc:
        err.print(f"[red]selftest[/]: {escape(str(exc))}")
        return USAGE
    try:
        result = asyncio.run(_run(cases, url, key, settings, concurrency, err))
    except CouldNotRun as exc:
        if json_output:
            out.file.write(json.dumps({"held": False, "error": str(exc)}, indent=2) + "\n")
        err.print(f"[red]selftest could not run[/]: {escape(str(exc))}")
        return COULD_NOT_RUN
    return report.print_report(result, json_output=json_output, out=out)
