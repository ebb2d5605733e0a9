#!/usr/bin/env python3
"""The Python example: ctypes over the C ABI (standard library only).

First use over the sample files: a copy of examples/config.json and examples/auth/, loaded
through the config file and the file store, picked with no per-credential code (the config's
model-catalog), diagnostics through a log callback written in Python. Then registers credentials
by hand, picks with session affinity, reports a 429 and shows the failover; a hook written in
Python hears every registration. Set AUTHROUTER_LIB to the path of libauthrouter.so.0.
"""
import ctypes
import os
import shutil
import sys
import tempfile
import threading

lib = ctypes.CDLL(os.environ.get("AUTHROUTER_LIB", "libauthrouter.so.0"))

c_char_p, c_size_t, c_int32, c_int64, c_bool, c_void_p, c_uint32 = (
    ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int32, ctypes.c_int64, ctypes.c_bool,
    ctypes.c_void_p, ctypes.c_uint32)


class String(ctypes.Structure):
    _fields_ = [("data", c_char_p), ("len", c_size_t)]


class Header(ctypes.Structure):
    _fields_ = [("name", String), ("value", String)]


class PickRequest(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("providers", ctypes.POINTER(String)),
                ("provider_count", c_size_t), ("model", String),
                ("tried", ctypes.POINTER(String)), ("tried_count", c_size_t),
                ("pinned_id", String), ("downstream_websocket", c_bool),
                ("headers", ctypes.POINTER(Header)), ("header_count", c_size_t),
                ("body", String)]


class Result(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("credential_id", String), ("provider", String),
                ("model", String), ("success", c_bool), ("http_status", c_int32),
                ("error_code", String), ("error_message", String), ("retry_after_ms", c_int64),
                ("session_key", String)]


ON_REGISTERED = ctypes.CFUNCTYPE(None, c_void_p, c_void_p)
VOID_FN = ctypes.CFUNCTYPE(None, c_void_p)


class Hooks(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("on_registered", ON_REGISTERED), ("on_updated", c_void_p),
                ("on_removed", c_void_p), ("on_result", c_void_p), ("on_store_error", c_void_p),
                ("user_data", c_void_p), ("destroy", c_void_p)]


LOG_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int32, ctypes.POINTER(ctypes.c_char), c_size_t,
                          ctypes.POINTER(ctypes.c_char), c_size_t)


class Log(ctypes.Structure):
    _fields_ = [("version", c_uint32), ("min_level", c_int32), ("log", LOG_FN),
                ("user_data", c_void_p), ("destroy", c_void_p)]


def sig(name, restype, *argtypes):
    fn = getattr(lib, name)
    fn.restype, fn.argtypes = restype, list(argtypes)
    return fn


PP = ctypes.POINTER(c_void_p)
sig("authrouter_version_string", c_char_p)
sig("authrouter_status_str", c_char_p, c_int32)
sig("authrouter_error_message", c_char_p, c_void_p, ctypes.POINTER(c_size_t))
sig("authrouter_error_routing_code", c_char_p, c_void_p, ctypes.POINTER(c_size_t))
sig("authrouter_error_free", None, c_void_p)
sig("authrouter_options_new", c_int32, PP, PP)
sig("authrouter_options_free", None, c_void_p)
sig("authrouter_options_apply_config", c_int32, c_void_p, c_char_p, c_size_t, PP)
sig("authrouter_options_set_hooks", c_int32, c_void_p, ctypes.POINTER(Hooks), PP)
sig("authrouter_manager_new", c_int32, PP, c_void_p, PP)
sig("authrouter_manager_free", None, c_void_p)
sig("authrouter_manager_register", c_int32, c_void_p, c_char_p, c_size_t, PP)
sig("authrouter_manager_register_models", c_int32, c_void_p, c_char_p, c_size_t,
    ctypes.POINTER(String), c_size_t, PP)
sig("authrouter_manager_pick", c_int32, c_void_p, PP, ctypes.POINTER(PickRequest), PP)
sig("authrouter_pick_result_credential", c_void_p, c_void_p)
sig("authrouter_pick_result_session_key", ctypes.POINTER(ctypes.c_char), c_void_p,
    ctypes.POINTER(c_size_t))
