#include "ddkit/sampling/dgs.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "ddkit/util/error.h"

// Reading of the reference (SumomoTaku/DiffGuideSamp, sampling.py):
// `log_transform(data, th_b, th_t)` sorts *the list it is given* and takes its
// own data_sorted[th_b] / data_sorted[-(th_t + 1)]. main() calls it separately
// on the original class scores (`ori_distr = log_transform(ori scores, b, t)`)
// and on the pool scores (`ip_data["score"] = log_transform(pool scores, b, t)`).
// So (b, t) are rank indices shared between the lists, and each list is fitted
// on its own sorted order: T(O; b, t) uses O's sorted[b] / sorted[n-1-t] and
// step 5 uses P's. This file does the same.

namespace ddkit::sampling {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// T fitted on an already sorted list (docs/algorithms.md §10 step 2).
LogTransform fit_sorted(const std::vector<double>& sorted, int b, int t) {
  const int64_t n = static_cast<int64_t>(sorted.size());
  const int64_t lo = std::clamp<int64_t>(b, 0, n - 1);
  const int64_t hi = std::clamp<int64_t>(n - 1 - t, 0, n - 1);
  LogTransform transform;
  transform.bottom = sorted[static_cast<size_t>(lo)];
  // docs/algorithms.md §10 step 2: a bottom of exactly 0 becomes 1e-4 (avoids log 0).
  if (transform.bottom == 0.0) transform.bottom = kFloor;
  transform.top = sorted[static_cast<size_t>(hi)];
  // Degenerate inputs [ddkit]: top <= bottom -> every transformed score is 1e-4.
  transform.degenerate = !(transform.top > transform.bottom);
  return transform;
}

void check_scores(const std::vector<double>& scores, const char* subject, const char* what, int64_t label) {
  for (size_t i = 0; i < scores.size(); ++i) {
    const double s = scores[i];
    if (!(s >= 0.0 && s <= 1.0)) {
      throw Error(subject, fmt::format("class {} {} score {} (index {}) is not in [0, 1]", label, what, s, i));
    }
  }
}

const std::map<std::string, std::map<int64_t, Counts>>& shape_table() {
  // docs/algorithms.md §10 "Fixed shapes" (reference dataset_utils.py samp_distr), easy -> hard.
  static const std::map<std::string, std::map<int64_t, Counts>> table = {
      {"hill",
       {{10, {1, 0, 1, 0, 3, 3, 1, 0, 0, 1}},
        {20, {1, 1, 1, 2, 5, 5, 2, 1, 1, 1}},
        {50, {1, 3, 5, 6, 10, 10, 6, 5, 3, 1}}}},
      {"ground", {{10, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}, {20, {2, 2, 2, 2, 2, 2, 2, 2, 2, 2}}, {50, {5, 5, 5, 5, 5, 5, 5, 5, 5, 5}}}},
      {"slope",
       {{10, {3, 3, 1, 1, 0, 0, 1, 1, 0, 0}},
        {20, {5, 5, 2, 2, 1, 1, 1, 1, 1, 1}},
        {50, {10, 10, 6, 6, 5, 5, 3, 3, 1, 1}}}},
      {"cliff",
       {{10, {6, 3, 0, 1, 0, 0, 0, 0, 0, 0}},
        {20, {9, 6, 1, 1, 1, 1, 1, 0, 0, 0}},
        {50, {20, 15, 3, 3, 2, 2, 2, 1, 1, 1}}}},
  };
  return table;
}

bool is_shape(const std::string& kind) { return shape_table().count(kind) > 0; }

// n distinct positions 0..n-1 in random order, from `generator` only.
std::vector<int64_t> random_order(int64_t n, at::Generator& generator) {
  const auto perm = at::randperm(n, generator, at::kLong).contiguous();
  const int64_t* p = perm.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + n);
}

}  // namespace

// ---- docs/algorithms.md §10 step 2: the log transform --------------------------------

double LogTransform::apply(double x) const {
  if (degenerate) return kFloor;
  const double clipped = std::clamp(x, bottom, top);
  const double y = std::log(clipped / bottom) / std::log(top / bottom);
  return y < kFloor ? kFloor : y;  // "values below 1e-4 become 1e-4"
}

std::vector<double> LogTransform::apply(const std::vector<double>& xs) const {
  std::vector<double> out(xs.size());
  std::transform(xs.begin(), xs.end(), out.begin(), [this](double x) { return apply(x); });
  return out;
}

LogTransform fit_log_transform(std::vector<double> scores, int b, int t) {
  if (scores.empty()) throw std::invalid_argument("fit_log_transform: empty score list");
  if (b < 0 || t < 0) throw std::invalid_argument("fit_log_transform: negative threshold index");
  std::sort(scores.begin(), scores.end());
  return fit_sorted(scores, b, t);
}

