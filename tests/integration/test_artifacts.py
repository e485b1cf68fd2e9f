"""Artifacts through the real engine: files under out/, ``outputs`` globs, figures, caps, links, sessions.

The bytes come back through the runner protocol; what is checked here is what the
caller gets: names, sizes, media types, digests that match the bytes, and every
file over a cap listed as skipped with its reason.
"""

from __future__ import annotations

import hashlib

import pytest

from sandbox.config import Settings
from sandbox.models import ExecutionRequest, Limits, Status

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

PNG = b"\x89PNG\r\n\x1a\n"


def request(code: str, **fields: object) -> ExecutionRequest:
    return ExecutionRequest(code=code, policy="permissive", **fields)  # type: ignore[arg-type]


def by_name(execution) -> dict[str, tuple[object, bytes | None]]:  # type: ignore[no-untyped-def]
    assert execution.result is not None
    return {a.name: (a, d) for a, d in zip(execution.result.artifacts, execution.artifact_contents, strict=True)}


async def test_a_csv_under_out_and_a_glob_match_come_back_with_matching_digests(service) -> None:
    code = (
        "import os\nos.makedirs('out/deep', exist_ok=True)\n"
        "open('out/table.csv', 'w').write('a,b\\n1,2\\n')\n"
        "open('out/deep/raw.bin', 'wb').write(bytes(range(256)))\n"
        "os.makedirs('results', exist_ok=True)\nopen('results/r.json', 'w').write('{}')\n"
        "open('notes.txt', 'w').write('not asked for')\n"
    )
    execution = await service.run(request(code, outputs=["results/*.json"]))
    assert execution.result.status is Status.OK, execution.result
    found = by_name(execution)
    assert sorted(found) == ["out/deep/raw.bin", "out/table.csv", "results/r.json"]
    entry, data = found["out/table.csv"]
    assert data == b"a,b\n1,2\n" and entry.size == 8 and entry.media_type == "text/csv"
    assert entry.sha256 == hashlib.sha256(data).hexdigest() and entry.skipped is None
    entry, data = found["out/deep/raw.bin"]
    assert data == bytes(range(256)) and entry.media_type == "application/octet-stream"
    assert found["results/r.json"][0].media_type == "application/json"


async def test_matplotlib_figures_left_open_or_shown_come_back_as_png(service) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "plt.plot([1, 2, 3], [4, 1, 9]); plt.title('shown')\nplt.show()\n"
        "fig = plt.figure(); plt.bar(['a', 'b'], [3, 5])\n"  # left open: saved at exit
        "import os; print(sorted(os.listdir('.')), os.environ['MPLCONFIGDIR'])\n"
    )
    execution = await service.run(request(code))
    result = execution.result
    assert result.status is Status.OK, result
    found = by_name(execution)
    assert sorted(found) == ["out/figure-1.png", "out/figure-2.png"]
    for entry, data in found.values():
        assert data is not None and data.startswith(PNG) and entry.media_type == "image/png"
        assert entry.sha256 == hashlib.sha256(data).hexdigest() and 2_000 < entry.size < 200_000
    # matplotlib's config and caches stay out of the workdir (only main.py there while the program ran)
    assert result.stdout == "['main.py', 'out'] /tmp/matplotlib\n"
    assert "Matplotlib" not in result.stderr and result.stderr == "", result.stderr


async def test_the_font_cache_comes_with_the_image(service) -> None:
    """matplotlib finds its font list in /tmp (copied from the image) and builds nothing."""
    code = (
        "import os, time\nt = time.monotonic()\nimport matplotlib.font_manager\n"
        "print(sorted(os.listdir('/tmp/matplotlib')))\n"
    )
    execution = await service.run(request(code))
    assert execution.result.status is Status.OK, execution.result
    assert "fontlist-v" in execution.result.stdout and execution.result.stderr == ""


async def test_caps_list_files_over_them_as_skipped(service_factory, settings: Settings) -> None:
    capped = settings.model_copy(update={"artifacts_max_files": 2, "artifacts_max_bytes": 3000})
    async with service_factory(capped) as service:
        code = (
            "import os\nos.makedirs('out')\n"
            "for i in range(4): open(f'out/f{i}.txt', 'w').write('x' * 1000)\n"
            "open('out/big.dat', 'wb').write(b'y' * 5000)\n"
        )
        execution = await service.run(request(code))
    found = by_name(execution)
    assert sorted(found) == ["out/big.dat", "out/f0.txt", "out/f1.txt", "out/f2.txt", "out/f3.txt"]
    kept = [name for name, (entry, _) in found.items() if entry.skipped is None]
    assert kept == ["out/f0.txt", "out/f1.txt"]
    assert "3000 bytes" in found["out/big.dat"][0].skipped and found["out/big.dat"][1] is None
    assert "2 files" in found["out/f2.txt"][0].skipped and found["out/f2.txt"][0].size == 1000


async def test_links_and_special_files_are_listed_as_skipped_never_followed(service) -> None:
    code = (
        "import os\nos.makedirs('out')\nos.symlink('/etc/passwd', 'out/passwd')\n"
        "os.symlink('/etc', 'out/etc')\nos.mkfifo('out/pipe')\nopen('secret.txt', 'w').write('s')\n"
        "os.symlink('../secret.txt', 'out/up')\n"
    )
    execution = await service.run(request(code))
    found = by_name(execution)
    assert sorted(found) == ["out/etc", "out/passwd", "out/pipe", "out/up"]
    assert found["out/passwd"][0].skipped == "a symbolic link" and found["out/passwd"][1] is None
    assert found["out/etc"][0].skipped == "a symbolic link"
    assert found["out/pipe"][0].skipped == "not a regular file"


async def test_a_timed_out_program_still_returns_what_it_wrote(service) -> None:
    code = "import os, time\nos.makedirs('out')\nopen('out/partial.txt', 'w').write('so far')\ntime.sleep(30)\n"
    execution = await service.run(request(code, limits=Limits(wall_time_s=1)))
    assert execution.result.status is Status.TIMEOUT
    assert by_name(execution)["out/partial.txt"][1] == b"so far"


async def test_tests_mode_returns_no_artifacts(service) -> None:
    from sandbox.models import TestCase

    code = "import os\nos.makedirs('out', exist_ok=True)\nopen('out/x', 'w').write('1')\nprint(1)\n"
    execution = await service.run(request(code, tests=[TestCase(expected_stdout="1")]))
    assert execution.result.status is Status.OK and execution.result.artifacts == []
