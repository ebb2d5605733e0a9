// C trampolines for the store callbacks: the library calls these with user_data holding a
// cgo.Handle, and they call the Go functions exported in main.go.
#include "_cgo_export.h"

int32_t ar_go_store_list(void *user_data, authrouter_sink *out) {
  return goStoreList((uintptr_t)user_data, out);
}

int32_t ar_go_store_save(void *user_data, const char *id, size_t id_len, const char *json,
                         size_t json_len) {
  return goStoreSave((uintptr_t)user_data, (char *)id, id_len, (char *)json, json_len);
}

int32_t ar_go_store_remove(void *user_data, const char *id, size_t id_len) {
  return goStoreRemove((uintptr_t)user_data, (char *)id, id_len);
}

void ar_go_store_destroy(void *user_data) { goStoreDestroy((uintptr_t)user_data); }
