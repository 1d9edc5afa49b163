// `ddkit distill --method dm|dc|dsa|mtt`: matching iterations with progress,
// checkpoints and --resume, producing an image set (docs/algorithms.md §5, §6, §7).
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ddkit/data/image_set.h"
#include "ddkit/distill/dc.h"
#include "ddkit/distill/dm.h"
#include "ddkit/distill/method.h"
#include "ddkit/distill/mtt.h"
#include "ddkit/train/observer.h"
#include "ddkit/util/run_settings.h"

namespace ddkit::dist {
class Context;
}

namespace ddkit::distill {

enum class Init { real, noise, dgs };
// "real" | "noise" | "dgs"; anything else throws Error("--init", ...).
Init parse_init(const std::string& name);
std::string init_name(Init init);

// RunSettings: the checkpoint lives in <out>.checkpoint/ (resume continues from it).
struct MatchingRunOptions : RunSettings {
  Method method = Method::dm;     // dm | dc | dsa | mtt
  int64_t ipc = 10;
  int64_t pool_factor = 1;        // distill pool_factor x ipc images per class
  int64_t iterations = -1;        // -1: the published budget (DM 20000, DC/DSA 1000, MTT 5000)
  // real: distinct random real images per class; noise: Gaussian noise; dgs:
  // real images picked per class by DGS (dgs_selection.h) with init_target.
  Init init = Init::real;
  std::string init_target = "original";  // --init dgs: any DGS target
  std::string init_scores_file;   // --init dgs: metadata.jsonl of `ddkit score --split train`; empty: scored here
  train::ObserverOptions observer;  // --init dgs without init_scores_file: the prob observer
  int64_t checkpoint_every = 100; // iterations between checkpoints (0 = none)
  int64_t stop_after = 0;         // run at most this many iterations now, checkpoint, stop (0 = all)
  // Also write the set after each of these iterations (each in (0, iterations)) to
  // snapshot_dir(out, N): one run gives the accuracy-against-budget curve, as the
  // reference DC/DSA code evaluates its set every 500 iterations of one run.
  std::vector<int64_t> snapshots;
  double sdc_lambda = -1;         // SDC λ for dm.sdc_lambda / dc.sdc_lambda; < 0: default_sdc_lambda(method, ipc)
  std::shared_ptr<dist::Context> world;  // distributed runs (dm/dc/mtt .world); rank 0 writes; null: one process
  DmOptions dm;
  DcOptions dc;  // outer_loop/inner_loop 0: the published loops for `ipc` (dc_loops)
  MttOptions mtt;  // zeros: the reference CIFAR-10 row for `ipc` (mtt_defaults)
};

// Returns the distilled set (also written to options.out), or an empty set when
// stop_after ended the run early (the checkpoint then holds its state).
data::ImageSet run_matching(const data::Dataset& data, const MatchingRunOptions& options);

// The set a run starts from: distinct random real images per class (ipc x
// pool_factor), Gaussian noise of that shape, or the DGS pick (--init dgs).
data::ImageSet initial_set(const data::Dataset& data, const MatchingRunOptions& options);

// Where the set after iteration n of a run writing `out` goes: <out>.snapshots/it<n>/.
// It is the set a run of n iterations writes (the methods have no schedule that
// depends on the total), with its meta's "iterations" n and "snapshot_of" the total.
std::filesystem::path snapshot_dir(const std::filesystem::path& out, int64_t iteration);

// The seed of iteration `i` of a run seeded `seed` (a fresh network each).
uint64_t iteration_seed(uint64_t seed, int64_t iteration);

}  // namespace ddkit::distill
