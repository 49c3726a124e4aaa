"""The memif-harness command line: ping, gen and loopback against real sockets."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from memif_harness import cli
from memif_harness.apps import output
from tests.test_responder import start_responder, stop_responder


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mh-cli-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def words(*parts: str) -> list[str]:
    """Command-line words: each part split on spaces (socket paths here have none)."""
    return [word for part in parts for word in part.split()]


def _peer(role: str) -> str:
    return "slave" if role == "master" else "master"


@pytest.mark.parametrize("mode", ["ethernet", "ip"])
@pytest.mark.parametrize("role", ["master", "slave"])
def test_ping_a_responder_subprocess(
    role: str, mode: str, sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The responder plays ``role``; ping the other one (the slave side connects first too)."""
    socket = str(sock_dir / "memif.sock")
    responder_args = ["--role", role, "--socket", socket, "--mode", mode]
    ping_args = ["ping", "--role", _peer(role), "--socket", socket, "--mode", mode]
    ping_args += ["--target", "192.168.1.1", "--count", "3", "--interval", "0.01"]
    if role == "master":
        proc = start_responder(*responder_args)
        status = cli.main(ping_args)
    else:
        # the ping side is master: let the responder (slave) connect to our listener
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(cli.main(ping_args)))
        thread.start()
        proc = start_responder(*responder_args)
        thread.join(30)
        status = result[0]
    out = capsys.readouterr().out
    code, log = stop_responder(proc)
    assert code == 0, log
    assert status == 0, out
    assert "3 packets transmitted, 3 received, 0% packet loss" in out
    assert "icmp_seq=3" in out
    if mode == "ethernet":
        assert "ARP: 192.168.1.1 is at 02:fe:00:00:00:01" in out
    assert "rtt min/avg/max/mdev" in out


@pytest.mark.parametrize("role", ["master", "slave"])
def test_ping_against_nothing_fails_clearly(
    role: str, sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(
        words(
            "ping --role",
            role,
            "--socket",
            str(sock_dir / "nobody.sock"),
            "--target 192.168.1.1 --connect-timeout 0.5",
        )
    )
    err = capsys.readouterr().err
    assert status == 1
    assert "no memif peer connected" in err
    assert "nobody.sock" in err
    if role == "slave":  # it said at once that it waits, and retries
        assert f"waiting for a master on {sock_dir / 'nobody.sock'}" in err, err
        assert "retrying every" in err


def test_ping_without_answer_reports_loss(
    sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    socket = str(sock_dir / "memif.sock")
    proc = start_responder("--role", "master", "--socket", socket, "--mode", "ip")
    try:
        status = cli.main(
            words(
                "ping --role slave --socket",
                socket,
                "--mode ip --target 192.168.1.77 --count 2 --timeout 0.2 --interval 0",
            )
        )
    finally:
        stop_responder(proc)
    out = capsys.readouterr().out
    assert status == 1
    assert "2 packets transmitted, 0 received, 100% packet loss" in out


def test_gen_against_a_responder(sock_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    socket = str(sock_dir / "memif.sock")
    proc = start_responder("--role", "master", "--socket", socket, "--queues", "2")
    try:
        ok = cli.main(
            words(
                "gen --role slave --socket",
                socket,
                "--stream icmp --queues 2 --count 2000 --size 128 --rate 50000",
            )
        )
        ok_out = capsys.readouterr().out
        # UDP is not echoed: every frame is lost, the pcaps say what was sent
        bad = cli.main(
            words(
                "gen --role slave --socket",
                socket,
                "--stream udp --count 5 --timeout 0.3 --pcap-dir",
                str(sock_dir / "pcaps"),
            )
        )
        bad_out = capsys.readouterr().out
    finally:
        stop_responder(proc)
    assert ok == 0, ok_out
    assert "gen: OK: sent 2000, expected 2000, received 2000" in ok_out
    assert bad == 1
    assert "5 lost" in bad_out
    assert (sock_dir / "pcaps" / "sent.pcap").exists()
    assert str(sock_dir / "pcaps" / "received.pcap") in bad_out


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--queues", "2", "--count", "500"],
        ["--mode", "ip", "--size", "1500", "--ring-size", "64"],
        ["--size", "9000", "--count", "100"],
    ],
    ids=["default", "2-queues", "ip", "jumbo"],
)
def test_loopback(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["loopback", *extra])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "loopback: OK" in out
    assert "slave -> master q0" in out
    assert "master -> slave q0" in out


def test_ring_size_must_be_a_power_of_two(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["loopback", "--ring-size", "1000"])
    assert info.value.code == 2
    assert "power of 2" in capsys.readouterr().err
    assert cli.ring_size("1024") == 10


def test_responder_threads_need_internal_fd_events(
    sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    socket = str(sock_dir / "memif.sock")
    status = cli.main(
        words("responder --role master --socket", socket, "--threads --fd-events external")
    )
    assert status == 2
    assert "--threads drives the connection with internal polling" in capsys.readouterr().err
    assert not Path(socket).exists()


def test_plain_table_when_not_a_tty(capsys: pytest.CaptureFixture[str]) -> None:
    output.print_table("t", ["name", "n"], [["a", 1], ["bb", 22]])
    assert capsys.readouterr().out.splitlines() == ["t", "name   n", "a      1", "bb    22"]
