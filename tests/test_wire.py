"""Control messages against the bytes real peers put on the wire."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memif_harness.memif.protocol import wire
from memif_harness.memif.protocol.constants import MSG_SIZE
from memif_harness.memif.protocol.errors import ErrorCode, RemoteProtocolError

from .captures import wire_captures, wire_lines

_FIELDS = {
    "HELLO": (
        "name",
        "min_version",
        "max_version",
        "max_region",
        "max_m2s_ring",
        "max_s2m_ring",
        "max_log2_ring_size",
    ),
    "INIT": ("version", "id", "mode", "secret", "name"),
    "ADD_REGION": ("index", "size"),
    "ADD_RING": ("flags", "index", "region", "offset", "log2_ring_size", "private_hdr_size"),
    "CONNECT": ("if_name",),
    "CONNECTED": ("if_name",),
    "DISCONNECT": ("code", "string"),
    "ACK": (),
}


def _expected(decoded: dict[str, object], field: str) -> object:
    value = decoded[field]
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    return value


@pytest.mark.parametrize("capture", wire_captures())
def test_golden_datagrams_parse_and_repack_byte_exact(capture: str) -> None:
    lines = wire_lines(capture)
    assert lines, f"{capture} holds no datagrams"
    for line in lines:
        msg = wire.parse(line.raw)
        assert msg.TYPE.name == line.decoded["type"]
        for field in _FIELDS[msg.TYPE.name]:
            attr = "reason" if field == "string" else field
            assert getattr(msg, attr) == _expected(line.decoded, field), (capture, field)
        # Every sender in the captures zero-pads, so packing reproduces them exactly.
        assert wire.pack(msg) == line.raw


def test_real_vpp_hello_fields() -> None:
    hello = next(x for x in wire_lines("vpp-26.06/wire-vpp-master-vs-slave.txt") if x.received)
    msg = wire.parse(hello.raw)
    assert msg == wire.Hello(
        name="VPP 26.06-release",
        max_region=256,
        max_m2s_ring=256,
        max_s2m_ring=256,
        max_log2_ring_size=14,
    )


@pytest.mark.parametrize(
    ("msg", "offsets"),
    [
        (
            wire.Init(version=0x0200, id=0x01020304, mode=1, secret="s", name="n"),
            {2: b"\x00\x02", 4: b"\x04\x03\x02\x01", 8: b"\x01", 9: b"s\0", 33: b"n\0"},
        ),
        (wire.AddRegion(index=3, size=2**40), {2: b"\x03\x00", 4: (2**40).to_bytes(8, "little")}),
        (
            wire.AddRing(
                flags=1, index=2, region=1, offset=0x10000, log2_ring_size=10, private_hdr_size=0
            ),
            {
                2: b"\x01\x00",
                4: b"\x02\x00",
                6: b"\x01\x00",
                8: b"\x00\x00\x01\x00",
                12: b"\x0a",
                13: b"\x00\x00",
            },
        ),
        (wire.Disconnect(code=7, reason="bye"), {2: b"\x07\0\0\0", 6: b"bye\0"}),
        (wire.Connected(if_name="memif1/0"), {0: b"\x07\x00", 2: b"memif1/0\0"}),
    ],
)
def test_fixed_offsets(msg: wire.Message, offsets: dict[int, bytes]) -> None:
    raw = wire.pack(msg)
    assert len(raw) == MSG_SIZE
    for offset, expected in offsets.items():
        assert raw[offset : offset + len(expected)] == expected


def test_strings_truncate_like_c_senders() -> None:
    raw = wire.pack(wire.Init(secret="x" * 30, name="n" * 40))
    msg = wire.parse(raw)
    assert isinstance(msg, wire.Init)
    assert msg.secret == "x" * 23
    assert msg.name == "n" * 31


def test_nonzero_padding_is_accepted() -> None:
    raw = bytearray(wire.pack(wire.Connect(if_name="eth0")))
    raw[40:] = b"\xff" * (MSG_SIZE - 40)
    assert wire.parse(bytes(raw)) == wire.Connect(if_name="eth0")


@pytest.mark.parametrize("size", [0, 1, 127, 129, 256])
def test_wrong_size_is_malformed(size: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        wire.parse(b"\x01" + b"\0" * (size - 1) if size else b"")
    assert info.value.code is ErrorCode.MFMSG
    assert info.value.reason.startswith("recvmsg: malformed message")


@pytest.mark.parametrize("msg_type", [0, 9, 0x1234, 0xFFFF])
def test_unknown_type_uses_vpp_reason(msg_type: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        wire.parse(msg_type.to_bytes(2, "little") + b"\0" * 126)
    assert info.value.reason == f"unknown message type (0x{msg_type:x})"


@given(st.binary(min_size=MSG_SIZE, max_size=MSG_SIZE))
def test_any_datagram_parses_or_raises_remote_error(data: bytes) -> None:
    try:
        msg = wire.parse(data)
    except RemoteProtocolError:
        return
    assert wire.parse(wire.pack(msg)).TYPE == msg.TYPE
