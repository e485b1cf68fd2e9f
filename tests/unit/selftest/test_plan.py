"""Corpus files to cases: every program once, every bypass twice, filters that cannot silently run nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.models import Status
from sandbox.selftest import cases, plan
from sandbox.selftest.plan import Phase


def test_the_shipped_corpus_is_every_program_once_and_every_bypass_twice() -> None:
    programs, bypasses = cases.programs(), cases.bypasses()
    loaded = plan.load()
    assert len(loaded) == len(programs) + 2 * len(bypasses)
    assert len({c.id for c in loaded}) == len(loaded)
    phases = {c.phase for c in loaded if c.row == "B03"}
    assert phases == {Phase.V_ON, Phase.V_OFF}
    for case in loaded:
        policies = {r.policy for r in case.requests}
        expected = {case.source.v_on_policy} if case.phase is Phase.V_ON else {cases.PERMISSIVE}  # type: ignore[union-attr]
        assert policies == expected, case.id
        assert case.timeout_s == case.wall_time_s + plan.MARGIN_S


def test_only_selects_rows_and_files_case_insensitively() -> None:
    chosen = plan.load(only=["b03", "R10_cpu_spin"])
    assert {c.id for c in chosen} == {
        "B03_loader_load_module v-on",
        "B03_loader_load_module v-off",
        "R10_cpu_spin contained",
    }


def test_an_unknown_name_in_only_is_an_error() -> None:
    with pytest.raises(ValueError, match="no row or program named NOPE"):
        plan.load(only=["B03", "nope"])


def test_an_empty_corpus_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no programs under"):
        plan.load(tmp_path)


def test_rows_that_need_the_host_say_what_was_left_out() -> None:
    by_name = {c.name: c for c in plan.load(only=["T03", "N09", "F12", "T08", "R01"])}
    assert plan.HOOK_NOTES["host-process"] in by_name["T03_double_fork_daemon"].notes
    assert by_name["T03_double_fork_daemon"].requests[0].stdin.isdigit()  # the token the daemon carries
    assert 20_000 <= int(by_name["N09_listen_loopback"].requests[0].stdin) < 60_000
    assert plan.HOOK_NOTES["victim"] in by_name["F12_other_runs"].notes
    assert len(by_name["T08_state_between_runs"].requests) == 2
    assert plan.CANARY_NOTE in by_name["R01_fork_bomb"].notes
    assert set(plan.HOOK_NOTES) == cases.HOOKS


def test_extra_files_are_sent_and_pyc_as_bytecode() -> None:
    [v_on, _] = plan.load(only=["B29"])
    [pyc] = v_on.requests[0].files
    assert (pyc.path, pyc.encoding) == ("evil.pyc", "base64")
    assert pyc.data()[:4] == cases.pyc_bytes("", "x")[:4]  # this interpreter's magic number


def test_expected_and_title_are_short() -> None:
    for case in plan.load():
        assert len(case.title) <= plan.TITLE_CHARS
        assert case.expected()
    [r10] = plan.load(only=["R10"])
    assert r10.expected().startswith(Status.TIMEOUT.value)
    [v_on, v_off] = plan.load(only=["B03"])
    assert v_on.expected() == "validation_rejected (standard: name.denied)"
    assert v_off.expected() == "ok + 5 checks"


def test_rows_marked_xfail_under_runsc_are_known_gaps_under_gvisor_only() -> None:
    marked = {p.path.stem: p.xfail_under_runsc for p in cases.programs() if p.xfail_under_runsc}
    assert marked, "the corpus has no xfail-under-runsc row to check this with"
    for runtime in (None, "runc"):
        assert not [c.id for c in plan.load(runtime=runtime) if c.name in marked and c.known_gap]
    for runtime in ("runsc", "runsc-kvm"):
        gaps = {c.name: c for c in plan.load(runtime=runtime) if c.known_gap}
        assert set(marked) <= set(gaps)
        for name, reason in marked.items():
            assert gaps[name].known_gap == reason
            assert f"known gap under {runtime}: {reason}" in gaps[name].notes
