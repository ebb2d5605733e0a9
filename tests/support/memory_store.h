// An in-memory Store with fault injection, and Hooks that record what they hear.
#ifndef AUTHROUTER_TESTS_SUPPORT_MEMORY_STORE_H_
#define AUTHROUTER_TESTS_SUPPORT_MEMORY_STORE_H_

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "authrouter/credential_json.h"
#include "authrouter/host.h"

namespace authrouter::testing {

class MemoryStore : public Store {
 public:
  absl::StatusOr<std::vector<Credential>> List() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_list) return absl::UnavailableError("list failed");
    std::vector<Credential> out;
    for (const auto& [id, json] : files_) {
      auto c = CredentialFromJson(json);
      if (c.ok()) out.push_back(*std::move(c));
    }
    out.insert(out.end(), extra_list.begin(), extra_list.end());
    return out;
  }

  absl::Status Save(const Credential& c) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++save_calls;
    if (fail_save && fail_save(c)) return absl::UnavailableError("disk full");
    files_[c.id] = CredentialToJson(c);  // what the store acknowledged
    ++saves;
    return absl::OkStatus();
  }

  absl::Status Delete(std::string_view id) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++deletes;
    if (fail_delete) return absl::UnavailableError("disk gone");
    files_.erase(std::string(id));
    return absl::OkStatus();
  }

  std::map<std::string, std::string> Files() {
    std::lock_guard<std::mutex> lock(mu_);
    return files_;
  }

  int saves = 0;       // acknowledged saves
  int save_calls = 0;  // attempted saves
  int deletes = 0;
  bool fail_list = false;
  bool fail_delete = false;
  std::function<bool(const Credential&)> fail_save;
  std::vector<Credential> extra_list;

 private:
  std::mutex mu_;
  std::map<std::string, std::string> files_;
};

class RecordingHooks : public Hooks {
 public:
  void OnRegistered(const std::shared_ptr<const Credential>& c) override {
    Add({"registered ", c->id});
  }
  void OnUpdated(const std::shared_ptr<const Credential>& c) override { Add({"updated ", c->id}); }
  void OnRemoved(std::string_view id) override { Add({"removed ", id}); }
  void OnResult(const Result& r, const std::shared_ptr<const Credential>&) override {
    const std::string status = std::to_string(r.http_status);
    Add({"result ", r.credential_id, " ", status});
  }
  void OnStoreError(std::string_view id, const absl::Status& error) override {
    const std::string message(error.message());
    Add({"store-error ", id, " ", message});
  }

  std::vector<std::string> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  std::function<void(const std::string&)> on_event;

 private:
  // Add joins the pieces (written out piecewise: GCC 12 warns falsely on literal + string).
  void Add(std::initializer_list<std::string_view> pieces) {
    std::string e;
    for (std::string_view p : pieces) e.append(p);
    {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    }
    if (on_event) on_event(e);
  }
  std::mutex mu_;
  std::vector<std::string> events_;
};

}  // namespace authrouter::testing

#endif  // AUTHROUTER_TESTS_SUPPORT_MEMORY_STORE_H_
