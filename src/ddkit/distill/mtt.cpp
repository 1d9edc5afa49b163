#include "ddkit/distill/mtt.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "ddkit/dist/context.h"
#include "ddkit/distill/sdc.h"
#include "ddkit/train/rng.h"
#include "ddkit/util/error.h"

namespace ddkit::distill {

MttDefaults mtt_defaults(int64_t ipc) {
  if (ipc <= 1) return {50, 2, 2, 1000.0, 1e-7};
  if (ipc < 50) return {30, 2, 20, 100000.0, 1e-5};
  return {30, 2, 40, 1000.0, 1e-5};
}

// Everything random about one iteration, drawn up front from its seed so the
// reverse sweep can replay any step exactly.
struct MttDistiller::Plan {
  int64_t expert = 0, start = 0;
  at::Tensor theta0, target;            // θ*_t and θ*_{t+M}
  std::vector<at::Tensor> indices;      // the synthetic mini-batch of each step
  std::vector<uint64_t> augment_seeds;  // the DSA generator seed of each step
};

MttDistiller::MttDistiller(const data::Dataset& data, const at::Tensor& initial_images, int64_t ipc,
                           MttOptions options, ExpertBuffer buffer)
    : MatchingDistiller(data, initial_images, ipc),
      options_(std::move(options)),
      buffer_(std::move(buffer)),
      lr_(options_.lr_teacher) {
  if (options_.syn_steps < 0 || options_.expert_epochs < 1 || options_.max_start_epoch < 1) {
    throw Error("--syn-steps", "MTT needs syn_steps >= 0, expert_epochs >= 1 and max_start_epoch >= 1");
  }
  if (options_.full_graph && dist::size_of(options_.world) > 1) {
    throw Error("--mtt-full-graph", "keeps one autograd graph in one process; a distributed MTT run uses the step-wise sweep");
  }
  if (options_.max_start_epoch - 1 + options_.expert_epochs > buffer_.epochs) {
    throw Error(buffer_.dir.string(), "has " + std::to_string(buffer_.epochs) + " epochs per expert; start epochs < " +
                                          std::to_string(options_.max_start_epoch) + " plus " +
                                          std::to_string(options_.expert_epochs) + " expert epochs need more");
  }
  labels_ = at::arange(data.num_classes, at::TensorOptions().dtype(at::kLong).device(images_.device()))
                .repeat_interleave(ipc);
}

MttDistiller::Plan MttDistiller::plan(uint64_t seed) const {
  auto generator = train::make_generator(seed);
  Plan p;
  p.expert = at::randint(0, buffer_.experts, {1}, generator, at::kLong).item<int64_t>();
  p.start = at::randint(0, options_.max_start_epoch, {1}, generator, at::kLong).item<int64_t>();
  const auto trajectory = buffer_.trajectory(p.expert).to(images_.device());
  p.theta0 = trajectory[p.start].clone();
  p.target = trajectory[p.start + options_.expert_epochs].clone();
  // Mini-batches as the reference: a fresh permutation cut into batch_syn
  // chunks whenever the previous one is used up, taken from the last chunk.
  const int64_t n = images_.size(0);
  const int64_t batch = options_.batch_syn > 0 ? std::min(options_.batch_syn, n) : n;
  std::vector<at::Tensor> chunks;
  for (int64_t i = 0; i < options_.syn_steps; ++i) {
    if (chunks.empty()) {
      const auto order = at::randperm(n, generator, at::TensorOptions().dtype(at::kLong));
      for (int64_t s = 0; s < n; s += batch) chunks.push_back(order.narrow(0, s, std::min(batch, n - s)));
    }
    p.indices.push_back(chunks.back().to(images_.device()));
    chunks.pop_back();
    p.augment_seeds.push_back(static_cast<uint64_t>(at::randint(0, 1LL << 62, {1}, generator, at::kLong).item<int64_t>()));
  }
  return p;
}

at::Tensor MttDistiller::step_batch(const Plan& p, int64_t i, const at::Tensor& images) const {
  auto x = images.index_select(0, p.indices[static_cast<size_t>(i)]);
  if (options_.dsa) {
    x = augment::dsa_augment(x, options_.dsa_options, std::nullopt,
                             train::make_generator(p.augment_seeds[static_cast<size_t>(i)]));
  }
  return x;
}

namespace {

at::Tensor cross_entropy(const at::Tensor& logits, const at::Tensor& labels) {
  return at::cross_entropy_loss(logits, labels);
}

}  // namespace

void MttDistiller::all_reduce(at::Tensor& tensor) const {
  if (options_.world) options_.world->all_reduce_sum(tensor);
}

double MttDistiller::all_reduce(double value) const {
  return options_.world ? options_.world->all_reduce_sum(value) : value;
}

at::Tensor MttDistiller::step_loss(const Plan& p, int64_t i, const at::Tensor& theta, const at::Tensor& images,
                                   bool fused) const {
  const auto& rows = p.indices[static_cast<size_t>(i)];
  const int64_t batch = rows.size(0);
  const auto [begin, end] = dist::share(batch, dist::rank_of(options_.world), dist::size_of(options_.world));
  if (begin >= end) return {};
  // The whole mini-batch is augmented on every rank, so each image gets the
  // same DSA draw as in one process; the rank then keeps its rows.
  auto x = step_batch(p, i, images);
  auto labels = labels_.index_select(0, rows);
  if (end - begin < batch) {
    x = x.narrow(0, begin, end - begin);
    labels = labels.narrow(0, begin, end - begin);
  }
  const auto logits = buffer_.net.forward(theta, x, fused);
  if (end - begin == batch) return cross_entropy(logits, labels);
  return at::cross_entropy_loss(logits, labels, {}, at::Reduction::Sum) / static_cast<double>(batch);
}

at::Tensor MttDistiller::student_gradient(const Plan& p, int64_t i, const at::Tensor& theta) const {
  const auto leaf = theta.detach().requires_grad_(true);
  const auto ce = step_loss(p, i, leaf, images_.detach(), /*fused=*/true);
  at::Tensor g = ce.defined() ? torch::autograd::grad({ce}, {leaf})[0] : at::zeros_like(theta);
  all_reduce(g);
  return g;
}

at::Tensor MttDistiller::student_endpoint(uint64_t seed) {
  const auto p = plan(seed);
  at::Tensor theta = p.theta0;
  for (int64_t i = 0; i < options_.syn_steps; ++i) theta = theta - lr_ * student_gradient(p, i, theta);
  return theta;
}

double MttDistiller::loss(uint64_t seed) {
  const auto p = plan(seed);
  const auto end = student_endpoint(seed);
  return ((end - p.target).pow(2).sum() / (p.theta0 - p.target).pow(2).sum()).item<double>();
}

MttGradients MttDistiller::gradients(uint64_t seed) {
  const auto p = plan(seed);
  const auto& net = buffer_.net;
  const int64_t steps = options_.syn_steps;
  const auto distance = (p.theta0 - p.target).pow(2).sum();
  MttGradients out;
  out.expert = p.expert;
  out.start_epoch = p.start;
  auto labels_of = [&](int64_t i) { return labels_.index_select(0, p.indices[static_cast<size_t>(i)]); };

  if (options_.full_graph) {
    // The reference's way: one graph over every step, differentiated once.
    const auto alpha = at::scalar_tensor(lr_, images_.options()).requires_grad_(true);
    at::Tensor theta = p.theta0.detach().requires_grad_(true);
    for (int64_t i = 0; i < steps; ++i) {
      const auto ce = cross_entropy(net.forward(theta, step_batch(p, i, images_), /*fused=*/false), labels_of(i));
      const auto g = torch::autograd::grad({ce}, {theta}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
      theta = theta - alpha * g;
    }
    const auto loss = (theta - p.target).pow(2).sum() / distance;
    out.match_loss = loss.item<double>();
    if (steps > 0) {
      const auto grads = torch::autograd::grad({loss}, {images_, alpha}, {}, false, false, /*allow_unused=*/true);
      out.images = grads[0].defined() ? grads[0] : at::zeros_like(images_);
      out.lr = grads[1].defined() ? grads[1].item<double>() : 0.0;
    } else {
      out.images = at::zeros_like(images_);
    }
  } else {
    // Forward sweep without graphs, keeping θ_0..θ_N.
    std::vector<at::Tensor> thetas{p.theta0};
    for (int64_t i = 0; i < steps; ++i) thetas.push_back(thetas.back() - lr_ * student_gradient(p, i, thetas.back()));
    out.match_loss = ((thetas.back() - p.target).pow(2).sum() / distance).item<double>();
    // Reverse sweep (the adjoint of θ_{i+1} = θ_i − α g_i(θ_i, x)), one step's
    // graph at a time. In a distributed run g_i is the sum of the ranks' parts:
    // the Hessian-vector product ∂(g_i·λ)/∂θ_i is all-reduced every step, while
    // each rank's image and lr terms only touch its own rows and are summed once
    // at the end.
    at::Tensor lambda = 2.0 * (thetas.back() - p.target) / distance;
    at::Tensor image_grad = at::zeros_like(images_);
    double lr_grad = 0.0;
    for (int64_t i = steps - 1; i >= 0; --i) {
      const auto leaf = thetas[static_cast<size_t>(i)].detach().requires_grad_(true);
      const auto ce = step_loss(p, i, leaf, images_, /*fused=*/false);
      at::Tensor hvp = at::zeros_like(lambda);
      if (ce.defined()) {
        const auto g = torch::autograd::grad({ce}, {leaf}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
        const auto h = (g * lambda).sum();
        lr_grad -= h.item<double>();
        const auto grads = torch::autograd::grad({h}, {leaf, images_}, {}, false, false, /*allow_unused=*/true);
        if (grads[1].defined()) image_grad.sub_(grads[1], lr_);
        if (grads[0].defined()) hvp = grads[0];
      }
      all_reduce(hvp);
      lambda = lambda - lr_ * hvp;
    }
    out.images = image_grad;
    out.lr = lr_grad;
  }
  if (options_.sdc_lambda > 0) {
    // SDC (§9) at the student's start point θ*_t, class by class.
    // Classes are split over the ranks like DM's (strided ownership).
    const int rank = dist::rank_of(options_.world), ranks = dist::size_of(options_.world);
    const auto theta = p.theta0.detach().requires_grad_(true);
    at::Tensor penalty;
    for (int64_t c = 0; c < data_.num_classes; ++c) {
      if (!dist::owns(c, rank, ranks)) continue;
      const auto term = class_gradient_norm(net.forward(theta, class_images(c), /*fused=*/false), c, {theta},
                                            /*create_graph=*/true);
      penalty = penalty.defined() ? penalty + term : term;
    }
    if (penalty.defined()) {
      const auto scaled = options_.sdc_lambda * penalty;
      out.images = out.images + torch::autograd::grad({scaled}, {images_})[0];
      out.sdc = scaled.item<double>();
    }
  }
  all_reduce(out.images);
  out.lr = all_reduce(out.lr);
  out.sdc = all_reduce(out.sdc);
  out.loss = out.match_loss + out.sdc;
  return out;
}

double MttDistiller::step(uint64_t seed) {
  const auto g = gradients(seed);
  sgd_step(g.images, options_.lr_images, options_.momentum);
  lr_velocity_ = options_.momentum * lr_velocity_ + g.lr;
  lr_ -= options_.lr_lr * lr_velocity_;
  return g.loss;
}

}  // namespace ddkit::distill
