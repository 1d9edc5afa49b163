// User-facing errors: one line "ddkit: error: <file>: <what>" and exit code 2
// (docs/design.md "Errors"). Library code throws ddkit::Error; only apps/ prints it.
#pragma once
#include <stdexcept>
#include <string>

namespace ddkit {

class Error : public std::runtime_error {
 public:
  // `subject` is the file (or flag, or dataset name) the problem is about.
  Error(std::string subject, std::string problem);
  const std::string& subject() const { return subject_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string subject_;
  std::string problem_;
};

// The exit code for every user-facing error.
constexpr int kUserErrorExitCode = 2;

}  // namespace ddkit
