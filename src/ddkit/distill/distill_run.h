// `ddkit distill`: one entry point over every method — the baselines (random,
// herding), the matching methods (dc, dsa, dm, mtt) and the generative pool
// (diffusion) — writing an image set.
#pragma once
#include <filesystem>
#include <string>

#include "ddkit/data/dataset.h"
#include "ddkit/data/image_set.h"
#include "ddkit/distill/matching_run.h"
#include "ddkit/distill/method.h"
#include "ddkit/generative/generate_run.h"
#include "ddkit/train/observer.h"
#include "ddkit/util/run_settings.h"

namespace ddkit::distill {

// How a matching method builds a pool of pool_factor x ipc images per class:
// runs — pool_factor independent distillations at ipc (seeds seed, seed + 1,
// ...; each its own set in <out>.runs/run-<k>/, checkpointed and resumed on
// its own), joined class by class; joint — one distillation of pool_factor x
// ipc images per class (every class's matching signal spread over them all).
enum class PoolMode { runs, joint };
// "runs" | "joint"; anything else throws Error("--pool-mode", ...).
PoolMode parse_pool_mode(const std::string& name);
std::string pool_mode_name(PoolMode mode);

struct DistillOptions : RunSettings {
  Method method = Method::random;
  int64_t ipc = 10;
  int64_t pool_factor = 1;        // pool_factor x ipc images per class (a DGS pool)
  PoolMode pool_mode = PoolMode::runs;  // matching methods' pools (docs/methods/dgs.md "Pools")
  train::ObserverOptions observer;  // herding's embedding; --init dgs's and DAG's prob scores
  // dc | dsa | dm | mtt; its method/ipc/seed/... are set from the fields above. Its
  // init, init_target and init_scores_file also choose --method random's images.
  MatchingRunOptions matching;
  // diffusion (docs/algorithms.md §11): generator file, DDIM, DAG; per_class/seed/device
  // are set from the fields above, DAG's observer from `observer`.
  generative::GenerateOptions generation;
};

// Builds the set and writes it to options.out (with its wall time in meta.json).
// Returns an empty set when a matching run stopped early (--stop-after).
data::ImageSet distill_set(const data::Dataset& data, const DistillOptions& options);

// Where a runs pool keeps its k-th run: <out>.runs/run-<k>/ (run 0 is the
// method at plain IPC with the pool's seed).
std::filesystem::path pool_run_dir(const std::filesystem::path& out, int64_t k);

}  // namespace ddkit::distill
