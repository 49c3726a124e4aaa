"""The report document: its constants, the schema (``schema.json``), load and dump."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

import jsonschema

from ..conformance import catalogue

Report = dict[str, Any]
Record = dict[str, Any]

FORMAT: Final = "memif-harness-interop-report"
SCHEMA_VERSION: Final = 2

OUTCOMES: Final = ("passed", "failed", "skipped", "xfailed", "xpassed", "error")
#: a cell shows its worst outcome; earlier is worse
SEVERITY: Final = ("error", "failed", "xpassed", "xfailed", "passed", "skipped")
BAD: Final = frozenset({"failed", "error"})

PEERS: Final = ("python", "testpmd", "vpp", "libmemif")
ROLES: Final = ("master", "slave")
#: scenario groups in catalogue order (handshake, identity, regions, data, interrupts,
#: lifecycle, sockets, zero-copy); other prefixes sort after them
SCENARIO_GROUPS: Final = tuple(catalogue.families())
#: the column of tests that name no peer
NO_PEER: Final = "(no peer)"

MESSAGE_LIMIT: Final = 500


class InvalidReport(ValueError):
    """The document is not a valid memif-harness report; ``errors`` lists why."""

    def __init__(self, errors: Sequence[str], source: str = "report") -> None:
        self.errors = list(errors)
        shown = "\n  ".join(self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        super().__init__(
            f"{source} does not match the report schema (memif_harness/report/schema.json):"
            f"\n  {shown}{more}"
        )




#: what reading a report file may raise: the commands report these and exit 2
READ_ERRORS: Final = (OSError, json.JSONDecodeError, InvalidReport)


def load_schema() -> dict[str, Any]:
    text = resources.files("memif_harness.report").joinpath("schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validation_errors(report: object) -> list[str]:
    """Every schema violation in ``report``, as ``path: message`` lines (empty if valid)."""
    validator = jsonschema.Draft202012Validator(
        load_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(report), key=lambda e: list(map(str, e.path)))
    return [f"{e.json_path}: {e.message}" for e in errors]


def validate(report: object, source: str = "report") -> None:
    """Raise :class:`InvalidReport` unless ``report`` matches the schema."""
    errors = validation_errors(report)
    if errors:
        raise InvalidReport(errors, source)


def load(path: str | os.PathLike[str]) -> Report:
    """Read and validate a report file (a schema version 1 report is upgraded first)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict) and data.get("format") == FORMAT and data.get("schema_version") == 1:
        data = _upgrade_v1(data)
    validate(data, str(path))
    report: Report = data
    return report


def _upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 only added fields: records stay, the matrix is rebuilt from them."""
    from .build import build_matrix  # noqa: PLC0415 - build imports this module

    results = data.get("results")
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        return data  # let validation say what is wrong
    return {**data, "schema_version": SCHEMA_VERSION, "matrix": build_matrix(results)}


def dump(report: Report, path: str | os.PathLike[str]) -> Path:
    """Validate ``report`` and write it (parent directories are created)."""
    validate(report)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target
