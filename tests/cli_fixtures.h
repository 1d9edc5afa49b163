// Running the `ddkit` binary from a test (test_cli, test_cli_faults): its exit code and
// stderr, and the one-line error contract of docs/design.md §5.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fixtures.h"

namespace ddkit_test {

struct Outcome {
  int exit_code = -1;
  std::string err;
};

// Runs a shell command line with stderr to a file; its exit code and stderr.
inline Outcome run_ddkit_command(const std::string& command_line) {
  // One stderr file per test: ctest runs tests of this program in parallel.
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const auto err_file = std::filesystem::temp_directory_path() / ("ddkit_test_cli_" + std::string(test->name()) + ".stderr");
  const std::string command = command_line + " 2> " + err_file.string();
  const int status = std::system(command.c_str());
  std::ifstream in(err_file);
  std::stringstream text;
  text << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

// `ddkit ARGS --threads 1`, stdout dropped.
inline Outcome run_ddkit(const std::string& args) {
  return run_ddkit_command(std::string(DDKIT_BINARY) + " " + args + " --threads 1 > /dev/null");
}

// Exactly one line, "ddkit: error: <subject>: ..." containing `problem`.
inline void expect_user_error(const Outcome& outcome, const std::string& subject, const std::string& problem) {
  EXPECT_EQ(outcome.exit_code, 2) << outcome.err;
  EXPECT_EQ(outcome.err.rfind("ddkit: error: " + subject + ": ", 0), 0u) << outcome.err;
  EXPECT_NE(outcome.err.find(problem), std::string::npos) << outcome.err;
  EXPECT_EQ(std::count(outcome.err.begin(), outcome.err.end(), '\n'), 1) << outcome.err;
}

inline std::filesystem::path tiny_mnist(const std::string& name) {
  auto dir = ddkit_test::fresh_dir(name);
  ddkit_test::write_tiny_mnist(dir);
  return dir;
}

}  // namespace ddkit_test
