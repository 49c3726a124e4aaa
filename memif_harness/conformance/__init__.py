"""The conformance engine: a scripted raw peer that replays the scenario catalogue.

May import :mod:`memif_harness.memif` and :mod:`memif_harness.traffic`.
"""
