//! Config-level scheduler, stream-context logs and the program shutdown
//! hook through the safe layer, against the fake host.

use sluice_sdk::testing::{logs_containing, FakeModule};
use sluice_sdk::*;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

static REFRESHES: AtomicU64 = AtomicU64::new(0);
static SHUTDOWNS: AtomicUsize = AtomicUsize::new(0);
static THREADS: Mutex<Vec<std::thread::JoinHandle<()>>> = Mutex::new(Vec::new());

/// A config that refreshes itself from a background thread: the thread
/// commits through a config-level scheduler, `on_scheduled` runs on the
/// host's main thread.
struct Refreshing;

impl Refreshing {
    fn new(host: &mut HostConfig<'_>, _config: &[u8]) -> Result<Refreshing, String> {
        let scheduler = host.new_scheduler().ok_or("no config scheduler")?;
        THREADS.lock().unwrap().push(std::thread::spawn(move || {
            for generation in 1..=3 {
                scheduler.commit(generation).expect("config-level commit");
            }
        }));
        Ok(Refreshing)
    }
}

impl HttpFilterConfig for Refreshing {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(Logs)
    }

    fn on_scheduled(&self, _host: &mut HostConfig<'_>, event_id: u64) {
        REFRESHES.fetch_add(event_id, Ordering::SeqCst);
    }
}

struct Logs;

impl HttpFilter for Logs {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _eos: bool) -> HeadersStatus {
        host.log(LogLevel::Info, "saw a request").expect("log_filter");
        HeadersStatus::Continue
    }
}

fn shutdown() {
    for t in THREADS.lock().unwrap().drain(..) {
        t.join().unwrap();
    }
    SHUTDOWNS.fetch_add(1, Ordering::SeqCst);
}

declare_module! {
    shutdown: shutdown,
    filters: {
        "refreshing" => Refreshing::new,
    }
}

#[test]
fn config_scheduler_stream_logs_and_shutdown() {
    let module = FakeModule::load(__sluice_module::symbols()).unwrap();
    let config = module.config("refreshing", "{}").unwrap();
    assert_eq!(config.run_scheduled(3, Duration::from_secs(10)), 3);
    assert_eq!(REFRESHES.load(Ordering::SeqCst), 1 + 2 + 3);

    let mut stream = config.new_stream().unwrap();
    stream.request_headers(true);
    let lines = logs_containing("saw a request");
    assert_eq!(lines, vec![format!("[filter {}] saw a request", stream.handle().id)]);
    stream.complete();

    drop(config);
    module.shutdown();
    assert_eq!(SHUTDOWNS.load(Ordering::SeqCst), 1);
    assert!(THREADS.lock().unwrap().is_empty(), "shutdown joined the background threads");
}
