#include "ddkit/generative/schedule.h"

#include <ATen/ATen.h>

#include "ddkit/util/error.h"

namespace ddkit::generative {

NoiseSchedule::NoiseSchedule(ScheduleOptions o) : options(o) {
  if (o.steps < 1) throw Error("--diffusion-steps", "must be >= 1");
  betas = at::linspace(o.beta_start, o.beta_end, o.steps, at::TensorOptions(at::kDouble));
  alphas_cumprod = at::cumprod(1.0 - betas, 0);
}

double NoiseSchedule::alpha_bar(int64_t i) const {
  return i < 0 ? 1.0 : alphas_cumprod[i].item<double>();
}

at::Tensor NoiseSchedule::add_noise(const at::Tensor& x0, const at::Tensor& t, const at::Tensor& noise) const {
  const auto abar = alphas_cumprod.to(x0.device()).index_select(0, t.to(x0.device())).to(x0.scalar_type());
  const auto shape = std::vector<int64_t>{x0.size(0), 1, 1, 1};
  return abar.sqrt().view(shape) * x0 + (1.0 - abar).sqrt().view(shape) * noise;
}

}  // namespace ddkit::generative
