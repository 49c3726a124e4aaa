"""Tagged streams, classification, expected transformations and send_and_expect."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet, Raw

from memif_harness.memif.runtime.endpoint import Endpoint, EventLoop
from memif_harness.traffic import (
    MAGIC,
    STREAM_KINDS,
    TAG,
    IcmpEchoReply,
    Stream,
    check_tag,
    classify,
    dissect,
    find_tag,
    icmp,
    icmp_echo_reply,
    identity,
    ip_routed,
    mac_swap,
    make_stream,
    resolve_expect,
    send_and_expect,
    tcp,
    udp,
)


def rebuilt(frame: bytes, l2: bool = True) -> bytes:
    """``frame`` dissected by scapy and rebuilt with every checksum and length recomputed."""
    pkt: Packet = Ether(frame) if l2 else (IP(frame) if frame[0] >> 4 == 4 else IPv6(frame))
    for layer in pkt.layers():
        sub = pkt.getlayer(layer)
        for field in ("chksum", "cksum", "len", "plen"):
            if field in sub.fields:
                setattr(sub, field, None)
    return bytes(pkt)


# -- streams and tags ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", STREAM_KINDS)
@pytest.mark.parametrize("vlan", [(), 100, (100, 200)])
def test_stream_frames_are_valid_and_tagged(kind: str, vlan: int | tuple[int, ...]) -> None:
    smallest = max(60, make_stream(kind, 7, 1, vlan=vlan).min_size)
    sizes = [smallest, smallest + 1, 128, 1500, 9000]  # an odd size too
    stream = make_stream(kind, 7, 10, sizes, vlan=vlan)
    frames = stream.frames()
    assert [len(f) for f in frames] == sizes * 2
    for seq, frame in enumerate(frames):
        assert rebuilt(frame) == frame, f"{kind} seq {seq}: a checksum or length is wrong"
        tag = find_tag(frame)
        assert tag is not None
        assert (tag.stream, tag.seq) == (7, seq)
        assert tag.offset == stream.header_length
        assert tag.length == len(frame) - tag.offset - TAG.size
        assert check_tag(frame) == "ok"
    if vlan:
        assert Ether(frames[0]).haslayer(Dot1Q)
    if kind.startswith("icmp"):
        pkt = Ether(frames[3])
        echo = pkt[ICMP] if kind == "icmp" else pkt[ICMPv6EchoRequest]
        assert (echo.id, echo.seq) == (7, 3)  # the echo sequence follows the frame's


@pytest.mark.parametrize("kind", ["udp", "tcp", "icmp", "udp6", "icmp6"])
def test_ip_mode_streams_have_no_l2_header(kind: str) -> None:
    stream = make_stream(kind, 1, 3, [100, 1500, 9000], l2=False)
    assert not stream.l2
    for frame in stream.frames():
        assert frame[0] >> 4 in (4, 6)
        assert rebuilt(frame, l2=False) == frame
        tag = find_tag(frame)
        assert tag is not None
        assert tag.offset == stream.header_length  # start of the L4 payload


def test_ip_payload_tag_without_l4() -> None:
    stream = Stream(3, IP(src="10.0.0.1", dst="10.0.0.2", proto=253), count=2, sizes=64)
    frame = stream.frames()[1]
    assert len(frame) == 64
    tag = find_tag(frame)
    assert tag is not None
    assert (tag.offset, tag.seq) == (20, 1)


def test_default_size_is_the_minimum_frame() -> None:
    assert len(udp(1).frames()[0]) == 60
    assert len(tcp(1).frames()[0]) == 14 + 20 + 20 + TAG.size
    assert len(udp(1, l2=False).frames()[0]) == 20 + 8 + TAG.size


def test_size_below_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="below the minimum"):
        udp(1, 1, 40).frames()


def test_arp_stream_carries_the_tag_in_padding() -> None:
    frame = make_stream("arp", 2, 1, 60).frames()[0]
    pkt = Ether(frame)
    assert pkt[ARP].op == 1
    assert pkt[ARP].pdst == "192.168.1.1"
    tag = find_tag(frame)
    assert tag is not None
    assert tag.offset == 42


def test_check_tag_detects_truncation_and_corruption() -> None:
    frame = udp(1, 1, 200).frames()[0]
    assert check_tag(frame) == "ok"
    assert check_tag(frame[:150]) == "truncated"
    bad = bytearray(frame)
    bad[-1] ^= 0xFF
    assert check_tag(bytes(bad)) == "corrupted"
    assert check_tag(b"\0" * 60) == "untagged"


def test_tag_layout() -> None:
    frame = udp(0x1234, 6, 100).frames()[5]
    tag = find_tag(frame)
    assert tag is not None
    raw = frame[tag.offset : tag.offset + TAG.size]
    rest = frame[tag.offset + TAG.size :]
    assert raw[:4] == MAGIC
    assert raw[4:6] == b"\x12\x34"
    assert int.from_bytes(raw[6:10], "big") == 5
    assert int.from_bytes(raw[10:12], "big") == len(rest)
    assert int.from_bytes(raw[12:16], "big") == zlib.crc32(rest)


def test_streams_build_fast() -> None:
    import time

    start = time.perf_counter()
    frames = udp(1, 20000, 64).frames()
    assert len(set(frames)) == 20000
    assert time.perf_counter() - start < 2.0  # no per-frame scapy build


# -- classification -------------------------------------------------------------------------


@pytest.fixture
def sent() -> list[bytes]:
    return udp(1, 10, 100).frames()


def test_classify_all_delivered(sent: list[bytes]) -> None:
    verdict = classify(sent, list(sent))
    assert verdict.ok
    assert verdict.delivered == 10
    assert verdict.summary() == "sent 10, expected 10, received 10: 10 delivered"


def test_classify_lost(sent: list[bytes]) -> None:
    verdict = classify(sent, sent[:3] + sent[4:])
    assert not verdict.ok
    assert (verdict.delivered, verdict.lost) == (9, 1)
    problem = verdict.examples["lost"][0]
    assert (problem.stream, problem.seq) == (1, 3)
    report = verdict.report()
    assert "1 lost" in report
    assert "###[ Ethernet ]###" in report  # a show() dump of the missing frame


def test_classify_duplicated(sent: list[bytes]) -> None:
    verdict = classify(sent, [*sent, sent[2], sent[2]])
    assert (verdict.delivered, verdict.duplicated, verdict.lost) == (10, 2, 0)
    assert verdict.examples["duplicated"][0].index == 10
    assert not verdict.ok


def test_classify_reordered(sent: list[bytes]) -> None:
    received = list(sent)
    received[4], received[5] = received[5], received[4]
    verdict = classify(sent, received)
    assert (verdict.delivered, verdict.reordered) == (10, 1)
    assert verdict.examples["reordered"][0].seq == 4
    assert not verdict.ok
    assert classify(sent, received, ordered=False).ok


def test_reordering_is_per_stream() -> None:
    a, b = udp(1, 3, 64).frames(), udp(2, 3, 64).frames()
    interleaved = [b[0], a[0], b[1], a[1], a[2], b[2]]
    assert classify(a + b, interleaved).ok


@pytest.mark.parametrize("offset", [30, 50, 70], ids=["ip-header", "tag", "payload"])
def test_classify_corrupted(sent: list[bytes], offset: int) -> None:
    bad = bytearray(sent[6])
    bad[offset] ^= 0x01
    received = [*sent[:6], bytes(bad), *sent[7:]]
    verdict = classify(sent, received)
    assert (verdict.delivered, verdict.corrupted, verdict.lost) == (9, 1, 0)
    problem = verdict.examples["corrupted"][0]
    assert problem.seq == 6
    assert f"1 bytes differ, first at offset {offset:#x}" in problem.detail
    report = verdict.report()
    assert "hexdiff (expected above, received below)" in report


def test_classify_truncated(sent: list[bytes]) -> None:
    received = [*sent[:2], sent[2][:80], sent[3][:30], *sent[4:]]
    verdict = classify(sent, received)
    # frame 3 lost its tag: it is still recognised as a prefix of what was expected
    assert (verdict.delivered, verdict.truncated, verdict.lost) == (8, 2, 0)
    assert [p.seq for p in verdict.examples["truncated"]] == [2, 3]


def test_classify_unexpected(sent: list[bytes]) -> None:
    foreign = bytes(Ether() / IP() / UDP() / Raw(b"x" * 30))
    verdict = classify(sent, [*sent, foreign])
    assert (verdict.delivered, verdict.unexpected) == (10, 1)
    assert "received frame:" in verdict.report()


def test_classify_untagged_frames_by_content() -> None:
    frames = [bytes(Ether() / IP(id=i) / UDP()) for i in range(3)]
    assert classify(frames, frames).ok
    verdict = classify(frames, frames[:2])
    assert verdict.lost == 1


def test_examples_are_capped(sent: list[bytes]) -> None:
    verdict = classify(sent, [], max_examples=2)
    assert verdict.lost == 10
    assert len(verdict.examples["lost"]) == 2


# -- transformations -------------------------------------------------------------------------


def test_mac_swap() -> None:
    frame = udp(1, 1, 64).frames()[0]
    swapped = mac_swap(frame)
    assert Ether(swapped).src == Ether(frame).dst
    assert Ether(swapped).dst == Ether(frame).src
    assert swapped[12:] == frame[12:]
    assert classify([frame], [swapped], mac_swap).ok
    assert classify([frame], [swapped], "macswap").ok
    assert classify([frame], [frame], "macswap").corrupted == 1


def _scapy_reply(frame: bytes, l2: bool) -> bytes:
    pkt: Packet = Ether(frame) if l2 else (IP(frame) if frame[0] >> 4 == 4 else IPv6(frame))
    if l2:
        pkt.src, pkt.dst = pkt.dst, pkt.src
    ip = pkt[IP] if pkt.haslayer(IP) else pkt[IPv6]
    ip.src, ip.dst = ip.dst, ip.src
    if pkt.haslayer(ICMP):
        pkt[ICMP].type = 0
        pkt[ICMP].chksum = None
        ip.chksum = None
    else:
        echo = pkt[ICMPv6EchoRequest]
        parent = echo.underlayer
        parent.remove_payload()
        parent.add_payload(ICMPv6EchoReply(id=echo.id, seq=echo.seq, data=echo.data))
    return bytes(pkt)


@pytest.mark.parametrize(
    ("ipv6", "l2", "vlan"),
    [(False, True, ()), (False, True, 10), (False, False, ()), (True, True, ()), (True, False, ())],
)
def test_icmp_echo_reply_matches_scapy(ipv6: bool, l2: bool, vlan: int | tuple[int, ...]) -> None:
    for frame in icmp(4, 3, [200, 1000, 9000], ipv6=ipv6, l2=l2, vlan=vlan).frames():
        reply = icmp_echo_reply(frame)
        assert reply is not None
        assert reply == _scapy_reply(frame, l2)
        assert rebuilt(reply, l2) == reply  # checksum valid


def test_icmp_echo_reply_options() -> None:
    frame = icmp(1, 1, 100).frames()[0]
    reply = IcmpEchoReply(src_mac="02:00:00:00:00:99", ttl=32)(frame)
    assert reply is not None
    pkt = Ether(reply)
    assert pkt.src == "02:00:00:00:00:99"
    assert pkt[IP].ttl == 32
    assert rebuilt(reply) == reply
    assert icmp_echo_reply(udp(1, 1, 64).frames()[0]) is None  # not an echo request


def test_expectation_that_drops_frames() -> None:
    frames = udp(1, 2, 64).frames() + icmp(2, 2, 100).frames()
    replies = [r for f in frames if (r := icmp_echo_reply(f)) is not None]
    verdict = classify(frames, replies, "icmp-echo")
    assert verdict.ok
    assert verdict.expected == 2


def test_callable_and_named_expectations() -> None:
    assert resolve_expect(None) is identity
    assert resolve_expect("io") is identity
    assert resolve_expect("icmpecho") is icmp_echo_reply

    def strip_vlan(frame: bytes) -> bytes:
        return frame[:12] + frame[16:]

    frame = udp(1, 1, 100, vlan=5).frames()[0]
    assert classify([frame], [strip_vlan(frame)], strip_vlan).ok
    with pytest.raises(ValueError, match="unknown expectation"):
        resolve_expect("nope")


def test_dissect_ip_mode() -> None:
    text = dissect(udp(1, 1, l2=False).frames()[0])
    assert "###[ IP ]###" in text
    assert "Ethernet" not in text


# -- send_and_expect over endpoints ----------------------------------------------------------


@pytest.fixture
def link() -> Iterator[tuple[Endpoint, Endpoint]]:
    socket = f"@mh-traffic-{os.getpid()}"
    with EventLoop() as loop:
        master = Endpoint("master", socket, loop=loop, tx_queues=2, rx_queues=2)
        slave = Endpoint("slave", socket, loop=loop, tx_queues=2, rx_queues=2)
        slave.wait_connected(5)
        master.wait_connected(5)
        yield master, slave


def test_send_and_expect_passes_and_writes_nothing(
    link: tuple[Endpoint, Endpoint], tmp_path: Path
) -> None:
    master, slave = link
    verdict = send_and_expect(slave, master, udp(1, 3000, 64), pcap_dir=tmp_path, rate=200_000)
    assert verdict.ok
    assert verdict.delivered == 3000
    assert not list(tmp_path.iterdir())
    # jumbo frames (chained descriptors) the other way
    assert send_and_expect(master, slave, udp(2, 50, 9000)).ok


def test_send_and_expect_steers_queues(link: tuple[Endpoint, Endpoint]) -> None:
    master, slave = link
    frames = udp(1, 100, 64).frames() + udp(2, 100, 64).frames()
    verdict = send_and_expect(slave, master, frames, queue=lambda i, _f: i // 100)
    assert verdict.ok
    assert master.details().rx_queues[0].packets >= 100
    assert master.details().rx_queues[1].packets >= 100
    only_q1 = send_and_expect(slave, master, udp(3, 10, 64), queue=1, rx_queue=1)
    assert only_q1.ok


def test_send_and_expect_failure_message_and_pcaps(
    link: tuple[Endpoint, Endpoint], tmp_path: Path
) -> None:
    master, slave = link
    with pytest.raises(AssertionError) as info:
        # the link forwards unchanged; claiming a MAC swap makes every frame "corrupted"
        send_and_expect(slave, master, udp(1, 5, 64), expect=mac_swap, pcap_dir=tmp_path)
    message = str(info.value)
    assert "5 corrupted" in message
    assert "hexdiff (expected above, received below)" in message
    # scapy's hexdiff: expected (MACs swapped) above, received (unchanged) below
    assert "0000        02 FE 00 00 00 02 02 FE  00 00 00 01" in message
    assert "     0000   02 FE 00 00 00 01 02 FE  00 00 00 02" in message
    sent_pcap, received_pcap = tmp_path / "sent.pcap", tmp_path / "received.pcap"
    assert str(sent_pcap) in message
    assert str(received_pcap) in message
    from scapy.utils import rdpcap

    assert len(rdpcap(str(sent_pcap))) == 5
    assert len(rdpcap(str(received_pcap))) == 5


def test_send_and_expect_reports_loss(link: tuple[Endpoint, Endpoint]) -> None:
    master, slave = link
    verdict = send_and_expect(
        slave, master, udp(1, 5, 64), expect=lambda f: f, rx_queue=1, timeout=0.2, check=False
    )
    assert verdict.lost == 5  # they arrived on queue 0, we listened on queue 1
    master.drain(0)


@pytest.mark.parametrize("ipv6", [False, True])
def test_ip_routed_matches_scapy_after_one_hop(ipv6: bool) -> None:
    """ip_routed: TTL/hop limit less one, IPv4 checksum as scapy computes it; drops at 1."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6

    for ttl in (2, 64, 255):
        if ipv6:
            sent = IPv6(src="fd01::2", dst="fd02::2", hlim=ttl) / UDP() / (b"p" * 20)
            hop = IPv6(bytes(sent))
            hop.hlim -= 1
        else:
            sent = IP(src="10.1.1.2", dst="10.2.2.2", ttl=ttl) / UDP() / (b"p" * 20)
            hop = IP(bytes(sent))
            hop.ttl -= 1
            del hop.chksum
        assert ip_routed(bytes(sent)) == bytes(hop)
    assert ip_routed(bytes(IP(ttl=1) / UDP())) is None
    assert ip_routed(b"\x00" * 60) is None
    assert resolve_expect("routed") is ip_routed
