"""memif-harness: an independent memif 2.0 implementation and a conformance harness around it."""

from __future__ import annotations

__version__ = "0.1.0"
