"""Verification of generated hardware against the numfmt emulator (cocotb).

Empty for now; depends on ``hw`` and ``numfmt``.
"""
