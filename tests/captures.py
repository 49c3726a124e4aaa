"""Readers for the golden data in ../shared/captures (real VPP 26.06 and DPDK 22.11 runs)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

CAPTURES = Path(__file__).resolve().parents[1].parent / "shared" / "captures"


@dataclasses.dataclass(frozen=True)
class WireLine:
    """One datagram of a ``wire-*.txt`` capture."""

    received: bool  # True: sent by the real peer ("<-")
    fds: int
    raw: bytes
    decoded: dict[str, object]


def capture_path(name: str) -> Path:
    """Path of a capture file, or a skip saying where the captures are expected."""
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(
            f"golden captures not found at {CAPTURES} (the shared/ directory beside the repo)"
        )
    return path


def wire_lines(name: str) -> list[WireLine]:
    """The datagrams of one wire capture, in order."""
    lines = capture_path(name).read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith(("<- ", "-> ")):
            fds = int(line.split("fds=")[1].split()[0])
            raw = bytes.fromhex(lines[i + 1].strip().removeprefix("hex="))
            out.append(WireLine(line.startswith("<-"), fds, raw, json.loads(lines[i + 2])))
    return out


def wire_captures() -> list[str]:
    """Names of every wire capture, relative to the captures directory."""
    if not CAPTURES.exists():
        return []
    return sorted(str(p.relative_to(CAPTURES)) for p in CAPTURES.glob("*/wire-*.txt"))
