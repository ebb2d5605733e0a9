//! The Rust example: hand-written declarations of the C ABI (include/authrouter/authrouter.h),
//! a small safe wrapper, and a run that first loads the sample files (a copy of
//! examples/config.json and examples/auth/: config file, file store, load, pick, no per-credential
//! code), then registers credentials, picks with session affinity, reports a 429, shows the
//! failover, and then picks from several threads at once.
use std::ffi::CStr;
use std::os::raw::c_char;
use std::ptr;
use std::sync::Arc;
use std::thread;

#[repr(C)]
struct ArManager {
    _private: [u8; 0],
}
#[repr(C)]
struct ArOptions {
    _private: [u8; 0],
}
#[repr(C)]
struct ArError {
    _private: [u8; 0],
}
#[repr(C)]
struct ArPickResult {
    _private: [u8; 0],
}
#[repr(C)]
struct ArCredential {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct ArString {
    data: *const c_char,
    len: usize,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct ArHeader {
    name: ArString,
    value: ArString,
}

#[repr(C)]
struct ArPickRequest {
    version: u32,
    providers: *const ArString,
    provider_count: usize,
    model: ArString,
    tried: *const ArString,
    tried_count: usize,
    pinned_id: ArString,
    downstream_websocket: bool,
    headers: *const ArHeader,
    header_count: usize,
    body: ArString,
}

#[repr(C)]
struct ArResult {
    version: u32,
    credential_id: ArString,
    provider: ArString,
    model: ArString,
    success: bool,
    http_status: i32,
    error_code: ArString,
    error_message: ArString,
    retry_after_ms: i64,
    session_key: ArString,
}

const AR_OK: i32 = 0;

extern "C" {
    fn authrouter_version_string() -> *const c_char;
    fn authrouter_status_str(code: i32) -> *const c_char;
    fn authrouter_error_message(err: *const ArError, len: *mut usize) -> *const c_char;
    fn authrouter_error_free(err: *mut ArError);
    fn authrouter_options_new(out: *mut *mut ArOptions, err: *mut *mut ArError) -> i32;
    fn authrouter_options_free(options: *mut ArOptions);
    fn authrouter_options_apply_config(
        options: *mut ArOptions,
        json: *const c_char,
        len: usize,
        err: *mut *mut ArError,
    ) -> i32;
    fn authrouter_options_load_config_file(
        options: *mut ArOptions,
        path: *const c_char,
        path_len: usize,
        err: *mut *mut ArError,
    ) -> i32;
    fn authrouter_options_use_file_store(
        options: *mut ArOptions,
        dir: *const c_char,
        dir_len: usize,
        err: *mut *mut ArError,
    ) -> i32;
    fn authrouter_manager_load(m: *mut ArManager, err: *mut *mut ArError) -> i32;
    fn authrouter_manager_new(
        out: *mut *mut ArManager,
        options: *const ArOptions,
        err: *mut *mut ArError,
    ) -> i32;
    fn authrouter_manager_free(m: *mut ArManager);
    fn authrouter_manager_register(
        m: *mut ArManager,
        json: *const c_char,
        len: usize,
        err: *mut *mut ArError,
    ) -> i32;
    fn authrouter_manager_register_models(
        m: *mut ArManager,
        id: *const c_char,
        id_len: usize,
        models: *const ArString,
        count: usize,
        err: *mut *mut ArError,
    ) -> i32;
    fn authrouter_manager_pick(
        m: *mut ArManager,
        out: *mut *mut ArPickResult,
        request: *const ArPickRequest,
        err: *mut *mut ArError,
    ) -> i32;
    fn authrouter_pick_result_credential(r: *const ArPickResult) -> *const ArCredential;
    fn authrouter_pick_result_session_key(r: *const ArPickResult, len: *mut usize) -> *const c_char;
    fn authrouter_pick_result_free(r: *mut ArPickResult);
    fn authrouter_credential_id(c: *const ArCredential, len: *mut usize) -> *const c_char;
    fn authrouter_manager_mark_result(
        m: *mut ArManager,
        result: *const ArResult,
        err: *mut *mut ArError,
    ) -> i32;
}

fn s(text: &str) -> ArString {
    ArString { data: text.as_ptr() as *const c_char, len: text.len() }
}

fn empty() -> ArString {
    ArString { data: ptr::null(), len: 0 }
}

/// Copies a (pointer, length) string the library returned.
unsafe fn owned(p: *const c_char, len: usize) -> String {
    String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len)).into_owned()
}

