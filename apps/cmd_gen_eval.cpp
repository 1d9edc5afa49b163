#include <fmt/format.h>

#include "common.h"
#include "ddkit/generative/quality.h"

namespace ddkit::cli {

void register_gen_eval(CLI::App& app) {
  struct Options {
    CommonOptions common;
    generative::GenEvalOptions run;
  };
  auto options = std::make_shared<Options>();
  auto& o = options->run;
  auto* command = app.add_subcommand("gen-eval", "Generator quality: FID and CAS beside real images (docs/algorithms.md §11)");
  add_common_flags(*command, options->common);
  command->add_option("--generator", o.generator_file, "Generator model.pt of `ddkit gen-train`");
  command->add_option("--set", o.set_dir, "Or: an image set to measure (e.g. a pool)");
  command->add_option("--images", o.quality.images, "Images to generate, balanced over the classes")
      ->capture_default_str()
      ->check(at_least(2));
  add_sampler_flags(*command, o.sampler, "", "Generation");
  command->add_option("--sample-batch", o.batch, "Images per network call")->capture_default_str()->check(at_least(1));
  command->add_option("--extractor-epochs", o.quality.extractor_epochs,
                      "Epochs of the feature ConvNet-3 on the training split (trained once, cached)")
      ->capture_default_str()
      ->check(at_least(1));
  command->add_option("--cas-epochs", o.quality.cas_epochs, "Epochs of CAS's ConvNet-3 on the images (0 = no CAS)")
      ->capture_default_str()
      ->check(at_least(0));
  command->add_option("--out", o.out, "quality.json to write");
  command->callback([options] {
    lock_output(options->run.out, start_run(options->common));
    const auto data = load_data(options->common);
    auto run = options->run;
    apply_common(run.quality, options->common);
    const auto r = generative::evaluate_generator(data, run);
    const auto& real = r.at("real");
    fmt::print("fid: {:.2f} (real vs real: {:.2f}), {} images vs the test split\n", r.at("fid").get<double>(),
               real.at("fid").get<double>(), r.at("images").get<int64_t>());
    if (r.contains("cas")) {
      fmt::print("cas: {:.2f} % (real: {:.2f} %), ConvNet-3 trained {} epochs on {} per class\n",
                 r.at("cas").get<double>(), real.at("cas").get<double>(), r.at("cas_epochs").get<int64_t>(),
                 r.at("per_class").get<int64_t>());
    }
    if (r.at("source").contains("images_per_second")) {
      fmt::print("generation: {:.2f} img/s\n", r.at("source").at("images_per_second").get<double>());
    }
  });
}

}  // namespace ddkit::cli
