#include "ddkit/generative/generate_run.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "ddkit/difficulty/score_run.h"
#include "ddkit/difficulty/scores.h"
#include "ddkit/generative/dag_targets.h"
#include "ddkit/generative/generator_io.h"
#include "ddkit/sampling/dgs.h"
#include "ddkit/sampling/sample_run.h"
#include "ddkit/train/device.h"
#include "ddkit/train/rng.h"
#include "ddkit/util/error.h"
#include "ddkit/util/progress.h"

namespace ddkit::generative {

data::ImageSet generate_set(const data::Dataset& data, const GenerateOptions& o) {
  if (o.per_class < 1) throw Error("--ipc", "must be >= 1");
  if (o.generator_file.empty()) throw Error("--generator", "the diffusion method needs a generator (DIR/model.pt of `ddkit gen-train`)");
  auto loaded = load_generator(o.generator_file);
  const auto& info = loaded.info;
  if (info.unet.image_channels != data.channels || info.height != data.height || info.width != data.width ||
      info.unet.num_classes != data.num_classes) {
    throw Error(o.generator_file.string(),
                fmt::format("generator is for {}x{}x{} images with {} classes, not {}", info.unet.image_channels,
                            info.height, info.width, info.unet.num_classes, data.spec));
  }
  return generate_with(*loaded.model, info, data, o);
}

data::ImageSet generate_with(UNetImpl& model, const GeneratorInfo& info, const data::Dataset& data,
                             const GenerateOptions& o) {
  if (o.per_class < 1) throw Error("--ipc", "must be >= 1");
  const auto device = train::parse_device(o.device);
  const bool was_training = model.is_training();
  model.to(device);
  model.eval();
  const NoiseSchedule schedule(info.schedule);
  sampler_timesteps(schedule.steps(), o.sampler.steps);  // a bad --steps fails before any work

  const bool dag_on = o.dag_scale != 0;
  std::shared_ptr<models::ClassifierImpl> observer;
  std::vector<std::vector<double>> originals;
  sampling::Target target;
  if (dag_on) {
    target = sampling::parse_target(o.dag_target);
    check_dag_target(target);  // before the observer is trained
    auto observer_options = o.observer;
    observer_options.settings() = o.nested();
    observer = train::obtain_observer(data, observer_options);
    observer->eval();
    for (auto& p : observer->parameters()) p.set_requires_grad(false);
    originals = sampling::original_scores_by_class(data, observer.get(), o.original_scores_file);
  }

  const int64_t total = o.per_class * data.num_classes;
  ProgressOptions progress_options;
  progress_options.quiet = o.quiet;
  progress_options.unit = "img";
  Progress progress(dag_on ? "generate+dag" : "generate", total, progress_options);
  std::vector<at::Tensor> images, labels, targets;
  nlohmann::json target_means = nlohmann::json::object();
  for (int64_t c = 0; c < data.num_classes; ++c) {
    // Class c's noise and DAG targets from its own generator.
    auto generator = train::make_generator(o.seed * 1000003ULL + static_cast<uint64_t>(c));
    const auto noise = torch::randn({o.per_class, data.channels, data.height, data.width}, generator,
                                    torch::TensorOptions(torch::kFloat));
    at::Tensor class_targets;
    if (dag_on) {
      const auto d = draw_dag_targets(originals[static_cast<size_t>(c)], target, o.per_class, generator);
      class_targets = torch::tensor(d, torch::kDouble);
      target_means[std::to_string(c)] = class_targets.mean().item<double>();
    }
    for (int64_t start = 0; start < o.per_class; start += o.batch) {
      const int64_t m = std::min(o.batch, o.per_class - start);
      const auto y = torch::full({m}, c, torch::kLong);
      DagGuide dag;
      if (dag_on) {
        dag.observer = observer.get();
        dag.normalization = data.normalization;
        dag.scale = o.dag_scale;
        dag.stop = o.dag_stop;
        dag.start = o.dag_start;
        dag.targets = class_targets.narrow(0, start, m);
      }
      const auto x = sample_diffusion(model, schedule, noise.narrow(0, start, m), y, o.sampler, dag);
      images.push_back(from_model_space(x.cpu(), data.normalization));
      labels.push_back(y);
      if (dag_on) targets.push_back(dag.targets);
      progress.advance(m);
    }
  }
  progress.finish();
  model.train(was_training);
  data::ImageSet set;
  set.images = torch::cat(images).contiguous();
  set.labels = torch::cat(labels);
  set.meta = {{"dataset", data.spec},
              {"method", "diffusion"},
              {"ipc", o.per_class},
              {"seed", o.seed},
              {"generator", {{"file", o.generator_file.string()}, {"info", to_json(info)}}},
              {"solver", to_string(o.sampler.solver)},
              {"sampling_steps", o.sampler.steps},
              {"guidance", o.sampler.guidance},
              {"dag", {{"scale", o.dag_scale}, {"stop", o.dag_stop}, {"start", o.dag_start}}},
              {"generate_seconds", progress.elapsed_seconds()},
              {"images_per_second", total / std::max(1e-9, progress.elapsed_seconds())}};
  if (dag_on) {
    set.meta["dag"]["target"] = o.dag_target;
    set.meta["dag"]["observer"] = o.observer.model_file.empty() ? "trained here" : o.observer.model_file;
    set.meta["dag"]["target_mean_per_class"] = target_means;
    const auto all = torch::cat(targets).to(torch::kDouble).contiguous();
    set.meta["dag"]["targets"] = std::vector<double>(all.data_ptr<double>(), all.data_ptr<double>() + all.numel());
  }
  return set;
}

}  // namespace ddkit::generative