// ---- histograms and KL (docs/algorithms.md §10 step 3) -------------------------------

int bin_of(double value) {
  if (!(value > 0.0)) return 0;  // also NaN
  if (value >= 1.0) return kBins - 1;
  // floor(10 v), corrected so that the edges are exactly the doubles k / 10.0.
  int k = static_cast<int>(std::floor(value * kBins));
  if (k > 0 && value < k / static_cast<double>(kBins)) --k;
  if (k < kBins - 1 && value >= (k + 1) / static_cast<double>(kBins)) ++k;
  return std::clamp(k, 0, kBins - 1);  // [0.9, 1.0] is the closed last bin
}

Histogram bin_counts(const std::vector<double>& values) {
  Histogram counts{};
  for (double v : values) counts[static_cast<size_t>(bin_of(v))] += 1.0;
  return counts;
}

Histogram histogram(const std::vector<double>& values) {
  Histogram h = bin_counts(values);
  if (values.empty()) return h;
  const double n = static_cast<double>(values.size());
  for (double& x : h) x /= n;
  return h;
}

double kl2(const Histogram& p, const Histogram& q) {
  double sum = 0.0;
  for (int k = 0; k < kBins; ++k) {
    if (p[k] <= 0.0) continue;  // 0 log 0 = 0
    if (q[k] <= 0.0) return kInf;
    sum += p[k] * std::log2(p[k] / q[k]);
  }
  return sum;
}

// ---- docs/algorithms.md §10 step 3: threshold search ---------------------------------

namespace {

double loss_sorted(const std::vector<double>& pool, const std::vector<double>& sorted, const Histogram& h_pool, int b,
                   int t) {
  Histogram uniform;
  uniform.fill(1.0 / kBins);
  const Histogram h_log = histogram(fit_sorted(sorted, b, t).apply(pool));
  // loss(b, t) = 0.5 KL2(h(P) || h(T(P))) + 0.5 KL2(u || h(T(P)))
  return 0.5 * kl2(h_pool, h_log) + 0.5 * kl2(uniform, h_log);
}

}  // namespace

double threshold_loss(const std::vector<double>& pool_scores, int b, int t) {
  if (pool_scores.empty()) throw std::invalid_argument("threshold_loss: empty pool");
  auto sorted = pool_scores;
  std::sort(sorted.begin(), sorted.end());
  return loss_sorted(pool_scores, sorted, histogram(pool_scores), b, t);
}

Thresholds search_thresholds(const std::vector<double>& pool_scores, int64_t ipc) {
  if (pool_scores.empty()) throw std::invalid_argument("search_thresholds: empty pool");
  auto sorted = pool_scores;
  std::sort(sorted.begin(), sorted.end());
  const Histogram h_pool = histogram(pool_scores);
  // docs/algorithms.md §10 step 3: b, t in 0 .. floor(ipc/2) - 1, b outer, t inner. For
  // ipc < 2 the range is empty: b = t = 0 [ddkit] (its loss is still reported).
  const int range = static_cast<int>(std::max<int64_t>(ipc / 2, 1));
  Thresholds best;
  best.loss = loss_sorted(pool_scores, sorted, h_pool, 0, 0);
  for (int b = 0; b < range; ++b) {
    for (int t = 0; t < range; ++t) {
      const double loss = loss_sorted(pool_scores, sorted, h_pool, b, t);
      // The first minimum (np.argmin): strictly less only. All +inf -> (0, 0).
      if (loss < best.loss) best = Thresholds{b, t, loss};
    }
  }
  return best;
}

// ---- docs/algorithms.md §10 step 4: targets -------------------------------------------

Counts largest_remainder(const Histogram& weights, int64_t total) {
  if (total < 0) throw Error("--ipc", fmt::format("cannot scale a target to {} images", total));
  double sum = 0.0;
  for (double w : weights) {
    if (!std::isfinite(w) || w < 0.0) {
      throw Error("--target", fmt::format("target weights must be finite and >= 0, got {}", w));
    }
    sum += w;
  }
  if (!(sum > 0.0)) throw Error("--target", "target weights are all 0");
  Counts counts{};
  Histogram remainder{};
  int64_t assigned = 0;
  for (int k = 0; k < kBins; ++k) {
    // w_k * total / sum = floor + remainder / sum; exact for integer-valued weights.
    const double scaled = weights[k] * static_cast<double>(total);
    remainder[k] = std::fmod(scaled, sum);
    counts[k] = static_cast<int64_t>(std::llround((scaled - remainder[k]) / sum));
    assigned += counts[k];
  }
  // The remaining units go to the largest fractional parts; ties: lower bin first [ddkit].
  std::array<int, kBins> order;
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return remainder[a] > remainder[b]; });
  for (int64_t i = 0; assigned < total && i < 10 * kBins; ++i, ++assigned) ++counts[order[i % kBins]];
  // Rounding of non-integer weights could overshoot by a unit: take it back from the smallest remainders.
  for (int64_t i = kBins - 1; assigned > total; i = (i + kBins - 1) % kBins) {
    if (counts[order[i]] > 0) {
      --counts[order[i]];
      --assigned;
    }
  }
  return counts;
}

