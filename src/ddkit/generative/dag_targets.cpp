#include "ddkit/generative/dag_targets.h"

#include <cmath>

#include <ATen/ATen.h>

#include "ddkit/util/error.h"

namespace ddkit::generative {

void check_dag_target(const sampling::Target& target) {
  if (target.kind == "random") {
    throw Error("--dag-target", "'random' is DGS's control and sets no difficulty target; DAG needs one");
  }
}

std::vector<double> draw_dag_targets(const std::vector<double>& original_scores, const sampling::Target& target,
                                     int64_t n, at::Generator generator) {
  check_dag_target(target);
  if (original_scores.empty()) throw Error("--data", "DAG needs the class's original difficulty scores");
  const auto transform = sampling::fit_log_transform(original_scores, 0, 0);
  const auto counts = sampling::target_counts(target, n, transform.apply(original_scores));
  const auto uniform = at::rand({n}, generator, at::TensorOptions(at::kDouble));
  const auto order = at::randperm(n, generator, at::TensorOptions(at::kLong));
  std::vector<double> targets(static_cast<size_t>(n), transform.bottom);
  int64_t position = 0;
  for (int k = 0; k < sampling::kBins; ++k) {
    for (int64_t j = 0; j < counts[static_cast<size_t>(k)]; ++j, ++position) {
      const double v = (k + uniform[position].item<double>()) / sampling::kBins;
      const double d = transform.degenerate ? transform.bottom
                                            : transform.bottom * std::pow(transform.top / transform.bottom, v);
      targets[static_cast<size_t>(order[position].item<int64_t>())] = std::min(1.0, d);
    }
  }
  return targets;
}

}  // namespace ddkit::generative
