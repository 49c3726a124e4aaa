"""Protocol versions 1.0 and 2.0: what differs on the wire and how an interface picks one.

Memif 1.0 is the 2017 protocol of libmemif's seed era (FDio/vpp 64ebb5ff133, protocol.md
A.13): cookie ``0x3E31F10`` (memif.h:25), version ``0x0100`` (memif.h:26-28), ADD_RING with a
u64 offset and no ``private_hdr_size`` (memif.h:98-106), 32-byte descriptors and masked ring
indices (see :mod:`~memif_harness.memif.datapath.layout_v1`). The message envelope, the type
numbers and every other message layout are those of 2.0.

:class:`ProtocolVersion` is the per-interface choice. ``AUTO`` follows the peer:

* a slave answers HELLO with the highest version both sides speak (2.0 before 1.0);
* a master cannot know before INIT, so it advertises ``1.0..2.0`` in HELLO and speaks what
  the slave's INIT names. On a socket whose interfaces disagree, HELLO advertises the union
  and INIT is checked against the interface it asks for (so an ``AUTO`` slave, which picks
  2.0 from that range, is refused by a 1.0-only interface: pin the slave to 1).
"""

from __future__ import annotations

import enum

from .constants import COOKIE, VERSION

__all__ = ["COOKIE_V1", "VERSION_V1", "ProtocolVersion", "cookie_of", "hello_range", "version_name"]

COOKIE_V1 = 0x3E31F10
VERSION_V1 = 0x0100


class ProtocolVersion(enum.Enum):
    """Which memif protocol an interface speaks: ``1``, ``2`` or ``"auto"``."""

    V1 = 1
    V2 = 2
    AUTO = "auto"

    @classmethod
    def of(cls, value: ProtocolVersion | int | str) -> ProtocolVersion:
        """``ProtocolVersion.of(1)``, ``ProtocolVersion.of("2")``, ``ProtocolVersion.of("auto")``.

        >>> ProtocolVersion.of("1"), ProtocolVersion.of(2), ProtocolVersion.of("auto")
        (<ProtocolVersion.V1: 1>, <ProtocolVersion.V2: 2>, <ProtocolVersion.AUTO: 'auto'>)
        """
        if isinstance(value, ProtocolVersion):
            return value
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"protocol must be 1, 2 or 'auto', not {value!r}") from None

    @property
    def versions(self) -> tuple[int, ...]:
        """Wire versions spoken, most preferred first."""
        if self is ProtocolVersion.V1:
            return (VERSION_V1,)
        if self is ProtocolVersion.V2:
            return (VERSION,)
        return (VERSION, VERSION_V1)

    def pick(self, min_version: int, max_version: int) -> int | None:
        """Slave: the version to answer a HELLO range with, None if none is spoken."""
        return next((v for v in self.versions if min_version <= v <= max_version), None)


def hello_range(protocols: tuple[ProtocolVersion, ...]) -> tuple[int, int]:
    """Master: HELLO ``(min_version, max_version)`` covering every interface on a socket
    (2.0 only when it has none yet)."""
    versions = [v for p in protocols for v in p.versions] or [VERSION]
    return min(versions), max(versions)


def cookie_of(version: int) -> int:
    """The ring cookie of wire ``version``."""
    return COOKIE_V1 if version == VERSION_V1 else COOKIE


def version_name(version: int) -> str:
    """``0x0100`` -> ``"1.0"``."""
    return f"{version >> 8}.{version & 0xFF}"
