// Batched SLIC on CPU: the compiled kernel behind pyg_graphcls.graphs.batched_slic.
//
// Built on first use by pyg_graphcls/graphs/_compiled.py (torch.utils.cpp_extension.load);
// the tensor path of batched_slic computes the same thing when this cannot be built.
//
// Why hand-written: the tensor formulation of a SLIC round (gather 9 candidate centres per
// pixel, score, argmin, scatter-add) makes ~6 passes over a [B, H*W, 9, D+1] intermediate;
// on CPU that costs ~0.5 ms per 28x28 image per round in eager torch and ~0.2 ms with
// torch.compile (measured), slower than scikit-image's whole slic call. The same round as a
// plain loop (per pixel: 9 candidates, D multiply-adds each) is ~100x less memory traffic.
// Loops are parallel over images with at::parallel_for (torch's intra-op threads).
//
// The loop computes what the tensor path computes: distances sum_d (f_pd - c_kd)^2 over the
// 3x3 candidate cells, first minimum wins, centres = mean of assigned pixel features, an empty
// cluster keeps its centre.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <vector>
#include <limits>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

// Eight floats (one AVX2 register; two SSE registers, or NEON's, where there is no AVX2): GCC's and
// Clang's vector extension, so that the large-cell rounds below keep a block's best distances and
// labels in registers across its 9 candidates whatever the auto-vectoriser decides. The plain loop
// this replaces (candidates outer, pixels of the run inner, best distance and label stored back
// per candidate) took 4.4 against 4.1 ms per 224x224 photo for the whole SLIC rounds in the same
// process (one thread, best of 5), and twice as long in a build where GCC ran its scalar copy.
typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
constexpr int64_t LANES = 8;

typedef uint32_t u32x8 __attribute__((vector_size(32)));
static inline f8 load8(const float* p) { f8 v; std::memcpy(&v, p, sizeof v); return v; }
static inline void store8(float* p, const f8 v) { std::memcpy(p, &v, sizeof v); }

static inline float lin_srgb(float v) {
  return v > 0.04045f ? std::pow((v + 0.055f) / 1.055f, 2.4f) : v / 12.92f;
}
// Cube root by a bit-level first guess and three Newton steps (relative error < 1e-7 for the
// normal floats Lab needs): std::cbrt took ~2/3 of the feature pass (measured). lab_f8 is the
// same per lane on 8 pixels: GCC does not vectorise the scalar loop (it branches around the cube
// root, whose float operations it may not then speculate), 0.57 against 0.13 ms per 224x224 image.
static inline float cbrt_newton(float x) {
  uint32_t i;
  std::memcpy(&i, &x, 4);
  i = i / 3u + 709921077u;
  float y;
  std::memcpy(&y, &i, 4);
  for (int r = 0; r < 3; ++r) y = (2.f * y + x / (y * y)) * (1.f / 3.f);
  return y;
}
static inline float lab_f(float t) {
  const float c = cbrt_newton(t > 0.008856f ? t : 1.f), l = 7.787f * t + 16.f / 116.f;
  return t > 0.008856f ? c : l;
}
static inline f8 lab_f8(const f8 t) {
  const i8 big = t > 0.008856f;
  const f8 x = big ? t : f8{} + 1.f;
  u32x8 i;
  std::memcpy(&i, &x, sizeof i);
  i = i / 3u + 709921077u;
  f8 y;
  std::memcpy(&y, &i, sizeof y);
  for (int r = 0; r < 3; ++r) y = (2.f * y + x / (y * y)) * (1.f / 3.f);
  return big ? y : 7.787f * t + 16.f / 116.f;
}

// Centres = mean feature of their pixels; an empty cluster keeps its centre. Labels come in runs
// along a row, so each run is summed with a SIMD reduction (float, <= W values) and added once
// to the cluster's double sum: the per-pixel scatter this replaces (sums[lab[p]] += f[p]) waits
// on the previous store whenever neighbours share a label, i.e. almost always (~3x slower, measured).
static void update_centres(const float* f, int64_t P, int64_t W, int64_t D, const int64_t* lab, int64_t K,
                           float* ctr, double* sums, int64_t* cnt) {
  std::fill(sums, sums + K * D, 0.0);
  std::fill(cnt, cnt + K, 0);
  for (int64_t p = 0; p < P;) {
    const int64_t row_end = (p / W + 1) * W, k = lab[p];
    int64_t q = p + 1;
    while (q < row_end && lab[q] == k) ++q;
    cnt[k] += q - p;
    for (int64_t d = 0; d < D; ++d) {
      const float* g = f + d * P;
      float a = 0.f;
#pragma omp simd reduction(+ : a)
      for (int64_t x = p; x < q; ++x) a += g[x];
      sums[k * D + d] += (double)a;
    }
    p = q;
  }
  for (int64_t k = 0; k < K; ++k)
    if (cnt[k] > 0)
      for (int64_t d = 0; d < D; ++d) ctr[k * D + d] = (float)(sums[k * D + d] / cnt[k]);
}

// The runs of pixels along a row that share a home cell (hence the same 9 candidates), with their
// distinct candidates in cell order (an off-grid cell repeats the home cell: only its first
// occurrence can win, so the later ones are dropped). Found once per call from cand [P, 9]: the
// assignments scanned the candidate table for them in every round (72 bytes a pixel, ~0.9 MB per
// half-resolution round of a 224x224 photo, more than stays in cache): 1806 -> 1499 us of CPU per
// photo for batched_slic without connectivity (A/B in one process, one thread), the same labels.
struct CandRun { int64_t p, q; int32_t nk; int32_t ks[9]; };
static std::vector<CandRun> cand_runs(const int64_t* C, int64_t P, int64_t W) {
  std::vector<CandRun> runs;
  for (int64_t p = 0; p < P;) {
    int64_t q = p + 1;
    const int64_t row_end = (p / W + 1) * W;
    while (q < row_end && C[q * 9 + 4] == C[p * 9 + 4]) ++q;
    CandRun r{p, q, 0, {}};
    for (int j = 0; j < 9; ++j) {
      const int32_t k = (int32_t)C[p * 9 + j];
      bool seen = false;
      for (int i = 0; i < r.nk; ++i) seen |= r.ks[i] == k;
      if (!seen) r.ks[r.nk++] = k;
    }
    runs.push_back(r);
    p = q;
  }
  return runs;
}

