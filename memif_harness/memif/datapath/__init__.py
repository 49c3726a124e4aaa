"""Shared memory and rings: region layout, memfd regions, ring headers, descriptor queues.

May import :mod:`..protocol` (constants, errors); never the runtime.
"""
