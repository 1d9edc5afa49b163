// The `gen-train` checkpoint (OUT/checkpoint.pt): everything a resumed run continues from,
// in one atomic file — the weights and their EMA, Adam's state, the step and `progress`
// (the loss and FID curves and the loss window, as JSON). Wall time is not in it: it is the
// one thing a resume cannot repeat. Read through ddkit's own .pt reader (data/pt_archive.h).
#pragma once
#include <cstdint>
#include <filesystem>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "ddkit/generative/unet.h"

namespace torch::optim {
class Adam;
}

namespace ddkit::generative {

void save_generator_checkpoint(const std::filesystem::path& file, UNetImpl& model, UNetImpl& ema,
                               torch::optim::Adam& optimizer, int64_t step, const nlohmann::json& progress);  // atomic

// Fills model, ema and optimizer (built by the caller for the run's options) and returns the
// step reached; `progress` is the saved JSON (null for a checkpoint of an earlier ddkit).
// Errors (ddkit::Error(file, ...)): not a checkpoint, another architecture, malformed state.
int64_t load_generator_checkpoint(const std::filesystem::path& file, UNetImpl& model, UNetImpl& ema,
                                  torch::optim::Adam& optimizer, const c10::Device& device, nlohmann::json& progress);

}  // namespace ddkit::generative