// One assignment round of the large-cell path: each pixel takes the nearest of its 9 candidate
// centres (off-grid candidates were replaced by the home cell in Python, so they never change the
// result). Features are planar (f[d * P + p]) and pixels are taken in runs along a row that share
// a home cell, hence the same 9 candidates; a run goes in blocks of 8 pixels (the last one padded
// with the run's last pixel), each scored against the candidates in cell order, first minimum
// wins. y is the same for the whole run, so its term is computed once per candidate; each
// distance sums colour, y, x in the tensor path's order. Returns whether a label changed; FRESH:
// lab holds nothing yet (a first assignment), it is only written. Reading an untouched output
// before writing it mapped each of its pages twice (the zero page, then a copy on write): the
// final assignment of a 224x224 photo page-faulted ~200 times instead of ~100.
template <int DT, bool FRESH = false, typename LT>
static bool assign_runs(const float* f, int64_t P, int64_t Drt, const std::vector<CandRun>& runs, const float* ctr,
                        LT* lab) {
  const int64_t D = DT > 0 ? DT : Drt;
  const int64_t DC = D - 2;  // colour planes; then y/S and x/S
  constexpr int64_t DM = DT > 0 ? DT : 16;
  bool changed = false;
  for (const CandRun& run : runs) {
    const int64_t p = run.p, q = run.q;
    const int32_t* ks = run.ks;
    const int nk = run.nk;
    const float gy = f[(D - 2) * P + p];
    float tyy[9];
    for (int i = 0; i < nk; ++i) { const float ty = gy - ctr[ks[i] * D + D - 2]; tyy[i] = ty * ty; }
    for (int64_t x0 = p; x0 < q; x0 += LANES) {
      const int64_t nl = std::min(LANES, q - x0);
      f8 fv[DM - 1];  // colour planes, then x
      for (int64_t d = 0; d <= DC; ++d) {
        const float* src = f + (d < DC ? d : D - 1) * P + x0;
        if (nl == LANES) fv[d] = load8(src);
        else { float t[LANES]; for (int64_t x = 0; x < LANES; ++x) t[x] = src[std::min(x, nl - 1)]; fv[d] = load8(t); }
      }
      f8 best = f8{} + std::numeric_limits<float>::infinity();
      i8 arg = i8{} + ks[0];
      for (int i = 0; i < nk; ++i) {
        const float* c = ctr + ks[i] * D;
        f8 s = {};
        for (int64_t d = 0; d < DC; ++d) { const f8 t = fv[d] - c[d]; s += t * t; }
        s += tyy[i];
        const f8 tx = fv[DC] - c[D - 1];
        s += tx * tx;
        const i8 m = s < best;
        best = m ? s : best;
        arg = m ? i8{} + ks[i] : arg;
      }
      if (FRESH) for (int64_t x = 0; x < nl; ++x) lab[x0 + x] = (LT)arg[x];
      else for (int64_t x = 0; x < nl; ++x) { changed |= lab[x0 + x] != (LT)arg[x]; lab[x0 + x] = (LT)arg[x]; }
    }
  }
  return FRESH || changed;
}

// One image: SLIC rounds at full resolution (assignments and centre updates, max_iter + 1
// assignments at most).
template <int DT>
static void slic_one(const float* f, int64_t P, int64_t W, int64_t Drt, const std::vector<CandRun>& C, const int64_t* I,
                     int64_t K, int64_t max_iter, int64_t* lab, float* ctr, double* sums, int64_t* cnt) {
  const int64_t D = DT > 0 ? DT : Drt;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t d = 0; d < D; ++d) ctr[k * D + d] = f[d * P + I[k]];  // centres start on grid pixels
  for (int64_t it = 0; it <= max_iter; ++it) {
    const bool changed = it == 0 ? assign_runs<DT, true>(f, P, D, C, ctr, lab) : assign_runs<DT>(f, P, D, C, ctr, lab);
    if (it == max_iter || !changed) break;  // unchanged labels: the same centres, the same labels for ever
    update_centres(f, P, W, D, lab, K, ctr, sums, cnt);
  }
}

// Coarse to fine: the half-resolution planes of an image, each value the mean of a 2x2 block of
// pixels, ((top-left + top-right) + (bottom-left + bottom-right)) * 0.25 (an odd last row or column
// repeats its pixels), as batched_slic._half_planes computes it.
// Eight 2x2 means at a time: the even and odd columns of 16 pixels of each row, split by shuffles,
// then the same additions per lane, the same bits. Against the scalar loop GCC left it as
// (stride-2 loads): ~40 us less CPU per 224x224 photo (A/B, 1,024 photos, one thread).
template <int O>  // lanes O, O + 2, ..., O + 14 of the 16 floats of a and b (O = 0: even, 1: odd)
static inline f8 every_other8(const f8 a, const f8 b) {
#if defined(__clang__)
  return __builtin_shufflevector(a, b, O, O + 2, O + 4, O + 6, O + 8, O + 10, O + 12, O + 14);
#else
  return __builtin_shuffle(a, b, i8{O, O + 2, O + 4, O + 6, O + 8, O + 10, O + 12, O + 14});
#endif
}
static void half_planes(const float* f, int64_t H, int64_t W, int64_t D, float* out) {
  const int64_t P = H * W, Hh = (H + 1) / 2, Wh = (W + 1) / 2, Ph = Hh * Wh;
  for (int64_t d = 0; d < D; ++d)
    for (int64_t i = 0; i < Hh; ++i) {
      const float* r0 = f + d * P + 2 * i * W;
      const float* r1 = f + d * P + std::min(2 * i + 1, H - 1) * W;
      float* o = out + d * Ph + i * Wh;
      int64_t j = 0;
      for (; 2 * j + 2 * LANES <= W; j += LANES) {
        const f8 a0 = load8(r0 + 2 * j), b0 = load8(r0 + 2 * j + LANES);
        const f8 a1 = load8(r1 + 2 * j), b1 = load8(r1 + 2 * j + LANES);
        store8(o + j, ((every_other8<0>(a0, b0) + every_other8<1>(a0, b0))
                       + (every_other8<0>(a1, b1) + every_other8<1>(a1, b1))) * 0.25f);
      }
      for (; j < Wh; ++j) {
        const int64_t x0 = 2 * j, x1 = std::min(2 * j + 1, W - 1);
        o[j] = ((r0[x0] + r0[x1]) + (r1[x0] + r1[x1])) * 0.25f;
      }
    }
}

// Centres = mean feature of their pixels (an empty cluster keeps its centre), for the coarse
// rounds' int32 labels: per run of equal labels along a row, all planes at once in 8-float
// blocks, each lane's sum then added in lane order and once to the cluster's double sum.
template <int DT>
static void update_centres_runs(const float* f, int64_t P, int64_t W, int64_t Drt, const int32_t* lab, int64_t K,
                                float* ctr, double* sums, int64_t* cnt) {
  const int64_t D = DT > 0 ? DT : Drt;
  constexpr int64_t DM = DT > 0 ? DT : 16;
  std::fill(sums, sums + K * D, 0.0);
  std::fill(cnt, cnt + K, 0);
  for (int64_t p = 0; p < P;) {
    const int64_t row_end = (p / W + 1) * W;
    const int32_t k = lab[p];
    int64_t q = p + 1;
    while (q < row_end && lab[q] == k) ++q;
    cnt[k] += q - p;
    const int64_t whole = p + (q - p) / LANES * LANES;
    f8 acc[DM];
    for (int64_t d = 0; d < D; ++d) acc[d] = f8{};
    for (int64_t x = p; x < whole; x += LANES)
      for (int64_t d = 0; d < D; ++d) acc[d] += load8(f + d * P + x);
    for (int64_t d = 0; d < D; ++d) {
      float a = 0.f;
      for (int l = 0; l < LANES; ++l) a += acc[d][l];
      for (int64_t x = whole; x < q; ++x) a += f[d * P + x];
      sums[k * D + d] += (double)a;
    }
    p = q;
  }
  for (int64_t k = 0; k < K; ++k)
    if (cnt[k] > 0)
      for (int64_t d = 0; d < D; ++d) ctr[k * D + d] = (float)(sums[k * D + d] / cnt[k]);
}

