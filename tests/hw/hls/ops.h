// Test operations of the header library: each reads numpy arrays (raw little-endian, the
// element count first as int64) from `in` and writes its results to `out` the same way, so
// tests/hw/hls compares them with numfmt exactly (np.array_equal).
#ifndef NUMFMT_TEST_OPS_H
#define NUMFMT_TEST_OPS_H

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <numfmt/numfmt.h>

namespace numfmt_test {

using numfmt::code_t;

template <class T>
std::vector<T> read_array(std::FILE* f) {
    std::int64_t n = 0;
    if (std::fread(&n, sizeof n, 1, f) != 1) std::exit(3);
    std::vector<T> v(static_cast<std::size_t>(n));
    if (n && std::fread(v.data(), sizeof(T), v.size(), f) != v.size()) std::exit(3);
    return v;
}

template <class T>
void write_array(std::FILE* f, const std::vector<T>& v) {
    const std::int64_t n = static_cast<std::int64_t>(v.size());
    std::fwrite(&n, sizeof n, 1, f);
    if (n) std::fwrite(v.data(), sizeof(T), v.size(), f);
}

inline numfmt::rounding read_rounding(std::FILE* f) {
    return static_cast<numfmt::rounding>(read_array<std::int64_t>(f).at(0));
}

// every code of F -> float64 bits of its value
template <class F>
void decode_all(std::FILE*, std::FILE* out) {
    std::vector<double> v(std::size_t(1) << F::bits);
    for (std::size_t c = 0; c < v.size(); ++c) v[c] = numfmt::decode_double<F>(code_t(c));
    write_array(out, v);
}

// IEEE bits (InE, InM) -> codes of F under a rounding mode
template <class F, int InE, int InM>
void encode_bits(std::FILE* in, std::FILE* out) {
    const numfmt::rounding r = read_rounding(in);
    const std::vector<std::uint64_t> x = read_array<std::uint64_t>(in);
    std::vector<std::uint32_t> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = numfmt::encode<F>(numfmt::from_ieee_bits<InE, InM>(x[i]), r);
    write_array(out, y);
}

// every pair (a, b) of codes, a major -> FOut code of the product
template <class FA, class FB, class FOut>
void mul_all(std::FILE* in, std::FILE* out) {
    const numfmt::rounding r = read_rounding(in);
    const std::size_t na = std::size_t(1) << FA::bits, nb = std::size_t(1) << FB::bits;
    std::vector<std::uint32_t> y(na * nb);
    for (std::size_t a = 0; a < na; ++a)
        for (std::size_t b = 0; b < nb; ++b) y[a * nb + b] = numfmt::mul<FA, FB, FOut>(code_t(a), code_t(b), r);
    write_array(out, y);
}

// rows of N products (codes a, b) summed exactly, rounded once to FOut
template <class FA, class FB, class FOut, long N>
void kulisch_rows(std::FILE* in, std::FILE* out) {
    const numfmt::rounding r = read_rounding(in);
    const std::vector<std::uint32_t> a = read_array<std::uint32_t>(in), b = read_array<std::uint32_t>(in);
    std::vector<std::uint32_t> y(a.size() / N);
    for (std::size_t i = 0; i < y.size(); ++i) {
        numfmt::kulisch<FA, FB, N> acc;
        for (long k = 0; k < N; ++k) acc.mac(a[i * N + k], b[i * N + k]);
        y[i] = acc.template result<FOut>(r);
    }
    write_array(out, y);
}

// rows of N products accumulated in a register of F (every addition rounded under R)
template <class F, numfmt::rounding R, class FA, class FB, long N>
void float_acc_rows(std::FILE* in, std::FILE* out) {
    const std::vector<std::uint32_t> a = read_array<std::uint32_t>(in), b = read_array<std::uint32_t>(in);
    std::vector<std::uint32_t> y(a.size() / N);
    for (std::size_t i = 0; i < y.size(); ++i) {
        numfmt::float_acc<F, R> acc;
        for (long k = 0; k < N; ++k) acc.template mac<FA, FB>(a[i * N + k], b[i * N + k]);
        y[i] = acc.code();
    }
    write_array(out, y);
}

// Requantizer(b, c, IntF, rounding, zero_point) on int64 accumulators (per element b, c)
template <class IntF>
void requantize_all(std::FILE* in, std::FILE* out) {
    const numfmt::rounding r = read_rounding(in);
    const std::int64_t zp = read_array<std::int64_t>(in).at(0);
    const std::vector<std::int64_t> acc = read_array<std::int64_t>(in), b = read_array<std::int64_t>(in),
                                    c = read_array<std::int64_t>(in);
    std::vector<std::int64_t> y(acc.size());
    for (std::size_t i = 0; i < acc.size(); ++i) y[i] = numfmt::requantize<IntF>(acc[i], b[i], int(c[i]), r, zp);
    write_array(out, y);
}

// acc * b * 2^-c rounded once to F (numfmt.nn's requantization to a float activation)
template <class F>
void requantize_float_all(std::FILE* in, std::FILE* out) {
    const std::vector<std::int64_t> acc = read_array<std::int64_t>(in), b = read_array<std::int64_t>(in),
                                    c = read_array<std::int64_t>(in);
    std::vector<std::uint32_t> y(acc.size());
    for (std::size_t i = 0; i < acc.size(); ++i) y[i] = numfmt::requantize_float<F>(acc[i], b[i], int(c[i]));
    write_array(out, y);
}

// rows of N elements of MXA and MXB (with their scales): the block dot product rounded to FOut
template <class MXA, class MXB, long N, class FOut>
void block_dot_rows(std::FILE* in, std::FILE* out) {
    const long nb = (N + MXA::block - 1) / MXA::block;
    const std::vector<std::uint32_t> ae = read_array<std::uint32_t>(in), as = read_array<std::uint32_t>(in),
                                     be = read_array<std::uint32_t>(in), bs = read_array<std::uint32_t>(in);
    std::vector<std::uint32_t> y(ae.size() / N);
    for (std::size_t i = 0; i < y.size(); ++i) {
        const auto acc = numfmt::block_dot<MXA, MXB, N>(&ae[i * N], &as[i * nb], &be[i * N], &bs[i * nb]);
        y[i] = acc.template result<FOut>();
    }
    write_array(out, y);
}

// rows of N IEEE inputs (InE, InM) encoded block by block: elements, then scales
template <class MX, int InE, int InM, long N>
void mx_encode_rows(std::FILE* in, std::FILE* out) {
    const long nb = (N + MX::block - 1) / MX::block;
    const std::vector<std::uint64_t> x = read_array<std::uint64_t>(in);
    const std::size_t rows = x.size() / N;
    std::vector<std::uint32_t> el(rows * N), sc(rows * nb);
    for (std::size_t i = 0; i < rows; ++i) numfmt::mx_encode<MX, InE, InM>(&x[i * N], int(N), &el[i * N], &sc[i * nb]);
    write_array(out, el);
    write_array(out, sc);
}

typedef void (*op_fn)(std::FILE*, std::FILE*);

// main(): `prog <op index> <in file> <out file>` runs OPS[index]
inline int run_main(int argc, char** argv, const op_fn* ops, int count) {
    if (argc != 4) return 2;
    const int k = std::atoi(argv[1]);
    if (k < 0 || k >= count) return 2;
    std::FILE* in = std::fopen(argv[2], "rb");
    std::FILE* out = std::fopen(argv[3], "wb");
    if (!in || !out) return 4;
    ops[k](in, out);
    std::fclose(in);
    return std::fclose(out) == 0 ? 0 : 5;
}

}  // namespace numfmt_test

#endif  // NUMFMT_TEST_OPS_H
