"""Shared helpers of the interop/conformance suites (the fixtures come from fixtures.plugin)."""

from __future__ import annotations

import pytest

from fixtures.links import Link, Unsupported


def forward_or_skip(link: Link, mode: str) -> None:
    """Put the peer in forward ``mode`` or skip the test saying why it cannot."""
    try:
        link.forward(mode)
    except Unsupported as exc:
        pytest.skip(f"{link.peer_name}: {exc}")


#: Frames per direction for D1 per (peer role, forward mode): 2 roles x 5120 = 10240 frames
#: each way through io and again through macswap, per peer, over the run.
D1_FRAMES = 5120


def d1_sizes(count: int) -> list[int]:
    """``count`` frame sizes covering 60..1514 (both ends included, the rest spread over)."""
    sizes = [60, 1514, 64, 128, 256, 512, 1024, 1500]
    span = 1514 - 60 + 1
    sizes += [60 + (i * 7919) % span for i in range(count - len(sizes))]
    return sizes[:count]
