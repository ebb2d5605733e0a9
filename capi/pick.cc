// The C ABI: picks, results and execution.
#include "capi/capi_internal.h"
#include "capi/callbacks.h"

using namespace authrouter::capi;  // NOLINT: the helpers of this layer

namespace {

// PickParts holds the converted views of a pick request.
struct PickParts {
  std::vector<std::string_view> providers, tried;
  std::vector<ar::HttpHeader> headers;
  ar::PickRequest request;
};

int32_t ConvertPick(const authrouter_pick_request* r, PickParts* p, authrouter_error** err) {
  if (r == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "request is NULL");
  if (int32_t rc = CheckVersion(r->version, "pick_request", err); rc != 0) return rc;
  if ((r->providers == nullptr && r->provider_count != 0) || (r->tried == nullptr && r->tried_count != 0) ||
      (r->headers == nullptr && r->header_count != 0)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a request array is NULL with a non-zero count");
  }
  for (size_t i = 0; i < r->provider_count; ++i) {
    std::string_view v;
    if (!Str(r->providers[i], &v)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a provider is NULL");
    p->providers.push_back(v);
  }
  for (size_t i = 0; i < r->tried_count; ++i) {
    std::string_view v;
    if (!Str(r->tried[i], &v)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a tried ID is NULL");
    p->tried.push_back(v);
  }
  if (!ConvertHeaders(r->headers, r->header_count, &p->headers)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a header is NULL");
  }
  if (!Str(r->model, &p->request.model) || !Str(r->pinned_id, &p->request.pinned_id) ||
      !Str(r->body, &p->request.body)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "model, pinned_id or body is NULL");
  }
  p->request.providers = p->providers;
  p->request.tried = p->tried;
  p->request.headers = p->headers;
  p->request.downstream_websocket = r->downstream_websocket;
  if (r->version >= 2 && !Str(r->tenant, &p->request.tenant)) {  // a version 1 struct ends before
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "tenant is NULL with a non-zero length");
  }
  return AUTHROUTER_OK;
}

authrouter_pick_result* NewPickResult(ar::PickResult& pick) {
  auto* r = new authrouter_pick_result(pick.credential);
  r->provider = std::string(pick.provider);
  if (pick.session) r->session_key = *pick.session;
  r->response_chain = static_cast<int32_t>(pick.response_chain);
  r->lease = std::move(pick.lease);
  r->probe = pick.probe;
  return r;
}

}  // namespace

extern "C" {

int32_t authrouter_manager_pick(authrouter_manager* m, authrouter_pick_result** out,
                                const authrouter_pick_request* request, authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  if (out == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out is NULL");
  return Guard(err, [&] {
    PickParts parts;
    if (int32_t rc = ConvertPick(request, &parts, err); rc != 0) return rc;
    absl::StatusOr<ar::PickResult> pick = m->manager->Pick(parts.request);
    if (!pick.ok()) return Fail(err, pick.status());
    *out = NewPickResult(*pick);
    return Ok(err);
  });
}

int32_t authrouter_manager_pick_explain(authrouter_manager* m, authrouter_pick_result** out,
                                        const authrouter_pick_request* request,
                                        char** decision_json, size_t* decision_len,
                                        authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (decision_json != nullptr) *decision_json = nullptr;
  if (decision_len != nullptr) *decision_len = 0;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  if (out == nullptr || decision_json == nullptr) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out or decision_json is NULL");
  }
  return Guard(err, [&] {
    PickParts parts;
    if (int32_t rc = ConvertPick(request, &parts, err); rc != 0) return rc;
    ar::PickDecision decision;
    parts.request.decision = &decision;
    absl::StatusOr<ar::PickResult> pick = m->manager->Pick(parts.request);
    // The record first: a failed pick has one too.
    if (int32_t rc = CopyOutJson(decision.Json(), decision_json, decision_len, err); rc != 0) return rc;
    if (!pick.ok()) return Fail(err, pick.status());
    *out = NewPickResult(*pick);
    return Ok(err);
  });
}

const authrouter_credential* authrouter_pick_result_credential(const authrouter_pick_result* r) {
  return r ? &r->view : nullptr;
}
const char* authrouter_pick_result_provider(const authrouter_pick_result* r, size_t* len) {
  return r ? Out(r->provider, len) : NoString(len);
}
const char* authrouter_pick_result_session_key(const authrouter_pick_result* r, size_t* len) {
  return r ? Out(r->session_key, len) : NoString(len);
}
int32_t authrouter_pick_result_response_chain(const authrouter_pick_result* r) {
  return r ? r->response_chain : AUTHROUTER_RESPONSE_CHAIN_NONE;
}
void authrouter_pick_result_free(authrouter_pick_result* r) { delete r; }

int32_t authrouter_manager_mark_result(authrouter_manager* m, const authrouter_result* r,
                                       authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  if (r == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "result is NULL");
  if (int32_t rc = CheckVersion(r->version, "result", err); rc != 0) return rc;
  return Guard(err, [&] {
    ar::Result result;
    if (!Str(r->credential_id, &result.credential_id) || !Str(r->provider, &result.provider) ||
        !Str(r->model, &result.model) || !Str(r->error_code, &result.error_code) ||
        !Str(r->error_message, &result.error_message) || !Str(r->session_key, &result.session_key)) {
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a result string is NULL with a non-zero length");
    }
    if (r->version >= 2 &&
        (!Str(r->response_id, &result.response_id) || !Str(r->tenant, &result.tenant))) {
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a result string is NULL with a non-zero length");
    }
    if (result.credential_id.empty()) {
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "result credential_id is empty");
    }
    result.success = r->success;
    result.http_status = r->http_status;
    // -1 is "none"; anything below counts as 0 (Manager::MarkResult corrects the range).
    if (r->retry_after_ms != -1) {
      result.retry_after = absl::Milliseconds(std::max<int64_t>(r->retry_after_ms, -1));
    }
    absl::Status s = m->manager->MarkResult(result);
    return s.ok() ? Ok(err) : Fail(err, s);
  });
}

