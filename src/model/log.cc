#include "authrouter/log.h"

namespace authrouter {
inline namespace v0 {
namespace {

class FunctionLogger final : public Logger {
 public:
  explicit FunctionLogger(std::function<void(LogLevel, std::string_view, std::string_view)> fn)
      : fn_(std::move(fn)) {}
  void Log(LogLevel level, std::string_view component, std::string_view message) override {
    if (fn_) fn_(level, component, message);
  }

 private:
  std::function<void(LogLevel, std::string_view, std::string_view)> fn_;
};

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::shared_ptr<Logger> MakeLogger(
    std::function<void(LogLevel, std::string_view, std::string_view)> fn) {
  return std::make_shared<FunctionLogger>(std::move(fn));
}

void LogTo(const std::shared_ptr<Logger>& logger, LogLevel level, std::string_view component,
           std::string_view message) noexcept {
  if (logger == nullptr) return;
  try {
    logger->Log(level, component, message);
  } catch (...) {
  }
}

}  // namespace v0
}  // namespace authrouter
