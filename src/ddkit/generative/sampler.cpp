#include "ddkit/generative/ddim.h"

#include <cmath>

#include <torch/torch.h>

#include "ddkit/generative/generator_io.h"
#include "ddkit/util/error.h"

namespace ddkit::generative {

std::vector<int64_t> ddim_timesteps(int64_t train_steps, int64_t sampling_steps) {
  if (sampling_steps < 1 || sampling_steps > train_steps) {
    throw Error("--steps", "sampling steps must be in 1.." + std::to_string(train_steps));
  }
  std::vector<int64_t> steps;
  for (int64_t i = sampling_steps - 1; i >= 0; --i) {
    steps.push_back(static_cast<int64_t>(std::llround(static_cast<double>((i + 1) * train_steps) /
                                                      static_cast<double>(sampling_steps))) - 1);
  }
  return steps;
}

at::Tensor prob_difficulty(models::ClassifierImpl& observer, const at::Tensor& x_model_space, const at::Tensor& labels,
                           const data::Normalization& normalization) {
  const auto logits = observer.forward(from_model_space(x_model_space, normalization));
  return 1.0 - torch::softmax(logits, 1).gather(1, labels.unsqueeze(1)).squeeze(1);
}

at::Tensor ddim_sample(UNetImpl& model, const NoiseSchedule& schedule, const at::Tensor& noise,
                       const at::Tensor& labels, const DdimOptions& options, const DagGuide& dag) {
  const auto device = model.parameters().front().device();
  const int64_t n = noise.size(0);
  auto x = noise.to(device);
  const auto y = labels.to(device);
  const auto null = torch::full_like(y, model.null_class());
  const bool guided = dag.observer != nullptr && dag.scale != 0;
  const auto targets = guided ? dag.targets.to(device).to(torch::kFloat) : at::Tensor();
  const bool was_training = model.is_training();
  model.eval();

  // eps-hat with classifier-free guidance; the conditional and unconditional
  // halves go through the network as one batch.
  auto eps_of = [&](const torch::Tensor& x_t, int64_t t) {
    const auto tt = torch::full({n}, t, torch::TensorOptions(torch::kLong).device(device));
    if (options.guidance == 1.0) return model.forward(x_t, tt, y);
    if (options.guidance == 0.0) return model.forward(x_t, tt, null);
    const auto both = model.forward(torch::cat({x_t, x_t}), torch::cat({tt, tt}), torch::cat({y, null}));
    const auto conditional = both.narrow(0, 0, n), unconditional = both.narrow(0, n, n);
    return unconditional + options.guidance * (conditional - unconditional);
  };

  const auto steps = ddim_timesteps(schedule.steps(), options.steps);
  for (size_t i = 0; i < steps.size(); ++i) {
    const int64_t t = steps[i];
    const int64_t t_prev = i + 1 < steps.size() ? steps[i + 1] : -1;
    const double abar = schedule.alpha_bar(t), abar_prev = schedule.alpha_bar(t_prev);
    const double sqrt_one_minus = std::sqrt(1.0 - abar);
    torch::Tensor eps;
    if (guided && t >= dag.stop && t <= dag.start) {
      // ALGORITHMS §11: the gradient of (d(x0-hat) - d*)^2 w.r.t. x_t, through
      // the network's eps-hat and the observer.
      torch::AutoGradMode enable(true);
      auto x_req = x.detach().requires_grad_(true);
      auto e = eps_of(x_req, t);
      const auto x0 = (x_req - sqrt_one_minus * e) / std::sqrt(abar);
      const auto d = prob_difficulty(*dag.observer, x0, y, dag.normalization);
      const auto loss = (d - targets).pow(2).sum();
      const auto grad = torch::autograd::grad({loss}, {x_req})[0];
      eps = e.detach() + dag.scale * sqrt_one_minus * grad;
    } else {
      torch::NoGradGuard no_grad;
      eps = eps_of(x, t);
    }
    torch::NoGradGuard no_grad;
    const auto x0 = ((x - sqrt_one_minus * eps) / std::sqrt(abar)).clamp(-1.0, 1.0);
    x = std::sqrt(abar_prev) * x0 + std::sqrt(1.0 - abar_prev) * eps;
  }
  model.train(was_training);
  return x.clamp(-1.0, 1.0).detach();
}

}  // namespace ddkit::generative
