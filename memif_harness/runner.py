"""``memif-harness run``: run the interop suites against the peers found, then show the matrix.

It runs pytest in-process on the ``suites/`` directory of this checkout with the report plugin
(``-p memif_harness_fixtures.report --memif-report PATH``), quietly, then renders the report with
:mod:`memif_harness.report` and returns pytest's exit status::

    memif-harness run                                  # every peer found
    memif-harness run --peer testpmd --require-peer testpmd --report reports/dpdk.json
    memif-harness run --vpp-image memif-harness/vpp:26.06 --peer vpp -k D1
    memif-harness run --app-file examples/apps.toml --peer app:responder   # any memif app
    memif-harness run -- -n 2                          # args after -- go to pytest

Exit status: pytest's (0: every test passed or skipped; 1: failures; 2: interrupted, by
SIGINT or SIGTERM, with the partial report written;
3: internal error; 4: usage error), :data:`EXIT_NO_TESTS` (5) when no test was selected, and
:data:`EXIT_NO_SUITES` (4) when there is no ``suites/`` directory. Also runnable as
``python -m memif_harness.runner``.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from rich.console import Console
from rich.markup import escape

import memif_harness

from . import report as mreport
from .report.html import write_html

DEFAULT_REPORT: Final = "reports/interop.json"
EXIT_NO_TESTS: Final = 5  # pytest.ExitCode.NO_TESTS_COLLECTED
EXIT_NO_SUITES: Final = 4  # pytest.ExitCode.USAGE_ERROR

EXIT_MEANING: Final = {
    0: "all selected tests passed or were skipped",
    1: "some tests failed",
    2: "the run was interrupted (or a test module failed to import)",
    3: "pytest hit an internal error",
    4: "pytest was used wrongly (bad option or path)",
    5: "no tests were selected",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``run`` subcommand's options (also used by ``python -m memif_harness.runner``)."""
    peers = parser.add_argument_group("peers")
    peers.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run against this peer ({', '.join(mreport.PEERS)}); repeatable or "
        "comma-separated; a named peer must be there (as --require-peer); default: every "
        "peer found",
    )
    peers.add_argument(
        "--require-peer",
        action="append",
        default=[],
        metavar="NAME",
        help="fail, instead of skipping, when this peer is absent (repeatable; implies --peer)",
    )
    peers.add_argument("--vpp-bin", metavar="PATH", help="local vpp binary (env VPP_BIN)")
    peers.add_argument("--vppctl", metavar="PATH", help="vppctl for --vpp-bin (env VPPCTL)")
    peers.add_argument(
        "--vpp-plugin-path", metavar="DIR",
        help="VPP plugin directory for --vpp-bin (env VPP_PLUGIN_PATH; default: VPP's own)",
    )
    peers.add_argument(
        "--vpp-api-dir", metavar="DIR",
        help="VPP API definitions (*.api.json) for --vpp-bin (env VPP_API_DIR; default: "
        "share/vpp/api of the install holding --vpp-bin)",
    )
    peers.add_argument("--vpp-image", metavar="IMAGE", help="VPP container image (env VPP_IMAGE)")
    peers.add_argument(
        "--vpp-privileged", action="store_true",
        help="run the VPP container privileged (only for engines that need it)",
    )
    peers.add_argument("--testpmd", metavar="PATH", help="dpdk-testpmd binary (default: PATH)")
    peers.add_argument(
        "--libmemif-app", metavar="PATH", help="libmemif icmp_responder binary (env LIBMEMIF_APP)"
    )
    peers.add_argument(
        "--app-cmd", metavar="CMD",
        help="any memif app as peer 'app': its command line with placeholders ({role} "
        "{socket} {id} {secret} {ip} {mac} {queues} {ring_size} {buffer_size} ...)",
    )
    peers.add_argument(
        "--app-set", action="append", default=[], metavar="KEY=VALUE",
        help="a key of the --app-cmd app's description (frames=io, ready_line=REGEX ...)",
    )
    peers.add_argument(
        "--app-file", metavar="TOML",
        help="[app.NAME] descriptions of memif apps, each a peer app:NAME",
    )
    out = parser.add_argument_group("output and selection")
    out.add_argument(
        "--report",
        default=DEFAULT_REPORT,
        metavar="PATH",
        help=f"where to write the JSON interop report (default: {DEFAULT_REPORT})",
    )
    out.add_argument("--junitxml", metavar="PATH", help="also write JUnit XML here")
    out.add_argument(
        "--html", metavar="PATH", help="also write the HTML report here (one self-contained file)"
    )
    out.add_argument("-k", dest="keyword", metavar="EXPR", help="pytest -k: select tests by name")
    out.add_argument("-m", dest="markexpr", metavar="EXPR", help="pytest -m: select by marker")
    out.add_argument(
        "--suites",
        type=Path,
        metavar="DIR",
        help="the suites directory (default: suites/ of this checkout)",
    )
    out.add_argument(
        "pytest_args",
        nargs="*",
        metavar="-- PYTEST_ARGS",
        help="further pytest arguments, after --",
    )


