"""The example applications behind the ``memif-harness`` subcommands, one module each.

:mod:`.responder` (libmemif's icmp_responder in three driving variants), :mod:`.ping`,
:mod:`.gen` and :mod:`.loopback`. May import :mod:`memif_harness.memif` and
:mod:`memif_harness.traffic`; ``cli.py`` only parses arguments and calls these.
"""
