#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>


#include <filesystem>
#include <fstream>

#include "ddkit/util/atomic_file.h"
#include "ddkit/util/error.h"
#include "ddkit/util/output_lock.h"
#include "ddkit/util/progress.h"
#include "ddkit/util/runtime.h"

namespace fs = std::filesystem;

TEST(AtomicFile, WritesAndLeavesNoTemporaries) {
  const fs::path dir = fs::temp_directory_path() / "ddkit_test_atomic";
  fs::remove_all(dir);
  ddkit::write_file_atomic(dir / "a.txt", std::string("hello"));
  auto bytes = ddkit::read_file_bytes(dir / "a.txt");
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), "hello");
  int files = 0;
  for (auto& e : fs::directory_iterator(dir)) (void)e, ++files;
  EXPECT_EQ(files, 1);
  fs::remove_all(dir);
}

TEST(AtomicFile, MissingFileNamesThePath) {
  try {
    ddkit::read_file_bytes("/nonexistent/ddkit/file.bin");
    FAIL() << "expected ddkit::Error";
  } catch (const ddkit::Error& e) {
    EXPECT_EQ(e.subject(), "/nonexistent/ddkit/file.bin");
    EXPECT_EQ(e.problem(), "no such file");
  }
}

TEST(StagedDirectory, RemovedWithoutCommitAndReplacedWithCommit) {
  const fs::path out = fs::temp_directory_path() / "ddkit_test_staged";
  fs::remove_all(out);
  fs::path staging;
  {
    ddkit::StagedDirectory staged(out);
    staging = staged.path();
    std::ofstream(staged.path() / "x") << "1";
  }
  EXPECT_FALSE(fs::exists(staging));
  EXPECT_FALSE(fs::exists(out));
  for (int round = 0; round < 2; ++round) {
    ddkit::StagedDirectory staged(out);
    std::ofstream(staged.path() / "x") << round;
    staged.commit();
  }
  std::ifstream in(out / "x");
  int value = -1;
  in >> value;
  EXPECT_EQ(value, 1);
  int entries = 0;
  for (auto& e : fs::directory_iterator(out.parent_path()))
    if (e.path().filename().string().rfind("ddkit_test_staged", 0) == 0) ++entries;
  EXPECT_EQ(entries, 1);
  fs::remove_all(out);
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(ddkit::format_duration(12.34), "12.3s");
  EXPECT_EQ(ddkit::format_duration(185), "3m05s");
  EXPECT_EQ(ddkit::format_duration(3720), "1h02m");
}

TEST(Runtime, RecognisesReferenceBlas) {
  EXPECT_TRUE(ddkit::is_reference_blas("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"));
  EXPECT_FALSE(ddkit::is_reference_blas("/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3"));
}

TEST(OutputLock, ASecondWriterIsRefusedAndAKilledHolderLeavesNoStaleLock) {
  const fs::path dir = fs::temp_directory_path() / "ddkit_test_output_lock";
  fs::remove_all(dir);
  const fs::path out = dir / "runs" / "dm10";
  EXPECT_EQ(ddkit::output_lock_file(out), dir / "runs" / ".dm10.lock");
  EXPECT_EQ(ddkit::output_lock_file(dir / "runs" / "dm10/"), dir / "runs" / ".dm10.lock");
  {
    ddkit::OutputLock first(out);
    EXPECT_TRUE(fs::exists(first.file()));
    try {
      ddkit::OutputLock second(out);
      FAIL() << "a second lock on the same output was granted";
    } catch (const ddkit::Error& e) {
      EXPECT_EQ(e.subject(), out.string());
      EXPECT_NE(e.problem().find("another ddkit run is writing this output"), std::string::npos);
    }
    ddkit::OutputLock other(dir / "runs" / "dm1");  // another output is not blocked
  }
  EXPECT_FALSE(fs::exists(ddkit::output_lock_file(out)));  // removed at release
  // A holder killed with SIGKILL: the kernel drops its lock; its file stays and is reused.
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      ddkit::OutputLock held(out);
      const char byte = 1;
      if (::write(ready[1], &byte, 1) != 1) ::_exit(1);
      ::pause();
    } catch (...) {
    }
    ::_exit(1);
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);  // the child holds the lock
  EXPECT_THROW(ddkit::OutputLock busy(out), ddkit::Error);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(fs::exists(ddkit::output_lock_file(out)));
  EXPECT_NO_THROW(ddkit::OutputLock after(out));
  fs::remove_all(dir);
}
