// DGS — Difficulty-Guided Sampling (docs/algorithms.md §10): pick IPC images per class
// from a k x IPC pool so that their difficulty distribution follows a target.
//
// Pure library code: it works on plain per-class score vectors (prob difficulty
// in [0, 1], docs/algorithms.md §8) and draws randomness only from the at::Generator it
// is given. Scoring images and reading/writing image sets is the caller's job.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <nlohmann/json.hpp>

namespace ddkit::sampling {

constexpr int kBins = 10;
// Difficulty bins: bin k holds [k/10, (k+1)/10); the last bin is [0.9, 1.0].
using Histogram = std::array<double, kBins>;
using Counts = std::array<int64_t, kBins>;

// Smallest transformed value (docs/algorithms.md §10 step 2); also the bottom used when
// sorted[b] is exactly 0.
constexpr double kFloor = 1e-4;

// The log transform T(x; b, t) of docs/algorithms.md §10 step 2, once fitted.
struct LogTransform {
  double bottom = kFloor;
  double top = 1.0;
  bool degenerate = false;  // top <= bottom: every value maps to kFloor
  // clip x to [bottom, top]; ln(x / bottom) / ln(top / bottom); raise to kFloor.
  double apply(double x) const;
  std::vector<double> apply(const std::vector<double>& xs) const;
};

// Fits T(.; b, t) on `scores` itself: bottom = sorted[b] (0 -> 1e-4),
// top = sorted[n-1-t]. Indices past the ends are clamped into [0, n-1] [ddkit]
// (they then give top <= bottom, i.e. a degenerate transform). Throws
// std::invalid_argument for an empty list or negative b/t.
LogTransform fit_log_transform(std::vector<double> scores, int b, int t);

// The bin of a value (values outside [0, 1] are clamped in; NaN goes to bin 0).
// The edges are the doubles k / 10.0, so 0.1 -> 1, 0.3 -> 3, 0.9 -> 9, 1.0 -> 9.
int bin_of(double value);
// Number of values per bin.
Histogram bin_counts(const std::vector<double>& values);
// bin_counts normalised to sum 1 (all zeros for an empty list).
Histogram histogram(const std::vector<double>& values);
// Base-2 KL divergence sum p log2(p / q): p = 0 terms give 0, q = 0 < p gives +inf.
double kl2(const Histogram& p, const Histogram& q);

struct Thresholds {
  int b = 0;
  int t = 0;
  double loss = 0;  // loss(b, t) of step 3; +inf when no (b, t) has a finite loss
};
// The loss of step 3 for one (b, t) on the pool scores P.
double threshold_loss(const std::vector<double>& pool_scores, int b, int t);
// docs/algorithms.md §10 step 3: b, t in 0 .. ipc/2 - 1 (b outer), the first strict
// minimum; ipc < 2 -> b = t = 0 without search [ddkit]. `loss` is the chosen loss.
Thresholds search_thresholds(const std::vector<double>& pool_scores, int64_t ipc);

// Step 4's rounding: weights (>= 0, any positive sum) scaled to `total`; each
// bin gets floor(w_k * total / sum), the remaining units go to the largest
// fractional parts, ties to the lower bin. Remainders are computed as
// fmod(w_k * total, sum), exact for integer-valued weights, so ties are exact.
// Throws ddkit::Error("--target", ...) for negative, non-finite or all-zero weights.
Counts largest_remainder(const Histogram& weights, int64_t total);

// A fixed shape (hill | ground | slope | cliff): the table rows at IPC 10, 20,
// 50; any other IPC scales the IPC-50 row with largest_remainder [ddkit].
// Throws ddkit::Error("--target", ...) for an unknown shape.
Counts shape_counts(const std::string& shape, int64_t ipc);

struct Target {
  // original: h(T(O; b, t)) (the reference's default) | ground | hill | slope |
  // cliff | custom (`weights`, scaled with largest_remainder) | random (the
  // control: all-zero counts, so every image comes from the uniform fill).
  std::string kind = "original";
  Histogram weights{};
};
// "original" | "ground" | "hill" | "slope" | "cliff" | "random" | a path to a JSON file
// holding a list of 10 non-negative weights (not all 0), easy -> hard.
// Errors: ddkit::Error(spec, ...) for a file that is missing or malformed.
Target parse_target(const std::string& spec);
// Step 4: the per-bin counts (summing to ipc) for a target. `original_transformed`
// are the original scores already transformed with T(O; b, t) (only read for
// kind "original").
Counts target_counts(const Target& target, int64_t ipc, const std::vector<double>& original_transformed);

// One class's selection and everything sampling.json records about it.
struct ClassSelection {
  int64_t label = 0;
  // ipc distinct positions into the class's pool_scores, in draw order: the
  // bin draws of bins 0..9 first, then the fill.
  std::vector<int64_t> indices;
  int b = 0, t = 0;
  double loss = 0;  // step-3 loss at (b, t)
  // T(P; b, t), fitted on the pool and applied to it in step 5.
  double bottom = kFloor, top = 1.0;
  // T(O; b, t), fitted on the original scores (target "original" only).
  double original_bottom = kFloor, original_top = 1.0;
  Counts target{};  // n_k of step 4 (sums to ipc)
  Counts drawn{};   // images actually drawn from bin k in step 5 = min(n_k, |bin k|), before the fill
  Counts pool_bins{};  // pool images per bin after the transform
  int64_t shortfall = 0;  // ipc - sum(drawn): how many the random fill added
  // T(P; b, t) (or T(O; b, t) for target "original") had top <= bottom: every
  // transformed score of that list is 1e-4. `warning` says which list (without
  // the class, which the caller adds when it logs it).
  bool degenerate = false;
  std::string warning;
};

// docs/algorithms.md §10 steps 2-5 for one class. pool_scores: P (the class's pool, at
// least ipc images); original_scores: O (the class's real training images; must
// be non-empty for target "original", unused otherwise). Scores must lie in
// [0, 1]. Randomness only from `generator` (shared state: it advances).
// Errors (ddkit::Error): "--ipc" for ipc < 1, "--pool" for a pool with fewer
// than ipc images or a score outside [0, 1], "--data" for empty or invalid O,
// "--target" for invalid custom weights.
ClassSelection select_class(const std::vector<double>& pool_scores, const std::vector<double>& original_scores,
                            int64_t ipc, const Target& target, at::Generator generator, int64_t class_label);

struct ClassScores {
  int64_t label = 0;
  std::vector<double> pool;      // P
  std::vector<double> original;  // O
};
// One selection of every class (step 6: the CLI calls this with seed, seed+1,
// ..., seed+R-1 for --repeat R). One CPU generator seeded with `seed` serves the
// classes in the given order.
std::vector<ClassSelection> select_classes(const std::vector<ClassScores>& classes, int64_t ipc, const Target& target,
                                           uint64_t seed);

// {"th_b", "th_t", "loss", "bottom", "top", "target", "drawn", "shortfall",
//  "pool_bins", "degenerate", "indices"} (+ "original_bottom"/"original_top" when
// the target was "original", + "warning" when degenerate). A loss of +inf is null.
nlohmann::json to_json(const ClassSelection& selection, const Target& target);
// sampling.json: {"target": kind, ["weights": [...]], "ipc", "seed",
//                 "classes": {"<label>": to_json(class)}}.
nlohmann::json to_json(const std::vector<ClassSelection>& selections, const Target& target, int64_t ipc,
                       uint64_t seed);

}  // namespace ddkit::sampling
