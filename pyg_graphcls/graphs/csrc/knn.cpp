// kNN of many small 2-D graphs on CPU: the compiled variant behind
// pyg_graphcls.graphs.edges.knn_graph for batches of superpixel graphs (built with
// batched_slic.cpp by pyg_graphcls/graphs/_compiled.py).
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <algorithm>
#include <cstdint>
#include <vector>

// kNN of many small graphs: pos [B, M, 2] float32 (zero-padded), counts [B] int64.
// Returns [2, E] (source, target) local indices, by graph, target, then (distance, index):
// the order of numpy's stable argsort in edges.knn_graph. Distances as numpy computes them
// (dx*dx + dy*dy in float32; -ffp-contract=off keeps the compiler from fusing them).
torch::Tensor knn_small(torch::Tensor pos, torch::Tensor counts, int64_t k) {
  TORCH_CHECK(pos.dim() == 3 && pos.size(2) == 2 && pos.scalar_type() == torch::kFloat32, "pos must be float32 [B, M, 2]");
  pos = pos.contiguous(); counts = counts.contiguous();
  const int64_t B = pos.size(0), M = pos.size(1);
  const float* X = pos.data_ptr<float>();
  const int64_t* N = counts.data_ptr<int64_t>();
  std::vector<int64_t> off(B + 1, 0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = N[b], kk = std::max<int64_t>(0, std::min<int64_t>(k, n - 1));
    off[b + 1] = off[b] + n * kk;
  }
  auto out = torch::empty({2, off[B]}, torch::kInt64);
  int64_t* S = out.data_ptr<int64_t>();
  int64_t* T = S + off[B];
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> d(M), px(M), py(M), all(M);
    std::vector<int64_t> idx(M);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n = N[b], kk = std::max<int64_t>(0, std::min<int64_t>(k, n - 1));
      const float* p = X + b * M * 2;
      int64_t e = off[b];
      for (int64_t j = 0; j < n; ++j) { px[j] = p[j * 2]; py[j] = p[j * 2 + 1]; }
      for (int64_t i = 0; i < n && kk > 0; ++i) {
        // all distances first (a loop that vectorises), then the selection
        const float xi = px[i], yi = py[i];
        for (int64_t j = 0; j < n; ++j) {
          const float t0 = xi - px[j], t1 = yi - py[j];
          all[j] = t0 * t0 + t1 * t1;
        }
        // keep the kk best (distance, index) pairs sorted; j ascends, so an equal distance
        // goes after the ones already kept (numpy's stable order)
        int64_t m = 0;
        for (int64_t j = 0; j < n; ++j) {
          if (j == i) continue;
          const float dj = all[j];
          if (m == kk && !(dj < d[kk - 1])) continue;
          int64_t q = m < kk ? m++ : kk - 1;
          while (q > 0 && d[q - 1] > dj) { d[q] = d[q - 1]; idx[q] = idx[q - 1]; --q; }
          d[q] = dj; idx[q] = j;
        }
        for (int64_t r = 0; r < kk; ++r, ++e) { S[e] = idx[r]; T[e] = i; }
      }
    }
  });
  return out;
}
