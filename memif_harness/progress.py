"""A rich progress bar for ``memif-harness run`` and ``conformance`` on a terminal.

A pytest plugin: once collection is done it shows one bar (tests done of all, the counts of
each outcome so far, the test running now) and keeps pytest's own per-test letters off the
screen, so the two do not garble each other; pytest's summary and our matrix follow as usual.
Off a terminal (CI logs) it is not used and pytest prints its dots.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator

import pytest
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["RichProgress", "outcome"]


def outcome(report: pytest.TestReport) -> str:
    """The pytest summary category of ``report`` ('' for a setup or teardown that passed)."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.passed:
        return "passed" if report.when == "call" else ""
    if report.failed:
        return "failed" if report.when == "call" else "error"
    return "skipped"


class RichProgress:
    """The plugin; give it the console to draw on."""

    def __init__(self, console: Console) -> None:
        self.counts: Counter[str] = Counter()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("{task.fields[counts]}"),
            TextColumn("[dim]{task.fields[now]}"), console=console, transient=True,
        )
        self._task = self._progress.add_task("tests", total=None, counts="", now="")

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self) -> Generator[None, object, object]:
        """pytest's own category and word, without the letter it would print."""
        status = yield
        if isinstance(status, tuple) and len(status) == 3:
            return status[0], "", status[2]
        return status

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._progress.update(self._task, total=len(session.items))
        self._progress.start()

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self._progress.update(self._task, now=nodeid.rsplit("::", maxsplit=1)[-1])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        category = outcome(report)
        if category:
            self.counts[category] += 1
            self._progress.update(
                self._task, counts=" ".join(f"{n} {c}" for c, n in sorted(self.counts.items())))

    def pytest_runtest_logfinish(self) -> None:
        self._progress.advance(self._task)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self._progress.stop()
