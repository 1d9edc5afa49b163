// DAG's per-image target difficulties d* (docs/algorithms.md §11): drawn from the DGS
// target distribution of the class (§10 step 4).
//
// [ddkit] The DGS bins live in the log-transformed space T(.; b, t), while the
// observer's d(x) is a raw prob score; and the pool (whose scores fix b and t
// in §10 step 3) does not exist yet when it is being generated. So the
// transform is fitted on the class's original scores with b = t = 0,
// T(O; 0, 0); the target's counts over the 10 bins are computed for the n
// images to generate (the same rounding as §10 step 4); each image of bin k
// gets a value v uniform in [k/10, (k+1)/10) mapped back through the inverse
// transform, d* = bottom * (top / bottom)^v. Images are assigned to bins in a
// random order.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>

#include "ddkit/sampling/dgs.h"

namespace ddkit::generative {

// DAG needs a difficulty distribution: rejects DGS's "random" control, which
// sets none (ddkit::Error("--dag-target", ...)).
void check_dag_target(const sampling::Target& target);

// Throws as check_dag_target, and "--data" for empty original scores.
std::vector<double> draw_dag_targets(const std::vector<double>& original_scores, const sampling::Target& target,
                                     int64_t n, at::Generator generator);

}  // namespace ddkit::generative
