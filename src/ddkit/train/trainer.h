// Training a classifier on a set of images, and testing it: the loop of the
// field's evaluation protocol (docs/algorithms.md §3, reference evaluate_synset).
#pragma once
#include <functional>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "ddkit/augment/dsa.h"
#include "ddkit/models/classifier.h"

namespace torch::optim {
class Optimizer;
}

namespace ddkit::train {

struct TrainOptions {
  int64_t epochs = 300;  // the loop runs epochs + 1 passes, as the reference does (extra_epoch)
  double lr = 0.01;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  int64_t batch_size = 256;
  bool dsa = false;  // DSA augmentation of every mini-batch (per-sample parameters)
  augment::DsaOptions dsa_options;
  // The evaluation protocol's E + 1 passes with the lr decay after pass
  // E/2 + 1 (docs/algorithms.md §3, reference evaluate_synset). False: exactly E
  // passes, the lr decayed for the last E - E/2 of them — for training that
  // is not the protocol (the generator-quality extractor and CAS).
  bool extra_epoch = true;
};

// Called after each epoch with (epoch index, mean training loss).
using EpochCallback = std::function<void(int64_t epoch, double loss)>;
// Called after each mini-batch with its size (progress over long epochs).
using BatchCallback = std::function<void(int64_t batch_images)>;

// One epoch: shuffled mini-batches of `batch_size` (order drawn from
// `generator`), each DSA-augmented with per-sample parameters when `dsa` is
// given, one optimizer step per batch. Returns the mean training loss. The
// shared inner step of the protocol's loop, DC/DSA's inner loop and MTT's
// expert training.
double train_epoch(models::ClassifierImpl& model, const at::Tensor& images, const at::Tensor& labels,
                   torch::optim::Optimizer& optimizer, int64_t batch_size, const augment::DsaOptions* dsa,
                   at::Generator generator, const BatchCallback& on_batch = {});

// SGD with momentum and weight decay on shuffled mini-batches; after epoch
// epochs/2 + 1 the lr is multiplied by 0.1 and a new optimizer is created (the
// reference resets the momentum buffers). Images/labels may live on any device.
// passes(options) epochs in all.
void train_classifier(models::ClassifierImpl& model, const at::Tensor& images, const at::Tensor& labels,
                      const TrainOptions& options, at::Generator generator, const EpochCallback& on_epoch = {},
                      const BatchCallback& on_batch = {});

// The number of passes train_classifier makes: epochs + 1, or epochs.
int64_t passes(const TrainOptions& options);

// Predicted labels (argmax of the logits) of every image, in eval mode, no grad.
at::Tensor predict(models::ClassifierImpl& model, const at::Tensor& images, int64_t batch_size = 1000);

// Top-1 accuracy in percent over the whole split, in eval mode, no grad.
double test_accuracy(models::ClassifierImpl& model, const at::Tensor& images, const at::Tensor& labels,
                     int64_t batch_size = 1000);

}  // namespace ddkit::train
