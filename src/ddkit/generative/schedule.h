// The DDPM noise schedule (ALGORITHMS §11; Ho et al. 2020): linear betas from
// 1e-4 to 0.02 over T = 1000 steps. Step indices are 0-based: index i is the
// paper's t = i + 1, so betas[0] = beta_1 and betas[T-1] = beta_T.
#pragma once
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace ddkit::generative {

struct ScheduleOptions {
  int64_t steps = 1000;  // T
  double beta_start = 1e-4;
  double beta_end = 0.02;
};

struct NoiseSchedule {
  ScheduleOptions options;
  at::Tensor betas;           // float64 T
  at::Tensor alphas_cumprod;  // float64 T: abar_i = prod_{j<=i} (1 - beta_j)

  explicit NoiseSchedule(ScheduleOptions options = {});
  int64_t steps() const { return options.steps; }
  // abar at index i (i < 0 gives 1: the clean image, DDIM's last step).
  double alpha_bar(int64_t i) const;
  // q(x_t | x_0): sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, with `t` an int64
  // tensor of indices, one per sample (on any device).
  at::Tensor add_noise(const at::Tensor& x0, const at::Tensor& t, const at::Tensor& noise) const;
};

}  // namespace ddkit::generative
