// The tests' check of a user-facing error: a ddkit::Error naming the right
// subject (file or flag) with the expected problem.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "ddkit/util/error.h"

namespace ddkit_test {

// Runs `f`, expects a ddkit::Error with this subject whose problem contains `part`.
template <typename F>
void expect_error(F&& f, const std::string& subject, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "expected ddkit::Error(" << subject << ", ..." << part << "...)";
  } catch (const ddkit::Error& e) {
    EXPECT_EQ(e.subject(), subject);
    EXPECT_NE(e.problem().find(part), std::string::npos) << e.problem();
  }
}

}  // namespace ddkit_test
