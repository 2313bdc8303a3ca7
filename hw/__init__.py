"""Hardware generators built from numfmt formats (Amaranth RTL, HLS C++, cost models).

Nothing is generated yet; the units land here with their cocotb testbenches
in ``sim``. ``hw`` depends only on ``numfmt``.
"""
