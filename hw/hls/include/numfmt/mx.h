// numfmt/mx.h -- OCP MX block formats: encoding a vector into blocks, and the block dot product.
//
// mx_format<Elem, Block, Scale> is numfmt.BlockFormat(Elem, Block, scale=Scale) with the OCP
// scale rule and NaN policy (numfmt's defaults) and minifloat elements.
// * mx_encode<MX, InE, InM>(in, n, elements, scales): numfmt BlockFormat.encode of n IEEE
//   inputs (bits with InE/InM exponent/mantissa bits, e.g. 8/23 for FP32).
// * block_dot<MXA, MXB, N>(...): numfmt.arith.block_dot with exact accumulators: the element
//   products of block j, times 2^(ea[j] + eb[j]), summed exactly; read it with .result<F>().
//
//   code_t el[32], sc[1];
//   numfmt::mx_encode<numfmt::mxfp4, 8, 23>(fp32_bits, 32, el, sc);
//
// Header-only C++14; depends on the standard library only.
#ifndef NUMFMT_MX_H
#define NUMFMT_MX_H

#include <cstdint>

#include "accumulate.h"
#include "minifloat.h"

namespace numfmt {

// The same format with overflow=sat (how MX encoding rounds its elements).
template <class F>
struct saturating {
    typedef float_format<F::exp_bits, F::man, F::bias, F::policy, F::subnormals, overflow::sat, F::is_signed,
                         F::has_zero, F::negative_nan> type;
};

template <class Elem, int Block, class Scale = e8m0fnu>
struct mx_format {
    typedef Elem element;
    typedef Scale scale;
    static constexpr int block = Block;
    // floor(log2(element max)): the OCP emax_elem
    static constexpr int emax_elem = Elem::max_exp;
    // exponents e whose 2^e the scale format holds
    static constexpr int scale_lo = Scale::min_exp - ((Scale::subnormals && Scale::has_zero) ? Scale::man : 0);
    static constexpr int scale_hi = Scale::max_exp;
};

typedef mx_format<e2m1fn, 32> mxfp4;
typedef mx_format<e2m3fn, 32> mxfp6_e2m3;
typedef mx_format<e3m2fn, 32> mxfp6_e3m2;
typedef mx_format<e4m3fn, 32> mxfp8_e4m3;
typedef mx_format<e5m2, 32> mxfp8_e5m2;

// Shared exponent of a scale code and whether it is NaN (scales must be powers of two).
template <class Scale>
int scale_exponent(code_t code, bool& nan) {
    const exact_value v = decode<Scale>(code);
    nan = v.cls != fclass::finite || v.mag == 0 || v.neg;
    return nan ? 0 : v.exp + bit_length(v.mag) - 1;
}

// Encode n inputs (IEEE bits, InE exponent and InM mantissa bits) block by block.
template <class MX, int InE, int InM, class In>
void mx_encode(const In* in, int n, code_t* elements, code_t* scales) {
    typedef typename saturating<typename MX::element>::type elem_sat;
    const std::uint64_t mag_mask = (std::uint64_t(1) << (InE + InM)) - 1;
    const std::uint64_t inf_bits = ((std::uint64_t(1) << InE) - 1) << InM;
    for (int j = 0; j * MX::block < n; ++j) {
        const int lo = j * MX::block;
        const int hi = lo + MX::block < n ? lo + MX::block : n;
        std::uint64_t amax = 0;
        for (int k = lo; k < hi; ++k) {
            const std::uint64_t m = std::uint64_t(in[k]) & mag_mask;
            amax = m > amax ? m : amax;
        }
        if (amax >= inf_bits) {  // NaN or inf in the block: NaN scale, elements 0
            scales[j] = code_t(MX::scale::nan_pos);
            for (int k = lo; k < hi; ++k) elements[k] = 0;
            continue;
        }
        int e;
        if (amax == 0) {
            e = MX::scale_lo;
        } else {
            const exact_value a = from_ieee_bits<InE, InM>(amax);
            e = a.exp + bit_length(a.mag) - 1 - MX::emax_elem;
            e = e < MX::scale_lo ? MX::scale_lo : (e > MX::scale_hi ? MX::scale_hi : e);
        }
        scales[j] = encode<typename MX::scale>(make_finite(false, 1, e));
        for (int k = lo; k < hi; ++k) {
            exact_value x = from_ieee_bits<InE, InM>(std::uint64_t(in[k]));
            x.exp -= e;
            elements[k] = encode<elem_sat>(x);
        }
    }
}

namespace detail {

template <class MXA, class MXB, long N>
struct block_dot_range {
    // lowest and highest bit weights of any sum of N scaled element products
    static constexpr int lsb = MXA::element::quantum_exp + MXB::element::quantum_exp + MXA::scale_lo + MXB::scale_lo;
    static constexpr int top = MXA::element::max_exp + 1 + MXB::element::max_exp + 1 + MXA::scale_hi +
                               MXB::scale_hi + ceil_log2(N);
};

}  // namespace detail

// An exact register for block dot products of N elements of MXA x MXB; widened so that it
// also holds any value of the formats Extra (e.g. an FP32 bias) exactly.
template <class MXA, class MXB, long N, class Extra = fp32>
struct block_dot_acc {
    typedef detail::block_dot_range<MXA, MXB, N> range;
    static constexpr int lsb = range::lsb < Extra::quantum_exp ? range::lsb : Extra::quantum_exp;
    static constexpr int top = (range::top > Extra::max_exp + 1 ? range::top : Extra::max_exp + 1) + 1;
    typedef wide_acc<top - lsb + 1, lsb> type;
};

// acc += sum_j 2^(ea[j] + eb[j]) * sum_{k in block j} a[k] * b[k] (exact). A NaN scale makes
// the sum NaN (OCP: the whole block is NaN).
template <class MXA, class MXB, class Acc>
void block_dot_into(Acc& acc, const code_t* a_el, const code_t* a_sc, const code_t* b_el, const code_t* b_sc,
                    int n) {
    static_assert(MXA::block == MXB::block, "both operands need the same block");
    for (int j = 0; j * MXA::block < n; ++j) {
        bool nan_a, nan_b;
        const int ea = scale_exponent<typename MXA::scale>(a_sc[j], nan_a);
        const int eb = scale_exponent<typename MXB::scale>(b_sc[j], nan_b);
        if (nan_a || nan_b) {
            acc.add(make_special(false, fclass::nan));
            continue;
        }
        const int hi = (j + 1) * MXA::block < n ? (j + 1) * MXA::block : n;
        for (int k = j * MXA::block; k < hi; ++k) {
            exact_value p = multiply(decode<typename MXA::element>(a_el[k]), decode<typename MXB::element>(b_el[k]));
            p.exp += ea + eb;
            acc.add(p);
        }
    }
}

// numfmt.arith.block_dot(a, sa, b, sb, MXA, b_format=MXB) with exact accumulators; N elements.
template <class MXA, class MXB, long N>
typename block_dot_acc<MXA, MXB, N>::type block_dot(const code_t* a_el, const code_t* a_sc, const code_t* b_el,
                                                    const code_t* b_sc) {
    typename block_dot_acc<MXA, MXB, N>::type acc;
    block_dot_into<MXA, MXB>(acc, a_el, a_sc, b_el, b_sc, int(N));
    return acc;
}

}  // namespace numfmt

#endif  // NUMFMT_MX_H
