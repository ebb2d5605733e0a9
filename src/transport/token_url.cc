#include "transport/token_url.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <string>

#include "internal/strings.h"

namespace authrouter::internal {
namespace {

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct PartDeleter {
  void operator()(char* p) const { curl_free(p); }
};
using Part = std::unique_ptr<char, PartDeleter>;

Part Get(CURLU* u, CURLUPart what) {
  char* out = nullptr;
  if (curl_url_get(u, what, &out, 0) != CURLUE_OK) return Part(nullptr);
  return Part(out);
}

}  // namespace

absl::Status CheckTokenUrl(std::string_view url) {
  if (url.empty()) return absl::InvalidArgumentError("the token URL is empty");
  if (url.size() > 4096) return absl::InvalidArgumentError("the token URL is longer than 4096 bytes");
  if (std::any_of(url.begin(), url.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20; })) {
    return absl::InvalidArgumentError("the token URL contains white space or control characters");
  }
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (u == nullptr) return absl::ResourceExhaustedError("out of memory");
  const std::string text(url);
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError("the token URL is not a valid absolute URL");
  }
  if (Get(u.get(), CURLUPART_USER) || Get(u.get(), CURLUPART_PASSWORD) ||
      Get(u.get(), CURLUPART_OPTIONS)) {
    return absl::InvalidArgumentError("the token URL must not carry user information (user@host)");
  }
  const Part scheme = Get(u.get(), CURLUPART_SCHEME);
  const Part host = Get(u.get(), CURLUPART_HOST);
  if (!scheme || !host || *host.get() == '\0') {
    return absl::InvalidArgumentError("the token URL has no scheme or host");
  }
  const std::string s = AsciiLower(scheme.get());
  const std::string h = AsciiLower(host.get());
  if (s == "https") return absl::OkStatus();
  if (s == "http" && (h == "127.0.0.1" || h == "localhost" || h == "[::1]" || h == "::1")) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "the token URL must use https (plain http only to 127.0.0.1, localhost or [::1])");
}

}  // namespace authrouter::internal
