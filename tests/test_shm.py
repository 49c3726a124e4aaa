"""Shared-memory regions: creation, sealing, attaching a peer's fd, validation, close."""

from __future__ import annotations

import fcntl
import os

import pytest

from memif_harness.memif.datapath.shm import MAX_REGION_SIZE, Region
from memif_harness.memif.protocol.errors import LocalProtocolError, RemoteProtocolError


def _fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_create_is_sealed_sized_and_shared() -> None:
    with Region.create(8192, "test") as region:
        assert region.size == 8192 == region.buf.size
        assert region.sealed
        seals = fcntl.fcntl(region.fd, fcntl.F_GET_SEALS)
        assert seals & fcntl.F_SEAL_SHRINK
        assert seals & fcntl.F_SEAL_GROW
        with pytest.raises(PermissionError):
            os.ftruncate(region.fd, 4096)
        region.buf[100:105] = list(b"hello")
        assert os.pread(region.fd, 5, 100) == b"hello"


def test_attach_shares_memory_with_creator() -> None:
    with Region.create(4096) as mine, Region.attach(os.dup(mine.fd), 4096, index=2) as theirs:
        assert theirs.sealed
        assert theirs.index == 2
        mine.buf[0:3] = [1, 2, 3]
        theirs.buf[4000] = 9
        assert list(theirs.buf[0:3]) == [1, 2, 3]
        assert mine.buf[4000] == 9


def test_attach_maps_only_the_announced_size() -> None:
    with Region.create(8192) as mine, Region.attach(os.dup(mine.fd), 100) as theirs:
        assert theirs.size == theirs.buf.size == 100


def test_attach_rejects_size_larger_than_the_memory_object() -> None:
    fd = os.memfd_create("small", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, 4096)
    with pytest.raises(RemoteProtocolError) as info:
        Region.attach(fd, 8192, index=1)
    assert info.value.reason == "region 1: size 8192 larger than its memory object (4096)"
    assert not _fd_is_open(fd)  # ownership was taken: closed on failure


@pytest.mark.parametrize("size", [0, -1, MAX_REGION_SIZE + 1])
def test_attach_rejects_absurd_sizes(size: int) -> None:
    fd = os.memfd_create("r")
    with pytest.raises(RemoteProtocolError, match="invalid size"):
        Region.attach(fd, size)
    assert not _fd_is_open(fd)


def test_attach_rejects_a_non_file_fd() -> None:
    read_end, write_end = os.pipe()
    os.close(write_end)
    with pytest.raises(RemoteProtocolError, match="not a memory object"):
        Region.attach(read_end, 4096)
    assert not _fd_is_open(read_end)


def test_attach_seals_a_sealable_memfd_the_peer_left_open() -> None:
    fd = os.memfd_create("unsealed", os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, 4096)
    with Region.attach(fd, 4096) as region:
        assert region.sealed
        assert fcntl.fcntl(region.fd, fcntl.F_GET_SEALS) & fcntl.F_SEAL_SHRINK


def test_attach_accepts_an_unsealable_memfd_and_says_so() -> None:
    fd = os.memfd_create("unsealable")  # no MFD_ALLOW_SEALING: F_SEAL_SEAL is preset
    os.ftruncate(fd, 4096)
    with Region.attach(fd, 4096) as region:
        assert not region.sealed
        region.buf[0] = 7
        assert region.buf[0] == 7


def test_create_rejects_bad_sizes() -> None:
    with pytest.raises(LocalProtocolError):
        Region.create(0)


def test_close_is_idempotent_and_safe_with_outstanding_views() -> None:
    region = Region.create(4096)
    fd = region.fd
    view = region.buf[10:20]
    view[:] = 5
    region.close()
    region.close()
    assert region.closed
    assert region.fd == -1
    assert not _fd_is_open(fd)
    assert list(view) == [5] * 10  # still mapped: the view keeps the mapping alive
    with pytest.raises(LocalProtocolError, match="closed"):
        _ = region.buf
    del view  # the last view unmaps


def test_close_without_views_unmaps_at_once() -> None:
    region = Region.create(4096)
    mapping = region._mm
    assert mapping is not None
    region.close()
    assert mapping.closed
