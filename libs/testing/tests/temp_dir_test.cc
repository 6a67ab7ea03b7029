#include "channelops/testing/temp_dir.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace channelops::testing {
namespace {

namespace fs = std::filesystem;

TEST(TempDirTest, CreatesUniqueDirectoryAndRemovesItRecursively) {
  std::string path;
  {
    TempDir a("tdtest");
    TempDir b("tdtest");
    path = a.path();
    EXPECT_NE(a.path(), b.path());
    EXPECT_TRUE(fs::is_directory(a.path()));
    EXPECT_EQ(fs::path(a.path()).filename().string().rfind("tdtest.", 0), 0u);
    fs::create_directories(a.Path("x/y"));
    std::ofstream(a.Path("x/y/file")) << "data";
    ASSERT_TRUE(fs::exists(a.Path("x/y/file")));
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(TempDirTest, HonoursTmpdir) {
  TempDir outer("outer");
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  setenv("TMPDIR", outer.path().c_str(), 1);
  {
    TempDir inner;
    EXPECT_EQ(fs::path(inner.path()).parent_path().string(), outer.path());
  }
  if (old) {
    setenv("TMPDIR", saved.c_str(), 1);
  } else {
    unsetenv("TMPDIR");
  }
}

TEST(TempDirTest, MoveTransfersOwnership) {
  TempDir a;
  const std::string path = a.path();
  TempDir b(std::move(a));
  EXPECT_EQ(b.path(), path);
  EXPECT_TRUE(a.path().empty());
  EXPECT_TRUE(fs::is_directory(path));
}

}  // namespace
}  // namespace channelops::testing