def repo_root() -> Path:
    return Path(memif_harness.__file__).resolve().parents[1]


def find_suites(explicit: Path | None = None) -> Path | None:
    """The suites directory: ``explicit``, else ``suites/`` next to the package (a checkout)."""
    path = explicit if explicit is not None else repo_root() / "suites"
    return path if path.is_dir() else None


def split_names(values: Sequence[str]) -> list[str]:
    names: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if name and name not in names:
                names.append(name)
    return names


def pytest_args(
    args: argparse.Namespace, suites: Path, peers: Sequence[str]
) -> list[str]:
    """The pytest command line for ``args``."""
    argv = [
        str(suites / getattr(args, "suite_file", "")) if getattr(args, "suite_file", "")
        else str(suites),
        "-p", "memif_harness_fixtures.report",
        "--memif-report", str(args.report),
        "--no-memif-matrix",  # we render it ourselves, after pytest's summary
        # no pytest short summary (-rN): the report rendered after the run lists every
        # failure and every skip reason once (-rfE used to hide the skips, -ra repeats failures)
        "-q", "--tb=short", "-rN",
        "--rootdir", str(suites.parent),
        # we run inside memif_harness, which the pytest11 entry point marks for rewriting
        "-W", "ignore:Module already imported so cannot be rewritten:"
        "pytest.PytestAssertRewriteWarning",
    ]
    for name in peers:
        argv += ["--peer", name]
    # a peer named with --peer is asked for: its absence fails the run, like --require-peer
    for name in split_names([*args.peer, *args.require_peer]):
        argv += ["--require-peer", name]
    for opt, value in (
        ("--vpp-bin", args.vpp_bin), ("--vppctl", args.vppctl), ("--vpp-image", args.vpp_image),
        ("--vpp-plugin-path", args.vpp_plugin_path), ("--vpp-api-dir", args.vpp_api_dir),
        ("--testpmd", args.testpmd), ("--libmemif-app", args.libmemif_app),
        ("--app-cmd", args.app_cmd), ("--app-file", args.app_file),
        ("--junitxml", args.junitxml),
    ):
        if value:  # empty strings (e.g. tox's {env:VPP_IMAGE:}) mean "not given"
            argv += [opt, str(value)]
    if args.vpp_privileged:
        argv.append("--vpp-privileged")
    if getattr(args, "python_peer", None):
        argv += ["--python-peer", args.python_peer]
    for setting in args.app_set or []:
        argv += ["--app-set", setting]
    if args.keyword:
        argv += ["-k", args.keyword]
    if args.markexpr:
        argv += ["-m", args.markexpr]
    argv += list(args.pytest_args or [])
    return argv


def choose_peers(
    args: argparse.Namespace, found: Sequence[mreport.PeerStatus]
) -> tuple[list[str], list[str]]:
    """(peers to run, unknown names). Default: every peer found; required peers always."""
    asked = split_names(args.peer)
    required = split_names(args.require_peer)
    known = {*mreport.PEERS, "app", *(p.name for p in found)}
    unknown = [n for n in dict.fromkeys(asked + required) if n not in known]
    chosen = asked or [p.name for p in found if p.available]
    return chosen + [n for n in required if n not in chosen], unknown


def app_peers(args: argparse.Namespace) -> list[mreport.PeerStatus]:
    """The app peers of ``--app-cmd`` and ``--app-file`` (ValueError for a bad file); whether
    each one's program exists is for its tests to find out."""
    found = []
    if args.app_cmd:
        found.append(mreport.PeerStatus("app", True, detail=args.app_cmd))
    if args.app_file:
        from memif_harness_fixtures.peers.app import load_apps, peer_name  # noqa: PLC0415

        found += [mreport.PeerStatus(peer_name(name), True, detail=" ".join(app.cmd.split()))
                  for name, app in load_apps(args.app_file).items()]
    return found


def describe_exit(code: int) -> str:
    return EXIT_MEANING.get(code, f"pytest exited with status {code}")


