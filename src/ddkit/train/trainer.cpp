#include "ddkit/train/trainer.h"

#include <memory>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>

namespace ddkit::train {

double train_epoch(models::ClassifierImpl& model, const at::Tensor& images, const at::Tensor& labels,
                   torch::optim::Optimizer& optimizer, int64_t batch_size, const augment::DsaOptions* dsa,
                   at::Generator generator, const BatchCallback& on_batch) {
  const int64_t n = images.size(0);
  // Shuffled mini-batches, like the reference's DataLoader(shuffle=True).
  const auto order = at::randperm(n, generator, at::TensorOptions().dtype(at::kLong)).to(images.device());
  double loss_sum = 0.0;
  for (int64_t start = 0; start < n; start += batch_size) {
    const auto index = order.narrow(0, start, std::min(batch_size, n - start));
    auto batch = images.index_select(0, index);
    if (dsa) batch = augment::dsa_augment(batch, *dsa, std::nullopt, generator);
    const auto loss = torch::nn::functional::cross_entropy(model.forward(batch), labels.index_select(0, index));
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    loss_sum += loss.item<double>() * static_cast<double>(index.size(0));
    if (on_batch) on_batch(index.size(0));
  }
  return loss_sum / static_cast<double>(n);
}

void train_classifier(models::ClassifierImpl& model, const at::Tensor& images, const at::Tensor& labels,
                      const TrainOptions& options, at::Generator generator, const EpochCallback& on_epoch,
                      const BatchCallback& on_batch) {
  const auto device = images.device();
  model.to(device);
  model.train();
  double lr = options.lr;
  auto make_optimizer = [&](double rate) {
    return std::make_unique<torch::optim::SGD>(
        model.parameters(),
        torch::optim::SGDOptions(rate).momentum(options.momentum).weight_decay(options.weight_decay));
  };
  auto optimizer = make_optimizer(lr);
  const int64_t decay_epoch = options.extra_epoch ? options.epochs / 2 + 1 : options.epochs / 2 - 1;
  for (int64_t epoch = 0; epoch < passes(options); ++epoch) {
    const double mean_loss = train_epoch(model, images, labels, *optimizer, options.batch_size,
                                         options.dsa ? &options.dsa_options : nullptr, generator, on_batch);
    if (epoch == decay_epoch) {
      lr *= 0.1;
      optimizer = make_optimizer(lr);
    }
    if (on_epoch) on_epoch(epoch, mean_loss);
  }
}

int64_t passes(const TrainOptions& options) { return options.epochs + (options.extra_epoch ? 1 : 0); }

at::Tensor predict(models::ClassifierImpl& model, const at::Tensor& images, int64_t batch_size) {
  at::NoGradGuard no_grad;
  model.eval();
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < images.size(0); start += batch_size) {
    parts.push_back(model.forward(images.narrow(0, start, std::min(batch_size, images.size(0) - start))).argmax(1));
  }
  model.train();
  return at::cat(parts);
}

double test_accuracy(models::ClassifierImpl& model, const at::Tensor& images, const at::Tensor& labels,
                     int64_t batch_size) {
  const int64_t correct = predict(model, images, batch_size).eq(labels).sum().item<int64_t>();
  return 100.0 * static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(labels.size(0), 1));
}

}  // namespace ddkit::train
