// Private string helpers.
//
// Debian's Abseil (20220623) is built with its own absl::string_view rather than an alias of
// std::string_view, so absl::StrCat does not take std::string_view. These helpers do the same
// job over std::string_view.
#ifndef AUTHROUTER_INTERNAL_STRINGS_H_
#define AUTHROUTER_INTERNAL_STRINGS_H_

#include <charconv>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"
#include "authrouter/values.h"

namespace authrouter::internal {

// ToStd converts an absl::string_view (for example absl::Status::message()) to std::string_view.
inline std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }

template <typename T>
void AppendPiece(std::string* out, const T& piece) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, piece);
    out->append(buf, r.ptr);
  } else if constexpr (std::is_same_v<T, absl::string_view>) {
    out->append(piece.data(), piece.size());
  } else if constexpr (std::is_same_v<T, char>) {
    out->push_back(piece);
  } else {
    out->append(std::string_view(piece));
  }
}

// Append appends each piece (strings, string views, integers, chars) to *out.
template <typename... Pieces>
void Append(std::string* out, const Pieces&... pieces) {
  (AppendPiece(out, pieces), ...);
}

// Cat concatenates pieces into a new string.
template <typename... Pieces>
std::string Cat(const Pieces&... pieces) {
  std::string out;
  Append(&out, pieces...);
  return out;
}

// AsciiLower returns `s` with A-Z lower-cased. Provider keys and switches are ASCII; unlike Go's
// strings.ToLower, non-ASCII letters are left as they are.
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// ProviderKey is the one rule by which routing, refresh and configuration compare provider names:
// trimmed (Unicode white space, as Go) and ASCII lower-cased.
inline std::string ProviderKey(std::string_view provider) { return AsciiLower(TrimSpace(provider)); }

// IsProviderKey reports (cheaply, without allocating) that ProviderKey(provider) == provider
// because every byte is printable ASCII other than a space or an upper-case letter. It may say
// false for some keys that are normalised (non-ASCII ones).
inline bool IsProviderKey(std::string_view provider) {
  for (char c : provider) {
    if (c <= ' ' || c > '~' || (c >= 'A' && c <= 'Z')) return false;
  }
  return true;
}

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_STRINGS_H_
