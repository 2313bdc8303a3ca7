// numfmt/requant.h -- dyadic requantization: integer accumulator x (b * 2^-c), rounded once.
//
// * requantize<int_format<...>>(acc, b, c, r, zero_point): numfmt.quant.Requantizer,
//   y = sat_or_wrap(round(acc * b / 2^c) + zero_point).
// * requantize_float<F>(acc, b, c): the float code nearest to acc * b * 2^-c, one rounding
//   (numfmt.nn's requantization to a minifloat activation; a zero result is +0).
//
//   typedef numfmt::int_format<8, true, true> int8_sat;
//   std::int64_t y = numfmt::requantize<int8_sat>(100, 205, 11);   // 10 (0.1 * 100)
//
// Header-only C++14; depends on the standard library only.
#ifndef NUMFMT_REQUANT_H
#define NUMFMT_REQUANT_H

#include <cstdint>

#include "minifloat.h"

namespace numfmt {

// Integer output format (numfmt.IntFormat): Bits wide, signed or not, saturating or wrapping.
template <int Bits, bool Signed = true, bool Saturate = true>
struct int_format {
    static_assert(Bits >= 1 && Bits <= 63, "bits in 1..63");
    static constexpr int bits = Bits;
    static constexpr bool is_signed = Signed;
    static constexpr bool saturate = Saturate;
    static constexpr std::int64_t min = Signed ? -(std::int64_t(1) << (Bits - 1)) : 0;
    static constexpr std::int64_t max = Signed ? (std::int64_t(1) << (Bits - 1)) - 1 : (std::int64_t(1) << Bits) - 1;
};

namespace detail {

// p = acc * (b << max(-c, 0)), split into sign and magnitude (the caller keeps |p| < 2^63,
// as numfmt.quant.Requantizer requires).
inline void dyadic_product(std::int64_t acc, std::int64_t b, int c, bool& neg, std::uint64_t& mag) {
    const std::int64_t big = c < 0 ? b * (std::int64_t(1) << -c) : b;
    const std::int64_t p = acc * big;
    neg = p < 0;
    mag = neg ? std::uint64_t(0) - std::uint64_t(p) : std::uint64_t(p);
}

}  // namespace detail

// numfmt.quant.Requantizer(b, c, IntF, rounding=r, zero_point=zp).requantize(acc).
template <class IntF>
std::int64_t requantize(std::int64_t acc, std::int64_t b, int c, rounding r = rounding::rnp,
                        std::int64_t zero_point = 0) {
    bool neg;
    std::uint64_t mag;
    detail::dyadic_product(acc, b, c, neg, mag);
    const std::uint64_t q = round_shift(mag, c > 0 ? c : 0, neg, r);
    const std::int64_t y = (neg ? -std::int64_t(q) : std::int64_t(q)) + zero_point;
    if (IntF::saturate) return y < IntF::min ? IntF::min : (y > IntF::max ? IntF::max : y);
    const std::uint64_t low = std::uint64_t(y) & ((std::uint64_t(1) << IntF::bits) - 1);
    if (IntF::is_signed && ((low >> (IntF::bits - 1)) & 1u))
        return std::int64_t(low) - (std::int64_t(1) << IntF::bits);
    return std::int64_t(low);
}

// +0 for a -0 code (numfmt's datapath adds +0.0 to every rounded result).
template <class F>
code_t plus_zero(code_t c) {
    return (F::has_zero && F::zero_neg != 0 && std::int64_t(c) == F::zero_neg) ? 0 : c;
}

// The code of F nearest to acc * b * 2^-c (one rounding under r; a zero result is +0).
template <class F>
code_t requantize_float(std::int64_t acc, std::int64_t b, int c, rounding r = rounding::rne) {
    bool neg;
    std::uint64_t mag;
    detail::dyadic_product(acc, b, c, neg, mag);
    return plus_zero<F>(encode<F>(make_finite(neg, mag, c > 0 ? -c : 0), r));
}

}  // namespace numfmt

#endif  // NUMFMT_REQUANT_H
