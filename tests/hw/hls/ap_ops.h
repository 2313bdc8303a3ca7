// ap_fixed conversions of the header library, as test operations (see ops.h).
#ifndef NUMFMT_TEST_AP_OPS_H
#define NUMFMT_TEST_AP_OPS_H

#include <numfmt/ap_conv.h>

#include "ops.h"

namespace numfmt_test {

// every code of F -> the raw W bits of to_ap<F, AP>(code)
template <class F, class AP>
void to_ap_all(std::FILE*, std::FILE* out) {
    std::vector<std::uint64_t> y(std::size_t(1) << F::bits);
    for (std::size_t c = 0; c < y.size(); ++c) {
        const AP v = numfmt::to_ap<F, AP>(code_t(c));
        y[c] = v.range(AP::width - 1, 0).to_uint64();
    }
    write_array(out, y);
}

// every raw W-bit pattern of AP (W <= 20) -> from_ap<F>(value) under a rounding mode
template <class F, class AP>
void from_ap_all(std::FILE* in, std::FILE* out) {
    const numfmt::rounding r = read_rounding(in);
    std::vector<std::uint32_t> y(std::size_t(1) << AP::width);
    for (std::size_t raw = 0; raw < y.size(); ++raw) {
        AP v;
        v.range(AP::width - 1, 0) = raw;
        y[raw] = numfmt::from_ap<F>(v, r);
    }
    write_array(out, y);
}

}  // namespace numfmt_test

#endif  // NUMFMT_TEST_AP_OPS_H
