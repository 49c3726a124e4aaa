"""Classification of what came back against what was expected, and its report.

:func:`classify` finds the tag in each received frame, compares the frame byte for byte with
what was expected of the sent one and counts each frame as delivered, lost, duplicated,
reordered, corrupted or truncated (and foreign frames as unexpected) in a :class:`Verdict`,
whose :meth:`~Verdict.report` names the first differences (a scapy ``show()`` dump or a
hexdiff).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import hexdiff

from ..memif.runtime.endpoint import Frame
from .expect import Expect, identity, looks_l2, resolve_expect
from .streams import find_tag, find_tags

__all__ = [
    "Problem",
    "Verdict",
    "classify",
    "dissect",
    "hexdiff_text",
]

KINDS = ("lost", "corrupted", "truncated", "duplicated", "reordered", "unexpected")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One bad frame: what was expected (None for unexpected) and what came (None for lost)."""

    kind: str
    stream: int | None
    seq: int | None
    expected: bytes | None
    received: bytes | None
    #: Position in the received list (None for lost).
    index: int | None
    detail: str = ""

    def where(self) -> str:
        """``stream 1 seq 5`` or ``received frame #3``."""
        if self.stream is not None:
            text = f"stream {self.stream} seq {self.seq}"
        else:
            text = "untagged frame"
        if self.index is not None:
            text += f" (received #{self.index})"
        return text


@dataclasses.dataclass
class Verdict:
    """Counts of each outcome, with the first few examples of each problem."""

    sent: int
    expected: int
    received: int
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    truncated: int = 0
    unexpected: int = 0
    #: Frames the transmit ring never took (the peer did not drain it).
    unsent: int = 0
    examples: dict[str, list[Problem]] = dataclasses.field(default_factory=dict)
    elapsed: float = 0.0
    #: The pcaps :func:`send_and_expect` wrote on failure.
    pcaps: list[Path] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exactly the expected frames came, once each, intact and in order."""
        return self.delivered == self.expected and not any(
            getattr(self, kind) for kind in (*KINDS, "unsent")
        )

    def __bool__(self) -> bool:
        return self.ok

    def counts(self) -> dict[str, int]:
        """Every counter by name."""
        names = ("sent", "expected", "received", "delivered", *KINDS, "unsent")
        return {name: getattr(self, name) for name in names}

    def summary(self) -> str:
        """One line: ``sent 10, expected 10, received 9: 9 delivered, 1 lost``."""
        parts = [f"{self.delivered} delivered"]
        parts += [f"{getattr(self, k)} {k}" for k in (*KINDS, "unsent") if getattr(self, k)]
        rate = ""
        if self.elapsed > 0 and self.received:
            rate = f" in {self.elapsed:.3f}s ({self.received / self.elapsed:,.0f} pps)"
        return (
            f"sent {self.sent}, expected {self.expected}, received {self.received}{rate}: "
            + ", ".join(parts)
        )

    def report(self, max_examples: int = 3) -> str:
        """The summary and the first differences: a hexdiff of the first corrupted or
        truncated frame, a ``show()`` dump of the first lost and unexpected frame."""
        lines = [self.summary()]
        for kind in KINDS:
            problems = self.examples.get(kind, [])
            if not problems:
                continue
            total = getattr(self, kind)
            lines.append(f"{kind} ({total}), first {min(total, max_examples)}:")
            for n, problem in enumerate(problems[:max_examples]):
                lines.append(
                    f"  {problem.where()}{': ' + problem.detail if problem.detail else ''}"
                )
                if n:
                    continue
                if kind in ("corrupted", "truncated") and problem.expected and problem.received:
                    lines.append("  hexdiff (expected above, received below):")
                    lines.append(_indent(hexdiff_text(problem.expected, problem.received)))
                elif kind == "lost" and problem.expected is not None:
                    lines.append("  expected frame:")
                    lines.append(_indent(dissect(problem.expected)))
                elif kind == "unexpected" and problem.received is not None:
                    lines.append("  received frame:")
                    lines.append(_indent(dissect(problem.received)))
        if self.unsent:
            lines.append(
                f"{self.unsent} frames never left: the transmit ring stayed full, "
                "or the deadline passed"
            )
        if self.pcaps:
            lines.append("pcaps: " + ", ".join(str(p) for p in self.pcaps))
        return "\n".join(lines)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


def hexdiff_text(expected: bytes, received: bytes) -> str:
    """scapy's :func:`hexdiff` output as a string."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        hexdiff(expected, received)
    return buf.getvalue()


def dissect(frame: bytes) -> str:
    """A scapy ``show()`` dump of an Ethernet frame or (IP mode) an IP packet."""
    pkt: Packet
    if looks_l2(frame):
        pkt = Ether(frame)
    elif frame and frame[0] >> 4 == 6:
        pkt = IPv6(frame)
    elif frame and frame[0] >> 4 == 4:
        pkt = IP(frame)
    else:
        pkt = Ether(frame)
    return str(pkt.show(dump=True))


