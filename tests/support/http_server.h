// A small HTTP/1.1 server on 127.0.0.1 for tests: real sockets, so the libcurl transport is
// exercised end to end. Each connection gets one request and one response (Connection: close).
#ifndef AUTHROUTER_TESTS_SUPPORT_HTTP_SERVER_H_
#define AUTHROUTER_TESTS_SUPPORT_HTTP_SERVER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace authrouter::testing {

struct TestRequest {
  std::string method;
  std::string target;  // as on the request line (absolute-form when sent to a proxy)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::string Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k.size() != name.size()) continue;
      bool same = true;
      for (size_t i = 0; i < k.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(k[i])) !=
            std::tolower(static_cast<unsigned char>(name[i]))) {
          same = false;
        }
      }
      if (same) return v;
    }
    return {};
  }
};

struct TestResponse {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "application/json"}};
  // Hold the answer until the server is released (or stops): a stalled endpoint.
  bool stall = false;
};

class TestHttpServer {
 public:
  using Handler = std::function<TestResponse(const TestRequest&)>;

  explicit TestHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 128) != 0) {
      throw std::runtime_error("bind/listen");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~TestHttpServer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      released_ = true;
    }
    cv_.notify_all();
    ::shutdown(listen_fd_, SHUT_RDWR);
    accept_thread_.join();
    ::close(listen_fd_);
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(connections_);
    }
    for (std::thread& t : threads) t.join();
  }

  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  std::string Url(std::string_view path = "/token") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  int port() const { return port_; }

  // Release lets stalled answers go.
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

  int requests() const { return requests_.load(); }

  std::vector<TestRequest> Received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  void AcceptLoop() {
    for (;;) {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;  // shut down
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      connections_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  static bool ReadRequest(int fd, TestRequest* request) {
    std::string data;
    char buf[4096];
    size_t header_end = std::string::npos;
    while (header_end == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      data.append(buf, static_cast<size_t>(n));
      header_end = data.find("\r\n\r\n");
    }
    const std::string head = data.substr(0, header_end);
    size_t line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    const size_t sp1 = request_line.find(' ');
    const size_t sp2 = request_line.find(' ', sp1 + 1);
    request->method = request_line.substr(0, sp1);
    request->target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t content_length = 0;
    while (line_end != std::string::npos && line_end < head.size()) {
      const size_t next = head.find("\r\n", line_end + 2);
      const std::string line = head.substr(line_end + 2, next == std::string::npos
                                                             ? std::string::npos
                                                             : next - line_end - 2);
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        std::string name = line.substr(0, colon);
        std::string lower = name;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower == "content-length") content_length = std::strtoul(value.c_str(), nullptr, 10);
        request->headers.emplace_back(std::move(name), std::move(value));
      }
      line_end = next;
    }
    request->body = data.substr(header_end + 4);
    while (request->body.size() < content_length) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      request->body.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  void Serve(int fd) {
    TestRequest request;
    if (!ReadRequest(fd, &request)) {
      ::close(fd);
      return;
    }
    requests_.fetch_add(1);
    {
      std::lock_guard<std::mutex> lock(mu_);
      received_.push_back(request);
    }
    TestResponse response = handler_(request);
    if (response.stall) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return released_ || stopping_; });
    }
    std::string out = "HTTP/1.1 " + std::to_string(response.status) + " X\r\n";
    for (const auto& [k, v] : response.headers) out += k + ": " + v + "\r\n";
    out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
    out += "Connection: close\r\n\r\n";
    out += response.body;
    size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    char drain[256];
    while (::recv(fd, drain, sizeof drain, 0) > 0) {
    }
    ::close(fd);
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool released_ = false;
  std::vector<std::thread> connections_;
  std::vector<TestRequest> received_;
  std::atomic<int> requests_{0};
};

}  // namespace authrouter::testing

#endif  // AUTHROUTER_TESTS_SUPPORT_HTTP_SERVER_H_
