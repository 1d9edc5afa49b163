// The settings every stage of a run shares — seed, device, threads, quiet,
// resume, output — in one struct that each stage's options inherit (as the
// PyTorch C++ frontend's options share detail::ConvNdOptions), so a stage run
// inside another takes its parent's settings in one assignment:
//   eval.settings() = options.nested(options.out / "eval-dgs");
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace ddkit {

struct RunSettings {
  uint64_t seed = 0;             // every random source of the stage flows from it
  std::string device = "cpu";    // cpu | cuda[:N] (train/device.h)
  // Intra-op threads (0 = all cores). A process-wide setting: applied once when
  // a run starts (configure_runtime, util/runtime.h); stages only carry it.
  int threads = 0;
  bool quiet = false;            // no progress output
  bool resume = false;           // continue from the stage's checkpoint (stages that have one)
  std::filesystem::path out;     // the stage's output: a directory, or a file (train's model)

  RunSettings& settings() { return *this; }
  const RunSettings& settings() const { return *this; }
  // The settings of a stage run inside this one that writes to `stage_out`.
  RunSettings nested(std::filesystem::path stage_out = {}) const {
    RunSettings s = *this;
    s.out = std::move(stage_out);
    return s;
  }
};

}  // namespace ddkit
