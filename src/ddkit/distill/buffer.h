// MTT's expert trajectories (docs/algorithms.md §7; reference GeorgeCazenavette/
// mtt-distillation buffer.py): E ConvNets trained on the real training split
// with plain SGD (lr 0.01, no momentum, no weight decay, constant lr) and DSA
// augmentation, their flat parameter vector saved at the start (epoch 0) and
// after every epoch.
//
// On disk, a buffer is a directory:
//   meta.json        settings (dataset, model, width, depth, epochs, lr, ...)
//   expert_<e>.pt    float32 [epochs + 1, P]: row k = θ after k epochs
//   expert_<e>.json  per-epoch training loss and test accuracy, wall time
// An expert's .pt file is written atomically once it is finished, so a run
// interrupted anywhere resumes at the first missing expert.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "ddkit/augment/dsa.h"
#include "ddkit/data/dataset.h"
#include "ddkit/models/functional_convnet.h"
#include "ddkit/util/run_settings.h"

namespace ddkit::dist {
class Context;
}

namespace ddkit::distill {

// RunSettings: expert e trains with seed iteration_seed(seed, e); resume keeps the
// finished experts of the same settings (and may add experts).
struct BufferOptions : RunSettings {
  int64_t experts = 10;        // reference: 100
  int64_t epochs = 20;         // train_epochs; reference: 50
  double lr = 0.01;            // lr_teacher
  int64_t batch_size = 256;    // batch_train
  bool dsa = true;
  augment::DsaOptions dsa_options;  // no flip for digit data (set by build_buffer)
  int64_t width = 128;         // the ConvNet (instance norm, avg pooling)
  int64_t depth = 3;
  bool test_every_epoch = true;  // test accuracy after each epoch (as the reference prints it)
  int64_t stop_after = 0;        // train at most this many experts now (0 = all)
  // Distributed runs: the missing experts go round by round, the k-th of a
  // round on rank k; each trajectory is broadcast to rank 0, which writes
  // everything. Null: a world of one.
  std::shared_ptr<dist::Context> world;
};

// Trains the missing experts and writes the buffer directory. Without --resume
// any earlier expert files in `out` are removed first.
void build_buffer(const data::Dataset& data, const BufferOptions& options);

// A buffer directory opened for reading.
struct ExpertBuffer {
  std::filesystem::path dir;
  nlohmann::json meta;
  int64_t experts = 0;  // finished experts (expert_0 ... expert_{experts-1})
  int64_t epochs = 0;
  models::FunctionalConvNet net;  // the architecture the trajectories belong to

  // [epochs + 1, P] float32 trajectory of expert e.
  at::Tensor trajectory(int64_t expert) const;
};

// Throws ddkit::Error naming the directory when it is not a usable buffer for `data`.
ExpertBuffer open_buffer(const std::filesystem::path& dir, const data::Dataset& data);

}  // namespace ddkit::distill