// One image, coarse to fine: centres start on the full-resolution grid pixels; up to max_iter
// rounds (assignment, centre update) on the half-resolution planes fh (candidates Ch: those of
// each block's top-left pixel), stopping when no label changes; then one assignment of the
// full-resolution pixels to the final centres. ~1/4 of the pixels in the rounds.
template <int DT>
static void slic_one_coarse(const float* f, int64_t H, int64_t W, int64_t Drt, const std::vector<CandRun>& C,
                            const std::vector<CandRun>& Ch,
                            const int64_t* I, int64_t K, int64_t max_iter, int64_t* lab, float* ctr, double* sums,
                            int64_t* cnt, float* fh, int32_t* labh) {
  const int64_t D = DT > 0 ? DT : Drt, P = H * W, Wh = (W + 1) / 2, Ph = ((H + 1) / 2) * Wh;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t d = 0; d < D; ++d) ctr[k * D + d] = f[d * P + I[k]];  // centres start on grid pixels
  if (max_iter > 0) {
    half_planes(f, H, W, D, fh);
    for (int64_t it = 0; it < max_iter; ++it) {
      const bool changed = assign_runs<DT>(fh, Ph, D, Ch, ctr, labh) || it == 0;
      if (!changed) break;  // unchanged labels: the centres are final
      update_centres_runs<DT>(fh, Ph, Wh, D, labh, K, ctr, sums, cnt);
    }
  }
  assign_runs<DT, true>(f, P, D, C, ctr, lab);
}

// The same rounds for small cells (runs along a row too short to vectorise), vectorised across
// images instead: LANES images of a batch share the grid, hence every pixel's 9 candidate cells, so
// one vector holds the same pixel (or centre) of LANES images and each distance, comparison and
// select serves all of them (GCC vector extensions: plain IEEE float per lane, the same arithmetic
// as a scalar loop). A block whose images have all stopped changing stops; an image that stopped
// earlier is at a fixed point (the same labels give the same centres), so its labels do not depend
// on the other images of its block. Centres are the float32 mean of double sums in pixel order.
// 28x28 grayscale, 81 cells, one thread: 104 -> 22 us per image against one image at a time
// (measured on 4,096 Fashion-MNIST images; 97.9 % of 8,192 get the same labels, the rest differ in
// a few pixels: the old loop summed each run in float first).
struct LaneWork {
  std::vector<f8> f, ctr, wgt;  // a vector holds LANES images: [D][P], [K][D], [K][D + 1]
  std::vector<double> sums;    // [K][D][LANES]
  std::vector<int32_t> cnt, lab;  // [K][LANES], [P][LANES]
};

template <int DT>
static void slic_lanes(const float* F, int64_t nb, int64_t P, int64_t Drt, const int32_t* C, const int64_t* I,
                       int64_t K, int64_t max_iter, int64_t* L, LaneWork& w) {
  const int64_t D = DT > 0 ? DT : Drt;
  w.f.resize(D * P); w.ctr.resize(K * D); w.wgt.resize(K * (D + 1)); w.sums.resize(K * D * LANES); w.cnt.resize(K * LANES);
  w.lab.assign(P * LANES, -1);
  f8* f = w.f.data();
  f8* ctr = w.ctr.data();
  // lanes past the batch's end repeat its last image (their results are dropped)
  for (int64_t d = 0; d < D; ++d)
    for (int64_t p = 0; p < P; ++p)
      for (int l = 0; l < LANES; ++l) f[d * P + p][l] = F[(std::min<int64_t>(l, nb - 1) * D + d) * P + p];
  for (int64_t k = 0; k < K; ++k)
    for (int64_t d = 0; d < D; ++d) ctr[k * D + d] = f[d * P + I[k]];  // centres start on grid pixels
  int32_t* lab = w.lab.data();
  f8* wgt = w.wgt.data();
  for (int64_t it = 0; it <= max_iter; ++it) {
    // |f - c|^2 = |f|^2 + (|c|^2 - 2 f.c): the first term is the same for every candidate of a pixel,
    // so each candidate scores |c|^2 + sum_d f_d (-2 c_d) (the tensor path's formula), D products
    // and D + 1 sums instead of D differences, D products and D sums
    for (int64_t k = 0; k < K; ++k) {
      f8 cc = {};
      for (int64_t d = 0; d < D; ++d) { const f8 c = ctr[k * D + d]; wgt[k * (D + 1) + 1 + d] = -2.f * c; cc += c * c; }
      wgt[k * (D + 1)] = cc;
    }
    i8 changed = {};
    for (int64_t p = 0; p < P; ++p) {
      f8 fp[DT > 0 ? DT : 16];
      for (int64_t d = 0; d < D; ++d) fp[d] = f[d * P + p];
      const int32_t* cp = C + p * 9;
      f8 best = f8{} + std::numeric_limits<float>::infinity();
      i8 arg = i8{} + cp[0];
      for (int j = 0; j < 9; ++j) {
        const f8* c = wgt + cp[j] * (D + 1);
        f8 s = c[0];
        for (int64_t d = 0; d < D; ++d) s += fp[d] * c[1 + d];
        const i8 m = s < best;
        best = m ? s : best;
        arg = m ? i8{} + cp[j] : arg;
      }
      i8 old;
      std::memcpy(&old, lab + p * LANES, sizeof(i8));
      changed |= old != arg;
      std::memcpy(lab + p * LANES, &arg, sizeof(i8));
    }
    bool any = false;
    for (int l = 0; l < LANES; ++l) any |= changed[l] != 0;
    if (it == max_iter || !any) break;  // unchanged labels: the same centres, the same labels for ever
    double* sums = w.sums.data();
    int32_t* cnt = w.cnt.data();
    std::fill(sums, sums + K * D * LANES, 0.0);
    std::fill(cnt, cnt + K * LANES, 0);
    // lane after lane within a pixel: LANES independent accumulators, no store-to-load waits
    for (int64_t p = 0; p < P; ++p)
      for (int l = 0; l < LANES; ++l) {
        const int64_t k = lab[p * LANES + l];
        cnt[k * LANES + l] += 1;
        for (int64_t d = 0; d < D; ++d) sums[(k * D + d) * LANES + l] += (double)f[d * P + p][l];
      }
    for (int64_t k = 0; k < K; ++k)
      for (int l = 0; l < LANES; ++l)
        if (cnt[k * LANES + l] > 0)
          for (int64_t d = 0; d < D; ++d)
            ctr[k * D + d][l] = (float)(sums[(k * D + d) * LANES + l] / cnt[k * LANES + l]);
  }
  for (int64_t l = 0; l < nb; ++l)
    for (int64_t p = 0; p < P; ++p) L[l * P + p] = lab[p * LANES + l];
}

// An output tensor: `out` when the caller passes one (checked: contiguous, that shape and dtype; it
// may be a block of a larger tensor), else a new one. batched_slic passes its own buffers so that a
// 224x224 photo's planes and labels are not handed back to the system and page-faulted afresh for
// every block (glibc maps buffers of several MB directly and unmaps them when freed).
static torch::Tensor output(const c10::optional<torch::Tensor>& out, at::IntArrayRef shape, at::ScalarType dtype) {
  if (!out.has_value() || !out->defined()) return torch::empty(shape, dtype);
  TORCH_CHECK(out->device().is_cpu() && out->scalar_type() == dtype && out->is_contiguous() && out->sizes() == shape,
              "out must be a contiguous CPU tensor of shape ", shape, " and dtype ", dtype);
  return *out;
}

