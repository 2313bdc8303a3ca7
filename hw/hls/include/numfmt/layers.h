// numfmt/layers.h -- the layers of numfmt.nn's quantized datapath (docs/nn.md), on codes.
//
// * dense<XF, WF, YF, N_IN, N_OUT>: scalar minifloat activations and weights; the exact
//   integer accumulator K = bias + sum x_int * w_int (units 2^acc_exp), then one rounding of
//   K * multiplier * 2^-shift to YF (requantize_float).
// * dense_float_acc<XF, WF, YF, AccF, R, N_IN, N_OUT>: the same with a floating-point
//   accumulator register (every addition rounded to AccF).
// * dense_mx<MXX, MXW, CF, N_IN, N_OUT>: MX activations carried in CF (FP32) between layers;
//   each input row is MX-encoded, the block dot products and the bias summed exactly, and
//   the sum rounded once to CF.
// * relu<F>: max(v, 0) on codes, +0 for zero, negative values and NaN.
//
// Loops have constant bounds and arrays fixed sizes, as HLS wants them.
// Header-only C++14; depends on the standard library only.
#ifndef NUMFMT_LAYERS_H
#define NUMFMT_LAYERS_H

#include <cstdint>

#include "accumulate.h"
#include "minifloat.h"
#include "mx.h"
#include "requant.h"

namespace numfmt {

// value / 2^quantum_exp of a finite code of F, as a signed integer
template <class F>
std::int64_t to_quanta(code_t code) {
    const exact_value v = decode<F>(code);
    const std::int64_t m = std::int64_t(v.mag << (v.exp - F::quantum_exp));
    return v.neg ? -m : m;
}

template <class F>
code_t relu(code_t code) {
    const exact_value v = decode<F>(code);
    return (v.cls == fclass::nan || v.neg || (v.cls == fclass::finite && v.mag == 0)) ? 0 : code;
}

template <class F, int N>
void relu_layer(const code_t x[N], code_t y[N]) {
    for (int i = 0; i < N; ++i) y[i] = relu<F>(x[i]);
}

// y[o] = R_YF((bias[o] + sum_i x_int[i] * w_int[o][i]) * multiplier[o] * 2^-shift[o]).
// The caller guarantees what numfmt.nn guarantees: the accumulator and its product with the
// multiplier fit 63 bits (acc_bits + mult_bits <= 63).
template <class XF, class WF, class YF, int N_IN, int N_OUT>
void dense(const code_t x[N_IN], code_t y[N_OUT], const code_t w[N_OUT][N_IN], const std::int64_t bias[N_OUT],
           const std::int64_t multiplier[N_OUT], const int shift[N_OUT]) {
    std::int64_t xi[N_IN];
    for (int i = 0; i < N_IN; ++i) xi[i] = to_quanta<XF>(x[i]);
    for (int o = 0; o < N_OUT; ++o) {
        std::int64_t k = bias[o];
        for (int i = 0; i < N_IN; ++i) k += xi[i] * to_quanta<WF>(w[o][i]);
        y[o] = requantize_float<YF>(k, multiplier[o], shift[o]);
    }
}

// As dense(), with the products summed in a register of AccF under R, in order from
// R(bias[o] * 2^acc_exp) (numfmt.arith.FloatAccumulator(AccF, rounding=R), sequential); the
// register's value is then K * 2^acc_exp. The register must not overflow (numfmt.nn rejects it).
template <class XF, class WF, class YF, class AccF, rounding R, int N_IN, int N_OUT>
void dense_float_acc(const code_t x[N_IN], code_t y[N_OUT], const code_t w[N_OUT][N_IN],
                     const std::int64_t bias[N_OUT], const int acc_exp, const std::int64_t multiplier[N_OUT],
                     const int shift[N_OUT]) {
    for (int o = 0; o < N_OUT; ++o) {
        const bool neg = bias[o] < 0;
        const std::uint64_t mag = neg ? std::uint64_t(0) - std::uint64_t(bias[o]) : std::uint64_t(bias[o]);
        float_acc<AccF, R> acc(encode<AccF>(make_finite(neg, mag, acc_exp), R));
        for (int i = 0; i < N_IN; ++i) acc.template mac<XF, WF>(x[i], w[o][i]);
        const exact_value c = decode<AccF>(acc.code());
        const std::int64_t k = std::int64_t(c.mag << (c.exp - acc_exp));
        y[o] = requantize_float<YF>(c.neg ? -k : k, multiplier[o], shift[o]);
    }
}

// y[o] = R_CF(sum_j 2^(ex[j] + w_exp[o][j]) * sum_{k in block j} x_el[k] * w_el[o][k]
//             + bias[o] * 2^bias_exp[o]), the sums exact; x holds CF codes.
template <class MXX, class MXW, class CF, int N_IN, int N_OUT>
void dense_mx(const code_t x[N_IN], code_t y[N_OUT], const code_t w_el[N_OUT][N_IN],
              const int w_exp[N_OUT][(N_IN + MXW::block - 1) / MXW::block], const std::int64_t bias[N_OUT],
              const int bias_exp[N_OUT]) {
    static_assert(MXX::block == MXW::block, "activation and weight blocks must be equal");
    const int nb = (N_IN + MXX::block - 1) / MXX::block;
    typedef typename saturating<CF>::type carrier;
    code_t x_el[N_IN];
    code_t x_sc[(N_IN + MXX::block - 1) / MXX::block];
    mx_encode<MXX, CF::exp_bits, CF::man>(x, N_IN, x_el, x_sc);
    for (int o = 0; o < N_OUT; ++o) {
        typename block_dot_acc<MXX, MXW, N_IN, CF>::type acc;
        for (int j = 0; j < nb; ++j) {
            bool nan;
            const int ex = scale_exponent<typename MXX::scale>(x_sc[j], nan);
            if (nan) {
                acc.add(make_special(false, fclass::nan));
                continue;
            }
            const int hi = (j + 1) * MXX::block < N_IN ? (j + 1) * MXX::block : N_IN;
            for (int k = j * MXX::block; k < hi; ++k) {
                exact_value p = multiply(decode<typename MXX::element>(x_el[k]),
                                         decode<typename MXW::element>(w_el[o][k]));
                p.exp += ex + w_exp[o][j];
                acc.add(p);
            }
        }
        acc.add_term(bias[o] < 0, bias[o] < 0 ? std::uint64_t(0) - std::uint64_t(bias[o]) : std::uint64_t(bias[o]),
                     bias_exp[o]);
        y[o] = plus_zero<carrier>(acc.template result<carrier>());
    }
}

}  // namespace numfmt

#endif  // NUMFMT_LAYERS_H