/// Turns a status and its error into a Result, freeing the error.
fn check(rc: i32, err: *mut ArError) -> Result<(), String> {
    if rc == AR_OK {
        return Ok(());
    }
    unsafe {
        let status = CStr::from_ptr(authrouter_status_str(rc)).to_string_lossy().into_owned();
        let mut len = 0usize;
        let msg = if err.is_null() {
            String::new()
        } else {
            owned(authrouter_error_message(err, &mut len), len)
        };
        authrouter_error_free(err);
        Err(format!("{status}: {msg}"))
    }
}

/// Manager owns an authrouter_manager. The C ABI documents the manager as safe for concurrent
/// use from any number of threads, so sharing it is sound.
struct Manager(*mut ArManager);
unsafe impl Send for Manager {}
unsafe impl Sync for Manager {}

impl Drop for Manager {
    fn drop(&mut self) {
        unsafe { authrouter_manager_free(self.0) }
    }
}

struct Pick {
    id: String,
    session_key: String,
}

impl Manager {
    fn new(config: &str) -> Result<Manager, String> {
        unsafe {
            let mut err: *mut ArError = ptr::null_mut();
            let mut opts: *mut ArOptions = ptr::null_mut();
            check(authrouter_options_new(&mut opts, &mut err), err)?;
            let rc = authrouter_options_apply_config(opts, config.as_ptr() as *const c_char, config.len(), &mut err);
            if rc != AR_OK {
                authrouter_options_free(opts);
                return Err(check(rc, err).unwrap_err());
            }
            let mut m: *mut ArManager = ptr::null_mut();
            let rc = authrouter_manager_new(&mut m, opts, &mut err);
            authrouter_options_free(opts);
            check(rc, err)?;
            Ok(Manager(m))
        }
    }

