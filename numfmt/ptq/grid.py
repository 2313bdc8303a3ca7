"""Weight grids and activation scales: the value sets post-training quantization rounds to.

A :class:`WeightGrid` is an element format ``fmt`` and float64 scales fixed up
front for a weight matrix ``W`` (out, in): the grid of an entry is
``{v * s : v a value of fmt}`` with ``s`` the entry's scale. Every method of
:mod:`numfmt.ptq` rounds onto such a grid, so the same code serves integer,
minifloat, fixed-point and block (MX/BFP) formats. The exact definitions are in
``docs/ptq.md``.

>>> import numpy as np
>>> import numfmt as nf
>>> W = np.array([[0.375, -1.75, 0.26], [3.5, 0.1, -0.2]])
>>> g = weight_grid(W, nf.IntFormat(4))          # per row: amax -> 7
>>> g.scale.ravel().tolist()
[0.25, 0.5]
>>> g.fake(W).tolist()                           # 0.375 / 0.25 = 1.5 ties to 2
[[0.5, -1.75, 0.25], [3.5, 0.0, 0.0]]
>>> g.encode(g.fake(W)).tolist()                 # int4 codes (two's complement)
[[2, 9, 1], [7, 0, 0]]
>>> bool(np.array_equal(g.decode(g.encode(g.fake(W))), g.fake(W)))
True
"""

from __future__ import annotations


import numpy as np

from ..formats.block import BlockCodes, BlockFormat
from ..formats.fixed import FixedFormat
from ..formats.floating import FloatFormat
from ..formats.integer import IntFormat
from ..formats.signmag import SignMagFormat
from ._exact import sign_diff_prod

__all__ = ["CALIBRATIONS", "GRANULARITIES", "MSE_SHRINKS", "WeightGrid", "activation_scale",
           "weight_grid"]

#: Calibration rules accepted by :func:`weight_grid` and :func:`activation_scale`.
CALIBRATIONS = ("minmax", "percentile", "mse")
#: Named granularities (an int is a group size).
GRANULARITIES = ("tensor", "channel")
#: Shrink factors of ``amax`` tried by ``calib="mse"``: 0.5 + 0.5 k / 99, k = 0..99.
MSE_SHRINKS = 0.5 + 0.5 * np.arange(100) / 99.0

_SCALAR_TYPES = (IntFormat, FloatFormat, FixedFormat, SignMagFormat)


# -- argument checks --------------------------------------------------------------------------
def _check_format(fmt, name="fmt"):
    if isinstance(fmt, str):
        from ..parse import parse
        fmt = parse(fmt)
    if isinstance(fmt, BlockFormat):
        return fmt
    if not isinstance(fmt, _SCALAR_TYPES):
        raise TypeError(f"{name} must be an IntFormat, FloatFormat, FixedFormat, SignMagFormat, "
                        f"BlockFormat or a format name, not {fmt!r}")
    if isinstance(fmt, FloatFormat) and not fmt.has_zero:
        raise ValueError(f"{name} must represent zero, not {fmt} (has_zero=False)")
    return fmt


def _check_calib(calib, percentile):
    if calib not in CALIBRATIONS:
        raise ValueError(f"calib must be one of {', '.join(map(repr, CALIBRATIONS))}, not {calib!r}")
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float, np.integer, np.floating)) \
            or not 0 < percentile <= 100:
        raise ValueError(f"percentile must be a number in (0, 100], not {percentile!r}")
    return float(percentile)


def _check_matrix(W, name="W"):
    W = np.asarray(W)
    if W.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real array, not dtype {W.dtype}")
    W = W.astype(np.float64)
    if W.ndim != 2:
        raise ValueError(f"{name} must be 2-D (out, in), not shape {W.shape}")
    _check_finite(W, name)
    return W


def _check_finite(a, name):
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be finite; found {float(a[idx])!r} at index {idx}")


# -- the element format's range and rounding onto a scaled grid ---------------------------------
def _element(fmt):
    return fmt.element if isinstance(fmt, BlockFormat) else fmt


