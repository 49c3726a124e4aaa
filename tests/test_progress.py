"""The rich progress plugin of ``memif-harness run`` on a terminal: one bar with the outcome
counts, and none of pytest's per-test letters (run here in a pytester subprocess)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from memif_harness.progress import RichProgress

pytest_plugins = ["pytester"]


def test_the_bar_counts_outcomes_and_pytest_prints_no_letters(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_some="""
        import pytest
        def test_ok(): pass
        def test_bad(): assert False
        @pytest.mark.xfail(reason="known", strict=True)
        def test_known(): assert False
        def test_skip(): pytest.skip("absent")
    """)
    out = io.StringIO()
    plugin = RichProgress(Console(file=out, force_terminal=True, width=120))
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", plugins=[plugin])
    result.assert_outcomes(passed=1, failed=1, xfailed=1, skipped=1)
    assert dict(plugin.counts) == {"passed": 1, "failed": 1, "xfailed": 1, "skipped": 1}
    assert not any(line.startswith((".F", "F.", ".Fxs")) for line in result.outlines)
    assert "4/4" in out.getvalue()
