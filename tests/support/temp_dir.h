// A real temporary directory for file tests, removed with everything in it at the end.
#ifndef AUTHROUTER_TESTS_SUPPORT_TEMP_DIR_H_
#define AUTHROUTER_TESTS_SUPPORT_TEMP_DIR_H_

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace authrouter::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "authrouter-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(std::string_view name) const {
    std::string p = path_;
    p += '/';
    p += name;
    return p;
  }

  // Write replaces `name` with `content` in place (not atomically), with `mode`.
  void Write(std::string_view name, std::string_view content, mode_t mode = 0600) const {
    const std::string p = File(name);
    {
      std::ofstream out(p, std::ios::binary | std::ios::trunc);
      out.write(content.data(), static_cast<std::streamsize>(content.size()));
    }
    ::chmod(p.c_str(), mode);
  }

  std::string Read(std::string_view name) const {
    std::ifstream in(File(name), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  bool Exists(std::string_view name) const { return std::filesystem::exists(File(name)); }

  mode_t Mode(std::string_view name) const {
    struct stat st{};
    ::stat(File(name).c_str(), &st);
    return st.st_mode & 07777;
  }

 private:
  std::string path_;
};

}  // namespace authrouter::testing

#endif  // AUTHROUTER_TESTS_SUPPORT_TEMP_DIR_H_
