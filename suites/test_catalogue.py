"""The conformance engine's scenarios (memif_harness.conformance.registry) against every
selected peer: each scenario in the role it names for the peer, judged by that peer's profile
(pass, fail, known deviation = xfail with the reason, not applicable = skip saying why), and
every peer checked alive and still serving after each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from memif_harness.conformance import engine
from memif_harness.conformance.registry import SCENARIOS
from memif_harness.conformance.scenario import Scenario
from memif_harness_fixtures.peers.base import PeerUnsupported
from memif_harness_fixtures.plugin import PeerFactory
from memif_harness_fixtures.targets import PeerTarget


@pytest.mark.parametrize(
    "scenario",
    [pytest.param(s, id=f"{s.name}-peer_{s.peer_role.name.lower()}",
                  marks=pytest.mark.scenario(s.id)) for s in SCENARIOS],
)
def test_scenario(scenario: Scenario, peer_name: str, peer_factory: PeerFactory,
                  memif_socket_dir: Path,
                  record_property: Callable[[str, object], None]) -> None:
    # no docstring: the report titles each row with the scenario's catalogue title
    _run(PeerTarget(peer_factory(peer_name)), scenario, peer_name=peer_name,
         peer_factory=peer_factory, memif_socket_dir=memif_socket_dir,
         record_property=record_property)


@pytest.mark.parametrize(
    "scenario",
    [pytest.param(s, id=f"{s.name}-peer_{s.peer_role.name.lower()}",
                  marks=pytest.mark.scenario(s.id)) for s in SCENARIOS if s.expect_v1],
)
def test_scenario_v1(scenario: Scenario, peer_name: str, peer_factory: PeerFactory,
                     memif_socket_dir: Path,
                     record_property: Callable[[str, object], None]) -> None:
    # the version-boundary scenarios against the peer's protocol 1.0 interfaces
    peer = peer_factory(peer_name)
    if 1 not in peer.protocols:
        pytest.skip(f"{peer_name} speaks memif {' and '.join(f'{p}.0' for p in peer.protocols)}"
                    ", not 1.0")
    if peer.protocols[0] == 1:
        pytest.skip(f"{peer_name} speaks only 1.0: test_scenario runs these rows against it")
    target = PeerTarget(peer, f"{peer_name}-v1", protocol=1)
    record_property("peer_protocol", "1.0")
    _run(target, scenario, peer_name=peer_name, peer_factory=peer_factory,
         memif_socket_dir=memif_socket_dir, record_property=record_property)


def _run(target: PeerTarget, scenario: Scenario, *, peer_name: str, peer_factory: PeerFactory,
         memif_socket_dir: Path, record_property: Callable[[str, object], None]) -> None:
    record_property("peer_version", peer_factory.version(peer_name))
    record_property("peer_role", scenario.peer_role.name.lower())
    try:
        result = engine.run(scenario, target, str(memif_socket_dir))
    except PeerUnsupported as exc:
        pytest.skip(f"{peer_name} cannot be configured for this scenario: {exc}")
    if result.raw_said:
        record_property("raw_peer_said", result.raw_said)
    if result.broken:
        peer_factory.discard(peer_name)  # the next scenario gets a fresh peer
    if result.outcome is engine.Outcome.NOT_APPLICABLE:
        pytest.skip(f"not applicable to {peer_name}: {result.detail}")
    if result.outcome is engine.Outcome.DEVIATION:
        pytest.xfail(f"known deviation of {peer_name}: {result.observed}: {result.detail}")

    if result.outcome is engine.Outcome.FAIL:
        logs = "".join(f"\n--- {k} ---\n{v}" for k, v in result.logs.items())
        pytest.fail(f"{result}{logs}", pytrace=False)
    assert result.outcome is engine.Outcome.PASS