def _range(elem):
    """``(lo, hi)``: the smallest and largest values the element's encoder produces."""
    lo = float(elem.quantize(np.float64(elem.min)))
    hi = float(elem.quantize(np.float64(elem.max)))
    return lo, hi


def _step(elem, v, direction):
    """The neighbouring element value of each ``v`` below (direction −1) or above (+1)."""
    t = np.nextafter(v, direction * np.inf)
    u = elem.quantize(t, rounding="floor" if direction < 0 else "ceil")
    if isinstance(elem, FloatFormat) and not elem.subnormals:
        # flush-to-zero: the neighbours of 0 are ±smallest_normal, not ±0
        z = v == 0
        if z.any() and (direction > 0 or elem.signed):
            u = np.where(z, direction * elem.smallest_normal, u)
    return u + 0.0


def _neighbours(elem, lo, hi, w, s):
    """Element values ``(f, c)``: the largest with ``f*s ≤ w`` and smallest with ``c*s ≥ w``.

    Products are real (exact); outside ``[lo*s, hi*s]`` both saturate to the limit.
    """
    with np.errstate(over="ignore", under="ignore"):
        q = np.clip(w / s, lo, hi)
    f = elem.quantize(q, rounding="floor") + 0.0
    c = elem.quantize(q, rounding="ceil") + 0.0
    # fl(w/s) may sit on an element value the exact quotient misses; FTZ formats
    # round (0, smallest_normal) to 0 in both directions: one step fixes either
    fix = (f > lo) & (sign_diff_prod(w, f, s) < 0)
    if fix.any():
        f = np.where(fix, _step(elem, f, -1), f)
    fix = (c < hi) & (sign_diff_prod(w, c, s) > 0)
    if fix.any():
        c = np.where(fix, _step(elem, c, +1), c)
    return f, c


def _nearest(elem, lo, hi, w, s):
    """The element value ``v`` minimising ``|w - v*s|`` (exact); ties to the even code."""
    f, c = _neighbours(elem, lo, hi, w, s)
    m = 0.5 * (f + c)
    side = sign_diff_prod(w, m, s)
    tie = elem.quantize(m, rounding="rne") + 0.0
    return np.where(f == c, f, np.where(side < 0, f, np.where(side > 0, c, tie)))


def _times(v, s):
    """Grid values ``fl(v * s)`` (float64, no negative zero)."""
    return v * s + 0.0


# -- scales ------------------------------------------------------------------------------------
def _scale_for(amax, hi):
    """Scales with ``hi * s ≥ amax`` (real product), ``s = fl(amax / hi)`` raised by an ulp if needed; 1 where amax = 0."""
    amax = np.asarray(amax, dtype=np.float64)
    pos = amax > 0
    with np.errstate(under="ignore"):
        s = np.where(pos, amax / hi, 1.0)
    s = np.maximum(s, np.nextafter(0.0, 1.0))
    low = pos & (sign_diff_prod(amax, hi, s) > 0)
    return np.where(low, np.nextafter(s, np.inf), s)


def _unit_amax(units, calib, percentile, signed):
    """Clipping magnitude of each row of ``units`` (U, n) for ``minmax``/``percentile``."""
    mags = np.abs(units) if signed else np.maximum(units, 0.0)
    amax = mags.max(axis=1) if mags.shape[1] else np.zeros(mags.shape[0])
    if calib == "percentile":
        p = np.percentile(mags, percentile, axis=1)
        # a percentile of 0 in a nonzero unit (mostly zeros) would zero the whole unit
        amax = np.where(p > 0, p, amax)
    return amax


def _unit_scales(units, elem, calib, percentile):
    """One scale per row of ``units`` (U, n)."""
    lo, hi = _range(elem)
    signed = lo < 0
    if calib != "mse":
        return _scale_for(_unit_amax(units, calib, percentile, signed), hi)
    amax = _unit_amax(units, "minmax", percentile, signed)
    best_err = np.full(units.shape[0], np.inf)
    best = _scale_for(amax, hi)
    for c in MSE_SHRINKS[::-1]:                    # from 1 down: ties keep the larger range
        s = _scale_for(c * amax, hi)[:, None]
        err = ((_times(_nearest(elem, lo, hi, units, s), s) - units) ** 2).sum(axis=1)
        better = err < best_err
        best_err = np.where(better, err, best_err)
        best = np.where(better, s[:, 0], best)
    return best