Counts shape_counts(const std::string& shape, int64_t ipc) {
  const auto& table = shape_table();
  const auto it = table.find(shape);
  if (it == table.end()) {
    throw Error("--target", fmt::format("unknown shape '{}' (expected hill, ground, slope or cliff)", shape));
  }
  if (ipc < 1) throw Error("--ipc", "ipc must be >= 1");
  const auto row = it->second.find(ipc);
  if (row != it->second.end()) return row->second;
  // Another IPC: the IPC-50 row (ground: uniform) scaled with step 4's rounding [ddkit].
  const Counts& base = it->second.at(50);
  Histogram weights{};
  for (int k = 0; k < kBins; ++k) weights[k] = static_cast<double>(base[k]);
  return largest_remainder(weights, ipc);
}

Target parse_target(const std::string& spec) {
  Target target;
  if (spec == "original" || spec == "random" || is_shape(spec)) {
    target.kind = spec;
    return target;
  }
  std::ifstream in(spec);
  if (!in) {
    throw Error(spec, "not a target (original, ground, hill, slope, cliff, random) nor a readable JSON file of 10 weights");
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(spec, fmt::format("not valid JSON ({})", e.what()));
  }
  if (!doc.is_array() || doc.size() != static_cast<size_t>(kBins)) {
    throw Error(spec, "expected a JSON list of 10 non-negative weights (easy -> hard)");
  }
  double sum = 0.0;
  for (int k = 0; k < kBins; ++k) {
    const auto& w = doc[static_cast<size_t>(k)];
    if (!w.is_number() || !std::isfinite(w.get<double>()) || w.get<double>() < 0.0) {
      throw Error(spec, fmt::format("weight {} is not a non-negative number", k));
    }
    target.weights[k] = w.get<double>();
    sum += target.weights[k];
  }
  if (!(sum > 0.0)) throw Error(spec, "the weights are all 0");
  target.kind = "custom";
  return target;
}

Counts target_counts(const Target& target, int64_t ipc, const std::vector<double>& original_transformed) {
  if (ipc < 1) throw Error("--ipc", "ipc must be >= 1");
  if (target.kind == "original") {
    // docs/algorithms.md §10 step 4: h(T(O; b, t)) scaled to IPC. The bin counts (not the
    // normalised histogram) are scaled, which is the same fraction with exact ties.
    if (original_transformed.empty()) throw Error("--data", "no original scores for the target");
    return largest_remainder(bin_counts(original_transformed), ipc);
  }
  if (target.kind == "custom") return largest_remainder(target.weights, ipc);
  // The control [ddkit]: no bin asks for anything, so step 5's fill draws all ipc
  // uniformly from the class's pool, which separates the pool's effect from DGS's.
  if (target.kind == "random") return Counts{};
  if (target.kind == "ground") {
    // ground for any IPC: uniform weights with step 4's rounding (= the table at 10/20/50).
    Histogram uniform;
    uniform.fill(1.0);
    return largest_remainder(uniform, ipc);
  }
  return shape_counts(target.kind, ipc);  // throws for an unknown kind
}

// ---- docs/algorithms.md §10 steps 2-5 for one class ----------------------------------

