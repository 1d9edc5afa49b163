// ddkit: difficulty-aware dataset distillation. A thin CLI over the library:
// every subcommand parses flags into an options struct and calls one function.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "common.h"
#include "ddkit/util/error.h"

namespace {

// Log lines on stderr. On a terminal a progress bar may be standing on the
// current line (util/progress redraws it in place), so each log line first
// clears it; the bar comes back with its next update.
class StderrSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    spdlog::memory_buf_t line;
    formatter_->format(message, line);
    if (terminal_) std::fputs("\r\033[K", stderr);
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  const bool terminal_ = ::isatty(STDERR_FILENO) != 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddkit " DDKIT_VERSION ": difficulty-aware dataset distillation"};
  app.set_version_flag("--version", "ddkit " DDKIT_VERSION);
  app.set_config("--config", "", "Read flags from a TOML/INI file ([subcommand] sections)");
  // A key no subcommand knows (a typo, a line that is not `key = value`) is an
  // error, not silently ignored; set before the subcommands, which inherit it.
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.require_subcommand(1);
  // Log lines and progress go to stderr; stdout carries only results.
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("ddkit", std::make_shared<StderrSink>()));
  spdlog::set_pattern("[%H:%M:%S] %v");
  ddkit::cli::register_datasets(app);
  ddkit::cli::register_train(app);
  ddkit::cli::register_gen_train(app);
  ddkit::cli::register_gen_eval(app);
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
  } catch (const CLI::ConfigError& e) {  // a key of --config FILE that no flag takes
    const std::string what = e.what(), prefix = "INI was not able to parse ";
    const auto* config = app.get_config_ptr();
    const std::string file = config && config->count() > 0 ? config->as<std::string>() : "--config";
    const std::string key = what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
    std::fprintf(stderr, "ddkit: error: %s: '%s' is not a known flag (write `key = value` lines in [subcommand] sections)\n",
                 file.c_str(), key.c_str());
    return ddkit::kUserErrorExitCode;
  } catch (const CLI::FileError& e) {  // --config FILE
    std::fprintf(stderr, "ddkit: error: --config: %s\n", e.what());
    return ddkit::kUserErrorExitCode;
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
