"""The interop report: build, validate, render and compare.

A report is one JSON document per pytest run (see ``schema.json``, JSON Schema 2020-12):
run metadata, the peers, one record per test, counts per outcome, and a matrix of scenario id x
peer/role -> outcome. The pytest plugin's report module writes it; this package reads it back::

    python -m memif_harness.report show reports/interop.json
    python -m memif_harness.report markdown reports/interop.json >> "$GITHUB_STEP_SUMMARY"
    python -m memif_harness.report diff old.json new.json     # exit 1 on regressions

Reports are plain ``dict`` values as loaded from JSON; the schema is the contract.
:mod:`.document` holds the constants, the schema, load and dump; :mod:`.build` the matrix and
peer detection; :mod:`.render` the terminal and Markdown views; :mod:`.compare` the diff.
Imports nothing of the memif implementation.
"""

from __future__ import annotations

from .build import (
    PeerStatus,
    assemble,
    build_matrix,
    ci_info,
    column_key,
    detect_peers,
    merge_peers,
    scenario_sort_key,
    summarize,
    worst,
)
from .compare import (
    Change,
    ReportDiff,
    diff,
    render_diff,
)
from .document import (
    BAD,
    FORMAT,
    MESSAGE_LIMIT,
    OUTCOMES,
    PEERS,
    ROLES,
    SCENARIO_GROUPS,
    SCHEMA_VERSION,
    SEVERITY,
    InvalidReport,
    Record,
    Report,
    dump,
    load,
    load_schema,
    validate,
    validation_errors,
)
from .render import (
    LEGEND,
    STYLES,
    SYMBOLS,
    console_for,
    indent_lines,
    location,
    matrix_table,
    matrix_width,
    peers_table,
    record_scenarios,
    render,
    summary_line,
    to_markdown,
)

__all__ = [
    "BAD",
    "FORMAT",
    "LEGEND",
    "MESSAGE_LIMIT",
    "OUTCOMES",
    "PEERS",
    "ROLES",
    "SCENARIO_GROUPS",
    "SCHEMA_VERSION",
    "SEVERITY",
    "STYLES",
    "SYMBOLS",
    "Change",
    "InvalidReport",
    "PeerStatus",
    "Record",
    "Report",
    "ReportDiff",
    "assemble",
    "build_matrix",
    "ci_info",
    "column_key",
    "console_for",
    "detect_peers",
    "diff",
    "dump",
    "indent_lines",
    "load",
    "load_schema",
    "location",
    "matrix_table",
    "matrix_width",
    "merge_peers",
    "peers_table",
    "record_scenarios",
    "render",
    "render_diff",
    "scenario_sort_key",
    "summarize",
    "summary_line",
    "to_markdown",
    "validate",
    "validation_errors",
    "worst",
]
