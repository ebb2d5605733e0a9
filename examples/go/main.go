// The Go example: cgo over the C ABI. First use over the sample files (a copy of
// examples/config.json and examples/auth/: config file, file store, load, pick, with no
// per-credential code). Then a credential store written in Go (passed to the library through a
// cgo.Handle in user_data): registers credentials, picks with session affinity, reports a 429,
// shows the failover, then picks from many goroutines at once.
package main

/*
#cgo LDFLAGS: -lauthrouter
#include <stdlib.h>
#include "authrouter/authrouter.h"

int32_t ar_go_store_list(void *user_data, authrouter_sink *out);
int32_t ar_go_store_save(void *user_data, const char *id, size_t id_len, const char *json, size_t json_len);
int32_t ar_go_store_remove(void *user_data, const char *id, size_t id_len);
void ar_go_store_destroy(void *user_data);

// The handle travels as an integer and becomes user_data only on the C side (cgo's rules forbid
// keeping it in a Go unsafe.Pointer).
static int32_t ar_go_set_store(authrouter_options *opts, uintptr_t handle, authrouter_error **err) {
  authrouter_store s = AUTHROUTER_STORE_INIT;
  s.list = ar_go_store_list;
  s.save = ar_go_store_save;
  s.remove = ar_go_store_remove;
  s.destroy = ar_go_store_destroy;
  s.user_data = (void *)handle;
  return authrouter_options_set_store(opts, &s, err);
}
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/cgo"
	"sort"
	"strings"
	"sync"
	"unsafe"
)

// memStore is the Go side of the store: records by ID, safe for concurrent use.
type memStore struct {
	mu      sync.Mutex
	records map[string]string
	saves   int
	freed   bool
}

// guard turns a panic into an error code: a panic must never unwind through C.
func guard(rc *C.int32_t) {
	if r := recover(); r != nil {
		*rc = 1
	}
}

//export goStoreList
func goStoreList(handle C.uintptr_t, out *C.authrouter_sink) (rc C.int32_t) {
	defer guard(&rc)
	s := cgo.Handle(handle).Value().(*memStore)
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.records))
	for id := range s.records {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		parts = append(parts, s.records[id])
	}
	text := "[" + strings.Join(parts, ",") + "]"
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	return C.authrouter_sink_write(out, ctext, C.size_t(len(text)))
}

//export goStoreSave
func goStoreSave(handle C.uintptr_t, id *C.char, idLen C.size_t, json *C.char, jsonLen C.size_t) (rc C.int32_t) {
	defer guard(&rc)
	s := cgo.Handle(handle).Value().(*memStore)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[C.GoStringN(id, C.int(idLen))] = C.GoStringN(json, C.int(jsonLen))
	s.saves++
	return 0
}

//export goStoreRemove
func goStoreRemove(handle C.uintptr_t, id *C.char, idLen C.size_t) (rc C.int32_t) {
	defer guard(&rc)
	s := cgo.Handle(handle).Value().(*memStore)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, C.GoStringN(id, C.int(idLen)))
	return 0
}

//export goStoreDestroy
func goStoreDestroy(handle C.uintptr_t) {
	h := cgo.Handle(handle)
	s := h.Value().(*memStore)
	s.mu.Lock()
	s.freed = true
	s.mu.Unlock()
	h.Delete()
}

// cstr is a (pointer, length) string in C memory; free releases it.
type cstr struct{ s C.authrouter_string }

func newCstr(text string) cstr {
	return cstr{C.authrouter_string{data: C.CString(text), len: C.size_t(len(text))}}
}
func (c cstr) free() { C.free(unsafe.Pointer(c.s.data)) }

func check(rc C.int32_t, err *C.authrouter_error) error {
	if rc == C.AUTHROUTER_OK {
		return nil
	}
	defer C.authrouter_error_free(err)
	return fmt.Errorf("%s: %s", C.GoString(C.authrouter_status_str(rc)),
		C.GoString(C.authrouter_error_message(err, nil)))
}

type manager struct{ m *C.authrouter_manager }

func newManager(config string, store *memStore) (*manager, error) {
	var opts *C.authrouter_options
	var err *C.authrouter_error
	if e := check(C.authrouter_options_new(&opts, &err), err); e != nil {
		return nil, e
	}
	defer C.authrouter_options_free(opts)
	cfg := newCstr(config)
	defer cfg.free()
	if e := check(C.authrouter_options_apply_config(opts, cfg.s.data, cfg.s.len, &err), err); e != nil {
		return nil, e
	}
	handle := cgo.NewHandle(store)
	if e := check(C.ar_go_set_store(opts, C.uintptr_t(handle), &err), err); e != nil {
		handle.Delete() // not taken: still ours
		return nil, e
	}
	var m *C.authrouter_manager
	if e := check(C.authrouter_manager_new(&m, opts, &err), err); e != nil {
		return nil, e
	}
	return &manager{m}, nil
}

func (m *manager) register(id, json string, models ...string) error {
	var err *C.authrouter_error
	j := newCstr(json)
	defer j.free()
	if e := check(C.authrouter_manager_register(m.m, j.s.data, j.s.len, &err), err); e != nil {
		return e
	}
	cid := newCstr(id)
	defer cid.free()
	list := (*C.authrouter_string)(C.malloc(C.size_t(len(models)) * C.size_t(unsafe.Sizeof(C.authrouter_string{}))))
	defer C.free(unsafe.Pointer(list))
	items := unsafe.Slice(list, len(models))
	for i, model := range models {
		items[i] = newCstr(model).s
		defer C.free(unsafe.Pointer(items[i].data))
	}
	return check(C.authrouter_manager_register_models(m.m, cid.s.data, cid.s.len, list, C.size_t(len(models)), &err), err)
}

type pick struct{ id, sessionKey string }

func (m *manager) pick(provider, model, session string) (pick, error) {
	p, mo := newCstr(provider), newCstr(model)
	name, value := newCstr("X-Session-ID"), newCstr(session)
	defer p.free()
	defer mo.free()
	defer name.free()
	defer value.free()
	// Arrays the request points to live in C memory (cgo's pointer rules).
	providers := (*C.authrouter_string)(C.malloc(C.size_t(unsafe.Sizeof(C.authrouter_string{}))))
	defer C.free(unsafe.Pointer(providers))
	*providers = p.s
	header := (*C.authrouter_header)(C.malloc(C.size_t(unsafe.Sizeof(C.authrouter_header{}))))
	defer C.free(unsafe.Pointer(header))
	header.name, header.value = name.s, value.s
	var req C.authrouter_pick_request
	C.authrouter_pick_request_init(&req)
	req.providers, req.provider_count = providers, 1
	req.model = mo.s
	req.headers, req.header_count = header, 1
	var result *C.authrouter_pick_result
	var err *C.authrouter_error
	if e := check(C.authrouter_manager_pick(m.m, &result, &req, &err), err); e != nil {
		return pick{}, e
	}
	defer C.authrouter_pick_result_free(result)
	var n C.size_t
	id := C.authrouter_credential_id(C.authrouter_pick_result_credential(result), &n)
	out := pick{id: C.GoStringN(id, C.int(n))}
	key := C.authrouter_pick_result_session_key(result, &n)
	out.sessionKey = C.GoStringN(key, C.int(n))
	return out, nil
}

func (m *manager) mark(id, model string, status int, retryAfterMs int64, sessionKey string) error {
	cid, mo, key := newCstr(id), newCstr(model), newCstr(sessionKey)
	defer cid.free()
	defer mo.free()
	defer key.free()
	var r C.authrouter_result
	C.authrouter_result_init(&r)
	r.credential_id, r.model, r.session_key = cid.s, mo.s, key.s
	r.http_status = C.int32_t(status)
	r.success = C.bool(status == 200)
	r.retry_after_ms = C.int64_t(retryAfterMs)
	var err *C.authrouter_error
	return check(C.authrouter_manager_mark_result(m.m, &r, &err), err)
}

// copyExamples copies examples/config.json and examples/auth/ into dir.
func copyExamples(examples, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "auth"), 0o700); err != nil {
		return err
	}
	names, err := filepath.Glob(filepath.Join(examples, "auth", "*.json"))
	if err != nil {
		return err
	}
	names = append(names, filepath.Join(examples, "config.json"))
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		target := filepath.Join(dir, "auth", filepath.Base(name))
		if filepath.Base(name) == "config.json" {
			target = filepath.Join(dir, "config.json")
		}
		if err := os.WriteFile(target, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// firstUse runs the README's first steps from Go: config file, file store, load, pick.
func firstUse(examples string) (string, error) {
	work, err := os.MkdirTemp("", "authrouter-go-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	if err := copyExamples(examples, work); err != nil {
		return "", err
	}
	cwd, _ := os.Getwd()
	defer os.Chdir(cwd)
	if err := os.Chdir(work); err != nil { // the config's auth-dir "./auth" is relative
		return "", err
	}
	var opts *C.authrouter_options
	var cerr *C.authrouter_error
	if e := check(C.authrouter_options_new(&opts, &cerr), cerr); e != nil {
		return "", e
	}
	path := newCstr("config.json")
	defer path.free()
	if e := check(C.authrouter_options_load_config_file(opts, path.s.data, path.s.len, &cerr), cerr); e != nil {
		C.authrouter_options_free(opts)
		return "", e
	}
	if e := check(C.authrouter_options_use_file_store(opts, nil, 0, &cerr), cerr); e != nil {
		C.authrouter_options_free(opts)
		return "", e
	}
	var cm *C.authrouter_manager
	e := check(C.authrouter_manager_new(&cm, opts, &cerr), cerr)
	C.authrouter_options_free(opts)
	if e != nil {
		return "", e
	}
	defer C.authrouter_manager_free(cm)
	var out *C.char
	var n C.size_t
	if e := check(C.authrouter_manager_load_report(cm, &out, &n, &cerr), cerr); e != nil {
		return "", e
	}
	fmt.Printf("first use over examples/: load report %s\n", C.GoStringN(out, C.int(n)))
	C.authrouter_string_free(out)
	m := &manager{cm}
	p, e := m.pick("claude", "claude-sonnet-4-5", "first-use")
	if e != nil {
		return "", e
	}
	fmt.Printf("first use over examples/: picked %s for claude-sonnet-4-5\n", p.id)
	return p.id, nil
}

func run() error {
	fmt.Printf("authrouter %s (Go, C ABI)\n", C.GoString(C.authrouter_version_string()))
	exe, _ := os.Getwd()
	picked, err := firstUse(filepath.Dir(exe)) // run from examples/go: the samples are in ..
	if err != nil {
		return err
	}
	store := &memStore{records: map[string]string{}}
	m, err := newManager(`{"routing":{"session-affinity":true}}`, store)
	if err != nil {
		return err
	}
	const model = "claude-sonnet-4-5"
	for _, who := range []string{"alice", "bob", "carol"} {
		json := fmt.Sprintf(`{"id":"%s.json","provider":"claude","metadata":{"type":"claude","email":"%s@example.com"}}`, who, who)
		if err := m.register(who+".json", json, model); err != nil {
			return err
		}
	}
	fmt.Printf("registered 3 credentials; the Go store holds %d records\n", len(store.records))

	first, err := m.pick("claude", model, "conversation-1")
	if err != nil {
		return err
	}
	again, err := m.pick("claude", model, "conversation-1")
	if err != nil {
		return err
	}
	same := map[bool]string{true: "same", false: "different"}[first.id == again.id]
	fmt.Printf("session affinity: conversation-1 -> %s, again -> %s (%s)\n", first.id, again.id, same)
	if err := m.mark(first.id, model, 429, 30000, first.sessionKey); err != nil {
		return err
	}
	moved, err := m.pick("claude", model, "conversation-1")
	if err != nil {
		return err
	}
	verdict := map[bool]string{true: "failover ok", false: "NO FAILOVER"}[moved.id != first.id]
	fmt.Printf("429 on %s: conversation-1 fails over to %s (%s)\n", first.id, moved.id, verdict)

	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			session := fmt.Sprintf("goroutine-%d", g)
			for i := 0; i < 1000; i++ {
				p, err := m.pick("claude", model, session)
				if err != nil {
					continue
				}
				if m.mark(p.id, model, 200, -1, p.sessionKey) == nil {
					mu.Lock()
					total++
					mu.Unlock()
				}
			}
		}(g)
	}
	wg.Wait()
	fmt.Printf("8 goroutines x 1000 picks and results: %d ok\n", total)
	C.authrouter_manager_free(m.m)
	store.mu.Lock()
	freed := store.freed
	store.mu.Unlock()
	fmt.Printf("store released by the library: %v\n", freed)
	if first.id != again.id || moved.id == first.id || total != 8000 || !freed ||
		(picked != "claude-alice.json" && picked != "claude-bob.json") {
		return fmt.Errorf("unexpected routing")
	}
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