    fn register(&self, json: &str, models: &[&str]) -> Result<(), String> {
        unsafe {
            let mut err: *mut ArError = ptr::null_mut();
            check(authrouter_manager_register(self.0, json.as_ptr() as *const c_char, json.len(), &mut err), err)?;
            let id = json.split("\"id\":\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("");
            let list: Vec<ArString> = models.iter().map(|m| s(m)).collect();
            check(
                authrouter_manager_register_models(self.0, id.as_ptr() as *const c_char, id.len(), list.as_ptr(), list.len(), &mut err),
                err,
            )
        }
    }

    fn pick(&self, provider: &str, model: &str, session: &str) -> Result<Pick, String> {
        let providers = [s(provider)];
        let headers = [ArHeader { name: s("X-Session-ID"), value: s(session) }];
        let request = ArPickRequest {
            version: 1,
            providers: providers.as_ptr(),
            provider_count: 1,
            model: s(model),
            tried: ptr::null(),
            tried_count: 0,
            pinned_id: empty(),
            downstream_websocket: false,
            headers: headers.as_ptr(),
            header_count: 1,
            body: empty(),
        };
        unsafe {
            let mut err: *mut ArError = ptr::null_mut();
            let mut result: *mut ArPickResult = ptr::null_mut();
            check(authrouter_manager_pick(self.0, &mut result, &request, &mut err), err)?;
            let mut len = 0usize;
            let id = owned(authrouter_credential_id(authrouter_pick_result_credential(result), &mut len), len);
            let key = owned(authrouter_pick_result_session_key(result, &mut len), len);
            authrouter_pick_result_free(result);
            Ok(Pick { id, session_key: key })
        }
    }

    fn mark(&self, id: &str, model: &str, status: i32, retry_after_ms: i64, session_key: &str) -> Result<(), String> {
        let result = ArResult {
            version: 1,
            credential_id: s(id),
            provider: empty(),
            model: s(model),
            success: status == 200,
            http_status: status,
            error_code: empty(),
            error_message: empty(),
            retry_after_ms,
            session_key: s(session_key),
        };
        unsafe {
            let mut err: *mut ArError = ptr::null_mut();
            check(authrouter_manager_mark_result(self.0, &result, &mut err), err)
        }
    }
}

/// The README's first steps: config file, file store, load, pick over a copy of the samples.
fn first_use() -> Result<String, String> {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let work = std::env::temp_dir().join(format!("authrouter-rust-{}", std::process::id()));
    let auth = work.join("auth");
    std::fs::create_dir_all(&auth).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(examples.join("auth")).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        std::fs::copy(&path, auth.join(path.file_name().unwrap())).map_err(|e| e.to_string())?;
    }
    std::fs::copy(examples.join("config.json"), work.join("config.json")).map_err(|e| e.to_string())?;
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    std::env::set_current_dir(&work).map_err(|e| e.to_string())?; // auth-dir "./auth" is relative
    let picked = unsafe {
        let mut err: *mut ArError = ptr::null_mut();
        let mut opts: *mut ArOptions = ptr::null_mut();
        check(authrouter_options_new(&mut opts, &mut err), err)?;
        let path = "config.json";
        let mut rc = authrouter_options_load_config_file(opts, path.as_ptr() as *const c_char, path.len(), &mut err);
        if rc == AR_OK {
            rc = authrouter_options_use_file_store(opts, ptr::null(), 0, &mut err);
        }
        let mut m: *mut ArManager = ptr::null_mut();
        if rc == AR_OK {
            rc = authrouter_manager_new(&mut m, opts, &mut err);
        }
        authrouter_options_free(opts);
        check(rc, err)?;
        let manager = Manager(m);
        check(authrouter_manager_load(manager.0, &mut err), err)?;
        manager.pick("claude", "claude-sonnet-4-5", "first-use")?.id
    };
    std::env::set_current_dir(cwd).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&work);
    println!("first use over examples/: picked {picked} for claude-sonnet-4-5");
    Ok(picked)
}

fn main() -> Result<(), String> {
    let version = unsafe { CStr::from_ptr(authrouter_version_string()) };
    println!("authrouter {} (Rust, C ABI)", version.to_string_lossy());
    let picked = first_use()?;
    let manager = Arc::new(Manager::new(r#"{"routing":{"session-affinity":true}}"#)?);
    for who in ["alice", "bob", "carol"] {
        let json = format!(
            r#"{{"id":"{who}.json","provider":"claude","metadata":{{"type":"claude","email":"{who}@example.com"}}}}"#
        );
        manager.register(&json, &["claude-sonnet-4-5"])?;
    }
    println!("registered 3 credentials");

    let model = "claude-sonnet-4-5";
    let first = manager.pick("claude", model, "conversation-1")?;
    let again = manager.pick("claude", model, "conversation-1")?;
    println!(
        "session affinity: conversation-1 -> {}, again -> {} ({})",
        first.id,
        again.id,
        if first.id == again.id { "same" } else { "different" }
    );
    manager.mark(&first.id, model, 429, 30_000, &first.session_key)?;
    let moved = manager.pick("claude", model, "conversation-1")?;
    println!(
        "429 on {}: conversation-1 fails over to {} ({})",
        first.id,
        moved.id,
        if moved.id != first.id { "failover ok" } else { "NO FAILOVER" }
    );

    // Several threads share the manager.
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let m = Arc::clone(&manager);
            thread::spawn(move || -> Result<usize, String> {
                let session = format!("thread-{t}");
                let mut ok = 0;
                for _ in 0..2000 {
                    let p = m.pick("claude", model, &session)?;
                    m.mark(&p.id, model, 200, -1, &p.session_key)?;
                    ok += 1;
                }
                Ok(ok)
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        total += w.join().map_err(|_| "a thread panicked".to_string())??;
    }
    println!("4 threads x 2000 picks and results: {total} ok");
    if first.id == again.id && moved.id != first.id && total == 8000 && picked.starts_with("claude-") {
        Ok(())
    } else {
        Err("unexpected routing".into())
    }
}