sig("authrouter_pick_result_free", None, c_void_p)
sig("authrouter_credential_id", ctypes.POINTER(ctypes.c_char), c_void_p, ctypes.POINTER(c_size_t))
sig("authrouter_manager_mark_result", c_int32, c_void_p, ctypes.POINTER(Result), PP)
sig("authrouter_options_load_config_file", c_int32, c_void_p, c_char_p, c_size_t, PP)
sig("authrouter_options_use_file_store", c_int32, c_void_p, c_char_p, c_size_t, PP)
sig("authrouter_options_set_log", c_int32, c_void_p, ctypes.POINTER(Log), PP)
sig("authrouter_manager_load_report", c_int32, c_void_p, PP, ctypes.POINTER(c_size_t), PP)
sig("authrouter_manager_models", c_int32, c_void_p, c_char_p, c_size_t, PP,
    ctypes.POINTER(c_size_t), PP)
sig("authrouter_error_reason", c_char_p, c_void_p, ctypes.POINTER(c_size_t))
sig("authrouter_string_free", None, c_void_p)


class AuthrouterError(Exception):
    pass


def s(text):
    raw = text.encode()
    return String(raw, len(raw))


def out_str(getter, obj):
    n = c_size_t()
    p = getter(obj, ctypes.byref(n))
    return ctypes.string_at(p, n.value).decode()


def check(rc, err):
    if rc == 0:
        return
    message = lib.authrouter_error_message(err, None).decode() if err else ""
    lib.authrouter_error_free(err)
    raise AuthrouterError(f"{lib.authrouter_status_str(rc).decode()}: {message}")


class Manager:
    def __init__(self, config, on_registered=None):
        opts, err = c_void_p(), c_void_p()
        check(lib.authrouter_options_new(ctypes.byref(opts), ctypes.byref(err)), err)
        try:
            raw = config.encode()
            check(lib.authrouter_options_apply_config(opts, raw, len(raw), ctypes.byref(err)), err)
            if on_registered:
                # Keep the callback object alive as long as the manager.
                self._hook = ON_REGISTERED(lambda ud, cred: on_registered(
                    out_str(lib.authrouter_credential_id, cred)))
                hooks = Hooks(version=1, on_registered=self._hook)
                check(lib.authrouter_options_set_hooks(opts, ctypes.byref(hooks), ctypes.byref(err)), err)
            self.m = c_void_p()
            check(lib.authrouter_manager_new(ctypes.byref(self.m), opts, ctypes.byref(err)), err)
        finally:
            lib.authrouter_options_free(opts)

    def close(self):
        lib.authrouter_manager_free(self.m)

    def register(self, cred_id, json_text, models):
        err = c_void_p()
        raw = json_text.encode()
        check(lib.authrouter_manager_register(self.m, raw, len(raw), ctypes.byref(err)), err)
        arr = (String * len(models))(*[s(m) for m in models])
        rid = cred_id.encode()
        check(lib.authrouter_manager_register_models(self.m, rid, len(rid), arr, len(models),
                                                     ctypes.byref(err)), err)

    def pick(self, provider, model, session):
        providers = (String * 1)(s(provider))
        headers = (Header * 1)(Header(s("X-Session-ID"), s(session)))
        req = PickRequest(version=1, providers=providers, provider_count=1, model=s(model),
                          headers=headers, header_count=1)
        result, err = c_void_p(), c_void_p()
        rc = lib.authrouter_manager_pick(self.m, ctypes.byref(result), ctypes.byref(req), ctypes.byref(err))
        if rc != 0:
            code = lib.authrouter_error_routing_code(err, None).decode()
            lib.authrouter_error_free(err)
            raise AuthrouterError(code)
        try:
            cred = lib.authrouter_pick_result_credential(result)
            return (out_str(lib.authrouter_credential_id, cred),
                    out_str(lib.authrouter_pick_result_session_key, result))
        finally:
            lib.authrouter_pick_result_free(result)

    def mark(self, cred_id, model, status, retry_after_ms=-1, session_key=""):
        r = Result(version=1, credential_id=s(cred_id), model=s(model), success=status == 200,
                   http_status=status, retry_after_ms=retry_after_ms, session_key=s(session_key))
        err = c_void_p()
        check(lib.authrouter_manager_mark_result(self.m, ctypes.byref(r), ctypes.byref(err)), err)


def take_string(p, n):
    try:
        return ctypes.string_at(p, n.value).decode()
    finally:
        lib.authrouter_string_free(p)


