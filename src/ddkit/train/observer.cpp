#include "ddkit/train/observer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "ddkit/models/factory.h"
#include "ddkit/train/device.h"
#include "ddkit/train/model_io.h"
#include "ddkit/train/rng.h"
#include "ddkit/train/trainer.h"
#include "ddkit/util/error.h"
#include "ddkit/util/progress.h"

namespace ddkit::train {

std::shared_ptr<models::ClassifierImpl> obtain_observer(const data::Dataset& data, const ObserverOptions& options) {
  const auto device = parse_device(options.device);
  if (!options.model_file.empty()) {
    auto loaded = load_model(options.model_file);
    const auto& s = loaded.info.shape;
    if (s.channels != data.channels || s.height != data.height || s.width != data.width ||
        loaded.info.num_classes != data.num_classes) {
      throw Error(options.model_file, fmt::format("model is for {}x{}x{} images with {} classes, not {}",
                                                  s.channels, s.height, s.width, loaded.info.num_classes, data.spec));
    }
    loaded.model->to(device);
    return loaded.model;
  }
  TrainOptions training;
  training.epochs = options.epochs;
  // An observer is not an evaluated set: --epochs E means E passes (the lr
  // decayed for the second half), not the protocol's E + 1.
  training.extra_epoch = false;
  return train_on_training_split(data, options.model, training, options.seed, options.device, options.quiet);
}

std::shared_ptr<models::ClassifierImpl> train_on_training_split(const data::Dataset& data,
                                                                const std::string& model_name,
                                                                const TrainOptions& training, uint64_t seed,
                                                                const std::string& device_name, bool quiet) {
  const auto device = parse_device(device_name);
  auto generator = seed_unit_of_work(seed);
  auto model = models::make_model(model_name, {data.channels, data.height, data.width}, data.num_classes);
  model->to(device);
  // Whole-data epochs are long (60,000 images: over a minute here): count images.
  ProgressOptions progress_options;
  progress_options.quiet = quiet;
  progress_options.unit = "img";
  const int64_t n = data.train.size();
  Progress progress("train " + model_name, passes(training) * n, progress_options);
  double last_loss = 0.0;
  train_classifier(
      *model, data.train.images.to(device), data.train.labels.to(device), training, generator,
      [&](int64_t epoch, double loss) {
        last_loss = loss;
        if (!quiet) spdlog::info("{} epoch {}/{}: loss {:.4f}", model_name, epoch + 1, passes(training), loss);
      },
      [&](int64_t images) { progress.advance(images, fmt::format("last epoch loss {:.4f}", last_loss)); });
  progress.finish(fmt::format("final epoch loss {:.4f}", last_loss));
  return model;
}

at::Tensor embed_all(models::ClassifierImpl& model, const at::Tensor& images, int64_t batch_size) {
  at::NoGradGuard no_grad;
  model.eval();
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < images.size(0); start += batch_size) {
    parts.push_back(model.embed(images.narrow(0, start, std::min(batch_size, images.size(0) - start))));
  }
  model.train();
  return at::cat(parts);
}

}  // namespace ddkit::train