ClassSelection select_class(const std::vector<double>& pool_scores, const std::vector<double>& original_scores,
                            int64_t ipc, const Target& target, at::Generator generator, int64_t class_label) {
  if (ipc < 1) throw Error("--ipc", "ipc must be >= 1");
  const int64_t n = static_cast<int64_t>(pool_scores.size());
  if (n < ipc) {
    throw Error("--pool", fmt::format("class {} has {} pool images, fewer than ipc {}", class_label, n, ipc));
  }
  check_scores(pool_scores, "--pool", "pool", class_label);
  const bool use_original = target.kind == "original";
  if (use_original) {
    if (original_scores.empty()) {
      throw Error("--data", fmt::format("class {} has no original (training) scores", class_label));
    }
    check_scores(original_scores, "--data", "original", class_label);
  }

  ClassSelection out;
  out.label = class_label;

  // Step 3: thresholds from the pool scores.
  const Thresholds thresholds = search_thresholds(pool_scores, ipc);
  out.b = thresholds.b;
  out.t = thresholds.t;
  out.loss = thresholds.loss;

  // Step 4: target counts. T(O; b, t) is fitted on O's own sorted order (see the
  // note on the reference at the top of this file).
  std::vector<double> original_transformed;
  if (use_original) {
    const LogTransform to = fit_log_transform(original_scores, out.b, out.t);
    out.original_bottom = to.bottom;
    out.original_top = to.top;
    original_transformed = to.apply(original_scores);
    if (to.degenerate) {
      out.degenerate = true;
      out.warning = fmt::format(
          "original scores give top {} <= bottom {} at b={}, t={}; every transformed original score is 1e-4", to.top,
          to.bottom, out.b, out.t);
    }
  }
  out.target = target_counts(target, ipc, original_transformed);

  // Step 5: transform the pool with T(P; b, t) and draw n_k per bin.
  const LogTransform tp = fit_log_transform(pool_scores, out.b, out.t);
  out.bottom = tp.bottom;
  out.top = tp.top;
  if (tp.degenerate) {
    out.degenerate = true;
    if (!out.warning.empty()) out.warning += "; ";
    out.warning += fmt::format(
        "pool scores give top {} <= bottom {} at b={}, t={}; every transformed pool score is 1e-4", tp.top, tp.bottom,
        out.b, out.t);
  }
  std::array<std::vector<int64_t>, kBins> members;  // pool positions per bin, ascending
  for (int64_t i = 0; i < n; ++i) members[bin_of(tp.apply(pool_scores[static_cast<size_t>(i)]))].push_back(i);
  std::vector<bool> taken(static_cast<size_t>(n), false);
  out.indices.reserve(static_cast<size_t>(ipc));
  for (int k = 0; k < kBins; ++k) {
    const auto& bin = members[k];
    out.pool_bins[k] = static_cast<int64_t>(bin.size());
    const int64_t want = out.target[k];
    if (want <= 0) continue;
    std::vector<int64_t> picks;
    if (static_cast<int64_t>(bin.size()) <= want) {
      picks = bin;  // a bin with fewer than n_k gives all it has
    } else {
      const auto order = random_order(static_cast<int64_t>(bin.size()), generator);
      for (int64_t j = 0; j < want; ++j) picks.push_back(bin[static_cast<size_t>(order[static_cast<size_t>(j)])]);
    }
    out.drawn[k] = static_cast<int64_t>(picks.size());
    for (int64_t i : picks) {
      taken[static_cast<size_t>(i)] = true;
      out.indices.push_back(i);
    }
  }
  // Fill up to IPC with random draws among the images not yet taken.
  out.shortfall = ipc - static_cast<int64_t>(out.indices.size());
  if (out.shortfall > 0) {
    std::vector<int64_t> rest;
    for (int64_t i = 0; i < n; ++i) {
      if (!taken[static_cast<size_t>(i)]) rest.push_back(i);
    }
    const auto order = random_order(static_cast<int64_t>(rest.size()), generator);
    for (int64_t j = 0; j < out.shortfall; ++j) out.indices.push_back(rest[static_cast<size_t>(order[static_cast<size_t>(j)])]);
  }
  return out;
}

std::vector<ClassSelection> select_classes(const std::vector<ClassScores>& classes, int64_t ipc, const Target& target,
                                           uint64_t seed) {
  // docs/algorithms.md §10 step 6: one selection per seed; classes draw in the given order.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<ClassSelection> out;
  out.reserve(classes.size());
  for (const auto& c : classes) out.push_back(select_class(c.pool, c.original, ipc, target, generator, c.label));
  return out;
}

// ---- sampling.json -------------------------------------------------------------

nlohmann::json to_json(const ClassSelection& s, const Target& target) {
  nlohmann::json j = {{"th_b", s.b},
                      {"th_t", s.t},
                      {"bottom", s.bottom},
                      {"top", s.top},
                      {"target", s.target},
                      {"drawn", s.drawn},
                      {"shortfall", s.shortfall},
                      {"pool_bins", s.pool_bins},
                      {"degenerate", s.degenerate},
                      {"indices", s.indices}};
  j["loss"] = std::isfinite(s.loss) ? nlohmann::json(s.loss) : nlohmann::json(nullptr);
  if (target.kind == "original") {
    j["original_bottom"] = s.original_bottom;
    j["original_top"] = s.original_top;
  }
  if (s.degenerate) j["warning"] = s.warning;
  return j;
}

nlohmann::json to_json(const std::vector<ClassSelection>& selections, const Target& target, int64_t ipc,
                       uint64_t seed) {
  nlohmann::json doc = {{"target", target.kind}, {"ipc", ipc}, {"seed", seed}};
  if (target.kind == "custom") doc["weights"] = target.weights;
  nlohmann::json classes = nlohmann::json::object();
  for (const auto& s : selections) classes[std::to_string(s.label)] = to_json(s, target);
  doc["classes"] = std::move(classes);
  return doc;
}

}  // namespace ddkit::sampling
