// A trained generator file (`ddkit gen-train` writes DIR/model.pt): the UNet's
// EMA weights plus what is needed to rebuild it and map its pixel space back
// to the dataset's normalized space.
#pragma once
#include <filesystem>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "ddkit/data/dataset.h"
#include "ddkit/generative/schedule.h"
#include "ddkit/generative/unet.h"

namespace ddkit::generative {

struct GeneratorInfo {
  UNetOptions unet;
  ScheduleOptions schedule;
  std::string dataset;  // spec it was trained on
  int64_t height = 28, width = 28;
  nlohmann::json extra = nlohmann::json::object();  // steps, batch, lr, seed, final loss, wall time
};

struct LoadedGenerator {
  UNet model{nullptr};
  GeneratorInfo info;
};

void save_generator(const std::filesystem::path& file, UNetImpl& model, const GeneratorInfo& info);  // atomic
// Errors (ddkit::Error(file, ...)): missing, not a generator, mismatched weights.
LoadedGenerator load_generator(const std::filesystem::path& file);
nlohmann::json to_json(const GeneratorInfo& info);

// The model's pixel space is [-1, 1] (DDPM's convention): x = 2 u - 1 with u
// the [0, 1] image; these map from and to the dataset's normalized space.
at::Tensor to_model_space(const at::Tensor& normalized, const data::Normalization& norm);
at::Tensor from_model_space(const at::Tensor& x, const data::Normalization& norm);

}  // namespace ddkit::generative