// feat [B, D, P] float32 (planar), cand [P, 9] int64 (all on the grid), init [K] int64, W the
// image width -> labels [B, P] int64
torch::Tensor slic_labels(torch::Tensor feat, torch::Tensor cand, torch::Tensor init, int64_t W, int64_t max_iter,
                          bool per_pixel, c10::optional<torch::Tensor> out) {
  TORCH_CHECK(feat.dim() == 3 && feat.scalar_type() == torch::kFloat32, "feat must be float32 [B, D, P]");
  feat = feat.contiguous(); cand = cand.contiguous(); init = init.contiguous();
  const int64_t B = feat.size(0), D = feat.size(1), P = feat.size(2), K = init.size(0);
  TORCH_CHECK(D <= 16, "at most 16 features per pixel");
  auto labels = output(out, {B, P}, torch::kInt64);
  const float* F = feat.data_ptr<float>();
  const int64_t* C = cand.data_ptr<int64_t>();
  const int64_t* I = init.data_ptr<int64_t>();
  int64_t* L = labels.data_ptr<int64_t>();
  if (per_pixel) {
    std::vector<int32_t> cand32(C, C + P * 9);
    const int64_t nblocks = (B + LANES - 1) / LANES;
    at::parallel_for(0, nblocks, 1, [&](int64_t q0, int64_t q1) {
      LaneWork work;
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t b = q * LANES, nb = std::min<int64_t>(LANES, B - b);
        const float* f = F + b * P * D;
        if (D == 3) slic_lanes<3>(f, nb, P, D, cand32.data(), I, K, max_iter, L + b * P, work);
        else if (D == 5) slic_lanes<5>(f, nb, P, D, cand32.data(), I, K, max_iter, L + b * P, work);
        else slic_lanes<0>(f, nb, P, D, cand32.data(), I, K, max_iter, L + b * P, work);
      }
    });
    return labels;
  }
  const std::vector<CandRun> runs = cand_runs(C, P, W);
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> ctr(K * D);
    std::vector<double> sums(K * D);
    std::vector<int64_t> cnt(K);
    for (int64_t b = b0; b < b1; ++b) {
      const float* f = F + b * P * D;
      int64_t* lab = L + b * P;
      if (D == 3) slic_one<3>(f, P, W, D, runs, I, K, max_iter, lab, ctr.data(), sums.data(), cnt.data());
      else if (D == 5) slic_one<5>(f, P, W, D, runs, I, K, max_iter, lab, ctr.data(), sums.data(), cnt.data());
      else slic_one<0>(f, P, W, D, runs, I, K, max_iter, lab, ctr.data(), sums.data(), cnt.data());
    }
  });
  return labels;
}

// The coarse-to-fine rounds of a batch (large cells only): feat [B, D, H * W] float32 (planar),
// cand [H * W, 9] and cand_half [ceil(H / 2) * ceil(W / 2), 9] int64 (all on the grid), init [K]
// int64 -> labels [B, H * W] int64
torch::Tensor slic_labels_coarse(torch::Tensor feat, torch::Tensor cand, torch::Tensor cand_half, torch::Tensor init,
                                 int64_t H, int64_t W, int64_t max_iter, c10::optional<torch::Tensor> out) {
  TORCH_CHECK(feat.dim() == 3 && feat.scalar_type() == torch::kFloat32, "feat must be float32 [B, D, P]");
  feat = feat.contiguous(); cand = cand.contiguous(); cand_half = cand_half.contiguous(); init = init.contiguous();
  const int64_t B = feat.size(0), D = feat.size(1), P = feat.size(2), K = init.size(0);
  const int64_t Ph = ((H + 1) / 2) * ((W + 1) / 2);
  TORCH_CHECK(D >= 3 && D <= 16, "3 to 16 features per pixel");
  TORCH_CHECK(P == H * W && cand.size(0) == P && cand_half.size(0) == Ph, "feat, cand, cand_half and H, W disagree");
  auto labels = output(out, {B, P}, torch::kInt64);
  const float* F = feat.data_ptr<float>();
  const int64_t* C = cand.data_ptr<int64_t>();
  const int64_t* Ch = cand_half.data_ptr<int64_t>();
  const int64_t* I = init.data_ptr<int64_t>();
  int64_t* L = labels.data_ptr<int64_t>();
  const std::vector<CandRun> runs = cand_runs(C, P, W), runs_half = cand_runs(Ch, Ph, (W + 1) / 2);
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> ctr(K * D), fh(D * Ph);
    std::vector<double> sums(K * D);
    std::vector<int64_t> cnt(K);
    std::vector<int32_t> labh(Ph);
    for (int64_t b = b0; b < b1; ++b) {
      const float* f = F + b * P * D;
      int64_t* lab = L + b * P;
      if (D == 3) slic_one_coarse<3>(f, H, W, D, runs, runs_half, I, K, max_iter, lab, ctr.data(), sums.data(), cnt.data(), fh.data(), labh.data());
      else if (D == 5) slic_one_coarse<5>(f, H, W, D, runs, runs_half, I, K, max_iter, lab, ctr.data(), sums.data(), cnt.data(), fh.data(), labh.data());
      else slic_one_coarse<0>(f, H, W, D, runs, runs_half, I, K, max_iter, lab, ctr.data(), sums.data(), cnt.data(), fh.data(), labh.data());
    }
  });
  return labels;
}

// Planar SLIC features of a batch: img [B, H, W, C] uint8 (0..255) or float32 (in [0, 1]) ->
// [B, C + 2, P] float32: the colour (CIE Lab, D65, for C == 3 when lab: the formulas of
// skimage.color.rgb2lab; else the values) divided by m, then y / step and x / step.
// One pass per image replaces the tensor version's ~6 passes (conversion to float, Lab, cat,
// transpose), which took ~9 ms of a ~25 ms 224x224 RGB conversion (measured).
template <typename T>
static void features_one(const T* im, int64_t H, int64_t W, int64_t C, float inv_m, float inv_s, bool lab,
                         const float* lut, float* out) {
  const int64_t P = H * W;
  if (lab && C == 3) {
    float* L = out; float* A = out + P; float* Bb = out + 2 * P;
    int64_t p = 0;
    for (; p + LANES <= P; p += LANES) {  // 8 pixels at a time, the same operations as the loop below
      float rgb[3][LANES];
      for (int64_t l = 0; l < LANES; ++l)
        for (int c = 0; c < 3; ++c) {
          if constexpr (std::is_same<T, uint8_t>::value) rgb[c][l] = lut[im[(p + l) * 3 + c]];
          else rgb[c][l] = lin_srgb(im[(p + l) * 3 + c]);
        }
      const f8 r = load8(rgb[0]), g = load8(rgb[1]), b = load8(rgb[2]);
      const f8 X = (0.412453f * r + 0.357580f * g + 0.180423f * b) / 0.95047f;
      const f8 Y = 0.212671f * r + 0.715160f * g + 0.072169f * b;
      const f8 Z = (0.019334f * r + 0.119193f * g + 0.950227f * b) / 1.08883f;
      const f8 fx = lab_f8(X), fy = lab_f8(Y), fz = lab_f8(Z);
      store8(L + p, (116.f * fy - 16.f) * inv_m);
      store8(A + p, (500.f * (fx - fy)) * inv_m);
      store8(Bb + p, (200.f * (fy - fz)) * inv_m);
    }
    for (; p < P; ++p) {
      float r, g, b;
      if constexpr (std::is_same<T, uint8_t>::value) {
        r = lut[im[p * 3]]; g = lut[im[p * 3 + 1]]; b = lut[im[p * 3 + 2]];
      } else {
        r = lin_srgb(im[p * 3]); g = lin_srgb(im[p * 3 + 1]); b = lin_srgb(im[p * 3 + 2]);
      }
      const float X = (0.412453f * r + 0.357580f * g + 0.180423f * b) / 0.95047f;
      const float Y = 0.212671f * r + 0.715160f * g + 0.072169f * b;
      const float Z = (0.019334f * r + 0.119193f * g + 0.950227f * b) / 1.08883f;
      const float fx = lab_f(X), fy = lab_f(Y), fz = lab_f(Z);
      L[p] = (116.f * fy - 16.f) * inv_m;
      A[p] = (500.f * (fx - fy)) * inv_m;
      Bb[p] = (200.f * (fy - fz)) * inv_m;
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      float* o = out + c * P;
      for (int64_t p = 0; p < P; ++p) {
        if constexpr (std::is_same<T, uint8_t>::value) o[p] = ((float)im[p * C + c] / 255.f) * inv_m;
        else o[p] = (float)im[p * C + c] * inv_m;
      }
    }
  }
  float* Y = out + C * P; float* X = out + (C + 1) * P;
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) { Y[y * W + x] = (float)y * inv_s; X[y * W + x] = (float)x * inv_s; }
}

