"""The testpmd text parsers against real DPDK 22.11.11 output.

The golden files in ``tests/data/testpmd/`` are verbatim captures (prompt, ``\\r\\n`` echo and
all) of two ``dpdk-testpmd`` processes talking over ``net_memif``: a client started before its
server, the server, ``port start 0`` on the client, 2000+1000-byte txonly -> rxonly for one
second, ``quit``; plus ``--max-pkt-len=9000`` (port fails to configure), ``-v`` (version), and
an EAL start-up failure (mbuf pool too big for ``-m 64``).
"""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from memif_harness_fixtures import testpmd_text
from memif_harness_fixtures.testpmd_text import (
    BYE,
    PROMPT,
    command_error,
    eal_error,
    link_up_from_info,
    link_up_from_summary,
    parse_forward_stats,
    parse_port_info,
    parse_port_stats,
    parse_port_summary,
    parse_version,
    parse_xstats,
    port_mac,
    port_start_failure,
    port_started,
    strip_echo,
)

DATA = Path(__file__).parent / "data" / "testpmd"


def golden(name: str) -> str:
    with (DATA / name).open(encoding="utf-8", newline="") as file:
        return file.read()


def reply(name: str) -> str:
    """A captured command: drop the leading prompt and trailing prompt, and the echo."""
    body = golden(name).removeprefix(PROMPT).removesuffix(PROMPT)
    return strip_echo(body)


def test_doctests() -> None:
    assert doctest.testmod(testpmd_text).failed == 0


def test_port_stats_rx() -> None:
    stats = parse_port_stats(reply("port_stats_rx.txt"))
    assert stats == {
        "RX-packets": 71104,
        "RX-missed": 0,
        "RX-bytes": 213312000,
        "RX-errors": 0,
        "RX-nombuf": 0,
        "TX-packets": 0,
        "TX-errors": 0,
        "TX-bytes": 0,
        "Rx-pps": 38214,
        "Rx-bps": 917156616,
        "Tx-pps": 0,
        "Tx-bps": 0,
    }


def test_port_stats_tx_matches_rx_side() -> None:
    rx = parse_port_stats(reply("port_stats_rx.txt"))
    tx = parse_port_stats(reply("port_stats_tx.txt"))
    assert tx["TX-packets"] == rx["RX-packets"] == 71104
    assert tx["TX-bytes"] == rx["RX-bytes"] == 71104 * 3000
    assert tx["RX-packets"] == 0


def test_port_stats_idle_all_zero() -> None:
    stats = parse_port_stats(reply("port_stats_idle.txt"))
    assert set(stats) >= {"RX-packets", "RX-bytes", "TX-packets", "TX-bytes", "RX-nombuf"}
    assert not any(stats.values())


def test_port_stats_rejects_other_text() -> None:
    with pytest.raises(ValueError, match="NIC statistics"):
        parse_port_stats(reply("command_not_found.txt"))


def test_forward_stats_from_stop() -> None:
    assert parse_forward_stats(reply("stop_txonly.txt")) == {
        "RX-packets": 0,
        "RX-dropped": 0,
        "RX-total": 0,
        "TX-packets": 71104,
        "TX-dropped": 24572480,
        "TX-total": 24643584,
    }
    assert parse_forward_stats(reply("stop_rxonly.txt"))["RX-packets"] == 71104
    assert parse_forward_stats(reply("stop_rxonly.txt"), port=1) == {}


def test_forward_stats_in_quit() -> None:
    quit_text = golden("quit.txt")
    assert quit_text.rstrip().endswith(BYE)
    assert PROMPT not in quit_text


def test_xstats() -> None:
    xstats = parse_xstats(reply("port_xstats_tx.txt"))
    assert xstats["tx_good_packets"] == 71104
    assert xstats["tx_q0_bytes"] == 213312000
    assert xstats["rx_mbuf_allocation_errors"] == 0


def test_port_info() -> None:
    up = parse_port_info(reply("port_info_up.txt"))
    assert up["Link status"] == "up"
    assert up["Driver name"] == "net_memif"
    assert up["Devargs"] == "role=server,socket=/tmp/tp/s.sock,socket-abstract=no"
    assert up["Maximum configurable length of RX packet"] == "1518"
    assert link_up_from_info(reply("port_info_up.txt")) is True
    assert link_up_from_info(reply("port_info_down.txt")) is False
    assert link_up_from_info("nothing") is None


def test_port_summary() -> None:
    rows = parse_port_summary(reply("port_summary_up.txt"))
    assert rows == [
        {
            "port": "0",
            "mac": "9E:52:EB:47:74:70",
            "name": "net_memif0",
            "driver": "net_memif",
            "status": "up",
            "link": "100 Gbps",
        }
    ]
    assert link_up_from_summary(reply("port_summary_up.txt")) is True
    assert link_up_from_summary(reply("port_summary_down.txt")) is False
    assert link_up_from_summary(reply("port_summary_up.txt"), port=1) is None


def test_server_startup_reports_port_started() -> None:
    startup = golden("startup_server.txt")
    assert startup.endswith(PROMPT)
    assert port_started(startup)
    assert not port_started(startup, port=1)
    assert port_mac(startup) == "9E:52:EB:47:74:70"
    assert port_start_failure(startup) is None
    assert "link state change" not in startup  # net_memif raises no LSC event in 22.11


def test_client_before_server_fails_to_start() -> None:
    startup = golden("startup_client_connect_failed.txt")
    assert not port_started(startup)
    failure = port_start_failure(startup)
    assert failure is not None
    assert "memif_connect_client(): Failed to connect socket" in failure
    assert "Fail to start port 0: Operation not permitted" in failure
    retried = reply("port_start_client.txt")
    assert port_started(retried)
    assert port_mac(retried) == "F6:0E:61:A8:B9:D0"


def test_max_pkt_len_9000_fails_to_configure() -> None:
    startup = golden("startup_configure_failed.txt")
    failure = port_start_failure(startup)
    assert failure is not None
    assert "Frame size (9000) > device max frame size (1518)" in failure
    assert "Fail to configure port 0" in failure
    assert not port_started(startup)


def test_eal_error() -> None:
    assert eal_error(golden("eal_error_mbuf_pool.txt")) == (
        "Creation of mbuf pool for socket 0 failed: Cannot allocate memory"
    )
    assert eal_error(golden("version.txt")) == "No cores defined for forwarding"
    assert eal_error(golden("startup_server.txt")) is None


def test_version() -> None:
    assert parse_version(golden("version.txt")) == "22.11.11"
    assert parse_version(golden("startup_server.txt")) is None


def test_command_errors() -> None:
    assert command_error(reply("command_not_found.txt")) == "Command not found"
    assert command_error(reply("bad_arguments.txt")) == "Bad arguments"
    assert command_error(reply("set_fwd_txonly.txt")) is None
    assert "Set txonly packet forwarding mode" in reply("set_fwd_txonly.txt")
    assert "give up" in reply("set_txpkts_too_long.txt")


def test_strip_echo() -> None:
    body = golden("port_start_client.txt").removeprefix(PROMPT)
    assert body.startswith("port start 0\r\n")
    assert strip_echo(body, "port start 0").startswith("Port 0: ")
    assert strip_echo("no echo here") == "no echo here"
    assert strip_echo("stop", "stop") == ""
