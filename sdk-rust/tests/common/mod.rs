//! Helpers shared by the integration tests: locate the ABI header, compile
//! and run small C programs against it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// abi/sluice_abi.h of this repository.
pub fn header_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../abi/sluice_abi.h")
}

pub fn header_text() -> String {
    std::fs::read_to_string(header_path()).expect("read abi/sluice_abi.h")
}

/// Compile `src` (C99 + GNU atomics, as the header needs) into an
/// executable in cargo's per-target temp dir and return its path.
pub fn compile_c(name: &str, src: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("c-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    let exe = dir.join(name);
    std::fs::write(&c, src).unwrap();
    let include = header_path().parent().unwrap().to_path_buf();
    let out = Command::new("gcc")
        .args(["-std=gnu99", "-O1", "-Wall", "-Werror", "-pthread", "-I"])
        .arg(&include)
        .arg("-o")
        .arg(&exe)
        .arg(&c)
        .output()
        .expect("run gcc");
    assert!(out.status.success(), "gcc failed on {}:\n{}", c.display(), String::from_utf8_lossy(&out.stderr));
    exe
}

/// Run an executable and return its stdout; fail on a non-zero exit.
pub fn run(exe: &PathBuf) -> String {
    let out = Command::new(exe).output().expect("run C program");
    assert!(out.status.success(), "{} failed: {}", exe.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