torch::Tensor pixel_features(torch::Tensor img, double m, double step, bool lab, c10::optional<torch::Tensor> out_) {
  TORCH_CHECK(img.dim() == 4, "img must be [B, H, W, C]");
  TORCH_CHECK(img.scalar_type() == torch::kUInt8 || img.scalar_type() == torch::kFloat32, "img must be uint8 or float32");
  img = img.contiguous();
  const int64_t B = img.size(0), H = img.size(1), W = img.size(2), C = img.size(3), P = H * W;
  auto out = output(out_, {B, C + 2, P}, torch::kFloat32);
  float lut[256];
  for (int i = 0; i < 256; ++i) lut[i] = lin_srgb((float)i / 255.f);
  const float inv_m = (float)(1.0 / m), inv_s = (float)(1.0 / step);
  float* O = out.data_ptr<float>();
  const bool u8 = img.scalar_type() == torch::kUInt8;
  const uint8_t* I8 = u8 ? img.data_ptr<uint8_t>() : nullptr;
  const float* IF = u8 ? nullptr : img.data_ptr<float>();
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      if (u8) features_one<uint8_t>(I8 + b * P * C, H, W, C, inv_m, inv_s, lab, lut, O + b * (C + 2) * P);
      else features_one<float>(IF + b * P * C, H, W, C, inv_m, inv_s, lab, lut, O + b * (C + 2) * P);
    }
  });
  return out;
}

// The checked inputs of the per-segment passes: img [B, H, W, C] uint8 or float32 (contiguous
// copies kept alive here), labels [B, H * W] int64.
struct SegmentInput {
  torch::Tensor img, labels;
  int64_t B, H, W, C, P;
  const int64_t* L;
  bool u8;
  const uint8_t* I8;
  const float* IF;
  SegmentInput(torch::Tensor img_, torch::Tensor labels_) {
    TORCH_CHECK(img_.dim() == 4, "img must be [B, H, W, C]");
    TORCH_CHECK(img_.scalar_type() == torch::kUInt8 || img_.scalar_type() == torch::kFloat32,
                "img must be uint8 or float32");
    img = img_.contiguous(); labels = labels_.contiguous();
    B = img.size(0); H = img.size(1); W = img.size(2); C = img.size(3); P = H * W;
    TORCH_CHECK(labels.numel() == B * P, "labels must be [B, H * W]");
    L = labels.data_ptr<int64_t>();
    u8 = img.scalar_type() == torch::kUInt8;
    I8 = u8 ? img.data_ptr<uint8_t>() : nullptr;
    IF = u8 ? nullptr : img.data_ptr<float>();
  }
};

// Per-segment sums of a batch, in pixel order (the order of the tensor path's index_add_ and of
// numpy's bincount, so the float64 results are the same bits): img [B, H, W, C] uint8 or float32
// in [0, 1], labels [B, P] int64 in 0..M-1 -> [B, M, 3 + 2C] float64 holding, per segment, the
// pixel count, the sums of y and x, of each channel and of each channel squared. One pass instead
// of the tensor path's float64 copies and five index_add_ passes (~2 ms of a 224x224 image).
torch::Tensor segment_sums(torch::Tensor img, torch::Tensor labels, int64_t M) {
  const SegmentInput in(img, labels);
  const int64_t B = in.B, W = in.W, C = in.C, P = in.P, S = 3 + 2 * C;
  const int64_t* L = in.L; const uint8_t* I8 = in.I8; const float* IF = in.IF; const bool u8 = in.u8;
  auto out = torch::zeros({B, M, S}, torch::kFloat64);
  double* O = out.data_ptr<double>();
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double* o = O + b * M * S;
      const int64_t* lab = L + b * P;
      for (int64_t p = 0; p < P; ++p) {
        const int64_t k = lab[p];
        TORCH_CHECK(k >= 0 && k < M, "label out of range");
        double* r = o + k * S;
        r[0] += 1.0; r[1] += (double)(p / W); r[2] += (double)(p % W);
        for (int64_t c = 0; c < C; ++c) {
          const double v = u8 ? (double)((float)I8[(b * P + p) * C + c] / 255.f) : (double)IF[(b * P + p) * C + c];
          r[3 + c] += v;
          r[3 + C + c] += v * v;
        }
      }
    }
  });
  return out;
}

// The per-pixel sums of features.region_features' bbox, moments and gradient columns in one pass:
// img [B, H, W, C] (uint8 or float32), labels [B, P] int64 in 0..M-1 -> [B, M, 7 + 2C] float64 holding,
// per segment, x0, y0, x1, y1 (the bounding box, pixels, inclusive), the sums of x*x, y*y, x*y and, with
// `gradient`, of x*v_c and y*v_c per channel (v = uint8 / 255.0 in float64, or the float32 value), in
// pixel order: the bits of the tensor path's scatter_reduce / index_add_ passes, which it replaces
// (seven passes over float64 copies of the pixels; ~4 ms of a 224x224 RGB image).
torch::Tensor segment_shape_sums(torch::Tensor img, torch::Tensor labels, int64_t M, bool gradient) {
  const SegmentInput in(img, labels);
  const int64_t B = in.B, H = in.H, W = in.W, C = in.C, P = in.P, S = 7 + 2 * C;
  const int64_t* L = in.L; const uint8_t* I8 = in.I8; const float* IF = in.IF; const bool u8 = in.u8;
  auto out = torch::zeros({B, M, S}, torch::kFloat64);
  double* O = out.data_ptr<double>();
  const double big = (double)std::max(H, W);
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double* o = O + b * M * S;
      for (int64_t k = 0; k < M; ++k) { o[k * S] = big; o[k * S + 1] = big; }  // amin starts at max(H, W)
      const int64_t* lab = L + b * P;
      for (int64_t p = 0; p < P; ++p) {
        const int64_t k = lab[p];
        TORCH_CHECK(k >= 0 && k < M, "label out of range");
        double* r = o + k * S;
        const double y = (double)(p / W), x = (double)(p % W);
        r[0] = std::min(r[0], x); r[1] = std::min(r[1], y);
        r[2] = std::max(r[2], x); r[3] = std::max(r[3], y);
        r[4] += x * x; r[5] += y * y; r[6] += x * y;
        if (gradient) {
          for (int64_t c = 0; c < C; ++c) {
            const double v = u8 ? (double)I8[(b * P + p) * C + c] / 255.0 : (double)IF[(b * P + p) * C + c];
            r[7 + c] += v * x;
            r[7 + C + c] += v * y;
          }
        }
      }
    }
  });
  return out;
}

