"""The strict tier's in-container guards: what reaches past validation is still stopped inside.

Each case is a strict program that reaches a capability through an allowed library or
the object graph. The loaders (`numpy.load(..., allow_pickle=True)` of a crafted .npy,
`numpy.lib.format.read_array`, `pandas.read_pickle`) must be stopped twice: by
validation under `strict`, and with validation off (a copy of `strict` with
`enforce: false`, so the program still runs in restricted mode) by the runner's guards
and audit hook (images/runner/sandbox_runner/restricted.py and capabilities.py). The
other cases are for the second line alone. Every payload would print PWNED if it ran.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

from sandbox.config import PROJECT_ROOT
from sandbox.errors import ValidationRejected
from sandbox.models import ExecutionRequest, FileInput, Status

pytestmark = pytest.mark.anyio

#: A protocol-0 pickle whose loading calls os.system (find_class("os", "system")).
PICKLE = b"cos\nsystem\n(S'echo PWNED'\ntR."


def npy(payload: bytes) -> bytes:
    """A version 1.0 .npy of an object array: numpy unpickles the data when allow_pickle is true."""
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + payload


def file(path: str, data: bytes) -> FileInput:
    return FileInput(path=path, content=base64.b64encode(data).decode(), encoding="base64")


LOADERS = {
    "numpy_load_allow_pickle": (
        "import numpy as np\nprint(np.load('payload.npy', allow_pickle=True))\n",
        [file("payload.npy", npy(PICKLE))],
        "pickle.find_class is not allowed by the strict policy",
    ),
    "numpy_read_array_allow_pickle": (
        "import numpy\nwith open('payload.npy', 'rb') as f:\n"
        "    print(numpy.lib.format.read_array(f, allow_pickle=True))\n",
        [file("payload.npy", npy(PICKLE))],
        "pickle.find_class is not allowed by the strict policy",
    ),
    "pandas_read_pickle": (
        "import pandas as pd\nprint(pd.read_pickle('payload.pkl'))\n",
        [file("payload.pkl", PICKLE)],
        "pickle.find_class is not allowed by the strict policy",
    ),
}

#: A string annotation is evaluated by typing.get_type_hints with eval(), outside RestrictedPython.
ANNOTATION_ESCAPE = """
import typing
import numpy, pandas
def f(x: "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0](['echo', 'PWNED']) and int"):
    pass
typing.get_type_hints(f)
"""
SECOND_LINE = {
    **LOADERS,
    "module_walk_to_os": (
        "import pandas\npandas.io.common.os.system('echo PWNED')\n",
        [],
        "module 'os' is not allowed by the strict policy",
    ),
    "from_import_of_sys": ("from typing import sys\nprint(sys.modules)\n", [], "module 'sys' is not allowed"),
    "format_field_walk": (
        "print('{0.__class__.__base__.__subclasses__}'.format(1))\n",
        [],
        "attribute '__class__' is not allowed by the strict policy",
    ),
    "attrgetter_dunder": (
        "import operator\nprint(operator.attrgetter('__class__')(1))\n",
        [],
        "attribute '__class__' is not allowed by the strict policy",
    ),
    "generator_frame": (
        "g = (x for x in [1])\nprint(getattr(g, 'gi_frame'))\n",
        [],
        "attribute 'gi_frame' is not allowed by the strict policy",
    ),
    "open_outside_workspace": ("print(open('/etc/passwd').read())\n", [], "outside the workspace"),
    "annotation_eval_to_popen": (ANNOTATION_ESCAPE, [], "subprocess.Popen is not allowed by the strict policy"),
    "url_reader": (
        "import pandas\npandas.read_csv('http://192.0.2.1/data.csv')\n",
        [],
        "import of 'urllib.request' is not allowed by the strict policy",
    ),
}


@pytest.fixture
def unenforced_policies(tmp_path: Path) -> Path:
    """The shipped policies plus `strict-off`: strict's RestrictedPython run, nothing denied at validation."""
    directory = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", directory)
    (directory / "strict-off.yaml").write_text(
        "extends: strict\nname: strict-off\nversion: 1\nstrictness: 0\n"
        "description: strict's run-time guards with validation reporting only (tests)\nenforce: false\n"
    )
    return directory


@pytest.mark.parametrize("case", sorted(LOADERS))
async def test_loaders_are_denied_at_validation(run_code, case: str) -> None:
    code, files, _ = LOADERS[case]
    with pytest.raises(ValidationRejected):
        await run_code(code, files=files, policy="strict")


@pytest.mark.parametrize("case", sorted(SECOND_LINE))
async def test_the_container_stops_them_with_validation_off(
    settings, service_factory, unenforced_policies: Path, case: str
) -> None:
    code, files, expected = SECOND_LINE[case]
    svc = service_factory(settings.model_copy(update={"policies_dir": unenforced_policies}))
    async with svc:
        result = await svc.execute(
            ExecutionRequest(code=code, files=files, policy="strict-off", limits={"wall_time_s": 30})
        )
    assert "PWNED" not in result.stdout
    assert result.status is Status.RUNTIME_ERROR, (result.status, result.stderr[-600:])
    assert expected in result.stderr, result.stderr[-600:]