# -- the grid -----------------------------------------------------------------------------------
class WeightGrid:
    """The quantization grid of one weight matrix: element format and fixed float64 scales.

    Built by :func:`weight_grid`. Entry ``(i, j)`` of ``W`` rounds onto
    ``{v * scale[i, j] : v a value of element}`` (``scale`` broadcast to
    ``shape``); grid values are the float64 roundings ``fl(v * s)`` of those
    real products, and every comparison with a weight is done on the exact
    real products (see ``docs/ptq.md``). Values beyond the grid's range
    saturate to its largest magnitude; no method returns inf or NaN.

    Attributes
    ----------
    fmt : Format or BlockFormat
        The format given to :func:`weight_grid`.
    element : Format
        The scalar format of each code (``fmt``, or ``fmt.element`` for a block format).
    scale : numpy.ndarray
        float64, read-only: shape ``(1, 1)`` (tensor), ``(out, 1)`` (channel) or
        ``(out, in)`` (groups; block formats, where it holds each entry's
        block scale ``2**e``).
    shape : tuple
        ``(out, in)`` of ``W``.
    granularity : str or int
        ``"tensor"``, ``"channel"``, the group size, or ``"block"``.
    calib : str
        The calibration rule that chose the scales.
    """

    __slots__ = ("fmt", "element", "scale", "shape", "granularity", "calib", "_lo", "_hi",
                 "_block_scales")

    def __init__(self, fmt, scale, shape, granularity, calib, block_scales=None):
        self.fmt = fmt
        self.element = _element(fmt)
        scale = np.array(scale, dtype=np.float64)
        scale.setflags(write=False)
        self.scale = scale
        self.shape = tuple(shape)
        self.granularity = granularity
        self.calib = calib
        self._lo, self._hi = _range(self.element)
        self._block_scales = block_scales

    def __repr__(self):
        return (f"WeightGrid(fmt={self.fmt}, shape={self.shape}, granularity={self.granularity!r}, "
                f"calib={self.calib!r}, scale shape={self.scale.shape})")

    # -- columns ---------------------------------------------------------------------------------
    def _scales(self, w, cols):
        full = np.broadcast_to(self.scale, self.shape)
        s = full if cols is None else full[:, cols]
        w = np.asarray(w, dtype=np.float64)
        if w.shape != s.shape:
            raise ValueError(f"w must have the shape of W[:, cols], {s.shape}, not {w.shape} "
                             f"(cols={cols!r})")
        _check_finite(w, "w")
        return w, s

    def _values(self, w, cols):
        """Element values of the nearest grid points (RNE)."""
        w, s = self._scales(w, cols)
        return _nearest(self.element, self._lo, self._hi, w, s), s

    # -- rounding ----------------------------------------------------------------------------------
    def fake(self, w, cols=None):
        """Round ``w = W[:, cols]`` to the nearest grid value, ties to the even code (float64).

        ``cols`` is anything that indexes columns (int, slice, index array);
        ``None`` means all of ``W``.

        >>> import numfmt as nf
        >>> g = weight_grid([[1.5, 0.3, -0.5]], nf.IntFormat(3))    # scale 1.5 / 3
        >>> g.fake([[0.75, 0.74, -0.2]]).tolist()                    # 1.5 ties to 2
        [[1.0, 0.5, 0.0]]
        >>> g.fake([0.3], cols=1).tolist()                           # a column: 0.6 -> 1
        [0.5]
        """
        v, s = self._values(w, cols)
        return _times(v, s)

    def floor(self, w, cols=None):
        """The largest grid value ``≤ w`` (saturating to the smallest grid value below the range).

        >>> import numfmt as nf
        >>> g = weight_grid([[6.0, 1.0]], nf.parse("e2m1fn"))      # scale 1
        >>> g.floor([[2.9, -2.9]]).tolist(), g.ceil([[2.9, -2.9]]).tolist()
        ([[2.0, -3.0]], [[3.0, -2.0]])
        """
        w, s = self._scales(w, cols)
        return _times(_neighbours(self.element, self._lo, self._hi, w, s)[0], s)

    def ceil(self, w, cols=None):
        """The smallest grid value ``≥ w`` (saturating to the largest grid value above the range)."""
        w, s = self._scales(w, cols)
        return _times(_neighbours(self.element, self._lo, self._hi, w, s)[1], s)

    # -- codes -------------------------------------------------------------------------------------
    def encode(self, W_hat, cols=None):
        """Element codes of the nearest grid values of ``W_hat`` (codes of :attr:`element`).

        For grid values ``decode(encode(W_hat)) == W_hat`` exactly.

        >>> import numfmt as nf
        >>> g = weight_grid([[3.0, -1.5]], nf.IntFormat(3))
        >>> g.encode([[3.0, -1.0]]).tolist()
        [[3, 7]]
        """
        v, _ = self._values(W_hat, cols)
        return self.element.encode(v)

    def decode(self, codes, cols=None):
        """Grid values (float64) of element codes: ``fl(element.decode(codes) * scale)``.

        >>> import numfmt as nf
        >>> g = weight_grid([[3.0, -1.5]], nf.IntFormat(3))
        >>> g.decode([[3, 7]]).tolist()
        [[3.0, -1.0]]
        """
        v = self.element.decode(codes)
        s = np.broadcast_to(self.scale, self.shape)
        s = s if cols is None else s[:, cols]
        if v.shape != s.shape:
            raise ValueError(f"codes must have the shape of W[:, cols], {s.shape}, not {v.shape}")
        return _times(v, s)

    def block_codes(self, W_hat):
        """A :class:`~numfmt.BlockCodes` of ``W_hat`` with the block scales fixed from ``W``.

        Only for block formats. ``fmt.decode(grid.block_codes(W_hat)) == W_hat``
        for grid values.

        >>> import numfmt as nf
        >>> W = np.array([[0.3, -5.0, 1.0, 12.0]])
        >>> g = weight_grid(W, nf.parse("mxfp4"))
        >>> g.fmt.decode(g.block_codes(g.fake(W))).tolist()
        [[0.0, -4.0, 1.0, 12.0]]
        """
        if self._block_scales is None:
            raise ValueError(f"block_codes needs a block format, not {self.fmt}")
        W_hat = np.asarray(W_hat, dtype=np.float64)
        if W_hat.shape != self.shape:
            raise ValueError(f"W_hat must have shape {self.shape}, not {W_hat.shape}")
        return BlockCodes(scales=self._block_scales.copy(), elements=self.encode(W_hat),
                          format=self.fmt)


