// log.h -- diagnostics: what authrouter tells a host about its work and its input.
//
// A host that wants to hear gives a Logger (ManagerOptions::logger, FileStoreOptions::logger,
// WatcherOptions::logger; the C ABI's authrouter_options_set_log). authrouter reports there:
// unknown or misspelt config keys (with the nearest valid key), auth files skipped or invalid and
// why, credential files readable by others, rejected config reloads, store errors, refresh
// failures, what a load loaded and skipped, results that had to be corrected.
//
// Promises: a message never contains a token, key or secret (they are never put into errors
// either); Log is never called while authrouter holds one of its locks, so it may call back into
// authrouter; it may be called from any thread, also concurrently.
#ifndef AUTHROUTER_LOG_H_
#define AUTHROUTER_LOG_H_

#include <functional>
#include <memory>
#include <string_view>

namespace authrouter {
inline namespace v0 {

// LogLevel orders messages; the numbers are the C ABI's AUTHROUTER_LOG_*.
enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// LogLevelName returns "debug", "info", "warning" or "error".
std::string_view LogLevelName(LogLevel level);

// Logger receives diagnostics. `component` names the part that speaks: "config", "store",
// "watcher", "manager", "refresh", "results". Must not throw.
class Logger {
 public:
  virtual ~Logger() = default;
  virtual void Log(LogLevel level, std::string_view component, std::string_view message) = 0;
};

// MakeLogger wraps a function as a Logger.
std::shared_ptr<Logger> MakeLogger(
    std::function<void(LogLevel, std::string_view component, std::string_view message)> fn);

// LogTo calls logger->Log when `logger` is set; an exception that escapes anyway is dropped.
void LogTo(const std::shared_ptr<Logger>& logger, LogLevel level, std::string_view component,
           std::string_view message) noexcept;

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_LOG_H_
