#include <spdlog/spdlog.h>

#include "common.h"
#include "ddkit/report/run_report.h"

namespace ddkit::cli {

void register_report(CLI::App& app) {
  struct Options {
    CommonOptions common;
    std::string run;
  };
  auto options = std::make_shared<Options>();
  auto* command = app.add_subcommand("report", "Write DIR/report.html for a pipeline run (self-contained HTML)");
  add_common_flags(*command, options->common);
  command->add_option("--run", options->run, "Run directory of `ddkit pipeline`")->required();
  command->callback([options] {
    start_run(options->common);
    const auto data = load_data(options->common, /*load_test=*/false);
    spdlog::info("wrote {}", report::write_run_report(options->run, data).string());
  });
}

}  // namespace ddkit::cli
