//! Network filters (ABI 2.1) end to end against the fake host: a module
//! that offers only network filters, driven through its exported hooks.

use sluice_sdk::testing::{logs_containing, FakeModule, Metadata};
use sluice_sdk::*;
use std::sync::Mutex;
use std::time::Duration;

/// Results recorded by filters, keyed by a test-chosen tag.
static RECORD: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// A scheduler a filter handed out, to commit after its connection ended.
static KEPT: Mutex<Option<Scheduler>> = Mutex::new(None);

fn record(tag: &str, what: impl Into<String>) {
    RECORD.lock().unwrap().push((tag.to_string(), what.into()));
}

fn recorded(tag: &str) -> Vec<String> {
    RECORD.lock().unwrap().iter().filter(|(t, _)| t == tag).map(|(_, w)| w.clone()).collect()
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Config text is `mode:tag`; the tag scopes RECORD entries.
struct ProbeConfig {
    mode: String,
    tag: String,
    reads: Counter,
}

impl ProbeConfig {
    fn new(host: &mut HostConfig<'_>, config: &[u8]) -> Result<ProbeConfig, String> {
        let text = std::str::from_utf8(config).map_err(|e| e.to_string())?;
        let (mode, tag) = text.split_once(':').ok_or("want mode:tag")?;
        if mode == "explode" {
            panic!("network constructor exploded");
        }
        Ok(ProbeConfig { mode: mode.to_string(), tag: tag.to_string(), reads: host.define_counter("reads")? })
    }
}

impl NetworkFilterConfig for ProbeConfig {
    fn new_filter(&self, host: &mut HostConnection<'_>) -> Box<dyn NetworkFilter> {
        record(&self.tag, format!("new_filter conn={:?}", host.attribute_int(Attribute::ConnectionId).is_ok()));
        Box::new(Probe {
            mode: self.mode.clone(),
            tag: self.tag.clone(),
            reads: self.reads,
            scheduler: None,
            timer: None,
            held_in: Vec::new(),
            held_out: Vec::new(),
            fins: (false, false),
        })
    }
}

struct Probe {
    mode: String,
    tag: String,
    reads: Counter,
    scheduler: Option<Scheduler>,
    timer: Option<Timer>,
    held_in: Vec<u8>,
    held_out: Vec<u8>,
    fins: (bool, bool),
}

impl Probe {
    fn rec(&self, what: impl Into<String>) {
        record(&self.tag, what);
    }
}

impl NetworkFilter for Probe {
    fn on_new_connection(&mut self, host: &mut HostConnection<'_>) -> NetworkStatus {
        self.rec("new_connection");
        match self.mode.as_str() {
            "attrs" => {
                let text = |r: sluice_sdk::error::Result<&[u8]>| r.map(s);
                self.rec(format!("source={:?}", text(host.attribute_string(Attribute::SourceAddress))));
                self.rec(format!("dport={:?}", host.attribute_int(Attribute::DestinationPort)));
                self.rec(format!("sni={:?}", text(host.attribute_string(Attribute::TlsSni))));
                self.rec(format!("alpn={:?}", text(host.attribute_string(Attribute::TlsAlpn))));
                self.rec(format!("path={:?}", text(host.attribute_string(Attribute::RequestPath))));
                self.rec(format!("stream={:?}", host.attribute_int(Attribute::StreamId)));
                host.set_metadata_string("probe", "who", "alice").unwrap();
                host.set_metadata_number("probe", "n", 7.0).unwrap();
                host.set_metadata_string("probe", "num_text", "2.5").unwrap();
                self.rec(format!("who={:?}", text(host.metadata_string("probe", "who"))));
                self.rec(format!("n={:?}", host.metadata_number("probe", "n")));
                self.rec(format!("num_text={:?}", host.metadata_number("probe", "num_text")));
                self.rec(format!("n_as_text={:?}", host.metadata_string("probe", "n").err()));
                self.rec(format!("absent={:?}", host.metadata_string("probe", "nope").err()));
                NetworkStatus::Continue
            }
            "ask" => NetworkStatus::StopIteration,
            "leak" => {
                *KEPT.lock().unwrap() = host.new_scheduler();
                NetworkStatus::Continue
            }
            "panic_new_connection" => panic!("boom in on_new_connection"),
            _ => NetworkStatus::Continue,
        }
    }

    fn on_read(&mut self, host: &mut HostConnection<'_>, data_length: usize, end_stream: bool) -> NetworkStatus {
        self.reads.increment().unwrap();
        let data = host.read_buffer().unwrap();
        self.rec(format!("read {data_length} {:?} end={end_stream}", s(&data)));
        match self.mode.as_str() {
            "line" => {
                if data.contains(&b'\n') {
                    NetworkStatus::Continue
                } else {
                    NetworkStatus::StopIteration
                }
            }
            "rewrite" => {
                host.drain(NetworkBuffer::Read, 2).unwrap();
                host.append(NetworkBuffer::Read, "!").unwrap();
                host.prepend(NetworkBuffer::Read, ">").unwrap();
                // The view taken before the changes is still what it was.
                self.rec(format!("held={:?} now={:?}", s(&data), s(&host.read_buffer().unwrap())));
                self.rec(format!("write_buffer={:?}", host.write_buffer().err()));
                self.rec(format!("size={:?}", host.buffer_size(NetworkBuffer::Read)));
                NetworkStatus::Continue
            }
            "deny" => {
                host.write("DENIED\n", false).unwrap();
                host.close(CloseType::Flush).unwrap();
                // Nothing happened yet: the close takes effect when the hook returns.
                self.rec(format!("after close: drain={:?}", host.drain(NetworkBuffer::Read, 1)));
                self.rec(format!("after close: write={:?}", host.write("x", false)));
                self.rec(format!("after close: close={:?}", host.close(CloseType::Abort)));
                self.rec(format!("after close: scheduler={:?}", host.new_scheduler().is_some()));
                self.rec(format!("after close: conn id ok={}", host.attribute_int(Attribute::ConnectionId).is_ok()));
                self.rec(format!("after close: metadata={:?}", host.set_metadata_string("probe", "denied", "yes")));
                NetworkStatus::StopIteration
            }
            "ask" | "panic_scheduled" => {
                if self.scheduler.is_none() && data.contains(&b'\n') {
                    let scheduler = host.new_scheduler().expect("scheduler");
                    std::thread::spawn(move || scheduler.commit(1).unwrap()).join().unwrap();
                    self.scheduler = Some(host.new_scheduler().expect("a second scheduler"));
                }
                NetworkStatus::StopIteration
            }
            "continue_in_read" => {
                host.continue_reading().unwrap();
                NetworkStatus::StopIteration
            }
            "delay" => {
                self.held_in.extend_from_slice(&data);
                self.fins.0 |= end_stream;
                host.drain(NetworkBuffer::Read, data.len()).unwrap();
                self.arm(host);
                NetworkStatus::StopIteration
            }
            "disable" => {
                host.read_disable(true).unwrap();
                host.read_disable(true).unwrap();
                host.read_disable(false).unwrap();
                NetworkStatus::Continue
            }
            "panic_read" => panic!("boom in on_read"),
            _ => NetworkStatus::Continue,
        }
    }

    fn on_write(&mut self, host: &mut HostConnection<'_>, data_length: usize, end_stream: bool) -> NetworkStatus {
        let data = host.write_buffer().unwrap();
        self.rec(format!("write {data_length} {:?} end={end_stream}", s(&data)));
        match self.mode.as_str() {
            "rewrite" => {
                host.prepend(NetworkBuffer::Write, "[").unwrap();
                host.append(NetworkBuffer::Write, "]").unwrap();
                NetworkStatus::Continue
            }
            "delay" => {
                self.held_out.extend_from_slice(&data);
                self.fins.1 |= end_stream;
                self.arm(host);
                NetworkStatus::StopIteration
            }
            _ => NetworkStatus::Continue,
        }
    }

    fn on_event(&mut self, host: &mut HostConnection<'_>, event: ConnectionEvent) {
        self.rec(format!("event {event:?}"));
        if event == ConnectionEvent::LocalClose {
            // Reads still work in the closing event; acting calls do not.
            self.rec(format!("closing: metadata={:?}", host.metadata_string("probe", "denied").map(s)));
            self.rec(format!("closing: write={:?}", host.write("late", false)));
        }
        if self.mode == "panic_event" && event == ConnectionEvent::Connected {
            panic!("boom in on_event");
        }
    }

    fn on_watermark(&mut self, _host: &mut HostConnection<'_>, above: bool) {
        self.rec(format!("watermark above={above}"));
    }

    fn on_scheduled(&mut self, host: &mut HostConnection<'_>, event_id: u64) {
        self.rec(format!("scheduled {event_id}"));
        if self.mode == "panic_scheduled" {
            panic!("boom in on_scheduled");
        }
        let data = host.read_buffer().unwrap();
        let line = data.iter().position(|b| *b == b'\n').map_or(0, |i| i + 1);
        host.drain(NetworkBuffer::Read, line).unwrap();
        host.set_metadata_string("probe", "line", &data[..line.saturating_sub(1)]).unwrap();
        host.log(LogLevel::Info, "probe: let through").unwrap();
        host.continue_reading().unwrap();
    }

    fn on_timer(&mut self, host: &mut HostConnection<'_>, timer: TimerId) {
        self.rec(format!("timer same={}", self.timer.as_ref().map(|t| t.id()) == Some(timer)));
        let (inn, out) = (core::mem::take(&mut self.held_in), core::mem::take(&mut self.held_out));
        if !inn.is_empty() || self.fins.0 {
            host.inject_read(inn, self.fins.0).unwrap();
        }
        if !out.is_empty() || self.fins.1 {
            host.inject_write(out, self.fins.1).unwrap();
        }
    }
}

impl Probe {
    fn arm(&mut self, host: &mut HostConnection<'_>) {
        if self.timer.is_none() {
            self.timer = host.new_timer();
        }
        self.timer.as_ref().unwrap().enable(Duration::from_millis(5)).unwrap();
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        record(&self.tag, "dropped");
    }
}

declare_module! {
    network_filters: {
        "probe" => ProbeConfig::new,
    }
}

fn module() -> FakeModule {
    FakeModule::load(__sluice_module::symbols()).expect("load")
}

// ---- tests ---------------------------------------------------------------

#[test]
fn a_network_only_module_offers_no_http_filters() {
    let sym = __sluice_module::symbols();
    assert!(sym.http.is_none() && sym.network.is_some());
    assert_eq!(
        module().config("probe", "").err().unwrap(),
        "the module offers no HTTP filters (it exports no sluice_on_http_filter_* hooks)"
    );
}

#[test]
fn bad_network_configs_are_rejected() {
    let m = module();
    assert_eq!(
        m.network_config("nope", "x:y").err().unwrap(),
        "unknown network filter_name \"nope\" (this module offers network filters: probe)"
    );
    assert_eq!(m.network_config("probe", "no tag").err().unwrap(), "want mode:tag");
    assert_eq!(m.network_config("probe", "explode:x").err().unwrap(), "panic: network constructor exploded");
    assert_eq!(logs_containing("panic in config_new of filter \"probe\"").len(), 1);
}

#[test]
fn every_read_sees_the_whole_buffer_until_the_filter_continues() {
    let cfg = module().network_config("probe", "line:line1").unwrap();
    let mut conn = cfg.new_connection().unwrap();
    assert_eq!(conn.start(), NetworkStatus::Continue);
    assert!(conn.upstream_started());
    assert_eq!(conn.read(b"ab", false), NetworkStatus::StopIteration);
    assert_eq!(conn.read_buffer(), b"ab");
    assert_eq!(conn.upstream(), b"");
    assert_eq!(conn.read(b"c\nd", false), NetworkStatus::Continue);
    assert_eq!(conn.upstream(), b"abc\nd");
    assert_eq!(conn.read_buffer(), b"");
    assert_eq!(conn.read(b"", true), NetworkStatus::StopIteration, "an empty FIN pass still reaches the filter");
    assert_eq!(
        recorded("line1"),
        [
            "new_filter conn=true",
            "new_connection",
            "event Connected",
            "read 2 \"ab\" end=false",
            "read 5 \"abc\\nd\" end=false",
            "read 0 \"\" end=true"
        ]
    );
    assert_eq!(cfg.metric("reads"), Some(3));
    assert_eq!(conn.events(), [ConnectionEvent::Connected]);
}

#[test]
fn buffers_change_under_views_taken_before() {
    let cfg = module().network_config("probe", "rewrite:rw1").unwrap();
    let mut conn = cfg.new_connection().unwrap();
    assert_eq!(conn.read(b"hello", false), NetworkStatus::Continue);
    assert_eq!(conn.upstream(), b">llo!");
    assert_eq!(conn.write(b"back", true), NetworkStatus::Continue);
    assert_eq!(conn.client(), b"[back]");
    assert!(conn.client_ended());
    assert_eq!(
        recorded("rw1")[3..],
        [
            "read 5 \"hello\" end=false",
            "held=\"hello\" now=\">llo!\"",
            "write_buffer=Some(Unavailable)",
            "size=Ok(5)",
            "write 4 \"back\" end=true"
        ]
    );
    // The client's FIN after ours: both directions ended, the connection
    // closes, the filter hears it and is dropped.
    assert_eq!(conn.read(b"", true), NetworkStatus::Continue);
    assert!(conn.is_closed() && conn.destroyed());
    assert_eq!(conn.events(), [ConnectionEvent::Connected, ConnectionEvent::RemoteClose]);
    assert_eq!(recorded("rw1").last().unwrap(), "dropped");
}

#[test]
fn write_and_close_take_effect_when_the_hook_returns() {
    let cfg = module().network_config("probe", "deny:deny1").unwrap();
    let mut conn = cfg.new_connection().unwrap();
    conn.start();
    assert_eq!(conn.read(b"let me in", false), NetworkStatus::StopIteration);
    // The filter's own write went through its own on_write (run normally,
    // not refused as a re-entry), then the close flushed it.
    assert_eq!(conn.client(), b"DENIED\n");
    assert_eq!(conn.close_type(), Some(CloseType::Flush));
    assert!(conn.destroyed());
    assert_eq!(conn.events(), [ConnectionEvent::Connected, ConnectionEvent::LocalClose]);
    assert_eq!(
        recorded("deny1")[4..],
        [
            "after close: drain=Err(StreamEnded)",
            "after close: write=Err(StreamEnded)",
            "after close: close=Err(StreamEnded)",
            "after close: scheduler=false",
            "after close: conn id ok=true",
            "after close: metadata=Ok(())",
            "write 7 \"DENIED\\n\" end=false",
            "event LocalClose",
            "closing: metadata=Ok(\"yes\")",
            "closing: write=Err(StreamEnded)",
            "dropped"
        ]
    );
    assert!(logs_containing("on_write of network filter").is_empty(), "the own write was not refused");
    assert_eq!(conn.metadata("probe", "denied"), Some(Metadata::String(b"yes".to_vec())));
}

#[test]
fn a_decision_from_another_thread_continues_reading() {
    let cfg = module().network_config("probe", "ask:ask1").unwrap();
    let mut conn = cfg.new_connection().unwrap();
    assert_eq!(conn.start(), NetworkStatus::StopIteration);
    assert!(!conn.upstream_started(), "held: tcp_proxy must not connect yet");
    assert_eq!(conn.read(b"HELLO", false), NetworkStatus::StopIteration);
    assert_eq!(conn.read(b" x\npayload", false), NetworkStatus::StopIteration);
    assert!(!conn.upstream_started());
    assert_eq!(conn.run_scheduled(1, Duration::from_secs(10)), 1);
    // continue_reading passed what was buffered on without another byte.
    assert!(conn.upstream_started());
    assert_eq!(conn.upstream(), b"payload");
    assert_eq!(conn.continue_reading_calls(), 1);
    assert_eq!(conn.metadata_string("probe", "line").unwrap(), b"HELLO x");
    assert_eq!(logs_containing("probe: let through").len(), 1);
    assert_eq!(conn.schedulers(), (2, 1), "the committing thread dropped (deleted) its scheduler");
    drop(conn);
    assert_eq!(recorded("ask1").last().unwrap(), "dropped");
}

#[test]
fn continue_reading_inside_on_read_is_a_continue() {
    let cfg = module().network_config("probe", "continue_in_read:cir1").unwrap();
    let mut conn = cfg.new_connection().unwrap();
    assert_eq!(conn.read(b"data", false), NetworkStatus::Continue);
    assert_eq!(conn.upstream(), b"data");
}

#[test]
fn timers_release_held_data_in_both_directions() {
    let cfg = module().network_config("probe", "delay:delay1").unwrap();
    let mut conn = cfg.new_connection().unwrap();
    assert_eq!(conn.read(b"up", true), NetworkStatus::StopIteration);
    assert_eq!(conn.write(b"down", true), NetworkStatus::StopIteration);
    assert_eq!((conn.upstream(), conn.client()), (vec![], vec![]));
    let timers = conn.armed_timers();
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].1, Duration::from_millis(5));
    assert!(conn.fire_timer(timers[0].0));
    assert_eq!(conn.upstream(), b"up");
    assert!(conn.upstream_ended());
    assert_eq!(conn.client(), b"down");
    // The released FIN ended the write side after the client's: closed.
    assert!(conn.is_closed() && conn.destroyed());
    assert_eq!(conn.events(), [ConnectionEvent::Connected, ConnectionEvent::LocalClose]);
    assert!(!conn.fire_timer(timers[0].0), "a closed connection's timer does not fire");
    assert!(recorded("delay1").contains(&"timer same=true".to_string()));
}

