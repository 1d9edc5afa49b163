// MTT — matching training trajectories (docs/algorithms.md §7; Cazenavette et al. 2022,
// reference GeorgeCazenavette/mtt-distillation distill.py). Library core: one
// iteration, on expert trajectories from `ddkit buffer` (buffer.h).
//
// Per iteration: a random expert and start epoch t < max_start_epoch; a
// functional student starts at θ*_t and takes syn_steps SGD steps
// θ_{i+1} = θ_i − α ∇θ CE(f_θi(DSA(x_i)), y_i) on synthetic mini-batches x_i
// (batch_syn, default all images, in a random order), α the learnable lr; the
// loss ‖θ_N − θ*_{t+M}‖² / ‖θ*_t − θ*_{t+M}‖² is differentiated through all the
// steps to the images (SGD, momentum 0.5) and to α (SGD, momentum 0.5).
//
// Memory [ddkit]: the reference keeps the graph of all syn_steps steps (its
// memory grows with syn_steps × batch). ddkit by default keeps only the
// parameter vectors θ_0..θ_N and runs the exact reverse sweep (adjoint) step by
// step, recomputing each step's graph from θ_i and the step's saved batch and
// augmentation seed:
//   λ_N = ∂L/∂θ_N;  for i = N−1..0, with h_i = g_i(θ_i, x)·λ_{i+1}:
//     ∂L/∂α += −h_i,  ∂L/∂x += −α ∂h_i/∂x,  λ_i = λ_{i+1} − α ∂h_i/∂θ_i.
// That is the same gradient (tested against the full graph) for one more
// forward/backward per step, with the memory of one step. `full_graph` keeps
// the reference's single graph instead.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "ddkit/augment/dsa.h"
#include "ddkit/data/dataset.h"
#include "ddkit/distill/buffer.h"
#include "ddkit/distill/matching.h"

namespace ddkit::dist {
class Context;
}

namespace ddkit::distill {

struct MttOptions {
  std::filesystem::path buffer;  // a `ddkit buffer` directory
  // 0 (or < 0 for the lrs): the reference CIFAR-10 row for the IPC (mtt_defaults).
  int64_t syn_steps = 0;
  int64_t expert_epochs = 0;     // M
  int64_t max_start_epoch = 0;   // t < max_start_epoch (capped at buffer epochs − M + 1)
  double lr_images = -1;
  double lr_lr = -1;
  double lr_teacher = 0.01;      // the initial learnable lr α
  int64_t batch_syn = 0;         // 0: all synthetic images per step
  double momentum = 0.5;         // of both the image and the lr SGD
  bool dsa = true;               // per-sample DSA on every synthetic batch (not Siamese)
  augment::DsaOptions dsa_options;
  // SDC (§9) for MTT: + λ Σ_c ‖∇θ CE(f_θ*_t(S_c), c)‖₂ at the student's start
  // point θ*_t, on the un-augmented images of each class [ddkit]; 0 = off.
  double sdc_lambda = 0.0;
  bool full_graph = false;       // keep the whole unrolled graph, as the reference does
  // Distributed runs (docs/design.md "Distributed runs"): every rank replays the same
  // plan and owns a contiguous share of each step's synthetic mini-batch; the
  // student's gradients, the reverse sweep's Hessian-vector products and the
  // image/lr gradients are all-reduced, so all ranks hold the same state and
  // the result equals one process up to float reduction order. SDC's classes
  // are split too. Null: a world of one. Not with full_graph.
  std::shared_ptr<dist::Context> world;
};

// The reference's CIFAR-10 settings (docs/algorithms.md §7) for the IPC: IPC 1 → row 1,
// IPC 2..49 → row 10, IPC ≥ 50 → row 50 [ddkit for the IPCs in between].
struct MttDefaults {
  int64_t syn_steps, expert_epochs, max_start_epoch;
  double lr_images, lr_lr;
};
MttDefaults mtt_defaults(int64_t ipc);

// What one iteration's loss differentiates to.
struct MttGradients {
  double loss = 0;        // the normalized parameter distance (+ λ·SDC)
  double match_loss = 0;  // the normalized parameter distance alone
  double sdc = 0;         // λ·SDC (0 when off)
  at::Tensor images;      // ∂loss/∂images
  double lr = 0;          // ∂loss/∂α
  int64_t expert = 0, start_epoch = 0;
};

class MttDistiller : public MatchingDistiller {
 public:
  // `options` must be resolved (no zero defaults left); `ipc` = images per class.
  MttDistiller(const data::Dataset& data, const at::Tensor& initial_images, int64_t ipc, MttOptions options,
               ExpertBuffer buffer);

  // One iteration (expert, start epoch, batches and augmentations all drawn
  // from `seed`): gradients, then the SGD steps. Returns the loss before them.
  double step(uint64_t seed) override;
  // The iteration's loss and gradients without updating anything.
  MttGradients gradients(uint64_t seed);
  // The iteration's loss without gradients.
  double loss(uint64_t seed);
  // The student's parameters after the iteration's syn_steps (no gradients).
  at::Tensor student_endpoint(uint64_t seed);

  double learned_lr() const { return lr_; }
  double lr_velocity() const { return lr_velocity_; }
  void set_lr_state(double lr, double velocity) {
    lr_ = lr;
    lr_velocity_ = velocity;
  }
  const at::Tensor& labels() const { return labels_; }

 private:
  struct Plan;
  Plan plan(uint64_t seed) const;
  at::Tensor step_batch(const Plan& plan, int64_t i, const at::Tensor& images) const;
  // This rank's part of step i's student loss: Σ CE over its share of the
  // mini-batch / batch size, so the ranks' parts sum to the mean CE. An
  // undefined tensor when the share is empty.
  at::Tensor step_loss(const Plan& plan, int64_t i, const at::Tensor& theta, const at::Tensor& images,
                       bool fused) const;
  // ∂(Σ over ranks)/∂θ of step_loss: this rank's part, all-reduced.
  at::Tensor student_gradient(const Plan& plan, int64_t i, const at::Tensor& theta) const;
  void all_reduce(at::Tensor& tensor) const;
  double all_reduce(double value) const;

  MttOptions options_;
  ExpertBuffer buffer_;
  at::Tensor labels_;
  double lr_;
  double lr_velocity_ = 0.0;
};

}  // namespace ddkit::distill
