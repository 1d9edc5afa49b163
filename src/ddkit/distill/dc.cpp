#include "ddkit/distill/dc.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>

#include "ddkit/dist/context.h"
#include "ddkit/distill/gradient_distance.h"
#include "ddkit/distill/sdc.h"
#include "ddkit/models/factory.h"
#include "ddkit/train/rng.h"
#include "ddkit/train/trainer.h"
#include "ddkit/util/error.h"

namespace ddkit::distill {

std::pair<int64_t, int64_t> dc_loops(int64_t ipc) {
  switch (ipc) {
    case 1: return {1, 1};
    case 10: return {10, 50};
    case 20: return {20, 25};
    case 30: return {30, 20};
    case 40: return {40, 15};
    case 50: return {50, 10};
    default:
      throw Error("--ipc", "DC/DSA loops are published for IPC 1, 10, 20, 30, 40, 50 only; give --outer-loop and --inner-loop");
  }
}

DcDistiller::DcDistiller(const data::Dataset& data, const at::Tensor& initial_images, int64_t ipc,
                         DcOptions options)
    : MatchingDistiller(data, initial_images, ipc), options_(std::move(options)) {
  if (options_.outer_loop <= 0 || options_.inner_loop <= 0) {
    const auto [outer, inner] = dc_loops(ipc);
    if (options_.outer_loop <= 0) options_.outer_loop = outer;
    if (options_.inner_loop <= 0) options_.inner_loop = inner;
  }
  labels_ = at::arange(data.num_classes, at::kLong).repeat_interleave(ipc).to(images_.device());
}

double DcDistiller::run(uint64_t seed, bool update) {
  namespace F = torch::nn::functional;
  auto generator = train::seed_unit_of_work(seed);
  auto net = models::make_model(options_.model, {data_.channels, data_.height, data_.width}, data_.num_classes);
  net->to(images_.device());
  net->train();
  const auto parameters = net->parameters();
  torch::optim::SGD net_optimizer(parameters, torch::optim::SGDOptions(options_.lr_net));
  double loss_sum = 0.0;
  const auto& world = options_.world;
  const int rank = dist::rank_of(world), ranks = dist::size_of(world);
  for (int64_t ol = 0; ol < options_.outer_loop; ++ol) {
    at::Tensor loss = at::zeros({}, images_.options());
    for (int64_t c = 0; c < data_.num_classes; ++c) {
      if (!dist::owns(c, rank, ranks)) {
        // Another rank's class: make its draws (class_pair's) and nothing else.
        (void)at::randperm(static_cast<int64_t>(real_by_class_[static_cast<size_t>(c)].size()), generator, at::kLong);
        if (options_.dsa) (void)at::randint(0, 100000, {1}, generator, at::kLong);
        continue;
      }
      const auto [real, syn] = class_pair(c, options_.batch_real, options_.dsa, options_.dsa_options, generator);
      const auto label_real = at::full({real.size(0)}, c, at::TensorOptions(at::kLong).device(images_.device()));
      const auto label_syn = at::full({ipc_}, c, at::TensorOptions(at::kLong).device(images_.device()));
      auto g_real = torch::autograd::grad({F::cross_entropy(net->forward(real), label_real)}, parameters);
      for (auto& g : g_real) g = g.detach();
      // create_graph: the distance is differentiated through these gradients
      // to the images (the fused ConvNet block then uses its exact fallback).
      const auto g_syn = torch::autograd::grad({F::cross_entropy(net->forward(syn), label_syn)}, parameters, {},
                                               /*retain_graph=*/true, /*create_graph=*/true);
      loss = loss + gradient_distance(g_real, g_syn);
      // SDC: the synthetic gradient is at hand; its norm is the class's GraNd.
      if (options_.sdc_lambda > 0) loss = loss + options_.sdc_lambda * gradient_norm(g_syn);
    }
    const double step_loss = world ? world->all_reduce_sum(loss.item<double>()) : loss.item<double>();
    loss_sum += step_loss;
    if (!update) return step_loss;
    // This rank's classes' rows of the gradient, summed with the other ranks'.
    auto grad = loss.requires_grad() ? torch::autograd::grad({loss}, {images_})[0] : at::zeros_like(images_);
    if (world) world->all_reduce_sum(grad);
    sgd_step(grad, options_.lr_images, options_.momentum);
    if (ol == options_.outer_loop - 1) break;
    // Inner loop: train the network on the (detached) synthetic set.
    const auto syn_train = images_.detach();
    for (int64_t il = 0; il < options_.inner_loop; ++il) {
      train::train_epoch(*net, syn_train, labels_, net_optimizer, options_.batch_train,
                         options_.dsa ? &options_.dsa_options : nullptr, generator);
    }
  }
  return loss_sum / static_cast<double>(data_.num_classes * options_.outer_loop);
}

double DcDistiller::step(uint64_t seed) { return run(seed, true); }
double DcDistiller::loss(uint64_t seed) { return run(seed, false); }

}  // namespace ddkit::distill
