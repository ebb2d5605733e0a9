// The default Transport over libcurl.
#include <curl/curl.h>

#include <mutex>

#include "authrouter/transport.h"
#include "internal/strings.h"

namespace authrouter {
inline namespace v0 {

std::string_view HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && internal::AsciiLower(k) == internal::AsciiLower(name)) return v;
  }
  return {};
}

namespace {

struct Receive {
  std::string* body;
  std::vector<std::pair<std::string, std::string>>* headers;
  size_t limit;
  bool too_large = false;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* r = static_cast<Receive*>(user);
  const size_t n = size * count;
  if (r->body->size() + n > r->limit) {
    r->too_large = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  r->body->append(data, n);
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancelled = static_cast<const std::atomic<bool>*>(user);
  return cancelled->load(std::memory_order_relaxed) ? 1 : 0;  // non-zero aborts the transfer
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* r = static_cast<Receive*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    r->headers->clear();  // a new response (after 100 Continue or a proxy CONNECT)
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' ||
                          s.back() == '\n')) {
      s.remove_suffix(1);
    }
    return s;
  };
  r->headers->emplace_back(std::string(trim(line.substr(0, colon))),
                           std::string(trim(line.substr(colon + 1))));
  return n;
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

absl::Status GlobalInit() {
  static const CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (code != CURLE_OK) {
    return absl::InternalError(internal::Cat("libcurl initialisation failed: ",
                                             curl_easy_strerror(code)));
  }
  return absl::OkStatus();
}

long Millis(absl::Duration d) {  // NOLINT(google-runtime-int): libcurl takes long
  return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));  // NOLINT
}

class CurlTransport final : public Transport {
 public:
  explicit CurlTransport(CurlTransportOptions options) : options_(std::move(options)) {}

  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    if (!request.url.starts_with("http://") && !request.url.starts_with("https://")) {
      return absl::InvalidArgumentError("transport: the URL must start with http:// or https://");
    }
    if (request.timeout <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("transport: the timeout must be positive");
    }
    if (request.method.empty()) return absl::InvalidArgumentError("transport: empty method");
    // Declared before the easy handle, so it outlives curl_easy_cleanup.
    std::unique_ptr<curl_slist, ListDeleter> header_list;
    std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
    if (!easy) return absl::ResourceExhaustedError("transport: curl_easy_init failed");
    CURL* h = easy.get();

    bool has_user_agent = false;
    for (const auto& [k, v] : request.headers) {
      if (internal::AsciiLower(k) == "user-agent") has_user_agent = true;
      const std::string line = internal::Cat(k, ": ", v);
      curl_slist* next = curl_slist_append(header_list.get(), line.c_str());
      if (next == nullptr) return absl::ResourceExhaustedError("transport: out of memory");
      (void)header_list.release();
      header_list.reset(next);
    }
    // libcurl adds "Expect: 100-continue" for larger bodies; token endpoints need no such dance.
    if (curl_slist* next = curl_slist_append(header_list.get(), "Expect:"); next != nullptr) {
      (void)header_list.release();
      header_list.reset(next);
    }

    HttpResponse response;
    Receive receive{&response.body, &response.headers, options_.max_response_bytes};

    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // thread-safe timeouts
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, Millis(request.timeout));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     Millis(std::min(options_.connect_timeout, request.timeout)));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
    // "" disables proxies, including the environment's (transport.h).
    curl_easy_setopt(h, CURLOPT_PROXY, request.proxy_url.c_str());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
    }
    if (request.method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());
    if (!has_user_agent) curl_easy_setopt(h, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &receive);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &receive);
    if (request.cancelled != nullptr) {
      curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &OnProgress);
      curl_easy_setopt(h, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(request.cancelled));
    }

    const CURLcode code = curl_easy_perform(h);
    if (receive.too_large) {
      return absl::ResourceExhaustedError(internal::Cat(
          "transport: the response body exceeds ", options_.max_response_bytes, " bytes"));
    }
    if (code != CURLE_OK) {
      // curl_easy_strerror names the failure class only (libcurl's error buffer may quote the URL
      // or the proxy, which can carry credentials, so it is not used).
      const std::string what = internal::Cat("transport: ", curl_easy_strerror(code));
      switch (code) {
        case CURLE_ABORTED_BY_CALLBACK:
          return absl::CancelledError("transport: cancelled");
        case CURLE_OPERATION_TIMEDOUT:
          return absl::DeadlineExceededError(what);
        case CURLE_OUT_OF_MEMORY:
          return absl::ResourceExhaustedError(what);
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
          return absl::InvalidArgumentError(what);
        default:
          return absl::UnavailableError(what);
      }
    }
    long status = 0;  // NOLINT(google-runtime-int)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    return response;
  }

 private:
  const CurlTransportOptions options_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<Transport>> NewCurlTransport(CurlTransportOptions options) {
  if (options.max_response_bytes == 0) {
    return absl::InvalidArgumentError("max_response_bytes must be greater than 0");
  }
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("connect_timeout must be positive");
  }
  if (absl::Status s = GlobalInit(); !s.ok()) return s;
  return std::make_shared<CurlTransport>(std::move(options));
}

}  // namespace v0
}  // namespace authrouter
