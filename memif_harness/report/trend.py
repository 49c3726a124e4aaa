"""Pass counts per peer over stored runs (a directory of past reports), as an inline SVG."""

from __future__ import annotations

import os
from collections import Counter
from html import escape
from pathlib import Path
from typing import Final

from .document import NO_PEER, READ_ERRORS, Report, load

#: line colours, one per peer in order of appearance (colour-blind safe, Okabe-Ito)
PALETTE: Final = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000")


def load_history(directory: str | os.PathLike[str]) -> tuple[list[Report], list[str]]:
    """Every report in ``directory`` (``*.json``, not recursive), oldest run first, and the
    files that were not reports (with why), so that one bad file does not hide the rest."""
    reports: list[tuple[str, Report]] = []
    skipped: list[str] = []
    for path in sorted(Path(directory).glob("*.json")):
        try:
            report = load(path)
        except READ_ERRORS as exc:
            skipped.append(f"{path}: {str(exc).splitlines()[0]}")
            continue
        reports.append((report["run"]["started"], report))
    reports.sort(key=lambda sr: sr[0])
    return [r for _, r in reports], skipped


def pass_counts(history: list[Report]) -> dict[str, list[int]]:
    """Peer -> passed tests in each run of ``history`` (0 where the peer did not run)."""
    peers: dict[str, list[int]] = {}
    for i, report in enumerate(history):
        counts = Counter(
            r.get("peer") or NO_PEER for r in report["results"] if r["outcome"] == "passed"
        )
        for peer in [r.get("peer") or NO_PEER for r in report["results"]]:
            peers.setdefault(peer, [0] * len(history))
        for peer, n in counts.items():
            peers[peer][i] = n
    return peers


def trend_svg(history: list[Report], width: int = 560, height: int = 180) -> str:
    """A line per peer: passed tests per run, oldest left; each point has a tooltip."""
    counts = pass_counts(history)
    if not history or not counts:
        return ""
    left, right, top, bottom = 40, 120, 10, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max(1, *(max(v) for v in counts.values()))
    step = plot_w / max(len(history) - 1, 1)

    def x(i: int) -> float:
        return left + i * step

    def y(v: int) -> float:
        return top + plot_h * (1 - v / top_value)

    parts = [
        f'<svg class="trend" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="passed tests per peer over the stored runs">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#888"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#888"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" font-size="10">{top_value}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>',
        f'<text x="{left}" y="{height - 8}" font-size="10">{escape(_day(history[0]))}</text>',
        f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end" font-size="10">'
        f"{escape(_day(history[-1]))} ({len(history)} runs)</text>",
    ]
    for n, (peer, values) in enumerate(sorted(counts.items())):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
        for i, v in enumerate(values):
            started = history[i]["run"]["started"]
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(peer)}: {v} passed, run of {escape(started)}</title></circle>"
            )
        ly = top + 12 + 14 * n
        parts.append(
            f'<rect x="{left + plot_w + 10}" y="{ly - 8}" width="10" height="10" '
            f'fill="{colour}"/><text x="{left + plot_w + 24}" y="{ly}" font-size="11">'
            f"{escape(peer)} ({values[-1]})</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _day(report: Report) -> str:
    return str(report["run"]["started"])[:16].replace("T", " ")