def _check_granularity(granularity, n_in):
    if isinstance(granularity, str):
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be 'tensor', 'channel' or an int group size, "
                             f"not {granularity!r}")
        return granularity
    if isinstance(granularity, bool) or not isinstance(granularity, (int, np.integer)):
        raise ValueError(f"granularity must be 'tensor', 'channel' or an int group size, "
                         f"not {granularity!r}")
    g = int(granularity)
    if g < 1 or n_in % g:
        raise ValueError(f"granularity (group size) {g} must be ≥ 1 and divide the {n_in} "
                         f"input columns of W")
    return g


def weight_grid(W, fmt, granularity="channel", calib="minmax", percentile=99.99):
    """The :class:`WeightGrid` of ``W`` in ``fmt``, scales fixed from ``W`` up front.

    Parameters
    ----------
    W : array_like
        Weights (out, in), finite (conv weights reshaped to ``(oc, ic*kh*kw)``).
    fmt : Format, BlockFormat or str
        IntFormat, FloatFormat, FixedFormat, SignMagFormat or BlockFormat
        (or a name for :func:`numfmt.parse`).
    granularity : "tensor", "channel" or int
        One scale for ``W``, one per row, or one per row and group of
        ``granularity`` consecutive input columns (must divide ``in``).
    calib : "minmax", "percentile" or "mse"
        How each unit's clipping magnitude ``a`` is chosen: its largest
        magnitude, the ``percentile`` of its magnitudes, or
        ``c * amax`` with ``c`` from :data:`MSE_SHRINKS` minimising the
        unit's squared rounding error.
    percentile : float
        In (0, 100]; used by ``calib="percentile"``.

    Returns
    -------
    WeightGrid

    Notes
    -----
    Scalar formats: symmetric scales ``s`` with ``hi * s ≥ a`` (``hi`` the
    format's largest value), ``s = fl(a / hi)`` raised by one ulp if the real
    product falls short, and ``s = 1`` for an all-zero unit. Unsigned formats
    use ``a`` from the positive part (negative weights saturate to 0). Block
    formats: the shared exponent of each block is fixed from ``W`` by the
    format's own rule (``fmt.encode(W)``) and ``scale`` holds ``2**e`` per
    entry; ``granularity`` and ``calib`` are not used (a per-row power of two
    would only shift the exponents), and ``granularity`` reads ``"block"``.

    Examples
    --------
    >>> import numfmt as nf
    >>> W = np.array([[0.1, -0.4, 0.2, 0.05], [3.5, 1.0, -0.5, 0.25]])
    >>> weight_grid(W, "e4m3fn", granularity="tensor").scale.tolist()    # 3.5 -> 448
    [[0.0078125]]
    >>> weight_grid(W, "e4m3fn", granularity=2).scale.shape
    (2, 4)
    >>> err = {c: ((weight_grid(W, "int4", calib=c).fake(W) - W) ** 2).sum() for c in ("minmax", "mse")}
    >>> bool(err["mse"] < err["minmax"])
    True
    """
    fmt = _check_format(fmt)
    percentile = _check_calib(calib, percentile)
    W = _check_matrix(W)
    out, n_in = W.shape
    granularity = _check_granularity(granularity, n_in)
    if isinstance(fmt, BlockFormat):
        enc = fmt.encode(W)
        _, e, _ = enc.factors()
        axis = fmt._axis_for(2)
        per_entry = np.repeat(e, fmt.block, axis=axis)
        per_entry = per_entry[:, :n_in] if axis == 1 else per_entry[:out, :]
        return WeightGrid(fmt, np.ldexp(1.0, per_entry), W.shape, "block", calib,
                          block_scales=np.asarray(enc.scales))
    if granularity == "tensor":
        units = W.reshape(1, -1)
    elif granularity == "channel":
        units = W
    else:
        units = W.reshape(out * (n_in // granularity), granularity)
    s = _unit_scales(units, fmt, calib, percentile)
    if granularity == "tensor":
        scale = s.reshape(1, 1)
    elif granularity == "channel":
        scale = s.reshape(out, 1)
    else:
        scale = np.repeat(s.reshape(out, n_in // granularity), granularity, axis=1)
    return WeightGrid(fmt, scale, W.shape, granularity, calib)


def activation_scale(x, fmt, calib="minmax", percentile=99.99):
    """One float64 scale (> 0) for an activation tensor ``x`` in ``fmt``.

    The same rule as a per-tensor :func:`weight_grid`: ``hi * s ≥ a`` with
    ``a`` the largest magnitude (positive part for unsigned formats), the
    ``percentile`` of the magnitudes, or the MSE-optimal shrink of the
    largest. An all-zero ``x`` gives 1.0. Block formats scale themselves
    block by block (dynamically), so their activation scale is 1.0.

    Examples
    --------
    >>> activation_scale([0.0, 3.75, 1.0, -0.5], "uint4")      # 3.75 -> 15
    0.25
    >>> activation_scale([-7.0, 1.0], "e4m3fn")                 # 7 -> 448
    0.015625
    """
    fmt = _check_format(fmt)
    percentile = _check_calib(calib, percentile)
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise TypeError(f"x must be a real array, not dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.size == 0:
        raise ValueError(f"x must not be empty, not shape {x.shape}")
    _check_finite(x, "x")
    if isinstance(fmt, BlockFormat):
        return 1.0
    return float(_unit_scales(x.reshape(1, -1), fmt, calib, percentile)[0])
