"""The raw slave's traffic machinery without a peer: frames posted on S2M, M2S buffers posted
and read back (as a master would fill them), the echo replies judged, the rings a slave built
summed up. The master's side is played here by hand, writing the ring as the protocol says."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from memif_harness.conformance import engine
from memif_harness.conformance.echo import RAW_MAC, Addresses, EchoTally, echo_requests
from memif_harness.conformance.raw import Chain, RingFull, SlaveMemory
from memif_harness.memif.protocol import wire
from memif_harness.memif.protocol.constants import DESC_FLAG_NEXT, RingType
from memif_harness.memif.protocol.errors import RemoteProtocolError
from memif_harness.traffic.frames import echo_reply

PEER_MAC = bytes.fromhex("02aabbccddee")


@pytest.fixture
def memory() -> Iterator[SlaveMemory]:
    mem = SlaveMemory(log2=4, bsize=256)
    yield mem
    mem.close()


def test_frames_are_split_over_descriptors_with_next(memory: SlaveMemory) -> None:
    used = memory.post_frames([b"a" * 600, b"b" * 10], desc_bytes=256)
    ring = memory.rings[RingType.S2M, 0]
    assert used == 4
    assert ring.head == 4
    flags = [int(ring.desc["flags"][n]) & DESC_FLAG_NEXT for n in range(4)]
    assert flags == [1, 1, 0, 0]
    assert [int(ring.desc["length"][n]) for n in range(4)] == [256, 256, 88, 10]
    offset = int(ring.desc["offset"][2])
    assert memory.region.buf[offset:offset + 88].tobytes() == b"a" * 88


def test_posting_more_than_the_master_released_is_refused(memory: SlaveMemory) -> None:
    memory.post_frames([b"x"] * 16, desc_bytes=256)
    with pytest.raises(RingFull):
        memory.post_frames([b"y"], desc_bytes=256)
    memory.rings[RingType.S2M, 0].tail = 1  # the master released one slot
    assert memory.post_frames([b"y"], desc_bytes=256) == 1


def _fill(memory: SlaveMemory, pieces: list[tuple[bytes, bool]], **fields: int) -> None:
    """Play the master: fill posted M2S buffers in order and advance the tail."""
    ring = memory.rings[RingType.M2S, 0]
    tail = ring.tail
    for n, (data, more) in enumerate(pieces):
        slot = (tail + n) & ring.mask
        offset = int(ring.desc["offset"][slot])
        memory.region.buf[offset:offset + len(data)] = memoryview(data)
        ring.desc["length"][slot] = len(data)
        ring.desc["flags"][slot] = DESC_FLAG_NEXT if more else 0
        for key, value in fields.items():
            ring.desc[key][slot] = value
    ring.tail = tail + len(pieces)


def test_chains_are_read_back_and_an_open_chain_waits(memory: SlaveMemory) -> None:
    assert memory.refill(capacity=100) == 16
    _fill(memory, [(b"1" * 100, True), (b"2" * 50, False), (b"3" * 100, True)])
    assert memory.collect() == [Chain(b"1" * 100 + b"2" * 50, 2)]
    assert memory.free(RingType.M2S) == 2  # the two read; the open chain's slot is not
    _fill(memory, [(b"4", False)])
    assert memory.collect() == [Chain(b"3" * 100 + b"4", 2)]


def test_a_descriptor_outside_the_region_is_not_read(memory: SlaveMemory) -> None:
    memory.refill()
    _fill(memory, [(b"z", False)], offset=memory.region.size)
    assert memory.collect() == [Chain(b"", 1, bad=True)]


def test_a_tail_past_the_ring_is_refused(memory: SlaveMemory) -> None:
    memory.rings[RingType.M2S, 0].tail = 17
    with pytest.raises(RemoteProtocolError, match="17 slots past 0"):
        memory.collect()


def test_echo_replies_are_judged_byte_for_byte() -> None:
    addresses = Addresses.of("192.168.1.1/24")
    requests = echo_requests(addresses, 3, 98, PEER_MAC)
    assert [len(r) for r in requests] == [98] * 3
    replies = [echo_reply(r, l2=True, src_mac=PEER_MAC) for r in requests]
    assert all(replies)
    good, dup, wrong = replies[0], replies[0], bytearray(replies[1] or b"")
    wrong[-1] ^= 0xFF  # one payload byte changed
    tally = EchoTally.of(requests, addresses)
    tally.add([Chain(good or b"", 1), Chain(dup or b"", 1), Chain(bytes(wrong), 2)])
    assert (tally.answered, tally.duplicated, tally.wrong) == ({1}, 1, 1)
    assert tally.summary() == "1/3 echo replies, 1 wrong, 1 duplicated, 1-2 descriptors each"
    assert not tally.complete
    assert (replies[0] or b"")[:6] == RAW_MAC


def test_an_arp_reply_teaches_the_peer_mac() -> None:
    addresses = Addresses.of("10.0.0.7/24")
    assert addresses.raw == bytes([10, 0, 0, 1])
    request = addresses.arp_request()
    reply = (request[6:12] + PEER_MAC + request[12:20] + b"\x00\x02" + PEER_MAC
             + addresses.peer + request[6:12] + addresses.raw).ljust(60, b"\0")
    tally = EchoTally.of([], addresses)
    tally.add([Chain(reply, 1)])
    assert tally.peer_mac == PEER_MAC


def test_the_rings_a_slave_built_are_summed_up() -> None:
    s2m = wire.AddRing(flags=1, index=0, region=0, offset=0, log2_ring_size=8)
    m2s = wire.AddRing(flags=0, index=0, region=0, offset=4224, log2_ring_size=8)
    assert engine._rings_built([s2m, m2s], {0: 1 << 20}) == (
        "1 S2M and 1 M2S rings of 2**8, each in its region")
    assert engine._rings_built([s2m, m2s], {0: 4300}) == (
        "1 S2M and 1 M2S rings of 2**8, 1 not inside their region")
    huge = wire.AddRing(flags=1, index=0, region=0, offset=0, log2_ring_size=15)
    assert engine._rings_built([huge], {0: 1 << 30}).endswith("1 not inside their region")


def test_a_wrong_icmp_checksum_is_counted_apart_from_wrong_bytes() -> None:
    addresses = Addresses.of("192.168.1.1/24")
    requests = echo_requests(addresses, 2, 98, PEER_MAC)
    replies = [bytearray(echo_reply(r, l2=True, src_mac=PEER_MAC) or b"") for r in requests]
    replies[0][36] ^= 0x01  # the ICMP checksum (after 14 + 20 bytes of headers and type/code)
    tally = EchoTally.of(requests, addresses)
    tally.add(Chain(bytes(reply), 1) for reply in replies)
    assert (len(tally.answered), tally.bad_checksum, tally.wrong) == (2, 1, 0)
    assert tally.summary() == "2/2 echo replies, 1 with a wrong ICMP checksum"
