"""Instance identity: what a later process can tell about the process that created a container."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

from sandbox import instance
from sandbox.instance import Instance


def test_the_label_names_the_instance_and_parses_back() -> None:
    me = instance.current()
    assert Instance.parse(me.label) == me
    assert me.alive() is True


def test_garbled_labels_name_no_instance() -> None:
    for label in ("", "x", "a/b/c/d/e/notapid/g", "a/b/c/1/2", "a/b/c/d/e/1/g/h"):
        assert Instance.parse(label) is None


def test_a_process_that_exited_is_dead() -> None:
    child = subprocess.run(
        [sys.executable, "-c", "from sandbox import instance; print(instance.current().label)"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = Instance.parse(child.stdout.strip())
    assert gone is not None and gone.pid != instance.current().pid
    assert gone.alive() is False


def test_a_live_process_with_the_pid_but_another_start_time_is_not_the_instance() -> None:
    me = instance.current()
    assert replace(me, id="other", started="1").alive() is False  # pid reused by another process
    assert replace(me, id="other").alive() is True  # same process, e.g. another worker's view


def test_another_boot_is_dead_and_another_host_is_unknown() -> None:
    me = instance.current()
    assert replace(me, id="other", boot="0" * 16).alive() is False
    assert replace(me, id="other", host="elsewhere").alive() is None


def test_what_cannot_be_told_for_sure_is_unknown_never_dead() -> None:
    """A wrong 'dead' would remove a live server's containers (review of 4e..: same host name, other pid ns)."""
    me = instance.current()
    gone = replace(me, id="other", started="1")  # this pid, another start time: dead when everything matches
    assert gone.alive() is False
    assert replace(gone, pidns="4026531836" if me.pidns != "4026531836" else "1").alive() is None
    assert replace(gone, machine="f" * 32).alive() is None  # another machine with the same host name
    assert replace(gone, machine="").alive() is None  # no machine id: cannot tell
    assert replace(gone, started="").alive() is None


def test_a_forked_child_is_another_instance() -> None:
    import os

    me = instance.current()
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.write(writer, instance.current().label.encode())
        os._exit(0)
    os.close(writer)
    label = os.read(reader, 1000).decode()
    os.waitpid(child, 0)
    assert label and label != me.label and Instance.parse(label).pid == child
