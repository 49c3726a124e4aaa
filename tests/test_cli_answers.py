"""A user gets a clear answer, never a stall or a traceback (issue 10).

Each test is a regression test for a dead end a new user hit: usage errors caught up front,
refusals named as soon as the peer sends them, a summary on Ctrl-C, gen bounded in time
against a peer that does not echo, and gen listening before it builds its frames.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from memif_harness import cli


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mh-answers-", dir="/tmp") as path:
        yield Path(path)


def words(*parts: str) -> list[str]:
    return [word for part in parts for word in part.split()]


# -- usage errors up front ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ("gen --role slave --socket /tmp/x --vlan 5000", "VLAN id must be 0..4095"),
        ("gen --role slave --socket /tmp/x --rate -5", "must be positive"),
        ("gen --role slave --socket /tmp/x --rate nan", "must be positive"),
        ("responder --role master --socket /tmp/x --queues 300", "must be 1..255"),
        ("gen --role slave --socket /tmp/x --queues 0", "must be 1..255"),
        ("ping --role slave --socket /tmp/x --target 1.2.3.4 --size 100000", "0..65507"),
        ("ping --role slave --socket /tmp/x --target 1.2.3.4 --size -1", "0..65507"),
        ("gen --role slave --socket /tmp/x --size 100000", "frame size 100000"),
        ("loopback --size 100000", "frame size 100000"),
        ("ping --role slave --socket /tmp/x --target 1.2.3.4 --size 9000 --ring-size 2",
         "does not fit"),
    ],
    ids=["vlan", "rate-negative", "rate-nan", "queues-300", "queues-0", "ping-size",
         "ping-size-negative", "gen-size", "loopback-size", "ping-size-vs-ring"],
)  # fmt: skip
def test_usage_errors_are_caught_up_front(
    argv: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv.split())
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert "num_s2m_rings" not in err


def test_ring_size_metavar_says_slots(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["ping", "--help"])
    out = capsys.readouterr().out
    assert "--ring-size SLOTS" in out
    assert "LOG2" not in out