def _first_difference(expected: bytes, received: bytes) -> str:
    n = min(len(expected), len(received))
    diffs = [i for i in range(n) if expected[i] != received[i]]
    length = f"{len(received)} bytes, expected {len(expected)}"
    if not diffs:
        return length
    return f"{length}; {len(diffs)} bytes differ, first at offset {diffs[0]:#x}"


def _nearest(frame: bytes, candidates: Sequence[tuple[object, bytes]]) -> object | None:
    """The key of the same-length candidate differing from ``frame`` in fewest bytes, if
    under a tenth of them differ (a frame whose tag was corrupted)."""
    got = np.frombuffer(frame, dtype=np.uint8)
    best, best_diff = None, len(frame) // 10 + 1
    for key, exp in itertools.islice((c for c in candidates if len(c[1]) == len(frame)), 4096):
        diff = int(np.count_nonzero(np.frombuffer(exp, dtype=np.uint8) != got))
        if diff < best_diff:
            best, best_diff = key, diff
    return best


def classify(
    sent: Iterable[Frame],
    received: Iterable[Frame],
    expect: str | Expect | None = identity,
    *,
    ordered: bool = True,
    max_examples: int = 3,
    expected_frames: Sequence[bytes | None] | None = None,
) -> Verdict:
    """Compare what came back with what ``expect`` says each sent frame should become.

    Frames are matched by their tag (untagged ones by content). Each expected frame is
    delivered (first intact copy), corrupted (same length or longer, bytes differ), truncated
    (shorter) or lost; further intact copies are duplicated; an intact frame arriving after a
    later one of its stream is reordered (only if ``ordered``); anything else is unexpected.
    ``expected_frames``, if given, is ``expect`` already applied to each sent frame.
    """
    sent_b = [f if isinstance(f, bytes) else bytes(f) for f in sent]
    recv_b = [f if isinstance(f, bytes) else bytes(f) for f in received]
    if expected_frames is None:
        transform = resolve_expect(expect)
        expected_frames = [transform(f) for f in sent_b]
    elif len(expected_frames) != len(sent_b):
        raise ValueError(f"{len(expected_frames)} expected frames for {len(sent_b)} sent")
    expected: dict[object, tuple[int, int | None, int | None, bytes]] = {}
    for position, (frame, out) in enumerate(zip(sent_b, expected_frames, strict=True)):
        if out is None:
            continue
        tag = find_tag(frame)
        key: object = tag.key if tag is not None else out
        expected.setdefault(key, (position, *(tag.key if tag else (None, None)), out))
    verdict = Verdict(sent=len(sent_b), expected=len(expected), received=len(recv_b))
    examples: dict[str, list[Problem]] = {kind: [] for kind in KINDS}

    def note(kind: str, problem: Problem) -> None:
        setattr(verdict, kind, getattr(verdict, kind) + 1)
        if len(examples[kind]) < max_examples:
            examples[kind].append(problem)

    seen: set[object] = set()  # keys with any copy received (intact or not)
    intact: set[object] = set()
    newest: dict[int | None, int] = {}  # stream -> highest sent position delivered
    pending_prefix: list[tuple[object, bytes]] | None = None
    for index, frame in enumerate(recv_b):
        key = next((t.key for t in find_tags(frame) if t.key in expected), frame)
        entry = expected.get(key)
        if entry is None:
            # No usable tag: maybe a truncated copy that lost it.
            if pending_prefix is None:
                pending_prefix = [(k, v[3]) for k, v in expected.items()]
            match = next(
                (
                    k
                    for k, exp in pending_prefix
                    if len(frame) < len(exp) and k not in seen and exp.startswith(frame)
                ),
                None,
            )
            if match is None:  # maybe its tag was hit: the nearest frame of the same length
                match = _nearest(frame, [(k, e) for k, e in pending_prefix if k not in seen])
            if match is None:
                note("unexpected", Problem("unexpected", None, None, None, frame, index))
                continue
            key, entry = match, expected[match]
        position, stream, seq, exp = entry
        seen.add(key)
        if frame == exp:
            if key in intact:
                note("duplicated", Problem("duplicated", stream, seq, exp, frame, index))
                continue
            intact.add(key)
            verdict.delivered += 1
            if ordered and position < newest.get(stream, -1):
                note(
                    "reordered",
                    Problem(
                        "reordered", stream, seq, exp, frame, index, "arrived after a later one"
                    ),
                )
            newest[stream] = max(newest.get(stream, -1), position)
        else:
            kind = "truncated" if len(frame) < len(exp) else "corrupted"
            note(kind, Problem(kind, stream, seq, exp, frame, index, _first_difference(exp, frame)))
    for key, (_, stream, seq, exp) in expected.items():
        if key not in seen:
            note("lost", Problem("lost", stream, seq, exp, None, None))
    verdict.examples = {k: v for k, v in examples.items() if v}
    return verdict