#[test]
fn read_disable_counts() {
    let cfg = module().network_config("probe", "disable:dis1").unwrap();
    let mut conn = cfg.new_connection().unwrap();
    conn.read(b"x", false);
    assert!(conn.read_disabled(), "two disables, one enable");
}

#[test]
fn attributes_and_metadata() {
    let cfg = module().network_config("probe", "attrs:attrs1").unwrap();
    let mut conn = cfg.new_connection().unwrap();
    conn.set_attribute_string(Attribute::TlsSni, "example.com");
    conn.start();
    assert_eq!(
        recorded("attrs1")[2..],
        [
            "source=Ok(\"127.0.0.1:40000\")",
            "dport=Ok(10000)",
            "sni=Ok(\"example.com\")",
            "alpn=Err(NotFound)",
            "path=Err(InvalidArgument)",
            "stream=Err(InvalidArgument)",
            "who=Ok(\"alice\")",
            "n=Ok(7.0)",
            "num_text=Ok(2.5)",
            "n_as_text=Some(InvalidArgument)",
            "absent=Some(NotFound)",
            "event Connected",
        ]
    );
    assert_eq!(conn.metadata_number("probe", "n"), Ok(7.0));
    conn.watermark(true);
    conn.watermark(false);
    assert_eq!(recorded("attrs1")[14..], ["watermark above=true", "watermark above=false"]);
}