int32_t authrouter_manager_reset_cooldowns(authrouter_manager* m, const char* id, size_t id_len,
                                           const char* model, size_t model_len,
                                           authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  std::string_view i, mo;
  if (!Str(id, id_len, &i) || !Str(model, model_len, &mo)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "id or model is NULL");
  }
  return Guard(err, [&] {
    absl::Status s = m->manager->ResetCooldowns(i, mo);
    return s.ok() ? Ok(err) : Fail(err, s);
  });
}

int32_t authrouter_manager_execute(authrouter_manager* m, char** out_id, int32_t* out_attempts,
                                   const authrouter_pick_request* request,
                                   const authrouter_executor* executor, authrouter_error** err) {
  if (out_id != nullptr) *out_id = nullptr;
  if (out_attempts != nullptr) *out_attempts = 0;
  if (executor == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "executor is NULL");
  if (executor->version < 1 || executor->execute == nullptr) {
    // As promised: a non-NULL executor's destroy runs whatever the outcome.
    if (executor->destroy != nullptr) executor->destroy(executor->user_data);
    if (int32_t rc = CheckVersion(executor->version, "executor", err); rc != 0) return rc;
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "executor has no execute");
  }
  return Guard(err, [&] {
    // From here on the executor's destroy runs when `adapter` goes, whatever happens.
    CExecutor adapter(*executor);
    if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
    PickParts parts;
    if (int32_t rc = ConvertPick(request, &parts, err); rc != 0) return rc;
    ar::ExecuteRequest req;
    req.providers = parts.request.providers;
    req.model = parts.request.model;
    req.pinned_id = parts.request.pinned_id;
    req.downstream_websocket = parts.request.downstream_websocket;
    req.headers = parts.request.headers;
    req.body = parts.request.body;
    req.tenant = parts.request.tenant;
    absl::StatusOr<ar::ExecuteResult> r = m->manager->Execute(req, adapter);
    if (!r.ok()) return Fail(err, r.status());
    if (out_attempts != nullptr) *out_attempts = r->attempts;
    if (r->outcome.success) {
      if (out_id != nullptr) {
        *out_id = CopyOut(r->credential->id);
        if (*out_id == nullptr) return Fail(err, absl::ResourceExhaustedError("out of memory"));
      }
      return Ok(err);
    }
    if (adapter.callback_failed) return Fail(err, CallbackFailed("executor", adapter.callback_code));
    const int32_t code = Fail(err, StatusForHttp(r->outcome.http_status),
                              "upstream failed: " + r->outcome.error_message);
    if (err != nullptr && *err != nullptr && *err != &kOutOfMemoryError) {
      (*err)->http_status = r->outcome.http_status;
    }
    return code;
  });
}

}  // extern "C"
