#include "ddkit/generative/schedule.h"

#include <cmath>

#include <ATen/ATen.h>

#include "ddkit/util/error.h"

namespace ddkit::generative {

ScheduleKind parse_schedule_kind(const std::string& name) {
  if (name == "linear") return ScheduleKind::linear;
  if (name == "cosine") return ScheduleKind::cosine;
  throw Error("--schedule", "'" + name + "' is not a schedule (linear | cosine)");
}

Prediction parse_prediction(const std::string& name) {
  if (name == "eps") return Prediction::eps;
  if (name == "v") return Prediction::v;
  throw Error("--prediction", "'" + name + "' is not a prediction (eps | v)");
}

std::string to_string(ScheduleKind kind) { return kind == ScheduleKind::linear ? "linear" : "cosine"; }
std::string to_string(Prediction prediction) { return prediction == Prediction::eps ? "eps" : "v"; }

ScheduleOptions ScheduleOptions::legacy() {
  ScheduleOptions o;
  o.kind = ScheduleKind::linear;
  o.prediction = Prediction::eps;
  return o;
}

NoiseSchedule::NoiseSchedule(ScheduleOptions o) : options(o) {
  // A generator file carries its schedule: bounded, so a crafted one cannot ask for a huge
  // table or betas that make alpha-bar negative (square roots of it later).
  if (o.steps < 1 || o.steps > 100000) throw Error("--diffusion-steps", "must be 1..100000");
  if (o.kind == ScheduleKind::linear && !(o.beta_start > 0 && o.beta_start <= o.beta_end && o.beta_end < 1)) {
    throw Error("--diffusion-steps", "linear betas need 0 < beta_start <= beta_end < 1");
  }
  if (o.kind == ScheduleKind::linear) {
    betas = at::linspace(o.beta_start, o.beta_end, o.steps, at::TensorOptions(at::kDouble));
  } else {
    // improved-diffusion's betas_for_alpha_bar: beta_t = min(1 - abar(t)/abar(t-1), 0.999).
    const double s = 0.008, T = static_cast<double>(o.steps);
    auto f = [&](double t) {
      const double c = std::cos((t / T + s) / (1 + s) * M_PI / 2);
      return c * c;
    };
    betas = at::empty({o.steps}, at::TensorOptions(at::kDouble));
    auto* b = betas.data_ptr<double>();
    for (int64_t i = 0; i < o.steps; ++i) {
      b[i] = std::min(1.0 - f(static_cast<double>(i + 1)) / f(static_cast<double>(i)), 0.999);
    }
  }
  alphas_cumprod = at::cumprod(1.0 - betas, 0);
}

double NoiseSchedule::alpha_bar(int64_t i) const {
  return i < 0 ? 1.0 : alphas_cumprod[i].item<double>();
}

at::Tensor NoiseSchedule::alpha_bar_of(const at::Tensor& t, const at::Tensor& like) const {
  const auto abar = alphas_cumprod.to(like.device()).index_select(0, t.to(like.device())).to(like.scalar_type());
  return abar.view({like.size(0), 1, 1, 1});
}

at::Tensor NoiseSchedule::add_noise(const at::Tensor& x0, const at::Tensor& t, const at::Tensor& noise) const {
  const auto abar = alpha_bar_of(t, x0);
  return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise;
}

at::Tensor NoiseSchedule::target(const at::Tensor& x0, const at::Tensor& t, const at::Tensor& noise) const {
  if (options.prediction == Prediction::eps) return noise;
  const auto abar = alpha_bar_of(t, x0);
  return abar.sqrt() * noise - (1.0 - abar).sqrt() * x0;
}

Estimates estimates(Prediction prediction, const at::Tensor& x_t, const at::Tensor& output, double abar) {
  const double a = std::sqrt(abar), s = std::sqrt(1.0 - abar);
  if (prediction == Prediction::eps) return {(x_t - s * output) / a, output};
  // x_t = a x0 + s eps and v = a eps - s x0, with a^2 + s^2 = 1.
  return {a * x_t - s * output, s * x_t + a * output};
}

}  // namespace ddkit::generative
