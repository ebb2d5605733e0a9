// Links libauthrouter.so: AUTHROUTER_LIB_DIR names the directory that holds it (the CMake build
// directory, or an installed prefix's lib directory).
fn main() {
    println!("cargo:rerun-if-env-changed=AUTHROUTER_LIB_DIR");
    if let Ok(dir) = std::env::var("AUTHROUTER_LIB_DIR") {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rustc-link-lib=dylib=authrouter");
}
