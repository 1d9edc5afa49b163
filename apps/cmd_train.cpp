#include <spdlog/spdlog.h>

#include "common.h"
#include "ddkit/train/model_io.h"
#include "ddkit/train/observer.h"

namespace ddkit::cli {

void register_train(CLI::App& app) {
  struct Options {
    CommonOptions common;
    std::string model = "convnet";
    std::string out;
    train::TrainOptions training;
  };
  auto options = std::make_shared<Options>();
  options->training.epochs = 20;
  options->training.extra_epoch = false;  // --epochs E is E passes (the protocol's E + 1 is for evaluated sets)
  auto* command = app.add_subcommand("train", "Train a model on the whole training split (e.g. an observer)");
  add_common_flags(*command, options->common);
  command->add_option("--model", options->model, "Model name (convnet, resnet18, ...)")->capture_default_str();
  command->add_option("--epochs", options->training.epochs, "Epochs (exactly; the lr drops tenfold for the second half)")->capture_default_str()
      ->check(at_least(0));
  command->add_option("--lr", options->training.lr, "Learning rate")->capture_default_str()
      ->check(greater_than(0));
  command->add_option("--batch", options->training.batch_size, "Mini-batch size")->capture_default_str()
      ->check(at_least(1));
  command->add_flag("--dsa", options->training.dsa, "DSA augmentation of every mini-batch");
  command->add_option("--out", options->out, "Model file to write (model.pt)")->required();
  command->callback([options] {
    lock_output(options->out, start_run(options->common));
    const auto data = load_data(options->common);
    auto model = train::train_on_training_split(data, options->model, options->training, options->common.seed,
                                                options->common.device, options->common.quiet);
    const auto device = model->parameters().front().device();
    const double accuracy = train::test_accuracy(*model, data.test.images.to(device), data.test.labels.to(device));
    spdlog::info("{} on {}: test accuracy {:.2f}%", options->model, data.spec, accuracy);
    train::ModelInfo info;
    info.model_name = options->model;
    info.shape = {data.channels, data.height, data.width};
    info.num_classes = data.num_classes;
    info.dataset = data.spec;
    info.extra = {{"epochs", options->training.epochs}, {"test_accuracy", accuracy}, {"seed", options->common.seed},
                  {"dsa", options->training.dsa}};
    train::save_model(options->out, *model, info);
  });
}

}  // namespace ddkit::cli
