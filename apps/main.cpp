// ddkit: difficulty-aware dataset distillation. A thin CLI over the library:
// every subcommand parses flags into an options struct and calls one function.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "common.h"
#include "ddkit/util/error.h"

int main(int argc, char** argv) {
  CLI::App app{"ddkit " DDKIT_VERSION ": difficulty-aware dataset distillation"};
  app.set_version_flag("--version", "ddkit " DDKIT_VERSION);
  app.set_config("--config", "", "Read flags from a TOML/INI file ([subcommand] sections)");
  app.require_subcommand(1);
  // Log lines and progress go to stderr; stdout carries only results.
  spdlog::set_default_logger(spdlog::stderr_color_mt("ddkit"));
  spdlog::set_pattern("[%H:%M:%S] %v");
  ddkit::cli::register_datasets(app);
  ddkit::cli::register_train(app);
  ddkit::cli::register_distill(app);
  ddkit::cli::register_buffer(app);
  ddkit::cli::register_eval(app);
  ddkit::cli::register_score(app);
  ddkit::cli::register_sample(app);
  ddkit::cli::register_pipeline(app);
  ddkit::cli::register_launch(app);
  ddkit::cli::register_report(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "ddkit: error: %s\n", e.what());
    return ddkit::kUserErrorExitCode;
  } catch (const ddkit::Error& e) {
    std::fprintf(stderr, "ddkit: error: %s: %s\n", e.subject().c_str(), e.problem().c_str());
    return ddkit::kUserErrorExitCode;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddkit: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
