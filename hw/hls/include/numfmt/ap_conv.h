// numfmt/ap_conv.h -- minifloat codes to and from Xilinx ap_fixed / ap_ufixed.
//
// * to_ap<F, AP>(code): the value of a code of F converted to the ap_fixed type AP with AP's
//   own quantization and overflow modes (numfmt FixedFormat.encode of F.decode(code); a NaN or
//   inf reaches AP as the header reads that double).
// * from_ap<F>(x, r): the code of F nearest to the ap_fixed value x (one rounding under r).
//
//   ap_fixed<16, 8> v = numfmt::to_ap<numfmt::e4m3fn, ap_fixed<16, 8> >(0x38);   // 1.0
//   numfmt::code_t c = numfmt::from_ap<numfmt::e5m2>(v);                        // 0x3c
//
// Needs the ap_types headers (hls4ml ships them in templates/vivado/ap_types; Vitis HLS has them).
#ifndef NUMFMT_AP_CONV_H
#define NUMFMT_AP_CONV_H

// The vendor headers trip GCC's (maybe-)uninitialized warnings when their code is inlined;
// they are silenced for those headers only, so user code still builds with -Wall -Wextra -Werror.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <ap_fixed.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <cstdint>

#include "minifloat.h"

namespace numfmt {

template <class F, class AP>
AP to_ap(code_t code) {
    AP r = decode_double<F>(code);
    return r;
}

template <class F, int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
code_t from_ap(const ap_fixed_base<W, I, S, Q, O, N>& x, rounding r = rounding::rne) {
    static_assert(W <= 64, "ap_fixed widths up to 64 bits");
    std::uint64_t raw = x.range(W - 1, 0).to_uint64();
    bool neg = false;
    if (S && ((raw >> (W - 1)) & 1u)) {
        neg = true;
        const std::uint64_t mask = W == 64 ? ~std::uint64_t(0) : ((std::uint64_t(1) << W) - 1);
        raw = (~raw + 1) & mask;  // magnitude of the two's-complement integer
    }
    return encode<F>(make_finite(neg, raw, I - W), r);
}

}  // namespace numfmt

#endif  // NUMFMT_AP_CONV_H