def first_use(examples_dir):
    """The README's first steps, from Python: config file, file store, load, pick."""
    work = tempfile.mkdtemp(prefix="authrouter-python-")
    cwd = os.getcwd()
    try:
        shutil.copytree(os.path.join(examples_dir, "auth"), os.path.join(work, "auth"))
        shutil.copy(os.path.join(examples_dir, "config.json"), work)
        os.chdir(work)  # the config's auth-dir "./auth" is relative to the current directory
        lines = []
        on_log = LOG_FN(lambda ud, level, comp, comp_len, msg, msg_len: lines.append(
            ctypes.string_at(comp, comp_len).decode() + ": " + ctypes.string_at(msg, msg_len).decode()))
        log = Log(version=1, min_level=1, log=on_log)
        opts, err, m = c_void_p(), c_void_p(), c_void_p()
        check(lib.authrouter_options_new(ctypes.byref(opts), None), None)
        check(lib.authrouter_options_set_log(opts, ctypes.byref(log), ctypes.byref(err)), err)
        check(lib.authrouter_options_load_config_file(opts, b"config.json", 11, ctypes.byref(err)), err)
        check(lib.authrouter_options_use_file_store(opts, None, 0, ctypes.byref(err)), err)
        try:
            check(lib.authrouter_manager_new(ctypes.byref(m), opts, ctypes.byref(err)), err)
        finally:
            lib.authrouter_options_free(opts)
        try:
            out, n = c_void_p(), c_size_t()
            check(lib.authrouter_manager_load_report(m, ctypes.byref(out), ctypes.byref(n),
                                                     ctypes.byref(err)), err)
            print(f"first use over examples/: load report {take_string(out, n)}")
            providers = (String * 1)(s("claude"))
            req = PickRequest(version=1, providers=providers, provider_count=1,
                              model=s("claude-sonnet-4-5"))
            result = c_void_p()
            check(lib.authrouter_manager_pick(m, ctypes.byref(result), ctypes.byref(req),
                                              ctypes.byref(err)), err)
            picked = out_str(lib.authrouter_credential_id, lib.authrouter_pick_result_credential(result))
            lib.authrouter_pick_result_free(result)
            rid = picked.encode()
            check(lib.authrouter_manager_models(m, rid, len(rid), ctypes.byref(out), ctypes.byref(n),
                                                ctypes.byref(err)), err)
            print(f"first use over examples/: picked {picked} for claude-sonnet-4-5; "
                  f"it serves {take_string(out, n)}")
            req.model = s("gpt-4")
            rc = lib.authrouter_manager_pick(m, ctypes.byref(result), ctypes.byref(req), ctypes.byref(err))
            print(f"first use over examples/: claude gpt-4 -> {lib.authrouter_error_reason(err, None).decode()}"
                  if rc != 0 else "first use over examples/: gpt-4 picked?")
            lib.authrouter_error_free(err)
        finally:
            lib.authrouter_manager_free(m)
        print(f"first use over examples/: the Python log heard {len(lines)} lines, e.g. {lines[0]}")
        return picked
    finally:
        os.chdir(cwd)
        shutil.rmtree(work)


def main():
    print(f"authrouter {lib.authrouter_version_string().decode()} (Python, C ABI)")
    examples_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    picked = first_use(examples_dir)
    heard = []
    m = Manager('{"routing":{"session-affinity":true}}', on_registered=heard.append)
    model = "claude-sonnet-4-5"
    for who in ("alice", "bob", "carol"):
        m.register(f"{who}.json",
                   f'{{"id":"{who}.json","provider":"claude","metadata":{{"type":"claude",'
                   f'"email":"{who}@example.com"}}}}', [model])
    print(f"registered 3 credentials; the Python hook heard: {', '.join(heard)}")
    first, key = m.pick("claude", model, "conversation-1")
    again, _ = m.pick("claude", model, "conversation-1")
    print(f"session affinity: conversation-1 -> {first}, again -> {again} "
          f"({'same' if first == again else 'different'})")
    m.mark(first, model, 429, 30000, key)
    moved, _ = m.pick("claude", model, "conversation-1")
    print(f"429 on {first}: conversation-1 fails over to {moved} "
          f"({'failover ok' if moved != first else 'NO FAILOVER'})")

    counts = []
    def worker(n):
        done = 0
        for _ in range(500):
            cid, k = m.pick("claude", model, f"thread-{n}")
            m.mark(cid, model, 200, -1, k)
            done += 1
        counts.append(done)
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"4 threads x 500 picks and results: {sum(counts)} ok")

    try:
        for cid in ("alice.json", "bob.json", "carol.json"):
            m.mark(cid, model, 429, 30000)
        m.pick("claude", model, "conversation-2")
        print("no cooldown error")
    except AuthrouterError as e:
        print(f"all cooling: {e}")
    m.close()
    ok = first == again and moved != first and sum(counts) == 2000
    return 0 if ok and picked in ("claude-alice.json", "claude-bob.json") else 1


if __name__ == "__main__":
    sys.exit(main())
