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
    for label in ("", "x", "a/b/c/notapid/e", "a/b/c/1/2/3"):
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
    assert replace(me, boot="0" * 16).alive() is False
    assert replace(me, host="elsewhere").alive() is None
