// numfmt/minifloat.h -- templated minifloat formats: decode, encode, exact products and sums.
//
// A format is a type, float_format<Exp, Man, Bias, Specials, Subnormals, Overflow, Signed,
// HasZero, NegativeNan>, with the fields and meaning of numfmt.FloatFormat (numfmt's
// emulator is the definition; tests/hw/hls checks this header against it bit for bit).
// Codes are unsigned integers (code_t). Values travel as exact_value: |x| = mag * 2^exp,
// with a sign and a class (finite, inf, NaN); no operation here rounds in floating point.
//
//   using e4m3 = numfmt::e4m3fn;
//   numfmt::code_t c = numfmt::encode<e4m3>(numfmt::from_double(0.3));   // 0x2a
//   numfmt::exact_value v = numfmt::decode<e4m3>(c);                      // 5 * 2^-4
//
// Header-only C++14; depends on the standard library only.
#ifndef NUMFMT_MINIFLOAT_H
#define NUMFMT_MINIFLOAT_H

#include <cstdint>
#include <cmath>
#include <cstring>
#include <limits>

namespace numfmt {

typedef std::uint32_t code_t;

// Specials policies, as numfmt.Specials: ieee (inf + NaNs at the all-ones exponent), fn (NaN
// only at the all-ones magnitude), fnuz (one NaN at the -0 code, no -0), none (all finite).
enum class specials : int { ieee = 0, fn = 1, fnuz = 2, none = 3 };
// Overflow of a rounded magnitude above max: sat (+-max) or inf (inf, or NaN without inf).
enum class overflow : int { sat = 0, inf = 1 };
// Deterministic rounding modes, in the order of numfmt.Rounding.
enum class rounding : int { rne = 0, rna, rnp, rnm, rnz, floor, ceil, rtz, rta };
enum class fclass : int { finite = 0, inf = 1, nan = 2 };

// |x| = mag * 2^exp (mag < 2^63), sign neg. A NaN keeps its sign; zero has mag 0.
struct exact_value {
    bool neg;
    fclass cls;
    std::uint64_t mag;
    int exp;
};

inline exact_value make_finite(bool neg, std::uint64_t mag, int exp) {
    exact_value v = {neg, fclass::finite, mag, exp};
    return v;
}

inline exact_value make_special(bool neg, fclass cls) {
    exact_value v = {neg, cls, 0, 0};
    return v;
}

// Number of bits of v (0 for 0): six fixed steps, no data-dependent loop (HLS-friendly).
inline int bit_length(std::uint64_t v) {
    int n = 0;
    if (v >> 32) { v >>= 32; n += 32; }
    if (v >> 16) { v >>= 16; n += 16; }
    if (v >> 8) { v >>= 8; n += 8; }
    if (v >> 4) { v >>= 4; n += 4; }
    if (v >> 2) { v >>= 2; n += 2; }
    if (v >> 1) { v >>= 1; n += 1; }
    return n + int(v);
}

namespace detail {

constexpr std::int64_t pow2(int n) { return std::int64_t(1) << n; }

constexpr std::int64_t max_mag_code(int e, int m, specials s) {
    return s == specials::ieee ? ((pow2(e) - 1) << m) - 1
         : s == specials::fn   ? pow2(e + m) - 2
                               : pow2(e + m) - 1;
}

// Whether a truncated magnitude q rounds away from zero (numfmt._kernels._core.round_up).
inline bool round_up(std::uint64_t q, std::uint64_t rem, std::uint64_t half, bool half_valid, bool neg,
                     rounding r) {
    const bool nonzero = rem != 0;
    const bool above = half_valid && rem > half;
    const bool at = half_valid && rem == half;
    switch (r) {
        case rounding::rne: return above || (at && (q & 1u));
        case rounding::rna: return above || at;
        case rounding::rnp: return above || (at && !neg);
        case rounding::rnm: return above || (at && neg);
        case rounding::rnz: return above;
        case rounding::floor: return nonzero && neg;
        case rounding::ceil: return nonzero && !neg;
        case rounding::rtz: return false;
        case rounding::rta: return nonzero;
    }
    return false;
}

}  // namespace detail

// mag / 2^s rounded to an integer under r (s >= 0; any s; neg is the value's sign).
inline std::uint64_t round_shift(std::uint64_t mag, int s, bool neg, rounding r) {
    if (s <= 0) return mag;
    if (s >= 64) {  // q = 0, rem = mag < 2^63 < half
        return detail::round_up(0, mag, 0, false, neg, r) ? 1u : 0u;
    }
    const std::uint64_t q = mag >> s;
    const std::uint64_t rem = mag & ((std::uint64_t(1) << s) - 1);
    const std::uint64_t half = std::uint64_t(1) << (s - 1);
    return q + (detail::round_up(q, rem, half, true, neg, r) ? 1u : 0u);
}

// A floating-point format (numfmt.FloatFormat with the same fields).
template <int Exp, int Man, int Bias = (1 << (Exp - 1)) - 1, specials Specials = specials::ieee,
          bool Subnormals = true, overflow Overflow = (Specials == specials::none ? overflow::sat : overflow::inf),
          bool Signed = true, bool HasZero = true, bool NegativeNan = false>
struct float_format {
    static constexpr int exp_bits = Exp;
    static constexpr int man = Man;
    static constexpr int bias = Bias;
    static constexpr specials policy = Specials;
    static constexpr bool subnormals = Subnormals;
    static constexpr overflow ovf = Overflow;
    static constexpr bool is_signed = Signed;
    static constexpr bool has_zero = HasZero;
    static constexpr bool negative_nan = NegativeNan;