// Connected regions of one image, n_target of them when the image has that many pieces: the
// compiled twin of graphs/connectivity.py's _connect_one (the same steps, the same float64
// arithmetic in the same order, the same tie-breaking), so both give the same labels.
// 1. 4-connected pieces of equal label, numbered in raster order of their first pixel; the
//    largest piece of each label is its main piece, the others are fragments.
// 2. Pixel count and per-channel sums per piece (float64, in pixel order: numpy's bincount order).
// 3. Touching pairs; a min-heap of (rank, cost, lo, hi) with rank 1 when both regions hold a main
//    piece, 0 otherwise (fragments go first), and cost = n_i n_j / (n_i + n_j) * |mu_i - mu_j|^2
//    (Ward); take the smallest, merge hi into lo, re-key the pairs of lo (PairHeap: one entry per
//    pair); until n_target regions are left.
// 4. Regions renumbered in raster order of their first pixel.
// The pieces are found on runs of equal label along each row (union-find over runs that overlap
// in the row above), and the sums, the touching pairs and the output are taken run by run: a
// 28x28 Fashion-MNIST map has ~300 runs for 784 pixels. With the heap keys packed into two
// integers and the mean colours kept per region, 61 -> 42 us of CPU per 28x28 image against the
// per-pixel flood fill it replaces (4,096 Fashion-MNIST images, one thread), the same labels; the
// merge loop (~250 heap pops for ~40 merges with the lazy heap) was half of what was left.
// The heap that re-keys pairs in place (PairHeap): 1185 -> 867 us per 224x224 photo and 39.5 ->
// 36.0 us per 28x28 Fashion-MNIST image (one thread, A/B in one process), the same labels.
// The touching pairs of live regions in a binary min-heap on (rank, cost, lo, hi), one entry per
// pair: a merge re-keys the pairs of the merged region where they stand (each pair knows its place
// in the heap) instead of pushing new entries and leaving the old ones to be popped and skipped.
// 224x224 photos (~850 pieces, ~780 merges, one thread): the lazy heap popped ~11 stale entries per
// merge and its merge loop took about half of connect_one.
typedef unsigned __int128 ward_u128;
struct PairHeap {
  std::vector<ward_u128> key;  // per pair: rank bit and the cost's bits (high half), lo << 32 | hi (low half)
  std::vector<int32_t> pos;    // per pair: its index in h
  std::vector<int32_t> h;      // pair ids, key[h[i]] <= key of its two children
  void place(int64_t i, int32_t e) { h[i] = e; pos[e] = (int32_t)i; }
  void up(int64_t i) {
    const int32_t e = h[i];
    const ward_u128 k = key[e];
    while (i > 0) {
      const int64_t p = (i - 1) >> 1;
      if (!(k < key[h[p]])) break;
      place(i, h[p]);
      i = p;
    }
    place(i, e);
  }
  void down(int64_t i) {
    const int32_t e = h[i];
    const ward_u128 k = key[e];
    const int64_t n = (int64_t)h.size();
    for (;;) {
      int64_t c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && key[h[c + 1]] < key[h[c]]) ++c;
      if (!(key[h[c]] < k)) break;
      place(i, h[c]);
      i = c;
    }
    place(i, e);
  }
  void update(int32_t e) {  // key[e] changed
    const int64_t i = pos[e];
    if (i > 0 && key[e] < key[h[(i - 1) >> 1]]) up(i); else down(i);
  }
  void remove(int32_t e) {
    const int64_t i = pos[e];
    const int32_t last = h.back();
    h.pop_back();
    if (i < (int64_t)h.size()) { place(i, last); update(last); }
  }
};
static inline ward_u128 ward_key(bool rank, double cost, int32_t lo, int32_t hi) {  // cost >= 0: its bits order as integers
  uint64_t bits;
  std::memcpy(&bits, &cost, 8);
  return ((ward_u128)(((uint64_t)rank << 63) | bits) << 64) | (((uint64_t)lo << 32) | (uint32_t)hi);
}
struct WardNbr { int32_t k, e; };  // a neighbour region and the id of the pair

// Buffers of connect_one, kept across the images of a thread (their capacity stays: no allocation
// per image after the first, which took most of the time on 28x28 images).
struct ConnectWork {
  std::vector<int32_t> run_start, run_end, run_parent, run_piece, parent, relabel, best, stamp, pair_ptr,
      pair_b;
  std::vector<int64_t> run_label, piece_label, isum;
  std::vector<double> cnt, sums, mu;
  std::vector<char> main_piece;
  std::vector<std::pair<int32_t, int32_t>> pairs;
  std::vector<std::vector<WardNbr>> nbrs;
  PairHeap heap;
};

// (float)v / 255.f for each uint8 v, times 2^31: an integer (the float's last bit is worth at least
// 2^-31 from 1/255 up)
static const int64_t* unit_lut31() {
  static const std::vector<int64_t> lut = [] {
    std::vector<int64_t> t(256);
    for (int v = 0; v < 256; ++v) t[v] = (int64_t)std::ldexp((double)((float)v / 255.f), 31);
    return t;
  }();
  return lut.data();
}

static inline int32_t run_root(std::vector<int32_t>& parent, int32_t r) {
  while (parent[r] != r) { parent[r] = parent[parent[r]]; r = parent[r]; }
  return r;
}

