// `ddkit distill --method dm`: DM iterations with progress, checkpoints and
// --resume, producing an image set (ALGORITHMS §6).
#pragma once
#include <filesystem>
#include <string>

#include "ddkit/data/image_set.h"
#include "ddkit/distill/dm.h"

namespace ddkit::distill {

struct DmRunOptions {
  int64_t ipc = 10;
  int64_t pool_factor = 1;        // distill pool_factor x ipc images per class
  int64_t iterations = 20000;     // the published budget
  std::string init = "real";      // real (distinct random real images) | noise
  int64_t checkpoint_every = 100; // iterations between checkpoints (0 = none)
  bool resume = false;
  int64_t stop_after = 0;         // run at most this many iterations now, checkpoint, stop (0 = all)
  uint64_t seed = 0;
  std::string device = "cpu";
  bool quiet = false;
  std::filesystem::path out;      // the checkpoint lives in <out>.checkpoint/
  DmOptions dm;
};

// Returns the distilled set (also written to options.out), or an empty set when
// stop_after ended the run early (the checkpoint then holds its state).
data::ImageSet run_dm(const data::Dataset& data, const DmRunOptions& options);

// The seed of iteration `i` of a run seeded `seed` (a fresh network each).
uint64_t iteration_seed(uint64_t seed, int64_t iteration);

}  // namespace ddkit::distill
