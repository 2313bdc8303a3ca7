// Reference for numfmt's fixed-point tests: the raw bits of
// ap_fixed_base<W, I, S, Q, O, N>(double) from the HLS ap_types headers.
//
// Built by harness.py: this file is compiled once per generated part with
// -DAP_REF_PART=k and -include <formats_k.inc> (a list of F(W,I,S,Q,O,N)),
// and once with -DAP_REF_MAIN and the part sizes.
//
// Protocol (binary, native endian): the input file holds jobs, each
//   int64 format_index, int64 n, n float64 values;
// the output file gets n uint64 codes per job, in job order
// (the low W bits of the value's two's-complement bit pattern).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

typedef void (*conv_fn)(const double*, uint64_t*, long);

#ifdef AP_REF_PART
#include <ap_fixed.h>

template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
void conv(const double* x, uint64_t* out, long n) {
  const uint64_t mask = W == 64 ? ~0ULL : ((1ULL << (W % 64)) - 1);
  for (long i = 0; i < n; ++i) {
    ap_fixed_base<W, I, S, Q, O, N> v(x[i]);
    out[i] = (uint64_t)v.bits_to_uint64() & mask;
  }
}

#define F(W, I, S, Q, O, N) &conv<W, I, S, Q, O, N>,
#define AP_REF_CAT2(a, b) a##b
#define AP_REF_CAT(a, b) AP_REF_CAT2(a, b)
extern const conv_fn AP_REF_CAT(part_, AP_REF_PART)[] = {
#include AP_REF_FORMATS
};
#endif  // AP_REF_PART

#ifdef AP_REF_MAIN
// AP_REF_DECLS declares the parts, AP_REF_TABLE lists (part, size) pairs.
AP_REF_DECLS

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s input.bin output.bin\n", argv[0]);
    return 2;
  }
  std::vector<conv_fn> table;
  struct Part { const conv_fn* fns; long n; };
  const Part parts[] = {AP_REF_TABLE};
  for (const Part& p : parts)
    for (long k = 0; k < p.n; ++k) table.push_back(p.fns[k]);

  FILE* in = fopen(argv[1], "rb");
  FILE* out = fopen(argv[2], "wb");
  if (!in || !out) { perror("ap_ref"); return 2; }
  int64_t head[2];
  std::vector<double> x;
  std::vector<uint64_t> codes;
  while (fread(head, sizeof(int64_t), 2, in) == 2) {
    if (head[0] < 0 || head[0] >= (int64_t)table.size() || head[1] < 0) {
      fprintf(stderr, "ap_ref: bad job header %lld %lld\n", (long long)head[0], (long long)head[1]);
      return 2;
    }
    x.resize(head[1]);
    codes.resize(head[1]);
    if (fread(x.data(), sizeof(double), head[1], in) != (size_t)head[1]) {
      fprintf(stderr, "ap_ref: truncated input\n");
      return 2;
    }
    table[head[0]](x.data(), codes.data(), head[1]);
    fwrite(codes.data(), sizeof(uint64_t), head[1], out);
  }
  return fclose(out) == 0 ? 0 : 2;
}
#endif  // AP_REF_MAIN
