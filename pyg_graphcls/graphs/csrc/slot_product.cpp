// Weighted slot products of the dense training path: the compiled kernel behind
// pyg_graphcls.nn.neighbours.SlotOperator (built with the other kernels by
// pyg_graphcls/graphs/_compiled.py).
//
// Why hand-written: torch's CPU sparse CSR product has no bfloat16 kernel, so under mixed
// precision every product converted its [rows, C] operand to float32 and back, and the
// transposed product zero-fills and copies its [R, C] result: those passes over memory cost
// more than the layer's matrix products (a directional layer, 4,800 nodes x 9 kernels x 48
// channels, measured). These loops read the operand in its own dtype, accumulate in float32
// and write the result once.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <cstdint>
#include <cstring>
#include <vector>

// bfloat16 is the upper half of a float32: widening is a shift.
static inline float widen(float v) { return v; }
static inline float widen(c10::BFloat16 v) {
  uint32_t bits = static_cast<uint32_t>(v.x) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
static inline float widen(c10::Half v) { return static_cast<float>(v); }
// float32 -> bfloat16, round to nearest even (NaN stays NaN), without c10's per-element call
static inline void narrow(float f, float* o) { *o = f; }
static inline void narrow(float f, c10::BFloat16* o) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  o->x = static_cast<uint16_t>((bits & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC0u : rounded);
}
static inline void narrow(float f, c10::Half* o) { *o = static_cast<c10::Half>(f); }

template <typename T>
static void rows_product(const T* __restrict__ Y, const int64_t* __restrict__ ptr, const int64_t* __restrict__ col,
                         const float* __restrict__ w, T* __restrict__ O, int64_t rows, int64_t C) {
  at::parallel_for(0, rows, 256, [&](int64_t r0, int64_t r1) {
    std::vector<float> buf(C);
    float* __restrict__ acc = buf.data();
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t c = 0; c < C; ++c) acc[c] = 0.f;
      for (int64_t e = ptr[r]; e < ptr[r + 1]; ++e) {
        const float we = w[e];
        const T* __restrict__ y = Y + col[e] * C;
        for (int64_t c = 0; c < C; ++c) acc[c] += we * widen(y[c]);
      }
      T* __restrict__ o = O + r * C;
      for (int64_t c = 0; c < C; ++c) narrow(acc[c], o + c);
    }
  });
}

// out[r] = sum_{e in [ptr[r], ptr[r+1])} w[e] * y[col[e]]: a CSR matrix (ptr, col, w) times y [R, C]
// (float32, bfloat16 or float16; the result has y's dtype, sums in float32).
torch::Tensor csr_rows_product(torch::Tensor ptr, torch::Tensor col, torch::Tensor w, torch::Tensor y) {
  TORCH_CHECK(ptr.scalar_type() == torch::kInt64 && col.scalar_type() == torch::kInt64, "indices must be int64");
  TORCH_CHECK(w.scalar_type() == torch::kFloat32, "weights must be float32");
  TORCH_CHECK(y.dim() == 2, "y must be [R, C]");
  ptr = ptr.contiguous(); col = col.contiguous(); w = w.contiguous(); y = y.contiguous();
  const int64_t rows = ptr.numel() - 1, C = y.size(1);
  auto out = torch::empty({rows, C}, y.options());
  const int64_t* P = ptr.data_ptr<int64_t>();
  const int64_t* I = col.data_ptr<int64_t>();
  const float* W = w.data_ptr<float>();
  switch (y.scalar_type()) {
    case torch::kFloat32:
      rows_product<float>(y.data_ptr<float>(), P, I, W, out.data_ptr<float>(), rows, C); break;
    case torch::kBFloat16:
      rows_product<c10::BFloat16>(y.data_ptr<c10::BFloat16>(), P, I, W, out.data_ptr<c10::BFloat16>(), rows, C);
      break;
    case torch::kHalf:
      rows_product<c10::Half>(y.data_ptr<c10::Half>(), P, I, W, out.data_ptr<c10::Half>(), rows, C); break;
    default:
      TORCH_CHECK(false, "y must be float32, bfloat16 or float16");
  }
  return out;
}
