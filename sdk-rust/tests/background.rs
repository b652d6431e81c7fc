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

/// Holds the request until its timer fires, then answers.
struct Timed {
    timer: Option<Timer>,
    cancelled: Option<Timer>,
}

impl HttpFilter for Timed {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _eos: bool) -> HeadersStatus {
        let timer = host.new_timer().expect("timer");
        timer.enable(Duration::from_millis(25)).unwrap();
        let cancelled = host.new_timer().expect("timer");
        cancelled.enable(Duration::from_millis(5)).unwrap();
        cancelled.disable().unwrap();
        self.timer = Some(timer);
        self.cancelled = Some(cancelled);
        HeadersStatus::StopIteration
    }

    fn on_timer(&mut self, host: &mut HostFilter<'_>, timer: TimerId) {
        assert_eq!(Some(timer), self.timer.as_ref().map(Timer::id));
        host.send_response(200, sluice_sdk::NO_HEADERS, b"timer fired").unwrap();
    }
}

/// Gives a bodyless request a body: headers go on without end of stream,
/// the body (and the end) is injected from `on_timer`.
struct Injecting {
    timer: Option<Timer>,
}

impl HttpFilter for Injecting {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _eos: bool) -> HeadersStatus {
        let timer = host.new_timer().expect("timer");
        timer.enable(Duration::from_millis(1)).unwrap();
        self.timer = Some(timer);
        HeadersStatus::ContinueAndDontEndStream
    }

    fn on_timer(&mut self, host: &mut HostFilter<'_>, _timer: TimerId) {
        host.inject_data(true, "late body", true).unwrap();
    }
}

struct TimedConfig;

impl TimedConfig {
    fn new(_host: &mut HostConfig<'_>, _config: &[u8]) -> Result<TimedConfig, String> {
        Ok(TimedConfig)
    }
}

impl HttpFilterConfig for TimedConfig {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(Timed { timer: None, cancelled: None })
    }
}

struct InjectingConfig;

impl InjectingConfig {
    fn new(_host: &mut HostConfig<'_>, _config: &[u8]) -> Result<InjectingConfig, String> {
        Ok(InjectingConfig)
    }
}

impl HttpFilterConfig for InjectingConfig {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(Injecting { timer: None })
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
        "timed" => TimedConfig::new,
        "injecting" => InjectingConfig::new,
        "guarded" => GuardedConfig::new,
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

#[test]
fn timers_fire_once_enabled_and_not_when_disabled() {
    let module = FakeModule::load(__sluice_module::symbols()).unwrap();
    let config = module.config("timed", "{}").unwrap();
    let mut stream = config.new_stream().unwrap();
    assert_eq!(stream.request_headers(true), HeadersStatus::StopIteration);
    let armed = stream.armed_timers();
    assert_eq!(armed.len(), 1, "only the enabled timer is armed: {armed:?}");
    assert_eq!(armed[0].1, Duration::from_millis(25));
    assert!(stream.fire_timer(armed[0].0));
    assert_eq!(stream.local_reply().map(|r| r.status), Some(200));
    assert!(!stream.fire_timer(armed[0].0), "one-shot: disarmed after firing");
    stream.complete();
}

#[test]
fn injected_body_follows_continue_and_dont_end_stream() {
    let module = FakeModule::load(__sluice_module::symbols()).unwrap();
    let config = module.config("injecting", "{}").unwrap();
    let mut stream = config.new_stream().unwrap();
    assert_eq!(stream.request_headers(true), HeadersStatus::ContinueAndDontEndStream);
    let (id, _) = stream.armed_timers()[0];
    assert!(stream.fire_timer(id));
    assert_eq!(stream.forwarded_body(true), b"late body");
    stream.complete();
}

const CANCELLED: u64 = u64::MAX;

/// Its worker thread panics before committing: the guard commits
/// CANCELLED, and the filter answers instead of leaving the request hanging.
struct Guarded;

impl HttpFilter for Guarded {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _eos: bool) -> HeadersStatus {
        let guard = host.new_scheduler().expect("scheduler").guard(CANCELLED);
        let t = std::thread::spawn(move || {
            let _guard = guard;
            panic!("lookup failed");
        });
        assert!(t.join().is_err());
        HeadersStatus::StopIteration
    }

    fn on_scheduled(&mut self, host: &mut HostFilter<'_>, event_id: u64) {
        assert_eq!(event_id, CANCELLED);
        host.send_response(503, &[("retry-after", "1")], "lookup failed\n").unwrap();
    }
}

struct GuardedConfig;

impl GuardedConfig {
    fn new(_host: &mut HostConfig<'_>, _config: &[u8]) -> Result<GuardedConfig, String> {
        Ok(GuardedConfig)
    }
}

impl HttpFilterConfig for GuardedConfig {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(Guarded)
    }
}

#[test]
fn a_dropped_scheduler_guard_commits_its_cancellation() {
    let module = FakeModule::load(__sluice_module::symbols()).unwrap();
    let config = module.config("guarded", "{}").unwrap();
    let mut stream = config.new_stream().unwrap();
    assert_eq!(stream.request_headers(true), HeadersStatus::StopIteration);
    assert_eq!(stream.run_scheduled(1, Duration::from_secs(10)), 1);
    let reply = stream.local_reply().expect("the filter answered");
    assert_eq!((reply.status, reply.body.as_slice()), (503, b"lookup failed\n".as_slice()));
    stream.complete();
}
