// The observer: a classifier trained on the real training split whose
// embedding (herding) or predictions (difficulty scores) other stages use.
#pragma once
#include <memory>
#include <string>

#include "ddkit/data/dataset.h"
#include "ddkit/models/classifier.h"
#include "ddkit/train/trainer.h"
#include "ddkit/util/run_settings.h"

namespace ddkit::train {

struct ObserverOptions : RunSettings {
  std::string model_file;        // a `ddkit train` output; empty = train one now
  std::string model = "convnet";
  int64_t epochs = 2;            // [ddkit] short by default: a CPU budget; exactly this many passes
};

// Train a freshly initialised `model_name` on the whole training split (the
// protocol's loop: SGD momentum 0.9, wd 5e-4, batch 256, lr decay at half).
std::shared_ptr<models::ClassifierImpl> train_on_training_split(const data::Dataset& data,
                                                                const std::string& model_name,
                                                                const TrainOptions& training, uint64_t seed,
                                                                const std::string& device, bool quiet);

std::shared_ptr<models::ClassifierImpl> obtain_observer(const data::Dataset& data, const ObserverOptions& options);

// Embeddings (features before the classifier) of `images` in batches, no grad.
at::Tensor embed_all(models::ClassifierImpl& model, const at::Tensor& images, int64_t batch_size = 1000);

}  // namespace ddkit::train
