// numfmt/accumulate.h -- multiply-accumulate with an explicit accumulator, as numfmt.arith.
//
// * wide_acc<Bits, LsbExp>: a Bits-bit two's-complement register of multiples of 2^LsbExp
//   (multi-word, sized at compile time): the exact sum, rounded once when read.
// * kulisch<FA, FB, N>: the wide_acc that sums any N products of FA x FB exactly
//   (numfmt.arith.ExactAccumulator; numfmt.arith.kulisch_width gives the tight width).
// * float_acc<F>: a register in format F, every addition rounded to F
//   (numfmt.arith.FloatAccumulator, order="sequential").
//
//   numfmt::kulisch<numfmt::e4m3fn, numfmt::e4m3fn, 64> acc;
//   for (int k = 0; k < 64; ++k) acc.mac(a[k], b[k]);
//   numfmt::code_t y = acc.result<numfmt::fp32>();
//
// Header-only C++14; depends on the standard library only.
#ifndef NUMFMT_ACCUMULATE_H
#define NUMFMT_ACCUMULATE_H

#include <cstdint>

#include "minifloat.h"

namespace numfmt {

// A Bits-bit two's-complement register holding integers r that stand for r * 2^LsbExp.
// Terms are exact values whose exponent is >= LsbExp; the caller sizes Bits so that the sum
// never overflows (kulisch<> does). Non-finite terms set flags: the result is NaN after a NaN
// or after both +inf and -inf, else +-inf after an infinity (IEEE arithmetic).
template <int Bits, int LsbExp>
class wide_acc {
  public:
    static constexpr int bits = Bits;
    static constexpr int lsb_exp = LsbExp;
    static constexpr int words = (Bits + 63) / 64;

    wide_acc() { clear(); }

    void clear() {
        for (int i = 0; i < words; ++i) w_[i] = 0;
        nan_ = pinf_ = ninf_ = false;
    }

    // Add +-mag * 2^exp (exp >= LsbExp) exactly.
    void add_term(bool neg, std::uint64_t mag, int exp) {
        if (mag == 0) return;
        const int shift = exp - LsbExp;
        const int word = shift / 64;
        const int bit = shift % 64;
        std::uint64_t part[words];
        for (int i = 0; i < words; ++i) part[i] = 0;
        if (word < words) part[word] = mag << bit;
        if (bit && word + 1 < words) part[word + 1] = mag >> (64 - bit);
        std::uint64_t carry = 0;
        for (int i = 0; i < words; ++i) {
            if (!neg) {
                const std::uint64_t s = w_[i] + part[i];
                const std::uint64_t c1 = s < w_[i];
                const std::uint64_t s2 = s + carry;
                const std::uint64_t c2 = s2 < s;
                w_[i] = s2;
                carry = c1 | c2;
            } else {
                const std::uint64_t d = w_[i] - part[i];
                const std::uint64_t b1 = w_[i] < part[i];
                const std::uint64_t d2 = d - carry;
                const std::uint64_t b2 = d < carry;
                w_[i] = d2;
                carry = b1 | b2;
            }
        }
    }

    void add(const exact_value& v) {
        if (v.cls == fclass::nan) nan_ = true;
        else if (v.cls == fclass::inf) (v.neg ? ninf_ : pinf_) = true;
        else add_term(v.neg, v.mag, v.exp);
    }

    // The register as an exact value: exact when it has at most 62 significant bits, else
    // rounded to odd at 62 bits (so one rounding to a format of <= 60 bits is exact rounding).
    // A zero sum is +0.
    exact_value value() const {
        if (nan_ || (pinf_ && ninf_)) return make_special(false, fclass::nan);
        if (pinf_ || ninf_) return make_special(ninf_, fclass::inf);
        const bool neg = (w_[words - 1] >> 63) & 1u;
        std::uint64_t m[words];
        std::uint64_t carry = 1;
        for (int i = 0; i < words; ++i) {  // magnitude: negate if negative
            if (neg) {
                const std::uint64_t inv = ~w_[i];
                m[i] = inv + carry;
                carry = carry && m[i] == 0;
            } else {
                m[i] = w_[i];
            }
        }
        int top = words - 1;
        while (top > 0 && m[top] == 0) --top;
        const int len = top * 64 + bit_length(m[top]);
        if (len <= 62) return make_finite(neg, m[0], LsbExp);
        const int s = len - 62;  // keep the top 62 bits, OR the rest into a sticky bit
        std::uint64_t kept = 0;
        for (int b = 0; b < 62; ++b) {
            const int pos = s + b;
            kept |= ((m[pos / 64] >> (pos % 64)) & 1u) << b;
        }
        bool sticky = false;
        for (int i = 0; i < words && i * 64 < s; ++i) {
            const int n = s - i * 64;
            const std::uint64_t mask = n >= 64 ? ~std::uint64_t(0) : ((std::uint64_t(1) << n) - 1);
            sticky = sticky || (m[i] & mask);
        }
        return make_finite(neg, kept | (sticky ? 1u : 0u), LsbExp + s);
    }

    // The sum rounded once to F.
    template <class F>
    code_t result(rounding r = rounding::rne) const {
        return encode<F>(value(), r);
    }

  private:
    std::uint64_t w_[words];
    bool nan_, pinf_, ninf_;
};

namespace detail {

constexpr int ceil_log2(long n) { return n <= 1 ? 0 : 1 + ceil_log2((n + 1) / 2); }

// bits of the largest magnitude of F in units of its quantum
template <class F>
constexpr int mag_bits() {
    return F::max_exp + 1 - F::quantum_exp;
}

}  // namespace detail

// The exact (Kulisch) accumulator for N products of FA x FB: multiples of
// 2^(quantum(FA) + quantum(FB)), wide enough for any N products plus a sign bit
// (at least numfmt.arith.kulisch_width(FA, FB, N) bits).
template <class FA, class FB, long N>
class kulisch : public wide_acc<detail::mag_bits<FA>() + detail::mag_bits<FB>() + detail::ceil_log2(N) + 1,
                                FA::quantum_exp + FB::quantum_exp> {
  public:
    // acc += decode(a) * decode(b), exactly.
    void mac(code_t a, code_t b) { this->add(multiply(decode<FA>(a), decode<FB>(b))); }
};

// A floating-point register in format F: every addition rounded once to F under R
// (numfmt.arith.FloatAccumulator(F, rounding=R, order="sequential")). The register starts at
// +0 or at an initial code; F must be signed with a zero.
template <class F, rounding R = rounding::rne>
class float_acc {
    static_assert(F::is_signed && F::has_zero, "a float register needs a signed format with a zero");

  public:
    explicit float_acc(code_t init = 0) : reg_(init) {}

    // reg = R(reg + x), the exact sum rounded once. A NaN that an addition yields (a NaN term or
    // register, inf + -inf) is +NaN, as numfmt's FloatAccumulator and the RTL MAC make it
    // (docs/arithmetic.md, "Non-finite values"); a finite sum rounded to NaN keeps its sign.
    void add(const exact_value& x) {
        exact_value s = numfmt::add(decode<F>(reg_), x, R);
        if (s.cls == fclass::nan) s = make_special(false, fclass::nan);
        reg_ = encode<F>(s, R);
    }

    // reg = R(reg + decode(a) * decode(b)): the exact product, one rounding per addition.
    template <class FA, class FB>
    void mac(code_t a, code_t b) {
        add(multiply(decode<FA>(a), decode<FB>(b)));
    }

    code_t code() const { return reg_; }

  private:
    code_t reg_;
};

}  // namespace numfmt

#endif  // NUMFMT_ACCUMULATE_H
