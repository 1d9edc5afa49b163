// `ddkit distill --method diffusion`: a pool of n images per class from a
// trained generator (its sampler + classifier-free guidance), optionally steered by
// DAG (docs/algorithms.md §11), as a standard image set in the dataset's normalized space.
#pragma once
#include <filesystem>
#include <string>

#include "ddkit/data/dataset.h"
#include "ddkit/data/image_set.h"
#include "ddkit/generative/generator_io.h"
#include "ddkit/generative/sampler.h"
#include "ddkit/train/observer.h"
#include "ddkit/util/run_settings.h"

namespace ddkit::generative {

struct GenerateOptions : RunSettings {
  std::filesystem::path generator_file;  // DIR/model.pt of `ddkit gen-train`
  int64_t per_class = 10;
  SamplerOptions sampler;
  int64_t batch = 250;                   // images per network call (per class)
  double dag_scale = 0;                  // s; 0 = DAG off
  int64_t dag_stop = 0;                  // t_stop (0-based step index)
  int64_t dag_start = 999;               // [ddkit] guide only steps t <= this (default: all, as §11)
  std::string dag_target = "original";   // a DGS target (§10 step 4)
  std::string original_scores_file;      // metadata.jsonl of `ddkit score --split train`; empty: scored here
  train::ObserverOptions observer;       // DAG's observer (prob score)
};

// Generates per_class images of every class. Class c's noise comes from its
// own generator (seed, c), so a class's images do not depend on the others.
// meta carries the generator's info and every sampling setting.
data::ImageSet generate_set(const data::Dataset& data, const GenerateOptions& options);

// The same with a generator already in memory (options.generator_file is
// only recorded): what gen-train's quality signal samples its EMA weights with.
data::ImageSet generate_with(UNetImpl& model, const GeneratorInfo& info, const data::Dataset& data,
                             const GenerateOptions& options);

}  // namespace ddkit::generative
