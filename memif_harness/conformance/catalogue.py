"""The conformance scenario catalogue (ids, families, one-line titles), shipped as data.

``catalogue.json`` was generated once from section B of ``shared/reference/scenarios.md``
(the ids are stable). The conformance engine's registry (:mod:`.registry`) says how each id
runs; the reports show every id, so gaps in coverage are visible.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from importlib import resources


@dataclasses.dataclass(frozen=True)
class Scenario:
    id: str
    family: str  # the id's letter prefix: H, I, R, D, Q, L, S, Z
    title: str


@functools.cache
def _load() -> tuple[dict[str, str], tuple[Scenario, ...]]:
    source = resources.files("memif_harness.conformance").joinpath("catalogue.json")
    text = source.read_text("utf-8")
    data = json.loads(text)
    families = {f["prefix"]: f["name"] for f in data["families"]}
    scenarios = tuple(Scenario(s["id"], s["family"], s["title"]) for s in data["scenarios"])
    return families, scenarios


def families() -> dict[str, str]:
    """Family prefix -> name, in catalogue order."""
    return dict(_load()[0])


def scenarios() -> tuple[Scenario, ...]:
    """Every catalogue scenario, in catalogue order."""
    return _load()[1]


def titles() -> dict[str, str]:
    """Scenario id -> its one-line title."""
    return {s.id: s.title for s in scenarios()}
