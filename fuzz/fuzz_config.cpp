// The --config file (TOML/INI, [subcommand] sections), read by CLI11 as apps/main.cpp sets
// it up: a key no flag takes is an error, not ignored. The app here has the kinds of
// option ddkit's subcommands have (integers, reals, strings, lists, flags, a check). A bad
// file may only be refused with a CLI11 parse error, which main.cpp turns into one
// `ddkit: error:` line and exit 2; anything else (another exception, a crash) is a finding.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "fuzz_input.h"

namespace {

struct Flags {
  std::string method = "dm", out, target = "original";
  int64_t ipc = 10, iterations = 200, seed = 0;
  double lr = 0.01;
  std::vector<int64_t> res_blocks{1, 2, 2};
  std::vector<std::string> models{"convnet"};
  bool dsa = false, quiet = false, resume = false;
};

void add_shared(CLI::App& command, Flags& f) {
  command.add_option("--seed", f.seed);
  command.add_option("--out", f.out);
  command.add_flag("--quiet,-q", f.quiet);
  command.add_flag("--resume", f.resume);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ddkit_fuzz::write_input("config.toml", data, size);
  Flags f;
  CLI::App app{"ddkit"};
  app.set_config("--config", "", "flags from a file");
  app.allow_config_extras(CLI::config_extras_mode::error);
  app.require_subcommand(1);
  auto* distill = app.add_subcommand("distill");
  distill->add_option("--method", f.method)->check(CLI::IsMember({"dc", "dsa", "dm", "mtt", "random", "diffusion"}));
  distill->add_option("--ipc", f.ipc)->check(CLI::PositiveNumber);
  distill->add_option("--iterations", f.iterations);
  distill->add_option("--lr-img", f.lr);
  distill->add_flag("--dsa", f.dsa);
  distill->add_option("--init-target", f.target);
  add_shared(*distill, f);
  auto* eval = app.add_subcommand("eval");
  eval->add_option("--models", f.models);
  add_shared(*eval, f);
  auto* gen = app.add_subcommand("gen-train");
  gen->add_option("--res-blocks", f.res_blocks);
  add_shared(*gen, f);
  const std::string path = file.string();
  std::vector<const char*> argv = {"ddkit", "--config", path.c_str(), "distill"};
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::Error&) {
  }
  return 0;
}