#[test]
fn a_panic_closes_the_connection_with_abort() {
    for (mode, hook) in [
        ("panic_read", "on_read"),
        ("panic_new_connection", "on_new_connection"),
        ("panic_event", "on_event"),
        ("panic_scheduled", "on_scheduled"),
    ] {
        let tag = format!("{mode}1");
        let cfg = module().network_config("probe", &format!("{mode}:{tag}")).unwrap();
        let mut conn = cfg.new_connection().unwrap();
        match mode {
            "panic_read" => assert_eq!(conn.read(b"x", false), NetworkStatus::StopIteration),
            "panic_scheduled" => {
                assert_eq!(conn.read(b"x\n", false), NetworkStatus::StopIteration);
                assert_eq!(conn.run_scheduled(1, Duration::from_secs(10)), 1);
            }
            // new_connection's panic stops the chain; on_event's comes
            // after new_connection continued.
            _ => {
                let want = if mode == "panic_event" { NetworkStatus::Continue } else { NetworkStatus::StopIteration };
                assert_eq!(conn.start(), want, "{mode}");
            }
        }
        assert_eq!(conn.close_type(), Some(CloseType::Abort), "{mode}");
        assert!(conn.destroyed(), "{mode}");
        assert_eq!(cfg.panics(), 1, "{mode}");
        let rec = recorded(&tag);
        assert_eq!(rec.last().unwrap(), "dropped", "{mode}: the poisoned filter is still dropped");
        assert!(!rec.iter().any(|r| r.starts_with("event LocalClose")), "{mode}: no hook runs after the panic");
        assert_eq!(
            logs_containing(&format!("panic in {hook} of filter \"probe\" at tests/network.rs:")).len(),
            1,
            "{mode}"
        );
    }
}

