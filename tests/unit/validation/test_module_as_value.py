"""A module handed on as a value (review of issue 11): ``[os][0].system`` validated clean because the
rules follow a module through imports, aliases and attribute chains but not through a container, a
call, a lambda or a class attribute. Such uses are denied; attribute access on a module is not."""

from __future__ import annotations

import pytest

from sandbox.config import Settings
from sandbox.validation import PolicySet, SourceFile, validate_files

POLICIES = PolicySet(Settings().policies_dir, "standard")

HANDED_ON = {
    "list": "import os\n[os][0].system('id')",
    "tuple-unpack": "import os\n(o,) = (os,)\no.fork()",
    "submodule-in-list": "import logging.handlers\n[logging.handlers][0].socket.socket()",
    "call-argument": "import os\ndef f(o):\n    o.system('id')\nf(os)",
    "keyword-argument": "import shutil\ndef f(*, m):\n    m.os.system('id')\nf(m=shutil)",
    "default-argument": "import os\ndef f(o=os):\n    o.system('id')",
    "lambda": "import os\n(lambda: os)().system('id')",
    "class-attribute": "import os\nclass A:\n    o = os\nA.o.system('id')",
    "dict-value": "import uuid\n{'m': uuid}['m']",
    "aliased-module": "import pandas as pd\n[pd][0].compat._optional.import_optional_dependency('subprocess')",
    "walrus": "import os\nif (o := os):\n    o.kill(1, 9)",
    "return": "import os\ndef get():\n    return os\nget().system('id')",
}
ORDINARY = {
    "attributes": "import numpy as np\nprint(np.array([1, 2]).sum(), np.__version__, np.pi)",
    "submodule-attribute": "import os.path\nprint(os.path.join('a', 'b'))",
    "from-import-as-value": "from math import sqrt\nprint(list(map(sqrt, [4.0, 9.0])))",
    "function-as-value": "import json, functools\ndump = functools.partial(json.dumps, indent=2)\nprint(dump([1]))",
    "annotation": "import numpy as np\ndef f(x: np.ndarray) -> np.ndarray:\n    return x",
    "del": "import json\ndel json",
}


@pytest.mark.parametrize("policy", ["standard", "strict"])
@pytest.mark.parametrize("code", HANDED_ON.values(), ids=HANDED_ON.keys())
def test_a_module_handed_on_as_a_value_is_denied(code: str, policy: str) -> None:
    verdict = validate_files([SourceFile("main.py", code)], "python", POLICIES.get(policy))
    assert not verdict.allowed
    if policy == "standard":
        assert "module.as_value" in [f.rule_id for f in verdict.denials], verdict.findings


@pytest.mark.parametrize("code", ORDINARY.values(), ids=ORDINARY.keys())
def test_modules_used_through_their_attributes_stay_allowed(code: str) -> None:
    verdict = validate_files([SourceFile("main.py", code)], "python", POLICIES.get("standard"))
    assert verdict.allowed, verdict.findings


def test_permissive_reports_it_as_a_warning() -> None:
    verdict = validate_files([SourceFile("main.py", HANDED_ON["list"])], "python", POLICIES.get("permissive"))
    assert verdict.allowed
    assert [f.action for f in verdict.findings if f.rule_id == "module.as_value"] == ["warn"]