template <typename T>
static int64_t connect_one(const int64_t* lab, const T* im, int64_t H, int64_t W, int64_t C, int64_t n_target,
                           int64_t* out, ConnectWork& w) {
  // runs of equal label along each row, joined to the runs above them that they touch
  auto& rs = w.run_start; auto& re = w.run_end; auto& rp = w.run_parent; auto& rl = w.run_label;
  rs.clear(); re.clear(); rp.clear(); rl.clear();
  int32_t prev0 = 0, prev1 = 0;  // the runs [prev0, prev1) of the row above
  for (int64_t y = 0; y < H; ++y) {
    const int64_t* row = lab + y * W;
    const int32_t cur0 = (int32_t)rs.size();
    int32_t a = prev0;
    for (int64_t x = 0; x < W;) {
      int64_t e = x + 1;
      while (e < W && row[e] == row[x]) ++e;
      const int32_t r = (int32_t)rs.size();
      rs.push_back((int32_t)(y * W + x)); re.push_back((int32_t)(y * W + e)); rp.push_back(r); rl.push_back(row[x]);
      // runs above overlapping columns [x, e): skip those ending at or before x
      while (a < prev1 && re[a] - (y - 1) * W <= x) ++a;
      for (int32_t b = a; b < prev1 && rs[b] - (y - 1) * W < e; ++b)
        if (rl[b] == row[x]) {  // union: the root with the smaller index (the earlier first pixel) wins
          const int32_t ra = run_root(rp, r), rb = run_root(rp, b);
          if (ra < rb) rp[rb] = ra; else if (rb < ra) rp[ra] = rb;
        }
      x = e;
    }
    prev0 = cur0; prev1 = (int32_t)rs.size();
  }
  const int32_t nr = (int32_t)rs.size();
  // pieces in raster order of their first pixel: a root run comes before every run of its piece
  auto& rpiece = w.run_piece;
  rpiece.resize(nr);
  int32_t np = 0;
  for (int32_t r = 0; r < nr; ++r) {
    const int32_t root = run_root(rp, r);
    rpiece[r] = root == r ? np++ : rpiece[root];
  }
  auto& parent = w.parent;
  parent.resize(np);
  for (int32_t i = 0; i < np; ++i) parent[i] = i;
  if (n_target < np) {
    auto& cnt = w.cnt; auto& sums = w.sums; auto& plabel = w.piece_label;
    cnt.assign(np, 0.0);
    sums.assign((size_t)np * C, 0.0);
    plabel.resize(np);
    if (std::is_same<T, uint8_t>::value && (C == 1 || C == 3) && H * W < ((int64_t)1 << 22)) {
      // uint8: each value (float)v / 255.f is a multiple of 2^-31 in [0, 1], so every partial sum of
      // fewer than 2^22 of them is exact in float64 and the sums are those multiples counted in
      // integers (unit_lut31), whatever the order: the bits of the pixel-order float64 sums below.
      // 829 -> 776 us per 224x224 photo for connect_regions (A/B in one process), the same labels.
      const int64_t* lut = unit_lut31();
      auto& isum = w.isum;
      isum.assign((size_t)np * C, 0);
      for (int32_t r = 0; r < nr; ++r) {
        const int32_t k = rpiece[r];
        if (rp[r] == r) plabel[k] = rl[r];
        cnt[k] += (double)(re[r] - rs[r]);
        const uint8_t* px = reinterpret_cast<const uint8_t*>(im);
        int64_t* sk = isum.data() + (size_t)k * C;
        if (C == 3) {
          int64_t a0 = 0, a1 = 0, a2 = 0;
          for (int64_t p = rs[r]; p < re[r]; ++p) { a0 += lut[px[3 * p]]; a1 += lut[px[3 * p + 1]]; a2 += lut[px[3 * p + 2]]; }
          sk[0] += a0; sk[1] += a1; sk[2] += a2;
        } else {
          int64_t a0 = 0;
          for (int64_t p = rs[r]; p < re[r]; ++p) a0 += lut[px[p]];
          sk[0] += a0;
        }
      }
      for (size_t i = 0; i < isum.size(); ++i) sums[i] = std::ldexp((double)isum[i], -31);
    } else {
      for (int32_t r = 0; r < nr; ++r) {  // runs in raster order: every piece's sums in pixel order
        const int32_t k = rpiece[r];
        if (rp[r] == r) plabel[k] = rl[r];
        double* sk = sums.data() + (size_t)k * C;
        for (int64_t p = rs[r]; p < re[r]; ++p) {
          cnt[k] += 1.0;
          for (int64_t c = 0; c < C; ++c) {
            double v;
            if constexpr (std::is_same<T, uint8_t>::value) v = (double)((float)im[p * C + c] / 255.f);
            else v = (double)im[p * C + c];
            sk[c] += v;
          }
        }
      }
    }
    // the main piece of each input label: its largest (ties: the first in raster order); the
    // other pieces are fragments, merged before any two main pieces are
    auto& main_piece = w.main_piece;
    main_piece.assign(np, 0);
    const int64_t lo_l = *std::min_element(plabel.begin(), plabel.end());
    const int64_t hi_l = *std::max_element(plabel.begin(), plabel.end());
    if (hi_l - lo_l < 4 * (H * W) + 64) {  // label values in a small range: one slot per label
      auto& best = w.best;
      best.assign(hi_l - lo_l + 1, -1);
      for (int32_t k = 0; k < np; ++k) {
        int32_t& b = best[plabel[k] - lo_l];
        if (b < 0 || cnt[k] > cnt[b]) b = k;
      }
      for (int32_t k = 0; k < np; ++k) main_piece[best[plabel[k] - lo_l]] = 1;
    } else {
      std::vector<int32_t> order(np);
      for (int32_t i = 0; i < np; ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        if (plabel[a] != plabel[b]) return plabel[a] < plabel[b];
        if (cnt[a] != cnt[b]) return cnt[a] > cnt[b];
        return a < b;
      });
      for (int32_t t = 0; t < np; ++t)
        if (t == 0 || plabel[order[t]] != plabel[order[t - 1]]) main_piece[order[t]] = 1;
    }
    // touching pieces: runs side by side in a row, and runs of different pieces overlapping a run above
    auto& pairs = w.pairs;
    pairs.clear();
    auto touch = [&](int32_t a, int32_t b) { if (a != b) pairs.push_back(a < b ? std::make_pair(a, b) : std::make_pair(b, a)); };
    {
      int32_t r0 = 0;
      for (int64_t y = 0; y < H; ++y) {
        int32_t r1 = r0;
        while (r1 < nr && rs[r1] < (y + 1) * W) ++r1;
        for (int32_t r = r0 + 1; r < r1; ++r) touch(rpiece[r - 1], rpiece[r]);
        if (y + 1 < H) {  // the row below: its runs start at r1
          int32_t b = r1;
          for (int32_t r = r0; r < r1; ++r) {
            const int64_t x0 = rs[r] - y * W, x1 = re[r] - y * W;
            while (b < nr && re[b] - (y + 1) * W <= x0) ++b;
            for (int32_t q = b; q < nr && rs[q] < (y + 2) * W && rs[q] - (y + 1) * W < x1; ++q) touch(rpiece[r], rpiece[q]);
          }
        }
        r0 = r1;
      }
    }
    // each pair once (a counting sort by the smaller piece, a stamp per larger one), as neighbour lists
    auto& ptr = w.pair_ptr; auto& pb = w.pair_b; auto& stamp = w.stamp;
    ptr.assign(np + 1, 0);
    for (const auto& pr : pairs) ++ptr[pr.first + 1];
    for (int32_t i = 0; i < np; ++i) ptr[i + 1] += ptr[i];
    pb.resize(pairs.size());
    {
      std::vector<int32_t>& fill = w.relabel;  // a scratch array until the end
      fill.assign(ptr.begin(), ptr.end() - 1);
      for (const auto& pr : pairs) pb[fill[pr.first]++] = pr.second;
    }
    auto& nbrs = w.nbrs;
    if ((int32_t)nbrs.size() < np) nbrs.resize(np);
    for (int32_t i = 0; i < np; ++i) nbrs[i].clear();
    // the mean colours sums / cnt, kept per region (the same doubles as dividing at every cost)
    auto& mu = w.mu;
    mu.resize((size_t)np * C);
    for (int32_t i = 0; i < np; ++i)
      for (int64_t c = 0; c < C; ++c) mu[i * C + c] = sums[i * C + c] / cnt[i];
    auto cost = [&](int32_t i, int32_t j) {
      double dd = 0.0;
      for (int64_t c = 0; c < C; ++c) {
        const double d = mu[i * C + c] - mu[j * C + c];
        dd += d * d;
      }
      return cnt[i] * cnt[j] / (cnt[i] + cnt[j]) * dd;
    };
    auto& hp = w.heap;
    hp.key.clear();
    stamp.assign(np, -1);
    for (int32_t i = 0; i < np; ++i)
      for (int32_t t = ptr[i]; t < ptr[i + 1]; ++t) {
        const int32_t j = pb[t];
        if (stamp[j] == i) continue;
        stamp[j] = i;
        const int32_t e = (int32_t)hp.key.size();
        nbrs[i].push_back({j, e}); nbrs[j].push_back({i, e});
        hp.key.push_back(ward_key(main_piece[i] && main_piece[j], cost(i, j), i, j));
      }
    const int32_t ne = (int32_t)hp.key.size();
    hp.pos.resize(ne);
    hp.h.resize(ne);
    for (int32_t e = 0; e < ne; ++e) hp.place(e, e);
    for (int64_t t = ne / 2 - 1; t >= 0; --t) hp.down(t);
    auto find = [](std::vector<WardNbr>& v, int32_t k) {
      return std::find_if(v.begin(), v.end(), [k](const WardNbr& x) { return x.k == k; });
    };
    int64_t alive = np;
    while (alive > n_target && !hp.h.empty()) {
      const int32_t e = hp.h[0];
      const uint64_t ids = (uint64_t)hp.key[e];
      const int32_t i = (int32_t)(ids >> 32), j = (int32_t)(ids & 0xffffffffu);
      hp.remove(e);
      parent[j] = i;
      main_piece[i] = main_piece[i] || main_piece[j];
      cnt[i] += cnt[j];
      for (int64_t c = 0; c < C; ++c) { sums[i * C + c] += sums[j * C + c]; mu[i * C + c] = sums[i * C + c] / cnt[i]; }
      {
        auto it = find(nbrs[i], j);
        *it = nbrs[i].back(); nbrs[i].pop_back();  // order within a list does not matter
      }
      // stamp[k] == i: k touches i (a live region that ever touched i still does, so older stamps hold too)
      for (const WardNbr& nb : nbrs[i]) stamp[nb.k] = i;
      for (const WardNbr& nb : nbrs[j]) {
        const int32_t k = nb.k;
        if (k == i) continue;
        auto it = find(nbrs[k], j);
        if (stamp[k] == i) {  // k touches i already: the pair (j, k) goes
          *it = nbrs[k].back(); nbrs[k].pop_back();
          hp.remove(nb.e);
        } else {  // the pair (j, k) becomes (i, k), re-keyed below
          stamp[k] = i;
          it->k = i;
          nbrs[i].push_back(nb);
        }
      }
      nbrs[j].clear();
      --alive;
      for (const WardNbr& nb : nbrs[i]) {
        const int32_t lo = i < nb.k ? i : nb.k, hi = i < nb.k ? nb.k : i;
        hp.key[nb.e] = ward_key(main_piece[lo] && main_piece[hi], cost(lo, hi), lo, hi);
        hp.update(nb.e);
      }
    }
  }
  // regions numbered in raster order of their first pixel (pieces come in that order)
  auto& relabel = w.relabel;
  relabel.assign(np, -1);
  int32_t n = 0;
  for (int32_t k = 0; k < np; ++k) {
    int32_t r = k;
    while (parent[r] != r) r = parent[r];
    if (relabel[r] < 0) relabel[r] = n++;
    relabel[k] = relabel[r];
  }
  for (int32_t r = 0; r < nr; ++r) std::fill(out + rs[r], out + re[r], (int64_t)relabel[rpiece[r]]);
  return n;
}