#[test]
fn commits_after_the_filter_was_destroyed_are_refused() {
    let cfg = module().network_config("probe", "leak:leak1").unwrap();
    let mut conn = cfg.new_connection().unwrap();
    conn.start();
    let kept = KEPT.lock().unwrap().take().expect("the filter's scheduler");
    assert_eq!(kept.commit(1), Ok(()));
    conn.remote_close();
    assert!(conn.destroyed());
    assert_eq!(conn.events(), [ConnectionEvent::Connected, ConnectionEvent::RemoteClose]);
    assert_eq!(kept.commit(2), Err(Error::CommitRefused), "a destroyed filter's scheduler is stale");
    assert_eq!(conn.run_scheduled(1, Duration::from_millis(50)), 0, "nothing is delivered after close");
    // Any call with the stale handle is refused, never misdirected.
    // SAFETY: a handle the fake host knows as destroyed; the calls only check it.
    let host = unsafe { HostConnection::new(conn.handle()) };
    assert_eq!(host.attribute_int(Attribute::ConnectionId), Err(Error::InvalidHandle));
    assert_eq!(host.metadata_string("probe", "x").err(), Some(Error::InvalidHandle));
}

#[test]
fn a_hook_arriving_while_user_code_runs_is_refused() {
    let cfg = module().network_config("probe", "disable:reenter1").unwrap();
    let mut conn = cfg.new_connection().unwrap();
    conn.start();
    conn.reenter_on_read_disable();
    assert_eq!(conn.read(b"abc", false), NetworkStatus::Continue);
    // Three nested reads, refused with StopIteration (the bytes stay for the
    // next pass), never run: the filter recorded one read.
    assert_eq!(conn.reentered(), [NetworkStatus::StopIteration; 3]);
    assert_eq!(recorded("reenter1").iter().filter(|r| r.starts_with("read ")).count(), 1);
    assert_eq!(
        logs_containing("on_read of network filter \"probe\" re-entered while another of its hooks runs: refused")
            .len(),
        1,
        "logged once"
    );
    assert_eq!(conn.upstream(), b"abc");
}
