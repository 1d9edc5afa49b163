// `ddkit distill`: one entry point over every method — the baselines (random,
// herding), the matching methods (dc, dsa, dm, mtt) and the generative pool
// (diffusion) — writing an image set.
#pragma once
#include <filesystem>
#include <string>

#include "ddkit/data/dataset.h"
#include "ddkit/data/image_set.h"
#include "ddkit/distill/matching_run.h"
#include "ddkit/generative/generate_run.h"
#include "ddkit/train/observer.h"

namespace ddkit::distill {

struct DistillOptions {
  std::string method = "random";  // random | herding | dc | dsa | dm | mtt | diffusion
  int64_t ipc = 10;
  int64_t pool_factor = 1;        // pool_factor x ipc images per class (a DGS pool)
  uint64_t seed = 0;
  std::string device = "cpu";
  bool quiet = false;
  std::filesystem::path out;
  train::ObserverOptions observer;  // herding's embedding
  MatchingRunOptions matching;      // dc | dsa | dm; its method/ipc/seed/... are set from the fields above
  // diffusion (docs/algorithms.md §11): generator file, DDIM, DAG; per_class/seed/device
  // are set from the fields above, DAG's observer from `observer`.
  generative::GenerateOptions generation;
};

// Builds the set and writes it to options.out (with its wall time in meta.json).
// Returns an empty set when a matching run stopped early (--stop-after).
data::ImageSet distill_set(const data::Dataset& data, const DistillOptions& options);

}  // namespace ddkit::distill
