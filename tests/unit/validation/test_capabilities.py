"""Capabilities denied through allowed modules (issue 11): the ``capabilities`` table of policies/standard.yaml.

Each class is a capability, not a spelling: every case reaches it another way
(import forms, aliases, from-imports, star imports, attribute chains through
allowed modules, keyword spellings). Each denial names the rule that must fire;
the benign neighbours of each class must stay clean.
"""

from __future__ import annotations

import pytest

from tests.unit.validation.util import STANDARD, STRICT, verdict, where


def denied_by(code: str, rule_id: str, policy=STANDARD) -> None:
    result = verdict(code, policy)
    rules = {f.rule_id for f in result.denials}
    assert not result.allowed and rule_id in rules, f"{code!r} -> {where(list(result.findings))}"


def clean(code: str, policy=STANDARD) -> None:
    result = verdict(code, policy)
    assert result.allowed and not result.denials, f"{code!r} -> {where(list(result.findings))}"


def cases(table: list[tuple[str, str]]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(("code", "rule_id"), table, ids=[f"{i}-{c[:40]}" for i, (c, _) in enumerate(table)])


# ------------------------------------------------------------------ 1. deserialisation
PICKLE_NPY = "import numpy as np\n"
DESERIALISE = [
    (PICKLE_NPY + "np.load('x.npy', allow_pickle=True)", "argument.denied"),
    (PICKLE_NPY + "np.load('x.npy', allow_pickle=1)", "argument.denied"),
    (PICKLE_NPY + "flag = True\nnp.load('x.npy', allow_pickle=flag)", "argument.denied"),
    (PICKLE_NPY + "np.load('x.npy', **{'allow_pickle': True})", "argument.denied"),
    (PICKLE_NPY + "np.load('x.npy', **{'allow_pickle': True})", "string.keyword"),
    (PICKLE_NPY + "kw = dict(allow_pickle=True)\nnp.load('x.npy', **kw)", "argument.denied"),
    (PICKLE_NPY + "kw = {'allow_' + 'pickle': True}\nnp.load('x.npy', **kw)", "argument.denied"),
    (PICKLE_NPY + "np.load('x.npy', **{k: True})", "argument.denied"),
    (PICKLE_NPY + "np.load('x.npy', None, True)", "argument.denied"),
    (PICKLE_NPY + "args = ['x.npy', None, True]\nnp.load(*args)", "argument.denied"),
    (PICKLE_NPY + "np.lib.npyio.load('x.npy', None, True)", "argument.denied"),
    (PICKLE_NPY + "np.lib.format.read_array(f, True)", "argument.denied"),
    (PICKLE_NPY + "np.lib.format.read_array(f, allow_pickle=True)", "argument.denied"),
    (PICKLE_NPY + "np.lib.npyio.NpzFile(f, False, True)", "argument.denied"),
    ("from numpy.lib.format import read_array as r\nr(f, True)", "argument.denied"),
    ("from numpy import load as L\nlist(map(L, ['x'], [None], [True]))", "argument.denied"),
    ("from numpy import *\nload('x.npy', None, True)", "argument.denied"),
    ("from numpy import *\nlist(map(load, ['x'], [None], [True]))", "argument.denied"),
    (PICKLE_NPY + "import functools\nfunctools.partial(np.load, allow_pickle=True)('x')", "argument.denied"),
    (PICKLE_NPY + "np.load.__wrapped__('x', None, True)", "argument.denied"),
    (PICKLE_NPY + "f = getattr(np, 'load')\nf('x', None, True)", "argument.denied"),
    ("import operator\nf = operator.attrgetter('load')", "attribute.detached"),
    (PICKLE_NPY + "r = np.core.multiarray._reconstruct", "name.qualified_denied"),
    ("import pandas as pd\npd.read_pickle('x')", "attribute.denied"),
    ("import pandas\npandas.io.pickle.read_pickle('x')", "import.denied"),
    ("from pandas.io.pickle import read_pickle", "import.denied"),
    ("from pandas import *\nread_pickle('x')", "attribute.denied"),
    ("import pandas.compat.pickle_compat as pc\npc.loads(b'')", "import.denied"),
    ("import pandas as pd\npd.compat.pickle_compat.load(f)", "attribute.denied"),
    ("import pandas as pd\npd.read_hdf('x.h5')", "attribute.denied"),
    ("import pandas as pd\nstore = pd.HDFStore('x.h5')", "attribute.denied"),
    ("import multiprocessing\na, b = multiprocessing.Pipe()\nb.recv()", "name.qualified_denied"),
    ("import multiprocessing.reduction", "import.denied"),
    ("import pickletools\npickletools.pickle.loads(b'')", "import.denied"),
    ("import copyreg\nr = copyreg._reconstructor", "name.qualified_denied"),
    ("import tracemalloc\ntracemalloc.Snapshot.load('x')", "name.qualified_denied"),
]


@cases(DESERIALISE)
def test_deserialisation_in_allowed_libraries(code: str, rule_id: str) -> None:
    denied_by(code, rule_id)


@pytest.mark.parametrize(
    "code",
    [
        PICKLE_NPY + "np.load('x.npy', allow_pickle=True)",
        PICKLE_NPY + "np.lib.format.read_array(f, True)",
        "import pandas as pd\npd.read_pickle('x')",
    ],
)
def test_deserialisation_is_denied_under_strict_too(code: str) -> None:
    assert not verdict(code, STRICT).allowed


def test_loaders_without_pickle_stay_allowed() -> None:
    clean(
        PICKLE_NPY + "a = np.load('x.npy')\nb = np.load('y.npz', allow_pickle=False)\n"
        "c = np.load('x.npy', mmap_mode='r')\nd = np.load('x.npy', None, False)\nnp.save('z.npy', a)\n"
        "m = np.lib.format.open_memmap('m.npy', mode='w+', dtype='f8', shape=(2,))\n"
        "import pandas as pd\ndf = pd.read_csv('local.csv')\ndf.to_pickle('x.pkl')\ndf.to_csv('out.csv')\n"
        "import json, plistlib, copy\nprint(json.loads('{}'), copy.deepcopy([1]))\n"
    )


# ------------------------------------------------------------ 2. names resolved at run time
RESOLVE_NAME = [
    ("import string\nstring.Formatter().get_field('0.x', [1], {})", "name.qualified_denied"),
    ("import string\nclass F(string.Formatter):\n    pass", "name.qualified_denied"),
    ("from string import Formatter", "name.qualified_denied"),
    ("f = formatter.get_field(name, args, kwargs)", "attribute.denied"),
    ("s = fmt.vformat(t, args, kwargs)", "attribute.denied"),
    ("import _string", "import.denied"),
    ("t = input()\nprint(t.format(obj))", "format.computed_template"),
    ("t = '{0.' + name + '}'\nt.format(obj)", "format.computed_template"),
    ("print(('{0.x' + '}').format(obj))", "format.computed_template"),
    ("print(str.format(input(), obj))", "format.computed_template"),
    ("f = input().format", "format.computed_template"),
    ("t = '{}'\nt = input()\nt.format(obj)", "format.computed_template"),
    ("def f(t):\n    return t.format_map(m)", "format.computed_template"),
    ("for t in templates:\n    t.format(obj)", "format.computed_template"),
    ("t = '{}'\nmatch x:\n    case t:\n        t.format(obj)", "format.computed_template"),
    ("class S(str):\n    def go(self, o):\n        return self.format(o)", "format.computed_template"),
    ("import string\nstring.ascii_letters = input()\nstring.ascii_letters.format(o)", "format.computed_template"),
    ("import operator\nf = operator.methodcaller('format', obj)", "attribute.detached"),
    ("g = getattr(tmpl, 'format')", "attribute.detached"),
    ("import logging\nlogging.Formatter(input(), style='{')", "format.computed_template"),
    ("import logging\nlogging.Formatter(input(), None, '{')", "format.computed_template"),
    ("import logging\nlogging.basicConfig(format=input(), style='{')", "format.computed_template"),
    ("import logging\ns = '{'\nlogging.basicConfig(format=fmt, style=s)", "format.computed_template"),
    ("import logging\nst = logging.StrFormatStyle(fmt)", "name.qualified_denied"),
    ("import functools\nfunctools.reduce(getattr, ['a', 'b'], obj)", "attribute.dynamic"),
    ("x = object.__getattribute__(o, name)", "attribute.dunder"),
    ("x = type.__getattribute__(o, 'a')", "attribute.dunder"),
    ("import pandas as pd\npd.eval(input())", "expression.computed"),
    ("from pandas import eval as pe\npe(text)", "expression.computed"),
    ("df.query(expr=some)", "expression.computed"),
    ("df.eval(q)", "expression.computed"),
    ("df.query(\"@pd.io.common.os.system('id')\")", "expression.attribute"),
    ("q = '@df.__class__'\ndf.query(q)", "expression.attribute"),
    ("df.eval('a.__class__')", "expression.attribute"),
    ("import numpy as np\nnp.info('os.system')", "name.qualified_denied"),
    ("import numpy as np\nnp.lookfor('x', module='os')", "attribute.denied"),
    ("import numpy.lib.utils", "import.denied"),
    ("import pandas.core.computation.eval", "import.denied"),
    ("import unittest\nunittest.TestLoader().loadTestsFromName('os.system')", "attribute.denied"),
    ("import inspect", "import.denied"),
    ("import pydoc", "import.denied"),
    ("import typing\ntyping.get_type_hints(f)", "name.qualified_denied"),
    # string annotations are evaluated by functools.singledispatch's register, attrs, typing
    ("@f.register\ndef _(x: \"__import__('os').system('id')\"):\n    pass", "annotation.code"),
    ("import typing\ndef g(x: typing.List[\"os.system('x')\"]) -> None:\n    pass", "annotation.code"),
    ("def g(x) -> 'int | (lambda: 1)()':\n    pass", "annotation.code"),
    ("y: 'print(1)' = 3", "annotation.code"),
    ("@f.register\ndef _(x: 'os.system' + \"('id')\"):\n    pass", "annotation.code"),
    ("def g(x: f'{a}') -> None:\n    pass", "annotation.code"),
    ("def g(x) -> ''.join(['os.sys', \"tem('id')\"]):\n    pass", "annotation.code"),
    ("y: '%s' % name = 1", "annotation.code"),
    ("import attr\nattr.resolve_types(C)", "name.qualified_denied"),
]


@cases(RESOLVE_NAME)
def test_names_resolved_at_run_time(code: str, rule_id: str) -> None:
    denied_by(code, rule_id)


def test_type_annotations_as_strings_stay_allowed() -> None:
    clean(
        "from __future__ import annotations\nimport functools\nfrom typing import Literal, Optional\n"
        "def g(x: 'Optional[int]', y: 'list[str]' = None) -> 'dict[str, int] | None':\n"
        "    z: 'tuple[int, ...]' = ()\n    return None\n"
        "class Node:\n    def add(self, other: 'Node', mode: \"Literal['a(b)']\") -> 'Node':\n        return self\n"
        "@functools.singledispatch\ndef show(x):\n    return str(x)\n"
        "@show.register\ndef _(x: int):\n    return 'int'\n"
        "print('(%d items)' % 3, {'f(x)': 1}['f(x)'])\n"
    )


def test_literal_templates_and_expressions_stay_allowed() -> None:
    clean(
        "TEMPLATE = '{name:>10} {value:.2f}'\nprint(TEMPLATE.format(name='a', value=1.0))\n"
        "print('{:>10}'.format(3), '{0!r:<8}'.format('x'))\nx = 5\nprint(f'{x!r}')\n"
        "line = '{a} {b}'\nprint(line.format(**{'a': 1, 'b': 2}))\nprint(format(3.14159, '.2f'))\n"
        "class Row:\n    FMT = '{:>4}'\n    def show(self, v):\n        return self.FMT.format(v)\n"
        "import string\nprint(string.Template('$x').substitute(x=1), string.ascii_letters)\n"
        "import pandas as pd\ndf = pd.DataFrame({'a': [1], 'b': [2]})\n"
        "print(df.query('a > 0 and b < 5'), df.eval('c = a + b'), pd.eval('1 + 2'))\n"
        "import numpy as np\nm = np.lib.format.open_memmap\nmodel.eval()\ntree.query(x=points)\n"
    )


def test_templates_made_of_whole_literal_templates_stay_allowed() -> None:
    clean(
        "cols = ['a', 'b']\nfmt = '{:>8}' * len(cols)\nprint(fmt.format(*cols))\n"
        "print(('{:<10}' * 2).format(1, 2), ' | '.join(['{:>6}'] * 3).format(1, 2, 3))\n"
        "row = '{name}: ' + '{value:.2f}'\nprint(row.format(name='a', value=2.0))\n"
        "print(('{{0' + '.x}}').format(1))\n"
    )


@pytest.mark.parametrize(
    "code",
    [
        "print(('{0.' + '__globals__}').format(f))",
        "print(('s__}{0.__global' * 2).format(f))",
        "print(''.join(['{0.__glo', 'bals__}']).format(f))",
        "t = '{0.__glo'\nt = t + 'bals__}'\nt.format(f)",
        "print(f'{{:>{w}}}'.format(x))",
    ],
)
def test_templates_that_join_pieces_of_a_field_are_denied(code: str) -> None:
    denied_by(code, "format.computed_template")


def test_logging_configuration_stays_allowed() -> None:
    clean(
        "import logging, sys\n"
        "class Upper(logging.Formatter):\n"
        "    def format(self, record):\n"
        "        return super().format(record).upper()\n"
        "log_format = '%(levelname)s %(message)s'\n"
        "h = logging.StreamHandler(sys.stderr)\nh.setFormatter(Upper(log_format))\n"
        "logging.basicConfig(format='{levelname} {message}', style='{', level=logging.INFO)\n"
        "logging.basicConfig(format=log_format)\nlogging.Formatter(log_format, None, '%')\n"
        "logging.getLogger('x').addHandler(h)\n"
        "import logging.handlers\nr = logging.handlers.RotatingFileHandler('x.log')\n"
        "q = logging.handlers.QueueHandler(None)\n"
    )


# ---------------------------------------------------------------- 3. import machinery
IMPORT_MACHINERY = [
    ("import _imp", "import.denied"),
    ("import _imp as i\ni.create_builtin(spec)", "import.denied"),
    ("m = x.create_dynamic(spec)", "attribute.denied"),
    ("import _frozen_importlib", "import.denied"),
    ("from _frozen_importlib_external import SourceFileLoader", "import.denied"),
    ("import importlib.machinery", "import.denied"),
    ("from importlib.util import spec_from_file_location", "import.denied"),
    ("loader = spec.loader.exec_module(m)", "attribute.denied"),
    ("b = BuiltinImporter.load_module('posix')", "attribute.denied"),
    ("x = obj._bootstrap", "attribute.denied"),
    ("import zipimport", "import.denied"),
    ("import pkgutil", "import.denied"),
    ("import modulefinder", "import.denied"),
    ("import runpy", "import.denied"),
    ("import py_compile", "import.denied"),
    ("import compileall", "import.denied"),
    ("import six", "import.denied"),
    ("import pkg_resources", "import.denied"),
    ("import sys\nsys.modules['os']", "name.qualified_denied"),
    ("import typing\ntyping.sys.modules['posix']", "name.qualified_denied"),
    ("import collections\ncollections._sys.modules['posix']", "name.qualified_denied"),
    ("import warnings\nwarnings.sys.meta_path", "name.qualified_denied"),
    ("from collections import _sys", "name.qualified_denied"),
    ("import os\nl = os.__loader__", "attribute.dunder"),
    ("s = __spec__", "name.denied"),
    ("import numpy as np\nnp.compat.py3k.npy_load_module('m', 'm.py')", "attribute.denied"),
    ("import numpy as np\nnp.testing.runstring('x', {})", "attribute.denied"),
    ("from numpy.testing import *\nrunstring('x', {})", "attribute.denied"),
    ("import numpy.testing._private.extbuild", "import.denied"),
    ("import pandas as pd\npd.set_option('plotting.backend', 'os')", "string.qualified"),
    ("import matplotlib\nmatplotlib.use('module://evil')", "string.module_url"),
    ("import site\nsite.addsitedir('.')", "import.denied"),
    ("import numpy as np\nnp.test()", "name.qualified_denied"),
    ("from sympy.external.importtools import import_module", "import.denied"),
    ("import _testcapi\n_testcapi.run_in_subinterp('x')", "import.denied"),
    ("import _xxsubinterpreters", "import.denied"),
    # a denied module under the name a library gives it
    ("import enum\nenum.bltns.eval('1')", "import.denied"),
    ("import asyncio\nasyncio.futures.format_helpers.inspect.stack()", "import.denied"),
    ("import pandas.core.generic as g\ng.gc.get_referrers(x)", "import.denied"),
    ("import fs.errors\nfs.errors.six.exec_('x')", "import.denied"),
    ("import shutil\nshutil.posix.system('id')", "import.denied"),
]


@cases(IMPORT_MACHINERY)
def test_import_machinery(code: str, rule_id: str) -> None:
    denied_by(code, rule_id)


def test_ordinary_imports_and_private_names_of_ones_own_stay_allowed() -> None:
    clean(
        "import os, sys, codecs\nimport os.path\nfrom os import path\nimport numpy.testing as npt\n"
        "npt.assert_allclose(1, 1)\ncodecs.lookup('utf-8')\nprint(sys.version_info, sys.argv)\n"
        "from collections import namedtuple\nP = namedtuple('P', 'x y')\np = P(1, 2)\n"
        "print(p._replace(x=3), p._asdict(), P._fields, P._make([1, 2]))\n"
        "class A:\n    _count = 0\n    def __init__(self):\n        self._x = 1\n        A._count += 1\n"
        "from __future__ import annotations\nos._exit(0)\n"
    )


# -------------------------------------------------------------- 4. sockets without socket
NETWORK = [
    ("import asyncio\nasync def f():\n    await asyncio.open_connection('10.0.0.1', 80)", "attribute.denied"),
    ("import asyncio\nasyncio.start_server(cb, '0.0.0.0', 80)", "attribute.denied"),
    ("import asyncio as a\na.open_unix_connection('/x')", "attribute.denied"),
    ("from asyncio import open_connection as oc", "attribute.denied"),
    ("from asyncio import *\nopen_connection('1.2.3.4', 80)", "attribute.denied"),
    ("import asyncio\nasyncio.streams.StreamReader", "import.denied"),
    ("import asyncio\ns = asyncio.base_events.socket.socket()", "import.denied"),
    ("loop.create_connection(P, '10.0.0.1', 80)", "attribute.denied"),
    ("loop.create_server(P, '0.0.0.0', 80)", "attribute.denied"),
    ("loop.create_datagram_endpoint(P, remote_addr=('1.2.3.4', 53))", "attribute.denied"),
    ("loop.sock_connect(s, ('1.2.3.4', 80))", "attribute.denied"),
    ("loop.getaddrinfo('example.com', 80)", "attribute.denied"),
    ("import logging.handlers\nh = logging.handlers.SocketHandler('10.0.0.1', 9020)", "attribute.denied"),
    ("import logging.handlers as lh\nlh.DatagramHandler('x', 1)", "attribute.denied"),
    ("from logging.handlers import *\nSysLogHandler(address=('1.2.3.4', 514))", "attribute.denied"),
    ("from logging.handlers import HTTPHandler", "attribute.denied"),
    ("import logging.handlers\nlogging.handlers.SMTPHandler('h', 'a', ['b'], 's')", "attribute.denied"),
    ("from multiprocessing.connection import Client", "import.denied"),
    ("import multiprocessing.connection as c", "import.denied"),
    ("import multiprocessing\nmultiprocessing.connection.Listener(('0.0.0.0', 1))", "import.denied"),
    ("from multiprocessing.managers import BaseManager", "import.denied"),
    ("import http.server", "import.denied"),
    ("import http.client", "import.denied"),
    ("import urllib.request", "import.denied"),
    ("import xmlrpc.client", "import.denied"),
    ("import socketserver", "import.denied"),
    ("import wsgiref.simple_server", "import.denied"),
    ("import smtplib", "import.denied"),
    ("import ftplib", "import.denied"),
    ("import asyncore", "import.denied"),
    ("import asynchat", "import.denied"),
    ("import smtpd", "import.denied"),
    ("import nntplib", "import.denied"),
    ("import ssl", "import.denied"),
    ("import _socket", "import.denied"),
    ("import pandas as pd\npd.read_csv('http://10.0.0.1/x.csv')", "network.url"),
    ("import pandas as pd\nurl = 'https://10.0.0.1/x.json'\npd.read_json(url)", "network.url"),
    ("import pandas as pd\npd.read_html(io='ftp://x/y')", "network.url"),
    ("import numpy as np\nnp.loadtxt('http://10.0.0.1/x')", "network.url"),
    ("import numpy as np\nnp.DataSource().open('x')", "name.qualified_denied"),
    ("import xml.sax\nxml.sax.parse('http://10.0.0.1/x.xml', h)", "network.url"),
    ("o = opener.urlopen(u)", "attribute.denied"),
]


@cases(NETWORK)
def test_sockets_without_socket(code: str, rule_id: str) -> None:
    denied_by(code, rule_id)


def test_asyncio_and_local_readers_stay_allowed() -> None:
    clean(
        "import asyncio\n"
        "async def main():\n"
        "    await asyncio.sleep(0.01)\n"
        "    q = asyncio.Queue()\n"
        "    await q.put(1)\n"
        "    t = asyncio.create_task(asyncio.sleep(0))\n"
        "    await asyncio.wait_for(t, timeout=1)\n"
        "    return await asyncio.gather(asyncio.sleep(0, result=1), return_exceptions=True)\n"
        "asyncio.run(main())\n"
        "import urllib.parse\nprint(urllib.parse.urlparse('https://example.com/a?b=1'))\n"
        "import pandas as pd, io\npd.read_csv(io.StringIO('a\\n1'))\npd.read_csv('data/local.csv')\n"
        "pd.read_csv('file:///tmp/x.csv')\nimport select, selectors\n"
    )


# ------------------------------------------------------- 5. processes without os/subprocess
PROCESS = [
    ("import multiprocessing\nmultiprocessing.Process(target=f).start()", "name.qualified_denied"),
    ("import multiprocessing as mp\nctx = mp.get_context('fork')", "name.qualified_denied"),
    ("import multiprocessing\nmultiprocessing.set_start_method('fork')", "name.qualified_denied"),
    ("from multiprocessing import Pool", "name.qualified_denied"),
    ("from multiprocessing import *\nProcess(target=f)", "name.qualified_denied"),
    ("import multiprocessing.popen_fork", "import.denied"),
    ("import multiprocessing.popen_spawn_posix", "import.denied"),
    ("from multiprocessing import spawn", "name.qualified_denied"),
    ("import multiprocessing.resource_tracker", "import.denied"),
    ("import multiprocessing\nmultiprocessing.util.spawnv_passfds", "attribute.denied"),
    ("import multiprocessing\nmultiprocessing.Value('i', 0)", "name.qualified_denied"),
    ("import concurrent.futures\nconcurrent.futures.ProcessPoolExecutor()", "attribute.denied"),
    ("from concurrent.futures import ProcessPoolExecutor", "attribute.denied"),
    ("from concurrent.futures import *\nProcessPoolExecutor()", "attribute.denied"),
    ("import concurrent.futures.process", "import.denied"),
    ("loop.subprocess_shell(P, 'id')", "attribute.denied"),
    ("loop.subprocess_exec(P, 'id')", "attribute.denied"),
    ("import asyncio\nasyncio.subprocess.create_subprocess_shell('id')", "import.denied"),
    ("from asyncio.subprocess import PIPE", "import.denied"),
    ("from asyncio import create_subprocess_exec", "attribute.denied"),
    ("import os\nos.posix_spawn('/bin/sh', ['sh'], {})", "name.qualified_denied"),
    ("import uuid\nuuid._get_command_stdout('sh', '-c', 'id')", "name.qualified_denied"),
    ("import platform\nplatform._syscmd_file('x')", "name.qualified_denied"),
    ("import platform\nplatform.architecture()", "name.qualified_denied"),
    ("import mailcap", "import.denied"),
    ("import pipes", "import.denied"),
    ("import ensurepip", "import.denied"),
    ("import venv", "import.denied"),
    ("import antigravity", "import.denied"),
    ("import matplotlib.cbook as cb\ncb._check_and_log_subprocess(['id'], None)", "attribute.denied"),
    ("import matplotlib\nmatplotlib.rcParams['animation.ffmpeg_path'] = '/bin/sh'", "string.qualified"),
    ("import matplotlib as mpl\nmpl.rcParams.update({'pgf.texsystem': 'sh'})", "string.qualified"),
    ("import matplotlib.pyplot as plt\nplt.rc('text', usetex=True)", "argument.denied"),
    ("import matplotlib.pyplot as plt\nplt.text(0, 0, 's', usetex=flag)", "argument.denied"),
    ("import matplotlib.animation as animation\nw = animation.FFMpegWriter()", "attribute.denied"),
    ("import matplotlib.testing", "import.denied"),
    ("import matplotlib.backends.backend_pgf", "import.denied"),
    ("import pandas as pd\npd.read_clipboard()", "attribute.denied"),
    ("df.to_clipboard()", "attribute.denied"),
    ("import numpy.f2py", "import.denied"),
    ("import numpy.distutils", "import.denied"),
    ("import pydoc\npydoc.pipepager('x', 'sh')", "import.denied"),
    ("import matplotlib.pyplot\nmatplotlib.pyplot.cm.mpl.dviread.find_tex_file('x')", "attribute.denied"),
    ("import _osx_support\n_osx_support._read_output('id')", "import.denied"),
    ("import _bootsubprocess", "import.denied"),
    ("from test.support import script_helper", "import.denied"),
    ("import sympy.testing.runtests", "import.denied"),
]


@cases(PROCESS)
def test_processes_without_os_or_subprocess(code: str, rule_id: str) -> None:
    denied_by(code, rule_id)


def test_threads_cpu_count_and_plotting_stay_allowed() -> None:
    clean(
        "import multiprocessing, threading\nfrom concurrent.futures import ThreadPoolExecutor, as_completed\n"
        "print(multiprocessing.cpu_count(), multiprocessing.current_process().name)\n"
        "with ThreadPoolExecutor(2) as ex:\n    print(list(ex.map(abs, [1, -2])))\n"
        "t = threading.Thread(target=print)\nfrom multiprocessing.dummy import Pool\nimport multiprocessing.dummy\n"
        "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\nax.plot([1, 2], [3, 4])\nax.text(0, 0, 'hi', usetex=False)\n"
        "fig.savefig('x.png')\nplt.rcParams['figure.figsize'] = (4, 3)\n"
        "import platform, uuid\nprint(platform.system(), platform.python_version(), uuid.uuid4())\n"
    )


# --------------------------------------------------------------------------- the table
def test_every_capability_names_its_reason_in_findings() -> None:
    capabilities = STANDARD.python.capabilities
    assert set(capabilities) == {"deserialise", "resolve_name", "import", "network", "process"}
    result = verdict("import asyncore\nfrom concurrent.futures import ProcessPoolExecutor")
    messages = " ".join(f.message for f in result.denials)
    assert capabilities["network"].reason in messages and capabilities["process"].reason in messages


def test_strict_inherits_the_capabilities() -> None:
    assert STRICT.python.capabilities == STANDARD.python.capabilities
    assert STRICT.python.qualified_patterns is not None
    assert STRICT.python.qualified_patterns.pattern == STANDARD.python.qualified_patterns.pattern


def test_exempt_patterns_only_exempt_exact_names() -> None:
    patterns = STANDARD.python.qualified_patterns
    assert patterns is not None
    assert not patterns.fullmatch("multiprocessing.cpu_count")
    assert not patterns.fullmatch("multiprocessing.dummy.Pool")
    assert patterns.fullmatch("multiprocessing.cpu_counts")
    assert patterns.fullmatch("multiprocessing.Process")
    assert not patterns.fullmatch("os._exit") and patterns.fullmatch("os._wrap_close")
    assert not patterns.fullmatch("numpy.__version__")


def test_template_tracing_is_bounded() -> None:
    """Names bound to lists of themselves would cost exponential time to follow: the budget denies them."""
    items = ", ".join(["x"] * 500)
    code = f"x = [{items}]\n" + "x.format(1)\n" * 200
    denied_by(code, "format.computed_template")
