"""The I/O runtime: sockets and fd passing, the libmemif-style :class:`~.memif.Memif`, the
connection handle :class:`~.interface.Interface` and the Pythonic :class:`~.endpoint.Endpoint`.

May import :mod:`..protocol` and :mod:`..datapath`.
"""
