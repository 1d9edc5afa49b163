// The generative route's speed (docs/algorithms.md §11) with the default
// Fashion-MNIST generator (GenTrainOptions' UNet, schedule and sampler):
//   BM_GenTrainStep    one training step at the default batch, steps/s and img/s
//   BM_Generate        generation with the default sampler and CFG
//                      (one batched cond+uncond call per step), img/s
//   BM_GenerateDag     the same with DAG on every step (gradient through the
//                      UNet and a ConvNet-3 observer), img/s
// Speed does not depend on the weights, so the networks are freshly initialised.
//   ./bench_generative [--threads N] [benchmark flags]
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include <torch/torch.h>

#include "ddkit/generative/sampler.h"
#include "ddkit/generative/schedule.h"
#include "ddkit/generative/train_generator.h"
#include "ddkit/generative/unet.h"
#include "ddkit/models/convnet.h"
#include "bench_main.h"

namespace {

using namespace ddkit::generative;

UNet default_unet() {
  const GenTrainOptions defaults;
  return UNet(defaults.unet);
}

void BM_GenTrainStep(benchmark::State& state) {
  torch::manual_seed(0);
  auto model = default_unet();
  const GenTrainOptions defaults;
  const NoiseSchedule schedule(defaults.schedule);
  const int64_t batch = state.range(0);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(5e-4));
  const auto x0 = torch::rand({batch, 1, 28, 28}) * 2 - 1;
  const auto labels = torch::randint(0, 11, {batch}, torch::kLong);
  const auto t = torch::randint(0, 1000, {batch}, torch::kLong);
  const auto noise = torch::randn({batch, 1, 28, 28});
  for (auto _ : state) {
    optimizer.zero_grad();
    auto loss = diffusion_loss(*model, schedule, x0, labels, t, noise, defaults.min_snr_gamma);
    loss.backward();
    optimizer.step();
    benchmark::DoNotOptimize(loss.item<float>());
  }
  state.counters["steps/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["img/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_GenTrainStep)->Arg(GenTrainOptions{}.batch)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

void generate(benchmark::State& state, bool dag_on) {
  torch::manual_seed(0);
  auto model = default_unet();
  model->eval();
  ddkit::models::ConvNet observer(ddkit::models::ConvNetOptions{});
  observer->eval();
  for (auto& p : observer->parameters()) p.set_requires_grad(false);
  const NoiseSchedule schedule(GenTrainOptions{}.schedule);
  const int64_t batch = state.range(0);
  const auto labels = torch::zeros({batch}, torch::kLong);
  const SamplerOptions sampler;  // the defaults of `distill --method diffusion`
  DagGuide dag;
  if (dag_on) {
    dag.observer = observer.ptr().get();
    dag.normalization = {{0.2861}, {0.3530}};
    dag.scale = 1.0;
    dag.targets = torch::full({batch}, 0.3);
  }
  for (auto _ : state) {
    const auto x = sample_diffusion(*model, schedule, torch::randn({batch, 1, 28, 28}), labels, sampler, dag);
    benchmark::DoNotOptimize(x.sum().item<float>());
  }
  state.counters["img/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
}
void BM_Generate(benchmark::State& state) { generate(state, false); }
void BM_GenerateDag(benchmark::State& state) { generate(state, true); }
BENCHMARK(BM_Generate)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);
BENCHMARK(BM_GenerateDag)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5.0);

}  // namespace

int main(int argc, char** argv) {
  auto args = ddkit_bench::parse_arguments(argc, argv);
  return ddkit_bench::run_benchmarks(args);
}
