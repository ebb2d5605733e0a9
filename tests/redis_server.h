// A real redis-server for tests: started in a temporary directory on a unix socket (or a
// loopback TCP port), without persistence, and stopped (SIGKILL if it must) by the destructor.
#ifndef AUTHROUTER_TESTS_REDIS_SERVER_H_
#define AUTHROUTER_TESTS_REDIS_SERVER_H_

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace authrouter_test {

class RedisServer {
 public:
  // Start launches redis-server; tcp: on a free loopback port instead of the unix socket.
  explicit RedisServer(bool tcp = false) : tcp_(tcp) {
    char tmpl[] = "/tmp/authrouter-redis-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    socket_ = dir_ + "/redis.sock";
    if (tcp_) port_ = FreePort();
    Start();
  }
  ~RedisServer() {
    Kill(SIGKILL);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::string url() const {
    return tcp_ ? "redis://127.0.0.1:" + std::to_string(port_) : "unix://" + socket_;
  }

  // Start (again, after Kill) on the same socket or port, with an empty data set.
  void Start() {
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a test that dies takes its server along
      const std::string port = std::to_string(tcp_ ? port_ : 0);
      std::vector<std::string> args = {"redis-server", "--port", port, "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--dir", dir_,
                                       "--daemonize", "no", "--loglevel", "warning"};
      if (!tcp_) {
        args.insert(args.end(), {"--unixsocket", socket_, "--unixsocketperm", "700"});
      }
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      const std::string log = dir_ + "/redis.log";
      if (FILE* f = freopen(log.c_str(), "a", stdout)) (void)f;
      dup2(STDOUT_FILENO, STDERR_FILENO);
      execvp("redis-server", argv.data());
      _exit(127);
    }
    // Up when it answers PING (bounded: 10 s).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("redis-server exited at start (is the redis-server package installed?)");
      }
      if (Command({"PING"}) == "PONG") return;
      // Waiting for another process to start listening: there is no clock to drive here.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("redis-server did not come up in 10 s");
  }

  // Kill sends `signal` and, for a terminating one, reaps the server.
  void Kill(int signal) {
    if (pid_ <= 0) return;
    kill(pid_, signal);
    if (signal == SIGKILL || signal == SIGTERM) {
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  void Stop() { Kill(SIGSTOP); }
  void Continue() { Kill(SIGCONT); }

  // Command runs one command on a fresh connection and returns its reply as text ("" on error;
  // integers as decimal).
  std::string Command(const std::vector<std::string>& args) const {
    redisContext* c = tcp_ ? redisConnect("127.0.0.1", port_) : redisConnectUnix(socket_.c_str());
    if (c == nullptr || c->err != 0) {
      if (c != nullptr) redisFree(c);
      return "";
    }
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    std::string out;
    if (r != nullptr) {
      if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) out.assign(r->str, r->len);
      if (r->type == REDIS_REPLY_INTEGER) out = std::to_string(r->integer);
      freeReplyObject(r);
    }
    redisFree(c);
    return out;
  }

 private:
  static int FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("no free loopback port");
    }
    const int port = ntohs(addr.sin_port);
    close(fd);
    return port;
  }

  bool tcp_;
  std::string dir_, socket_;
  int port_ = 0;
  pid_t pid_ = -1;
};

#ifndef AUTHROUTER_TEST_SLOWDOWN
#define AUTHROUTER_TEST_SLOWDOWN 1
#endif
// kSlowdown is how much slower this build runs than a Release build (10 under a sanitizer).
inline constexpr int kSlowdown = AUTHROUTER_TEST_SLOWDOWN;

// Eventually polls `condition` until it holds or `limit` (times kSlowdown) passes (an event from
// another process or thread, not a timer), and returns whether it held.
template <typename Fn>
bool Eventually(Fn&& condition, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit * kSlowdown;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    // A poll for an event from another thread or process (a notice over redis), not a timer:
    // no manual clock can make it arrive sooner.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return condition();
}

}  // namespace authrouter_test

#endif  // AUTHROUTER_TESTS_REDIS_SERVER_H_
