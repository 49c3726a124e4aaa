"""Ring, descriptor and copy-mode region layout against protocol.md A.3/A.4 and real captures."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from memif_harness.memif.datapath.layout import (
    DESC_DTYPE,
    CopyLayout,
    desc_offset,
    ring_bytes,
    tail_offset,
)
from memif_harness.memif.datapath.ring import Ring
from memif_harness.memif.datapath.shm import Region
from memif_harness.memif.protocol.constants import COOKIE, RingType
from memif_harness.memif.protocol.errors import LocalProtocolError, RemoteProtocolError


def test_descriptor_dtype_is_16_little_endian_bytes() -> None:
    desc = np.zeros(1, dtype=DESC_DTYPE)
    desc[0] = (1, 2, 0x03040506, 0x0708090A, 0x0B0C0D0E)
    assert DESC_DTYPE.itemsize == 16
    assert desc.tobytes() == struct.pack("<HHIII", 1, 2, 0x03040506, 0x0708090A, 0x0B0C0D0E)


@pytest.mark.parametrize(
    ("cacheline", "tail", "desc", "ring_1024"), [(64, 64, 128, 16512), (128, 128, 256, 16640)]
)
def test_ring_header_offsets(cacheline: int, tail: int, desc: int, ring_1024: int) -> None:
    assert tail_offset(cacheline) == tail
    assert desc_offset(cacheline) == desc
    assert ring_bytes(10, cacheline) == ring_1024
    assert ring_bytes(11) == 32896  # VPP ring of 2048 (capture)


@pytest.mark.parametrize("cacheline", [64, 128])
def test_ring_fields_land_at_their_offsets(cacheline: int) -> None:
    with Region.create(4 * 4096) as region:
        ring = Ring(region, 512, 2, cacheline)
        ring.init()
        ring.flags, ring.head, ring.tail = 1, 0x1234 + 0x10000, 0xBEEF
        ring.desc[3] = (1, 2, 3, 4, 5)
        raw = region.buf[512:].tobytes()
        assert struct.unpack_from("<IHH", raw, 0) == (COOKIE, 1, 0x1234)
        assert struct.unpack_from("<H", raw, cacheline) == (0xBEEF,)
        assert struct.unpack_from("<HHIII", raw, 2 * cacheline + 3 * 16) == (1, 2, 3, 4, 5)
        assert (ring.flags, ring.head, ring.tail, ring.size) == (1, 0x1234, 0xBEEF, 4)


def test_ring_locate_rejects_rings_outside_the_region() -> None:
    with Region.create(16512) as region:
        assert Ring.locate(region, 0, 10).size == 1024
        with pytest.raises(RemoteProtocolError, match="ends at 16513, beyond region 0"):
            Ring.locate(region, 1, 10)
        with pytest.raises(RemoteProtocolError, match="log2 ring size 15"):
            Ring.locate(region, 0, 15)
        with pytest.raises(RemoteProtocolError):
            Ring.locate(region, -8, 1)
        with pytest.raises(LocalProtocolError):
            Ring(region, 16000, 10)


def test_check_cookie_uses_vpp_text() -> None:
    with Region.create(4096) as region:
        ring = Ring(region, 0, 4)
        with pytest.raises(RemoteProtocolError, match=r"^wrong cookie on tx ring 3$"):
            ring.check_cookie("tx ring 3")
        ring.init()
        ring.check_cookie("tx ring 3")


def test_dpdk_client_copy_region_matches_capture() -> None:
    # wire-dpdk-client-vs-master.txt: rsize=9, bsize=1024, 1+1 rings
    layout = CopyLayout(n_s2m=1, n_m2s=1, log2_ring_size=9, buffer_size=1024)
    assert layout.size == 1065216
    assert layout.ring_offset(RingType.S2M, 0) == 0
    assert layout.ring_offset(RingType.M2S, 0) == 8320
    assert layout.slot_offset(RingType.S2M, 0, 0) == 16640
    assert layout.slot_offset(RingType.M2S, 0, 0) == 540928


def test_vpp_copy_slave_2q_region_matches_capture() -> None:
    # wire-vpp-slave-copy-2q-vs-master.txt: ring-size 2048, buffer-size 4096, 2+2 rings
    layout = CopyLayout(n_s2m=2, n_m2s=2, log2_ring_size=11, buffer_size=4096)
    assert layout.size == 33_686_016
    assert [layout.ring_offset(t, i) for t in RingType for i in range(2)] == [
        0,
        32896,
        65792,
        98688,
    ]
    assert [layout.slot_offset(t, i, 0) for t in RingType for i in range(2)] == [
        131584,
        8520192,
        16908800,
        25297408,
    ]


@pytest.mark.parametrize("cacheline", [64, 128])
def test_slot_offsets_are_distinct_beyond_u16_slots(cacheline: int) -> None:
    # 9+9 rings of 4096 slots: VPP's u16 slot index would alias buffers here (A.4)
    layout = CopyLayout(n_s2m=9, n_m2s=9, log2_ring_size=12, buffer_size=2048, cacheline=cacheline)
    offsets = np.concatenate([layout.slot_offsets(t, i) for t in RingType for i in range(9)])
    assert np.array_equal(
        offsets, layout.buffer_offset + np.arange(18 * 4096, dtype=np.int64) * 2048
    )
    assert layout.slot_offset(RingType.M2S, 8, 4095) == layout.size - 2048
    assert layout.buffer_offset == 18 * ring_bytes(12, cacheline)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_s2m": 255, "n_m2s": 255, "log2_ring_size": 14, "buffer_size": 65535},  # > u32
        {"n_s2m": 1, "n_m2s": 1, "log2_ring_size": 15},
        {"n_s2m": 1, "n_m2s": 1, "buffer_size": 0},
        {"n_s2m": 1, "n_m2s": 1, "buffer_size": 65536},
        {"n_s2m": 1, "n_m2s": 1, "cacheline": 96},
        {"n_s2m": 0, "n_m2s": 0},
        {"n_s2m": -1, "n_m2s": 2},
    ],
)
def test_copy_layout_rejects_bad_parameters(kwargs: dict[str, int]) -> None:
    with pytest.raises(LocalProtocolError):
        CopyLayout(**kwargs)


def test_copy_layout_rejects_missing_rings_and_slots() -> None:
    layout = CopyLayout(n_s2m=1, n_m2s=0, log2_ring_size=1)
    assert layout.size == 160 + 2 * 2048
    with pytest.raises(LocalProtocolError):
        layout.ring_offset(RingType.M2S, 0)
    with pytest.raises(LocalProtocolError):
        layout.slot_offset(RingType.S2M, 0, 2)