// labels [B, P] int64 (any values), img [B, H, W, C] uint8 or float32 in [0, 1], n_target >= 1 ->
// (labels [B, P] int64 in 0..counts[b]-1, each label one 4-connected piece; counts [B] int64)
// `out` may be `labels` itself: an image's labels are read (into runs) before its output is written.
std::vector<torch::Tensor> connect_regions(torch::Tensor labels, torch::Tensor img, int64_t n_target,
                                           c10::optional<torch::Tensor> out_) {
  TORCH_CHECK(img.dim() == 4, "img must be [B, H, W, C]");
  TORCH_CHECK(img.scalar_type() == torch::kUInt8 || img.scalar_type() == torch::kFloat32, "img must be uint8 or float32");
  img = img.contiguous(); labels = labels.contiguous();
  const int64_t B = img.size(0), H = img.size(1), W = img.size(2), C = img.size(3), P = H * W;
  TORCH_CHECK(labels.numel() == B * P && labels.scalar_type() == torch::kInt64, "labels must be int64 [B, H * W]");
  TORCH_CHECK(P < (int64_t)1 << 31, "image too large");
  auto out = output(out_, {B, P}, torch::kInt64);
  auto counts = torch::empty({B}, torch::kInt64);
  const int64_t* L = labels.data_ptr<int64_t>();
  int64_t* O = out.data_ptr<int64_t>();
  int64_t* N = counts.data_ptr<int64_t>();
  const bool u8 = img.scalar_type() == torch::kUInt8;
  const uint8_t* I8 = u8 ? img.data_ptr<uint8_t>() : nullptr;
  const float* IF = u8 ? nullptr : img.data_ptr<float>();
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    ConnectWork work;
    for (int64_t b = b0; b < b1; ++b) {
      N[b] = u8 ? connect_one<uint8_t>(L + b * P, I8 + b * P * C, H, W, C, n_target, O + b * P, work)
                : connect_one<float>(L + b * P, IF + b * P * C, H, W, C, n_target, O + b * P, work);
    }
  });
  return {out, counts};
}

torch::Tensor knn_small(torch::Tensor pos, torch::Tensor counts, int64_t k);  // knn.cpp
torch::Tensor csr_rows_product(torch::Tensor ptr, torch::Tensor col, torch::Tensor w, torch::Tensor y);  // slot_product.cpp

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  namespace py = pybind11;
  m.def("pixel_features", &pixel_features, "planar SLIC features (Lab or values / m, y / S, x / S)", py::arg("img"),
        py::arg("m"), py::arg("step"), py::arg("lab"), py::arg("out") = py::none());
  m.def("slic_labels", &slic_labels, "SLIC rounds of a batch -> labels [B, P]", py::arg("feat"), py::arg("cand"),
        py::arg("init"), py::arg("W"), py::arg("max_iter"), py::arg("per_pixel"), py::arg("out") = py::none());
  m.def("slic_labels_coarse", &slic_labels_coarse, "coarse-to-fine SLIC rounds of a batch (large cells) -> labels [B, P]",
        py::arg("feat"), py::arg("cand"), py::arg("cand_half"), py::arg("init"), py::arg("H"), py::arg("W"),
        py::arg("max_iter"), py::arg("out") = py::none());
  m.def("segment_sums", &segment_sums, "per-segment count, sum y, sum x, sum and sum of squares per channel");
  m.def("segment_shape_sums", &segment_shape_sums, "per-segment bbox and sums of x*x, y*y, x*y, x*v, y*v");
  m.def("connect_regions", &connect_regions, "4-connected pieces merged by Ward's criterion down to n regions",
        py::arg("labels"), py::arg("img"), py::arg("n_target"), py::arg("out") = py::none());
  m.def("knn_small", &knn_small, "kNN of many small 2-D graphs (stable order)");
  m.def("csr_rows_product", &csr_rows_product, "CSR matrix times [R, C] rows in y's dtype, float32 sums");
}