    static_assert(Exp >= 1 && Exp <= 31 && Man >= 0 && Man <= 31, "exp in 1..31, man in 0..31");
    static_assert(int(Signed) + Exp + Man <= 32, "sign + exp + man must be <= 32 bits");
    static_assert(!(Overflow == overflow::inf && Specials == specials::none), "overflow=inf needs inf or NaN");
    static_assert(!(Specials == specials::ieee && Man == 0), "specials=ieee needs man >= 1");
    static_assert(!(Specials == specials::fnuz && !Signed), "specials=fnuz needs a sign bit");
    static_assert(HasZero || !Subnormals, "has_zero=false needs subnormals=false");
    static_assert(!(NegativeNan && (Signed || Specials == specials::none || !HasZero)),
                  "negative_nan needs an unsigned format with NaN and zero");

    static constexpr int bits = int(Signed) + Exp + Man;
    static constexpr std::int64_t sign_bit = Signed ? detail::pow2(Exp + Man) : 0;
    static constexpr std::int64_t max_mag = detail::max_mag_code(Exp, Man, Specials);
    static constexpr int min_exp = HasZero ? 1 - Bias : -Bias;
    static constexpr int max_exp = int(max_mag >> Man) - Bias;
    // every value is an integer multiple of 2^quantum_exp
    static constexpr int quantum_exp = min_exp - Man;
    static constexpr bool has_nan = Specials != specials::none;
    static constexpr bool has_inf = Specials == specials::ieee;

