// Sampling the generator: DDIM (Song et al. 2021, eta = 0) or DPM-Solver++(2M)
// (Lu et al. 2022, the multistep second-order solver in data-prediction form),
// with classifier-free guidance (Ho & Salimans 2022) and, optionally, DAG —
// difficulty-aware guidance (docs/algorithms.md §11): at every step with t >= t_stop,
// eps-hat += s sqrt(1 - abar_t) grad_{x_t} (d(x0-hat) - d*)^2, d the observer's
// prob score (§8).
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ddkit/data/dataset.h"
#include "ddkit/generative/schedule.h"
#include "ddkit/generative/unet.h"
#include "ddkit/models/classifier.h"

namespace ddkit::generative {

enum class Solver { ddim, dpm2m };
Solver parse_solver(const std::string& name);  // ddkit::Error("--solver", ...) otherwise
std::string to_string(Solver solver);

struct SamplerOptions {
  Solver solver = Solver::dpm2m;
  int64_t steps = 20;     // network evaluations per image (x2 with guidance)
  // CFG scale w: out_u + w (out_c - out_u); 1 = conditional only (the default: best FID and
  // CAS in docs/methods/diffusion.md "Ablation", and half the network calls), 0 = unconditional.
  double guidance = 1.0;
};

// DAG (docs/algorithms.md §11): off when observer is null or scale is 0.
struct DagGuide {
  models::ClassifierImpl* observer = nullptr;
  data::Normalization normalization;  // the observer reads the dataset's normalized space
  double scale = 0;                   // s
  int64_t stop = 0;                   // t_stop, a 0-based index into the T steps
  // [ddkit] guided steps are t_stop <= t <= start; the default (all steps down
  // from the top) is docs/algorithms.md §11 exactly.
  int64_t start = std::numeric_limits<int64_t>::max();
  at::Tensor targets;                 // d* per sample (N, any float dtype)
};

// The step indices visited, from high to low: the "trailing" spacing
// round((i + 1) T / S) - 1 for i = S-1 .. 0 [ddkit], so the first step is
// always T-1 (pure noise) whatever S is — also for S = 1.
std::vector<int64_t> sampler_timesteps(int64_t train_steps, int64_t sampling_steps);

// Denoises `noise` (x_T, N x C x H x W, in the model's [-1, 1] space) for
// `labels` (N, int64); returns x_0 clamped to [-1, 1]. Every step's x0-hat is
// clamped to [-1, 1]; the last step returns it. Deterministic given the
// inputs. Tensors follow the model's device.
at::Tensor sample_diffusion(UNetImpl& model, const NoiseSchedule& schedule, const at::Tensor& noise,
                            const at::Tensor& labels, const SamplerOptions& options, const DagGuide& dag = {});

// prob difficulty 1 - softmax(f(x))[y] of images in the model's space (differentiable).
at::Tensor prob_difficulty(models::ClassifierImpl& observer, const at::Tensor& x_model_space,
                           const at::Tensor& labels, const data::Normalization& normalization);

}  // namespace ddkit::generative
