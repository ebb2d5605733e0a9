// The C ABI: credential views and the callback struct initialisers.
#include "capi/capi_internal.h"

#include <cstddef>
#include <cstring>

#include "authrouter/credential_json.h"
#include "internal/json_writer.h"

using namespace authrouter::capi;  // NOLINT: the helpers of this layer

extern "C" {

// ---- credential views -------------------------------------------------------------------------

const char* authrouter_credential_id(const authrouter_credential* c, size_t* len) {
  return c ? Out(c->credential->id, len) : NoString(len);
}
const char* authrouter_credential_provider(const authrouter_credential* c, size_t* len) {
  return c ? Out(c->credential->provider, len) : NoString(len);
}
const char* authrouter_credential_label(const authrouter_credential* c, size_t* len) {
  return c ? Out(c->credential->label, len) : NoString(len);
}
const char* authrouter_credential_proxy_url(const authrouter_credential* c, size_t* len) {
  return c ? Out(c->credential->proxy_url, len) : NoString(len);
}
const char* authrouter_credential_status(const authrouter_credential* c, size_t* len) {
  return c ? Out(ar::CredentialStatusName(c->credential->status), len) : NoString(len);
}
bool authrouter_credential_disabled(const authrouter_credential* c) {
  return c != nullptr && c->credential->disabled;
}
const char* authrouter_credential_attribute(const authrouter_credential* c, const char* key,
                                            size_t key_len, size_t* len) {
  std::string_view k;
  if (c == nullptr || !Str(key, key_len, &k)) return NoString(len);
  auto it = c->credential->attributes.find(k);
  if (it == c->credential->attributes.end()) return NoString(len);
  return Out(it->second, len);
}
const char* authrouter_credential_metadata_json(const authrouter_credential* c, size_t* len) {
  if (c == nullptr) return NoString(len);
  if (c->credential->metadata.empty()) return Out(std::string_view("{}"), len);
  // Metadata text is a std::string inside the immutable snapshot, so it is NUL-terminated.
  return Out(c->credential->metadata.json(), len);
}
const char* authrouter_credential_json_ext(const authrouter_credential* c, uint32_t flags,
                                           size_t* len) {
  if (c == nullptr || !ValidDumpFlags(flags)) return NoString(len);
  auto* view = const_cast<authrouter_credential*>(c);
  const bool full = (flags & AUTHROUTER_INCLUDE_SECRETS) != 0;
  try {
    if (full) {
      std::call_once(view->full_json_once, [&] { view->full_json = ar::CredentialToJson(*c->credential); });
    } else {
      std::call_once(view->json_once, [&] {
        view->json = ar::CredentialToJson(*c->credential, {.redact_secrets = true});
      });
    }
  } catch (...) {
    return NoString(len);
  }
  return Out(full ? c->full_json : c->json, len);
}
const char* authrouter_credential_json(const authrouter_credential* c, size_t* len) {
  return authrouter_credential_json_ext(c, 0, len);
}
void authrouter_credential_free(authrouter_credential* c) { delete c; }

// ---- callback struct initialisers -------------------------------------------------------------

void authrouter_store_init(authrouter_store* s) {
  if (s) *s = authrouter_store AUTHROUTER_STORE_INIT;
}
void authrouter_clock_init(authrouter_clock* c) {
  if (c) *c = authrouter_clock AUTHROUTER_CLOCK_INIT;
}
void authrouter_hooks_init(authrouter_hooks* h) {
  if (h) *h = authrouter_hooks AUTHROUTER_HOOKS_INIT;
}
void authrouter_selector_init(authrouter_selector* s) {
  if (s) *s = authrouter_selector AUTHROUTER_SELECTOR_INIT;
}
void authrouter_refresher_init(authrouter_refresher* r) {
  if (r) *r = authrouter_refresher AUTHROUTER_REFRESHER_INIT;
}
void authrouter_transport_init(authrouter_transport* t) {
  if (t) *t = authrouter_transport AUTHROUTER_TRANSPORT_INIT;
}
void authrouter_executor_init(authrouter_executor* e) {
  if (e) *e = authrouter_executor AUTHROUTER_EXECUTOR_INIT;
}
// The _init functions write a version 1 struct: a program built against the version 1 header
// passes a struct that ends before the later fields, so writing them would overrun it. The
// _init2 functions write the current version.
void authrouter_pick_request_init(authrouter_pick_request* r) {
  if (r == nullptr) return;
  const authrouter_pick_request init = AUTHROUTER_PICK_REQUEST_INIT;
  std::memcpy(static_cast<void*>(r), &init, offsetof(authrouter_pick_request, tenant));
  r->version = 1;
}
void authrouter_pick_request_init2(authrouter_pick_request* r) {
  if (r) *r = authrouter_pick_request AUTHROUTER_PICK_REQUEST_INIT;
}
void authrouter_log_init(authrouter_log* l) {
  if (l) *l = authrouter_log AUTHROUTER_LOG_INIT;
}
void authrouter_result_init(authrouter_result* r) {
  if (r == nullptr) return;
  const authrouter_result init = AUTHROUTER_RESULT_INIT;
  std::memcpy(static_cast<void*>(r), &init, offsetof(authrouter_result, response_id));
  r->version = 1;
}
void authrouter_result_init2(authrouter_result* r) {
  if (r) *r = authrouter_result AUTHROUTER_RESULT_INIT;
}

}  // extern "C"