def main(args: argparse.Namespace, console: Console | None = None) -> int:
    """Run the suites as ``args`` say; return pytest's exit status (see the module doc)."""
    wide = console is None
    console = console or mreport.console_for()
    err = Console(stderr=True, highlight=False, soft_wrap=True)

    suites = find_suites(args.suites)
    if suites is None:
        where = args.suites or repo_root() / "suites"
        err.print(
            f"[bold red]error:[/] no suites directory at {escape(str(where))}.\n"
            "The interop suites live in the source checkout, not in the installed package: "
            "clone the repository and `pip install -e '.\\[test]'`, or pass --suites DIR."
        )
        return EXIT_NO_SUITES

    found = mreport.detect_peers(
        testpmd=args.testpmd, vpp_bin=args.vpp_bin, vpp_image=args.vpp_image,
        libmemif_app=args.libmemif_app,
    )
    try:
        found += app_peers(args)
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        return EXIT_NO_SUITES
    peers, unknown = choose_peers(args, found)
    if unknown:
        err.print(
            f"[bold red]error:[/] unknown peer(s) {escape(', '.join(unknown))}; "
            f"known: {', '.join(p.name for p in found)}"
        )
        return EXIT_NO_SUITES

    console.print("[bold]peers[/]")
    for p in found:
        if p.available:
            mark = "[green]found[/]" if p.name in peers else "[dim]found, not selected[/]"
            line = f"  {p.name:<9} {mark}  [dim]{escape(p.detail or '')}[/]"
            console.print(line, soft_wrap=True)
        else:
            mark = "[yellow]absent[/]" if p.name in peers else "[dim]absent[/]"
            line = f"  {p.name:<9} {mark}  [dim]{escape(p.reason or '')}[/]"
            console.print(line, soft_wrap=True)

    argv = pytest_args(args, suites, peers)
    report_path = Path(args.report)
    if report_path.exists():
        report_path.unlink()  # never show a stale report as this run's
    console.print(f"[dim]$ pytest {escape(' '.join(argv))}[/]", soft_wrap=True)
    sys.stdout.flush()
    # suites may import helpers from the checkout (``from suites.conftest import ...``)
    if str(suites.parent) not in sys.path:
        sys.path.insert(0, str(suites.parent))

    import pytest  # noqa: PLC0415 - only the run subcommand needs pytest

    from .progress import RichProgress  # noqa: PLC0415 - a pytest plugin

    plugins = [RichProgress(console)] if console.is_terminal else []
    with _sigterm_interrupts():
        code = int(pytest.main(argv, plugins=plugins))
    sys.stdout.flush()
    console.print()

    if code == EXIT_NO_TESTS:
        selection = ", ".join(
            f"{what} {value!r}"
            for what, value in (("-k", args.keyword), ("-m", args.markexpr))
            if value
        )
        err.print(
            f"[bold red]error:[/] no tests were selected from {escape(str(suites))}"
            + (f" with {escape(selection)}" if selection else "")
            + f" for peers {escape(', '.join(peers) or '(none)')}. "
            "Check the -k/-m expression and --peer names, or whether the suites exist yet."
        )
    if report_path.is_file():
        try:
            rendered = mreport.load(report_path)
        except (OSError, ValueError) as exc:
            err.print(
                f"[bold red]error:[/] cannot read the report {escape(str(report_path))}: "
                f"{escape(str(exc))}"
            )
            return code or 1
        if code != EXIT_NO_TESTS:
            mreport.render(rendered, mreport.console_for(rendered) if wide else console)
        console.print(f"report: {report_path}", markup=False)
        if args.html:
            console.print(f"html:   {write_html(rendered, args.html)}", markup=False)
        else:
            console.print(
                f"[dim]HTML: memif-harness report {escape(str(report_path))} --html "
                f"{escape(str(report_path.with_suffix('.html')))}[/]", soft_wrap=True,
            )
    else:
        err.print(f"[yellow]no report written[/] ({describe_exit(code)})")
    if args.junitxml:
        console.print(f"junit:  {args.junitxml}", markup=False)
    if code not in (0, EXIT_NO_TESTS):
        console.print(f"[bold red]exit {code}:[/] {describe_exit(code)}")
    return code


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Make SIGTERM (what CI sends on cancel or timeout) interrupt the run as Ctrl-C does, so
    pytest finishes the session and the partial report is written (exit status 2)."""

    def interrupt(_signum: int, _frame: types.FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave SIGTERM alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def conformance(args: argparse.Namespace) -> int:
    """``memif-harness conformance``: the engine's scenarios (suites/test_catalogue.py) against
    the peers, optionally one peer role, with the same matrix and reports as ``run``."""
    args.suite_file = "test_catalogue.py"
    if args.role:
        role = f"peer_{args.role}"
        args.keyword = f"({args.keyword}) and {role}" if args.keyword else role
    return main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memif-harness run",
        description="Run the memif interop suites against the available peers and show the "
        "scenario x peer/role matrix.",
    )
    add_arguments(parser)
    return parser


def cli(argv: Sequence[str] | None = None) -> int:
    return main(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
