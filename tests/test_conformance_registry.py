"""The scenario registry, the coverage table and the engine's judgement, without a peer (the
whole registry against our own implementation, which must pass its profile completely, is
suites/test_catalogue.py with --peer python)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memif_harness.conformance import catalogue, coverage, engine
from memif_harness.conformance.profiles import PROFILES, ProfileEntry
from memif_harness.conformance.registry import ELSEWHERE, NOT_RUNNABLE, SCENARIOS
from memif_harness.conformance.scenario import (
    Accept,
    Exactly,
    Expectation,
    Keep,
    Records,
    Refuse,
)
from memif_harness.memif.protocol.constants import Role

ROOT = Path(__file__).resolve().parents[1]


def test_every_catalogue_id_is_accounted_for() -> None:
    ids = {s.id for s in catalogue.scenarios()}
    registered = {s.id for s in SCENARIOS}
    assert registered | set(ELSEWHERE) <= ids
    assert ids - registered - set(ELSEWHERE) == set(NOT_RUNNABLE)
    assert not set(NOT_RUNNABLE) & (registered | set(ELSEWHERE))
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))


def test_shipped_coverage_table_is_current() -> None:
    shipped = (ROOT / "docs" / "catalogue.md").read_text()
    assert shipped == coverage.markdown(), "run: python -m memif_harness.conformance.coverage"
    assert "| I2 | id unknown on that socket |" in shipped


def test_profiles_name_real_scenarios() -> None:
    keys = {s.name for s in SCENARIOS} | {s.id for s in SCENARIOS}
    for implementation, profile in PROFILES.items():
        assert set(profile) <= keys, implementation


@pytest.mark.parametrize(
    ("observed", "expect", "outcome"),
    [
        ("DISCONNECT 'unmatched interface id', then closed", Refuse("unmatched interface id"),
         engine.Outcome.PASS),
        ("DISCONNECT 'ID not found', then closed", Refuse("unmatched interface id"),
         engine.Outcome.FAIL),
        ("closed", Refuse(), engine.Outcome.PASS),
        ("ACK", Refuse(), engine.Outcome.FAIL),
        ("silence", Refuse(), engine.Outcome.FAIL),
        ("ACK", Accept("ack"), engine.Outcome.PASS),
        ("CONNECTED", Accept("ack"), engine.Outcome.FAIL),
        # clauses: the reference judges the last one, the peer's final answer
        ("ARP answered, 0/4 echo replies | silence", Keep(), engine.Outcome.PASS),
        ("ARP answered, 4/4 echo replies | closed", Keep(), engine.Outcome.FAIL),
        ("ARP answered, 4/4 echo replies | silence",
         Exactly("ARP answered, 4/4 echo replies | silence"), engine.Outcome.PASS),
        ("ARP answered, 3/4 echo replies | silence",
         Exactly("ARP answered, 4/4 echo replies | silence"), engine.Outcome.FAIL),
        ("silence | peer: link down, remote reason 'xyz'", Records("xyz"),
         engine.Outcome.PASS),
        ("silence | peer: link down, remote reason ''", Records("xyz"),
         engine.Outcome.FAIL),
        ("silence | peer: link still up, remote reason 'xyz'", Records("xyz"),
         engine.Outcome.FAIL),
        ("silence | peer: link down, its reason not reported", Records("xyz"),
         engine.Outcome.NOT_APPLICABLE),
        # a peer process that kept fds fails, whatever it answered
        ("DISCONNECT 'x', then closed | peer process kept more fds", Refuse(),
         engine.Outcome.FAIL),
        ("ACK | peer process kept more fds", Refuse(), engine.Outcome.FAIL),
    ],
)
def test_judge_by_the_reference(observed: str, expect: Expectation,
                                outcome: engine.Outcome) -> None:
    scenario = SCENARIOS[0].__class__("X1", "k", "t", "truth", Role.MASTER, (), expect)
    assert engine.judge(observed, scenario, None)[0] is outcome


def test_judge_by_a_profile_entry() -> None:
    scenario = next(s for s in SCENARIOS if s.name == "I2-unknown-id")
    worded = ProfileEntry("DISCONNECT 'ID not found', then closed", "run", "worded")
    assert engine.judge(worded.observed, scenario, worded)[0] is engine.Outcome.PASS
    assert engine.judge("closed", scenario, worded)[0] is engine.Outcome.FAIL
    deviation = ProfileEntry("ACK", "run", "accepts", deviation=True)
    assert engine.judge("ACK", scenario, deviation)[0] is engine.Outcome.DEVIATION


class _V1Target:
    """A labelled stand-in target that speaks 1.0; never opened (the scenario is skipped)."""

    implementation = "stand-in"
    protocol_version = 0x0100

    def open(self, role: Role, socket: str, config: object) -> None:
        raise AssertionError("a 2.0 scenario must not be run against a 1.0 target")

    def alive(self) -> bool:
        return True

    def logs(self) -> dict[str, str]:
        return {}


def test_a_1_0_target_is_judged_by_expect_v1_or_skipped(tmp_path: Path) -> None:
    boundary = {s.id for s in SCENARIOS if s.expect_v1 is not None}
    assert boundary == {"H7", "H8", "H9"}
    two_only = next(s for s in SCENARIOS if s.name == "I2-unknown-id")
    result = engine.run(two_only, _V1Target(), str(tmp_path))  # type: ignore[arg-type]
    assert result.outcome is engine.Outcome.NOT_APPLICABLE
    assert "speaks 1.0" in result.detail
    hello = next(s for s in SCENARIOS if s.name == "H7-hello-max-1.0")
    assert engine.judge("INIT", hello, None, hello.expect_v1)[0] is engine.Outcome.PASS
    assert engine.judge("INIT", hello, None)[0] is engine.Outcome.FAIL
