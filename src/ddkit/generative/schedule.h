// The diffusion process (docs/algorithms.md §11): the noise schedule over T steps and
// what the network predicts. Step indices are 0-based: index i is the paper's
// t = i + 1, so betas[0] = beta_1 and betas[T-1] = beta_T.
//
// Schedules: `linear` betas from 1e-4 to 0.02 (Ho et al. 2020, the §11
// generator as first specified) and `cosine`, abar(t) = f(t)/f(0) with
// f(t) = cos^2(((t/T) + s)/(1 + s) * pi/2), s = 0.008, betas clipped at
// 0.999 (Nichol & Dhariwal 2021, improved-diffusion's betas_for_alpha_bar):
// at 28x28 the linear schedule spends a third of the steps at SNR < 0.01,
// where the image's layout is decided but the eps loss barely trains it.
// Predictions: `eps` (Ho et al.) or `v` = sqrt(abar) eps - sqrt(1 - abar) x0
// (Salimans & Ho 2022), which stays well posed at SNR ~ 0 where eps-hat's x0
// estimate divides by sqrt(abar).
#pragma once
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace ddkit::generative {

enum class ScheduleKind { linear, cosine };
enum class Prediction { eps, v };

ScheduleKind parse_schedule_kind(const std::string& name);  // ddkit::Error("--schedule", ...) otherwise
Prediction parse_prediction(const std::string& name);       // ddkit::Error("--prediction", ...) otherwise
std::string to_string(ScheduleKind kind);
std::string to_string(Prediction prediction);

struct ScheduleOptions {
  int64_t steps = 1000;  // T
  ScheduleKind kind = ScheduleKind::cosine;
  double beta_start = 1e-4;  // linear only
  double beta_end = 0.02;    // linear only
  Prediction prediction = Prediction::v;

  // What generator files written before kind/prediction existed used.
  static ScheduleOptions legacy();
};

struct NoiseSchedule {
  ScheduleOptions options;
  at::Tensor betas;           // float64 T
  at::Tensor alphas_cumprod;  // float64 T: abar_i = prod_{j<=i} (1 - beta_j)

  explicit NoiseSchedule(ScheduleOptions options = {});
  int64_t steps() const { return options.steps; }
  // abar at index i (i < 0 gives 1: the clean image, the sampler's last step).
  double alpha_bar(int64_t i) const;
  // q(x_t | x_0): sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, with `t` an int64
  // tensor of indices, one per sample (on any device).
  at::Tensor add_noise(const at::Tensor& x0, const at::Tensor& t, const at::Tensor& noise) const;
  // The network's regression target for (x0, noise) at t: noise, or v.
  at::Tensor target(const at::Tensor& x0, const at::Tensor& t, const at::Tensor& noise) const;
  // abar_t per sample as an N x 1 x 1 x 1 tensor of x's dtype and device.
  at::Tensor alpha_bar_of(const at::Tensor& t, const at::Tensor& like) const;
};

// The clean-image and noise estimates (x0-hat, eps-hat) from the network's
// output at one step with cumulative product abar.
struct Estimates {
  at::Tensor x0, eps;
};
Estimates estimates(Prediction prediction, const at::Tensor& x_t, const at::Tensor& output, double abar);

}  // namespace ddkit::generative
