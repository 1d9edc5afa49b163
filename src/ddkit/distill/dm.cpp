#include "ddkit/distill/dm.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <torch/csrc/autograd/autograd.h>

#include "ddkit/dist/context.h"
#include "ddkit/distill/sdc.h"
#include "ddkit/models/factory.h"
#include "ddkit/train/rng.h"
#include "ddkit/util/error.h"

namespace ddkit::distill {

DmDistiller::DmDistiller(const data::Dataset& data, const at::Tensor& initial_images, int64_t ipc,
                         DmOptions options)
    : MatchingDistiller(data, initial_images, ipc), options_(std::move(options)) {}

at::Tensor DmDistiller::matching_loss(uint64_t seed) {
  // The network and every random draw of this iteration come from `seed`.
  auto generator = train::seed_unit_of_work(seed);
  auto net = models::make_model(options_.model, {data_.channels, data_.height, data_.width}, data_.num_classes);
  net->to(images_.device());
  // A frozen random embedding; its parameters take part in autograd only for
  // SDC's per-class gradient norm.
  const bool sdc = options_.sdc_lambda > 0;
  for (auto& p : net->parameters()) p.requires_grad_(sdc);
  std::vector<at::Tensor> real_parts, syn_parts;
  std::vector<int64_t> classes;  // this rank's (all of them in a world of one)
  const int rank = dist::rank_of(options_.world), ranks = dist::size_of(options_.world);
  for (int64_t c = 0; c < data_.num_classes; ++c) {
    if (!dist::owns(c, rank, ranks)) {
      // Another rank's class: make its draws (class_pair's) and nothing else.
      (void)at::randperm(static_cast<int64_t>(real_by_class_[static_cast<size_t>(c)].size()), generator, at::kLong);
      if (options_.dsa) (void)at::randint(0, 100000, {1}, generator, at::kLong);
      continue;
    }
    auto [real, syn] = class_pair(c, options_.batch_real, options_.dsa, options_.dsa_options, generator);
    real_parts.push_back(real);
    syn_parts.push_back(syn);
    classes.push_back(c);
  }
  at::Tensor loss = at::zeros({}, images_.options());
  if (classes.empty()) return loss;
  // Classes are independent given the network: one forward pass for all real
  // batches and one for all synthetic ones, then per-class means.
  at::Tensor real_embed;
  {
    at::NoGradGuard no_grad;
    real_embed = net->embed(at::cat(real_parts));
  }
  const auto syn_embed = net->embed(at::cat(syn_parts));
  int64_t real_offset = 0;
  for (size_t k = 0; k < classes.size(); ++k) {
    const int64_t n_real = real_parts[k].size(0);
    const auto mean_real = real_embed.narrow(0, real_offset, n_real).mean(0);
    const auto mean_syn = syn_embed.narrow(0, static_cast<int64_t>(k) * ipc_, ipc_).mean(0);
    loss = loss + (mean_real - mean_syn).pow(2).sum();
    real_offset += n_real;
  }
  if (sdc) {
    // Each rank adds its own classes' terms; the all-reduced gradient sums them.
    loss = loss + options_.sdc_lambda * sdc_penalty(*net, syn_parts, /*create_graph=*/true, classes);
  }
  return loss;
}

double DmDistiller::loss(uint64_t seed) {
  // (SDC differentiates w.r.t. the network, so no NoGradGuard.)
  const double own = matching_loss(seed).item<double>();
  return options_.world ? options_.world->all_reduce_sum(own) : own;
}

double DmDistiller::step(uint64_t seed) {
  const auto loss = matching_loss(seed);
  // This rank's classes' rows of the gradient; the others' come from their ranks.
  auto grad = loss.requires_grad() ? torch::autograd::grad({loss}, {images_})[0] : at::zeros_like(images_);
  if (options_.world) options_.world->all_reduce_sum(grad);
  sgd_step(grad, options_.lr_images, options_.momentum);
  const double own = loss.item<double>();
  return options_.world ? options_.world->all_reduce_sum(own) : own;
}

}  // namespace ddkit::distill
