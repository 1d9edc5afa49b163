#include <cstdio>

#include "common.h"
#include "ddkit/data/registry.h"

namespace ddkit::cli {

void register_datasets(CLI::App& app) {
  auto* command = app.add_subcommand("datasets", "List the known datasets and whether each is found");
  auto data_dir = std::make_shared<std::string>(DDKIT_DEFAULT_DATA_DIR);
  command->add_option("--data-dir", *data_dir, "Folder of the packaged datasets")->capture_default_str();
  command->callback([data_dir] {
    data::DataOptions options;
    options.data_dir = *data_dir;
    for (const auto& status : data::list_datasets(options)) {
      const char* state = status.found ? "found" : (status.name == "fashion-mnist" ? "MISSING" : "by path");
      std::printf("%-14s %-24s %-8s %s\n", status.name.c_str(), status.usage.c_str(), state, status.where.c_str());
    }
  });
}

}  // namespace ddkit::cli
