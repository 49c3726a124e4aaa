"""The package layout is the architecture: each room imports only the rooms below it.

Rooms, lowest first: ``memif.protocol`` < ``memif.datapath`` < ``memif.runtime`` (the memif
library) < ``traffic`` < ``apps`` / ``conformance``; ``report`` stands apart (it knows nothing
of memif; it reads the scenario catalogue from ``conformance``); the package top, ``cli`` and
``runner`` may use everything, and so may the pytest plugin (``fixtures/``, installed as
``memif_harness_fixtures``).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "memif_harness"

#: room -> the rooms its modules may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "memif.protocol": set(),
    "memif.datapath": {"memif.protocol"},
    "memif.runtime": {"memif.protocol", "memif.datapath"},
    "memif": {"memif.protocol", "memif.datapath", "memif.runtime"},
    "traffic": {"memif", "memif.protocol", "memif.datapath", "memif.runtime"},
    "apps": {"memif", "memif.protocol", "memif.datapath", "memif.runtime", "traffic"},
    "conformance": {"memif", "memif.protocol", "memif.datapath", "memif.runtime", "traffic"},
    # the catalogue's ids and titles come from conformance (data only)
    "report": {"version", "conformance"},
}


def room_of(module: str) -> str:
    """``memif_harness.memif.runtime.interface`` -> ``memif.runtime``; the top is ``top``."""
    parts = module.split(".")[1:]
    if not parts or parts[0] in {"cli", "runner", "progress", "__init__"}:
        return "top"
    if parts[0] == "memif" and len(parts) > 1 and parts[1] in {"protocol", "datapath", "runtime"}:
        return f"memif.{parts[1]}"
    return parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts)


def imported_rooms(source: str, package: str) -> set[str]:
    """The rooms of memif_harness that ``source`` (a module of ``package``) imports;
    ``version`` for an import of ``__version__`` alone."""
    rooms: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            name = ".".join([*base, node.module] if node.module else base)
            names = [a.name for a in node.names]
            if name == "memif_harness" and names == ["__version__"]:
                rooms.add("version")
                continue
            targets = [f"{name}.{n}" for n in names] if name == "memif_harness" else [name]
        else:
            continue
        rooms |= {room_of(t) for t in targets if t.startswith("memif_harness.")}
        rooms |= {"top" for t in targets if t == "memif_harness"}
    return rooms


def rooms_of_file(path: Path) -> set[str]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return imported_rooms(path.read_text(), package)


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if room_of(module_name(p)) in ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_room_imports_only_lower_rooms(path: Path) -> None:
    room = room_of(module_name(path))
    forbidden = rooms_of_file(path) - ALLOWED[room] - {room}
    assert not forbidden, f"{room} must not import {sorted(forbidden)}"


def test_imported_rooms_sees_every_spelling() -> None:
    """The check above can fail: each way of importing a higher room is seen."""
    pkg = "memif_harness.memif.datapath"
    assert imported_rooms("from ..runtime.interface import Interface", pkg) == {"memif.runtime"}
    assert imported_rooms("from memif_harness.traffic import udp", pkg) == {"traffic"}
    assert imported_rooms("from memif_harness import apps", pkg) == {"apps"}
    assert imported_rooms("import memif_harness.report.build", pkg) == {"report"}
    assert imported_rooms("import memif_harness", pkg) == {"top"}
    assert imported_rooms("from ... import __version__", pkg) == {"version"}
    assert imported_rooms("from ..protocol import wire\nimport numpy", pkg) == {"memif.protocol"}


def test_every_package_is_installed() -> None:
    """pyproject lists its packages by hand (fixtures/ maps to another import name): all of them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    dirs = {"memif_harness": PACKAGE, "memif_harness_fixtures": ROOT / "fixtures"}
    assert config["package-dir"] == {k: str(v.relative_to(ROOT)) for k, v in dirs.items()}
    found = {
        ".".join((name, *init.parent.relative_to(top).parts))
        for name, top in dirs.items()
        for init in top.rglob("__init__.py")
    }
    assert found == listed