    static constexpr std::int64_t nan_pos =
        Specials == specials::ieee ? (((detail::pow2(Exp) - 1) << Man) | detail::pow2(Man > 0 ? Man - 1 : 0))
      : Specials == specials::fn   ? detail::pow2(Exp + Man) - 1
      : Specials == specials::fnuz ? sign_bit
      : HasZero                    ? sign_bit
                                   : 0;
    static constexpr std::int64_t nan_neg =
        Specials == specials::ieee ? (nan_pos | sign_bit)
      : Specials == specials::fn   ? ((detail::pow2(Exp + Man) - 1) | sign_bit)
      : Specials == specials::fnuz ? sign_bit
      : HasZero                    ? 0
                                   : sign_bit;
    static constexpr std::int64_t inf_pos =
        Specials == specials::ieee ? ((detail::pow2(Exp) - 1) << Man)
      : Overflow == overflow::inf  ? nan_pos
                                   : max_mag;
    static constexpr std::int64_t inf_neg =
        Specials == specials::ieee ? (((detail::pow2(Exp) - 1) << Man) | sign_bit)
      : Overflow == overflow::inf  ? nan_neg
                                   : (max_mag | sign_bit);
    static constexpr std::int64_t zero_neg = Specials != specials::fnuz ? sign_bit : 0;
    static constexpr std::int64_t neg_unsigned = Specials != specials::none ? nan_pos : 0;
};

// Named formats of numfmt's catalogue (numfmt.FLOATS).
typedef float_format<4, 3, 7, specials::fn> e4m3fn;
typedef float_format<4, 3, 8, specials::fnuz> e4m3fnuz;
typedef float_format<5, 2> e5m2;
typedef float_format<5, 2, 16, specials::fnuz> e5m2fnuz;
typedef float_format<3, 2, 3, specials::none> e3m2fn;
typedef float_format<2, 3, 1, specials::none> e2m3fn;
typedef float_format<2, 1, 1, specials::none> e2m1fn;
typedef float_format<5, 10> fp16;
typedef float_format<8, 7> bf16;
typedef float_format<8, 23> fp32;
typedef float_format<8, 0, 127, specials::fn, false, overflow::inf, false, false> e8m0fnu;

// The exact value of a code (numfmt FloatFormat.decode, without rounding to float64).
template <class F>
exact_value decode(code_t code) {
    const std::int64_t c = std::int64_t(code);
    const int sign_shift = F::exp_bits + F::man;
    const bool neg = F::is_signed && ((c >> sign_shift) & 1);
    const std::int64_t mc = c & (detail::pow2(sign_shift) - 1);
    const std::int64_t b = mc >> F::man;
    const std::int64_t f = mc & (detail::pow2(F::man) - 1);
    if (F::policy == specials::ieee && b == detail::pow2(F::exp_bits) - 1)
        return make_special(neg, f == 0 ? fclass::inf : fclass::nan);
    if (F::policy == specials::fn && mc > F::max_mag) return make_special(neg, fclass::nan);
    if (F::policy == specials::fnuz && c == F::nan_pos) return make_special(neg, fclass::nan);
    if (b == 0 && F::has_zero) {
        if (!F::subnormals) return make_finite(neg, 0, 0);
        return make_finite(neg, std::uint64_t(f), 1 - F::bias - F::man);
    }
    return make_finite(neg, std::uint64_t(f | detail::pow2(F::man)), int(b) - F::bias - F::man);
}

// Round an exact value to F (numfmt FloatFormat.encode on that value, deterministic modes).
template <class F>
code_t encode(const exact_value& x, rounding r = rounding::rne) {
    const bool neg = x.neg;
    const std::int64_t sign = neg ? F::sign_bit : 0;
    if (x.cls == fclass::finite && x.mag != 0) {
        if (neg && F::negative_nan) return code_t(F::neg_unsigned);
        const int ex = bit_length(x.mag) - 1 + x.exp;  // |x| in [2^ex, 2^(ex+1))
        if (F::has_zero && !F::subnormals && ex < F::min_exp) return code_t(neg ? F::zero_neg : 0);
        const int q = (ex > F::min_exp ? ex : F::min_exp) - F::man;  // exponent of one ulp
        const int s = q - x.exp;
        std::uint64_t rr;
        if (s <= 0) {
            rr = x.mag << (-s);  // at most man + 1 bits
        } else {
            rr = round_shift(x.mag, s, neg, r);
        }
        if (rr == 0 && F::has_zero) return code_t(neg ? F::zero_neg : 0);
        if (neg && !F::is_signed) return code_t(F::neg_unsigned);
        if (!F::has_zero && rr < (std::uint64_t(1) << F::man)) rr = std::uint64_t(1) << F::man;
        std::int64_t mag_code = ((std::int64_t(q) + F::man + F::bias - 1) * detail::pow2(F::man)) + std::int64_t(rr);
        if (mag_code > F::max_mag) {
            const bool toward_zero = r == rounding::rtz || (r == rounding::floor && !neg) ||
                                     (r == rounding::ceil && neg);
            if (F::ovf == overflow::inf && !toward_zero) return code_t(neg ? F::inf_neg : F::inf_pos);
            mag_code = F::max_mag;
        }
        return code_t(mag_code | sign);
    }
    if (x.cls == fclass::finite) {  // +-0
        if (!F::has_zero) return code_t(neg ? F::nan_neg : F::nan_pos);
        return code_t(neg ? F::zero_neg : 0);
    }
    if (x.cls == fclass::inf) {
        if (neg && !F::is_signed) return code_t(F::neg_unsigned);
        return code_t(neg ? F::inf_neg : F::inf_pos);
    }
    return code_t(neg ? F::nan_neg : F::nan_pos);
}

// The value of IEEE binary bits with InE exponent and InM mantissa bits (binary16: 5, 10;
// bfloat16: 8, 7; binary32: 8, 23; binary64: 11, 52).
template <int InE, int InM>
exact_value from_ieee_bits(std::uint64_t bits) {
    const std::uint64_t m_mask = (std::uint64_t(1) << InM) - 1;
    const std::uint64_t e_mask = (std::uint64_t(1) << InE) - 1;
    const bool neg = (bits >> (InE + InM)) & 1u;
    const std::uint64_t ef = (bits >> InM) & e_mask;
    const std::uint64_t frac = bits & m_mask;
    const int in_bias = (1 << (InE - 1)) - 1;
    if (ef == e_mask) return make_special(neg, frac == 0 ? fclass::inf : fclass::nan);
    if (ef == 0) return make_finite(neg, frac, 1 - in_bias - InM);
    return make_finite(neg, frac | (std::uint64_t(1) << InM), int(ef) - in_bias - InM);
}

inline exact_value from_double(double x) {
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return from_ieee_bits<11, 52>(bits);
}

inline exact_value from_float(float x) {
    std::uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return from_ieee_bits<8, 23>(bits);
}

// float64 of an exact value (exact when mag has <= 53 bits and the exponent is in range);
// NaN is the quiet NaN with the value's sign, as numpy gives for numfmt's decode.
inline double to_double(const exact_value& v) {
    double d;
    if (v.cls == fclass::nan) {
        d = std::numeric_limits<double>::quiet_NaN();
    } else if (v.cls == fclass::inf) {
        d = std::numeric_limits<double>::infinity();
    } else {
        d = std::ldexp(double(v.mag), v.exp);
    }
    return v.neg ? -d : d;
}

template <class F>
double decode_double(code_t code) {
    return to_double(decode<F>(code));
}

template <class F>
code_t encode_double(double x, rounding r = rounding::rne) {
    return encode<F>(from_double(x), r);
}

// The exact product of two values: NaN if either is NaN or for 0 * inf (sign: the XOR of the
// operands' signs, as hw.rtl.FloatMul defines it), inf if either is inf, else mag_a * mag_b.
// Significands of at most 31 bits each (formats with man <= 30).
inline exact_value multiply(const exact_value& a, const exact_value& b) {
    const bool neg = a.neg != b.neg;
    const bool a_zero = a.cls == fclass::finite && a.mag == 0;
    const bool b_zero = b.cls == fclass::finite && b.mag == 0;
    if (a.cls == fclass::nan || b.cls == fclass::nan || (a.cls == fclass::inf && b_zero) ||
        (b.cls == fclass::inf && a_zero))
        return make_special(neg, fclass::nan);
    if (a.cls == fclass::inf || b.cls == fclass::inf) return make_special(neg, fclass::inf);
    if (a_zero || b_zero) return make_finite(neg, 0, 0);
    return make_finite(neg, a.mag * b.mag, a.exp + b.exp);
}

// out = R(decode(a) * decode(b)): numfmt's FloatMul (hw.rtl.fpmul) on codes.
template <class FA, class FB, class FOut>
code_t mul(code_t a, code_t b, rounding r = rounding::rne) {
    return encode<FOut>(multiply(decode<FA>(a), decode<FB>(b)), r);
}

namespace detail {

// m >> s with the lost bits ORed into the lowest bit (a sticky bit); s >= 0.
inline std::uint64_t shift_sticky(std::uint64_t m, int s) {
    if (s <= 0) return m;
    if (s >= 64) return m ? 1u : 0u;
    const std::uint64_t kept = m >> s;
    return kept | ((m & ((std::uint64_t(1) << s) - 1)) ? 1u : 0u);
}

}  // namespace detail

// x + y (significands of at most 60 bits), exact or rounded to odd with at least 60 significant bits (then one later rounding to
// a format of <= 32 bits equals one rounding of the exact sum). Zero sums follow IEEE 754 6.3:
// -0 if both addends are -0 (or, under floor, unless both are +0), else +0. Specials follow
// IEEE arithmetic; inf + -inf is the x86 default NaN (sign bit set), a NaN operand propagates.
inline exact_value add(const exact_value& x, const exact_value& y, rounding r = rounding::rne) {
    if (x.cls == fclass::nan) return x;
    if (y.cls == fclass::nan) return y;
    if (x.cls == fclass::inf && y.cls == fclass::inf && x.neg != y.neg) return make_special(true, fclass::nan);
    if (x.cls == fclass::inf) return x;
    if (y.cls == fclass::inf) return y;
    if (x.mag == 0 && y.mag == 0) {
        const bool both_neg = x.neg && y.neg;
        const bool both_pos = !x.neg && !y.neg;
        return make_finite(both_neg || (r == rounding::floor && !both_pos), 0, 0);
    }
    if (x.mag == 0) return y;
    if (y.mag == 0) return x;
    const int top_x = bit_length(x.mag) + x.exp;
    const int top_y = bit_length(y.mag) + y.exp;
    const int top = top_x > top_y ? top_x : top_y;
    const int lo = x.exp < y.exp ? x.exp : y.exp;
    // units of 2^c: exact when nothing lies below the top 61 bits, else one guard bit and a sticky
    const bool truncate = top - lo > 61;
    const int c = truncate ? top - 62 : lo;
    std::uint64_t mx, my;
    if (x.exp >= c) mx = x.mag << (x.exp - c); else mx = detail::shift_sticky(x.mag, c - x.exp);
    if (y.exp >= c) my = y.mag << (y.exp - c); else my = detail::shift_sticky(y.mag, c - y.exp);
    if (x.neg == y.neg) return make_finite(x.neg, mx + my, c);
    if (mx == my) return make_finite(r == rounding::floor, 0, 0);
    if (mx > my) return make_finite(x.neg, mx - my, c);
    return make_finite(y.neg, my - mx, c);
}

}  // namespace numfmt

#endif  // NUMFMT_MINIFLOAT_H
