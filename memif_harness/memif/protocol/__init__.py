"""The sans-I/O memif core: bytes and fds in, events and messages out; no sockets, no memory.

Imports nothing outside this package.
"""
