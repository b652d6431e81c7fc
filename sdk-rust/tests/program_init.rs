//! `declare_module!`'s optional `init:` runs once in program init; false
//! (or a panic) fails the load. One module per test binary, so the three
//! outcomes are steered by a flag the init reads.

use sluice_sdk::testing::{logs_containing, FakeModule};
use sluice_sdk::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// 0 = succeed, 1 = refuse, 2 = panic.
static MODE: AtomicU32 = AtomicU32::new(0);
static CALLS: AtomicU32 = AtomicU32::new(0);
// Tests share MODE; run them one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn init() -> bool {
    CALLS.fetch_add(1, Ordering::SeqCst);
    match MODE.load(Ordering::SeqCst) {
        0 => {
            sluice_info!("init ran with {} workers", host::concurrency());
            true
        }
        1 => false,
        _ => panic!("init exploded"),
    }
}

struct Nothing;
impl Nothing {
    fn new(_: &mut HostConfig<'_>, _: &[u8]) -> Result<Nothing, String> {
        Ok(Nothing)
    }
}
impl HttpFilterConfig for Nothing {
    fn new_filter(&self, _: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        struct Pass;
        impl HttpFilter for Pass {}
        Box::new(Pass)
    }
}

declare_module! {
    init: init,
    filters: { "nothing" => Nothing::new }
}

fn load_with(mode: u32) -> Result<FakeModule, String> {
    MODE.store(mode, Ordering::SeqCst);
    let before = CALLS.load(Ordering::SeqCst);
    let r = FakeModule::load(__sluice_module::symbols());
    assert_eq!(CALLS.load(Ordering::SeqCst), before + 1, "init runs exactly once per load");
    r
}

#[test]
fn init_success_loads_and_can_use_the_host() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let m = load_with(0).unwrap();
    assert_eq!(logs_containing("init ran with 2 workers").len(), 1);
    // A pass-through filter: every hook continues.
    let cfg = m.config("nothing", "null").unwrap();
    let mut st = cfg.new_stream().unwrap();
    assert_eq!(st.request_headers(false), HeadersStatus::Continue);
    assert_eq!(st.request_body(b"x", true), BodyStatus::Continue);
    assert_eq!(st.forwarded_body(true), b"x");
    st.set_request_trailers(&[]);
    assert_eq!(st.request_trailers(), TrailersStatus::Continue);
}

#[test]
fn init_false_fails_the_load() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(load_with(1).err().unwrap(), "program init failed");
}

#[test]
fn init_panic_fails_the_load_and_is_logged() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(load_with(2).err().unwrap(), "program init failed");
    let logged = logs_containing("init exploded");
    assert_eq!(logged.len(), 1);
    assert!(logged[0].starts_with("panic in program_init at tests/program_init.rs:"), "{}", logged[0]);
}

#[test]
fn null_host_table_fails_init() {
    // SAFETY: the hook accepts NULL and must refuse it.
    assert!(!unsafe { (__sluice_module::symbols().program_init)(core::ptr::null()) });
}
