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
    peer_summaries,
    scenario_sort_key,
    summarize,
    test_name,
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
    NO_PEER,
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
    NO_TEST,
    STYLES,
    SYMBOLS,
    abbreviations_used,
    console_for,
    coverage_line,
    indent_lines,
    location,
    matrix_tables,
    matrix_width,
    peer_lines,
    peers_table,
    print_matrix,
    record_scenarios,
    render,
    row_title,
    skip_reasons,
    summary_line,
    to_markdown,
)

__all__ = [
    "BAD",
    "FORMAT",
    "LEGEND",
    "MESSAGE_LIMIT",
    "NO_PEER",
    "NO_TEST",
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
    "abbreviations_used",
    "assemble",
    "build_matrix",
    "ci_info",
    "column_key",
    "console_for",
    "coverage_line",
    "detect_peers",
    "diff",
    "dump",
    "indent_lines",
    "load",
    "load_schema",
    "location",
    "matrix_tables",
    "matrix_width",
    "merge_peers",
    "peer_lines",
    "peer_summaries",
    "peers_table",
    "print_matrix",
    "record_scenarios",
    "render",
    "render_diff",
    "row_title",
    "scenario_sort_key",
    "skip_reasons",
    "summarize",
    "summary_line",
    "test_name",
    "to_markdown",
    "validate",
    "validation_errors",
    "worst",
]
