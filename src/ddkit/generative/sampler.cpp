#include "ddkit/generative/sampler.h"

#include <cmath>

#include <torch/torch.h>

#include "ddkit/generative/generator_io.h"
#include "ddkit/util/error.h"

namespace ddkit::generative {

Solver parse_solver(const std::string& name) {
  if (name == "ddim") return Solver::ddim;
  if (name == "dpm2m") return Solver::dpm2m;
  throw Error("--solver", "'" + name + "' is not a solver (ddim | dpm2m)");
}

std::string to_string(Solver solver) { return solver == Solver::ddim ? "ddim" : "dpm2m"; }

std::vector<int64_t> sampler_timesteps(int64_t train_steps, int64_t sampling_steps) {
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

namespace {

// log(alpha_t / sigma_t), the half log-SNR DPM-Solver steps in.
double half_log_snr(double abar) { return 0.5 * std::log(abar / (1.0 - abar)); }

}  // namespace

at::Tensor sample_diffusion(UNetImpl& model, const NoiseSchedule& schedule, const at::Tensor& noise,
                            const at::Tensor& labels, const SamplerOptions& options, const DagGuide& dag) {
  const auto device = model.parameters().front().device();
  const int64_t n = noise.size(0);
  const auto prediction = schedule.options.prediction;
  auto x = noise.to(device);
  const auto y = labels.to(device);
  const auto null = torch::full_like(y, model.null_class());
  const bool guided = dag.observer != nullptr && dag.scale != 0;
  const auto targets = guided ? dag.targets.to(device).to(torch::kFloat) : at::Tensor();
  const bool was_training = model.is_training();
  model.eval();

  // The network's output with classifier-free guidance (applied to eps or v
  // alike: both are affine in the score); the conditional and unconditional
  // halves go through the network as one batch.
  auto output_of = [&](const torch::Tensor& x_t, int64_t t) {
    const auto tt = torch::full({n}, t, torch::TensorOptions(torch::kLong).device(device));
    if (options.guidance == 1.0) return model.forward(x_t, tt, y);
    if (options.guidance == 0.0) return model.forward(x_t, tt, null);
    const auto both = model.forward(torch::cat({x_t, x_t}), torch::cat({tt, tt}), torch::cat({y, null}));
    const auto conditional = both.narrow(0, 0, n), unconditional = both.narrow(0, n, n);
    return unconditional + options.guidance * (conditional - unconditional);
  };

  const auto steps = sampler_timesteps(schedule.steps(), options.steps);
  torch::Tensor previous_x0;  // DPM-Solver++(2M)'s history
  double previous_h = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    const int64_t t = steps[i];
    const int64_t t_prev = i + 1 < steps.size() ? steps[i + 1] : -1;
    const double abar = schedule.alpha_bar(t), abar_prev = schedule.alpha_bar(t_prev);
    const double sqrt_one_minus = std::sqrt(1.0 - abar);
    Estimates e;
    if (guided && t >= dag.stop && t <= dag.start) {
      // docs/algorithms.md §11: the gradient of (d(x0-hat) - d*)^2 w.r.t. x_t, through
      // the network and the observer, added to eps-hat; x0-hat follows eps-hat.
      torch::AutoGradMode enable(true);
      auto x_req = x.detach().requires_grad_(true);
      const auto guess = estimates(prediction, x_req, output_of(x_req, t), abar);
      const auto d = prob_difficulty(*dag.observer, guess.x0, y, dag.normalization);
      const auto loss = (d - targets).pow(2).sum();
      const auto grad = torch::autograd::grad({loss}, {x_req})[0];
      torch::NoGradGuard no_grad;
      e.eps = guess.eps.detach() + dag.scale * sqrt_one_minus * grad;
      e.x0 = (x - sqrt_one_minus * e.eps) / std::sqrt(abar);
    } else {
      torch::NoGradGuard no_grad;
      e = estimates(prediction, x, output_of(x, t), abar);
    }
    torch::NoGradGuard no_grad;
    const auto x0 = e.x0.clamp(-1.0, 1.0);
    if (t_prev < 0) {  // to the clean image: both solvers end at x0-hat
      x = x0;
      break;
    }
    if (options.solver == Solver::ddim) {
      x = std::sqrt(abar_prev) * x0 + std::sqrt(1.0 - abar_prev) * e.eps;
      continue;
    }
    // DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2): first order on the first
    // step, then the multistep second-order correction from the last x0-hat.
    const double h = half_log_snr(abar_prev) - half_log_snr(abar);
    auto d = x0;
    if (previous_x0.defined()) {
      const double r = previous_h / h;
      d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * previous_x0;
    }
    x = (std::sqrt(1.0 - abar_prev) / sqrt_one_minus) * x - std::sqrt(abar_prev) * std::expm1(-h) * d;
    previous_x0 = x0;
    previous_h = h;
  }
  model.train(was_training);
  return x.clamp(-1.0, 1.0).detach();
}

}  // namespace ddkit::generative
