"""A user gets a clear answer, never a stall or a traceback (issue 10).

Each test is a regression test for a dead end a new user hit: usage errors caught up front,
refusals named as soon as the peer sends them, a summary on Ctrl-C, gen bounded in time
against a peer that does not echo, and gen listening before it builds its frames.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memif_harness import cli
from memif_harness.apps.responder import ResponderCore
from memif_harness.memif.protocol.constants import Mode
from memif_harness.memif.protocol.errors import MemifError
from memif_harness.memif.runtime.endpoint import Endpoint
from tests.test_responder import start_responder, stop_responder


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mh-answers-", dir="/tmp") as path:
        yield Path(path)


def words(*parts: str) -> list[str]:
    return [word for part in parts for word in part.split()]


# -- usage errors up front ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ("gen --role slave --socket /tmp/x --vlan 5000", "VLAN id must be 0..4095"),
        ("gen --role slave --socket /tmp/x --rate -5", "must be positive"),
        ("gen --role slave --socket /tmp/x --rate nan", "must be positive"),
        ("responder --role master --socket /tmp/x --queues 300", "must be 1..255"),
        ("gen --role slave --socket /tmp/x --queues 0", "must be 1..255"),
        ("ping --role slave --socket /tmp/x --target 1.2.3.4 --size 100000", "0..65507"),
        ("ping --role slave --socket /tmp/x --target 1.2.3.4 --size -1", "0..65507"),
        ("gen --role slave --socket /tmp/x --size 100000", "frame size 100000"),
        ("loopback --size 100000", "frame size 100000"),
        ("ping --role slave --socket /tmp/x --target 1.2.3.4 --size 9000 --ring-size 2",
         "does not fit"),
    ],
    ids=["vlan", "rate-negative", "rate-nan", "queues-300", "queues-0", "ping-size",
         "ping-size-negative", "gen-size", "loopback-size", "ping-size-vs-ring"],
)  # fmt: skip
def test_usage_errors_are_caught_up_front(
    argv: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv.split())
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert "num_s2m_rings" not in err


def test_ring_size_metavar_says_slots(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["ping", "--help"])
    out = capsys.readouterr().out
    assert "--ring-size SLOTS" in out
    assert "LOG2" not in out


# -- refusals named at once -----------------------------------------------------------------


def test_peer_refusal_is_reported_as_soon_as_it_arrives(
    sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(sock_dir / "secret.sock")
    proc = start_responder("--role", "master", "--socket", path, "--secret", "right")
    try:
        start = time.monotonic()
        status = cli.main(
            words(
                "ping --role slave --socket",
                path,
                "--secret wrong --target 192.168.1.1 --connect-timeout 30",
            )
        )
        elapsed = time.monotonic() - start
    finally:
        code, log = stop_responder(proc)
    err = capsys.readouterr().err
    assert status == 1
    assert elapsed < 10, elapsed  # not the 30 s connect timeout
    assert "the master refused the connection: 'incorrect secret'" in err, err
    assert code == 0, log
    # the responder logs the refusal with its reason
    assert "connection refused: incorrect secret" in log, log


def test_responder_logs_a_handshake_that_timed_out(sock_dir: Path) -> None:
    path = str(sock_dir / "slow.sock")
    proc = start_responder(
        "--role", "master", "--socket", path, "--handshake-timeout", "0.3"
    )
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        mute.connect(path)
        mute.settimeout(5)
        assert mute.recv(256)  # HELLO
        assert mute.recv(256)  # DISCONNECT after 0.3 s
        assert mute.recv(256) == b""
    finally:
        mute.close()
        code, log = stop_responder(proc)
    assert code == 0, log
    assert "handshake timed out after 0.3 s" in log, log


# -- ping -----------------------------------------------------------------------------------


def test_ping_prints_its_summary_on_sigint(sock_dir: Path) -> None:
    path = str(sock_dir / "ping.sock")
    responder = start_responder("--role", "master", "--socket", path)
    ping = subprocess.Popen(
        [sys.executable, "-m", "memif_harness.cli", *words(
            "ping --role slave --socket", path,
            "--target 192.168.1.1 --count 1000 --interval 0.05")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert ping.stdout is not None
        for line in ping.stdout:
            if "icmp_seq=3 " in line:
                break
        ping.send_signal(signal.SIGINT)
        out, _ = ping.communicate(timeout=10)
    finally:
        if ping.poll() is None:
            ping.kill()
            ping.wait()
        stop_responder(responder)
    assert "Traceback" not in out, out
    assert "ping statistics ---" in out, out
    assert "packets transmitted" in out
    assert ping.returncode == 130, out


def _bad_echo_peer(path: str, stop: threading.Event) -> None:
    """A master that answers every echo request with a corrupted payload (and ARP)."""
    core = ResponderCore("192.168.1.1", "02:fe:00:00:00:01", mode=Mode.ETHERNET)
    with Endpoint("master", path) as ep:
        while not stop.is_set():
            if not ep.connected:
                time.sleep(0.01)
                continue
            try:
                frames = ep.recv(16, timeout=0.05)
            except Exception:  # the link went down meanwhile
                continue
            for frame in frames:
                reply = core.reply(frame)
                if reply is None:
                    continue
                if reply[12:14] == b"\x08\x00":
                    reply = reply[:-1] + bytes([reply[-1] ^ 0xFF])  # corrupt the payload
                ep.send([reply])


def test_ping_bad_reply_does_not_cost_a_full_timeout(
    sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(sock_dir / "bad.sock")
    stop = threading.Event()
    peer = threading.Thread(target=_bad_echo_peer, args=(path, stop), daemon=True)
    peer.start()
    try:
        time.sleep(0.3)
        start = time.monotonic()
        status = cli.main(
            words("ping --role slave --socket", path,
                  "--target 192.168.1.1 --count 3 --timeout 5 --interval 0")
        )  # fmt: skip
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        peer.join(5)
    out = capsys.readouterr().out
    assert status == 1
    assert out.count("bad reply icmp_seq=") == 3, out
    assert "3 packets transmitted, 0 received" in out
    assert elapsed < 10, elapsed  # 3 x 5 s before


# -- gen ------------------------------------------------------------------------------------


def _gen_against_responder(path: str, args: str) -> tuple[int, float]:
    """``gen --role slave ARGS`` against a responder master: status and seconds taken."""
    proc = start_responder("--role", "master", "--socket", path)
    try:
        start = time.monotonic()
        status = cli.main(words("gen --role slave --socket", path, args))
        return status, time.monotonic() - start
    finally:
        stop_responder(proc)


def test_gen_against_a_peer_that_does_not_echo_ends_soon(
    sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, elapsed = _gen_against_responder(
        str(sock_dir / "noecho.sock"), "--stream udp --count 3000 --timeout 0.5 --rate 2000"
    )
    out = capsys.readouterr().out
    assert status == 1
    assert "3000 lost" in out, out
    assert elapsed < 20, elapsed  # about 40 s before (0.5 s per burst once the window filled)
    assert "gen: progress: sent " in out, out  # it says what it is doing while it runs


def test_gen_deadline_bounds_the_run(sock_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, elapsed = _gen_against_responder(
        str(sock_dir / "deadline.sock"), "--stream icmp --count 3000 --rate 500 --deadline 1"
    )
    out = capsys.readouterr().out
    assert status == 1
    assert "deadline of 1 s passed" in out, out
    assert "unsent" in out, out
    assert elapsed < 15, elapsed


def test_gen_master_listens_before_it_builds_frames(
    sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sock_dir / "early.sock"
    result: list[int] = []
    gen = threading.Thread(
        target=lambda: result.append(
            cli.main(
                words("gen --role master --socket", str(path),
                      "--stream icmp --count 3000 --connect-timeout 120")
            )
        )
    )  # fmt: skip
    start = time.monotonic()
    gen.start()
    try:
        while not path.exists():
            assert time.monotonic() - start < 2, "gen does not listen yet"
            time.sleep(0.02)
        proc = start_responder("--role", "slave", "--socket", str(path))
    finally:
        gen.join(120)
    code, log = stop_responder(proc)
    out = capsys.readouterr().out
    assert result == [0], out
    assert code == 0, log
    assert not path.exists()  # removed on exit


def test_gen_says_why_the_link_went_down(
    sock_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(sock_dir / "gone.sock")
    proc = start_responder("--role", "master", "--socket", path)
    result: list[int] = []
    gen = threading.Thread(
        target=lambda: result.append(
            cli.main(words("gen --role slave --socket", path,
                           "--stream icmp --count 2000 --rate 200"))
        )
    )  # fmt: skip
    gen.start()
    out = err = ""
    try:
        deadline = time.monotonic() + 60
        while "gen: progress" not in out:  # frames built, link up, traffic flowing
            assert time.monotonic() < deadline, out + err
            assert gen.is_alive(), out + err
            time.sleep(0.1)
            captured = capsys.readouterr()
            out, err = out + captured.out, err + captured.err
    finally:
        stop_responder(proc)  # it deletes its interface: DISCONNECT "interface deleted"
        gen.join(30)
    err += capsys.readouterr().err
    assert result == [1]
    assert "the link went down: the peer said 'interface deleted'" in err, err
    assert "Traceback" not in err


def _late_echo_peer(path: str, stop: threading.Event, deaf: float) -> None:
    """A master that drops what arrives in its first ``deaf`` seconds of each link, then
    echoes: testpmd does this to frames that arrive before ``start`` (it flushes its queues)."""
    with Endpoint("master", path) as ep:
        while not stop.is_set():
            if not ep.connected:
                up_since = 0.0
                time.sleep(0.01)
                continue
            up_since = up_since or time.monotonic()
            try:
                frames = ep.recv(64, timeout=0.05)
                if frames and time.monotonic() - up_since > deaf:
                    ep.send(frames)
            except MemifError:  # the link went down meanwhile
                continue


@pytest.mark.parametrize("warmup", [False, True])
def test_gen_warmup_waits_for_a_peer_that_starts_echoing_late(
    sock_dir: Path, capsys: pytest.CaptureFixture[str], warmup: bool
) -> None:
    path = str(sock_dir / "late.sock")
    stop = threading.Event()
    peer = threading.Thread(target=_late_echo_peer, args=(path, stop, 1.5), daemon=True)
    peer.start()
    try:
        time.sleep(0.2)
        status = cli.main(
            words("gen --role slave --socket", path, "--stream udp --count 200 --timeout 1")
            + (["--warmup", "10"] if warmup else [])
        )
    finally:
        stop.set()
        peer.join(5)
    out = capsys.readouterr().out
    if warmup:
        assert status == 0, out
        assert "gen: warm-up: the peer echoes after" in out, out
        assert "gen: OK: sent 200, expected 200, received 200" in out
    else:  # what the warm-up is for
        assert status == 1, out
        assert "200 lost" in out, out
