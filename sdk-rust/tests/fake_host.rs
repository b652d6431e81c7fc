//! The safe layer end to end against the fake host: a test module declared
//! with `declare_module!` is driven through its exported hooks.

use sluice_sdk::ffi::{FAILED_STATUS, PANIC_BODY, PANIC_DETAILS};
use sluice_sdk::testing::{logs_containing, FakeModule, LocalReply, Metadata};
use sluice_sdk::*;
use std::sync::Mutex;
use std::time::Duration;

// ---- a filter that records what the host API returned --------------------

/// Results recorded by filters, keyed by a test-chosen tag.
static RECORD: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// The committing thread of the "scheduled" probe, for the test to join.
static COMMITTER: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

fn record(tag: &str, what: impl Into<String>) {
    RECORD.lock().unwrap().push((tag.to_string(), what.into()));
}

fn recorded(tag: &str) -> Vec<String> {
    RECORD.lock().unwrap().iter().filter(|(t, _)| t == tag).map(|(_, w)| w.clone()).collect()
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Config text is `tag` or `tag:flag`; the tag scopes RECORD entries.
struct ProbeConfig {
    tag: String,
    requests: Counter,
    inflight: Gauge,
    sizes: Histogram,
}

impl ProbeConfig {
    fn new(host: &mut HostConfig<'_>, config: &[u8]) -> Result<ProbeConfig, String> {
        let tag = std::str::from_utf8(config).map_err(|e| e.to_string())?.to_string();
        if tag.is_empty() {
            return Err("probe needs a tag".to_string());
        }
        if tag == "explode" {
            panic!("constructor exploded");
        }
        Ok(ProbeConfig {
            tag,
            // `?` works: sluice_sdk::Error converts into the String reason.
            requests: host.define_counter("requests")?,
            inflight: host.define_gauge("inflight")?,
            sizes: host.define_histogram("sizes")?,
        })
    }
}

impl HttpFilterConfig for ProbeConfig {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(Probe {
            tag: self.tag.clone(),
            requests: self.requests,
            inflight: self.inflight,
            sizes: self.sizes,
            scheduler: None,
        })
    }

    fn new_per_route_config(
        &self,
        _host: &mut HostConfig<'_>,
        config: &[u8],
    ) -> Result<Box<dyn std::any::Any + Send + Sync>, String> {
        match config {
            b"" => Err("empty per-route config".to_string()),
            other => Ok(Box::new(s(other))),
        }
    }
}

struct Probe {
    tag: String,
    requests: Counter,
    inflight: Gauge,
    sizes: Histogram,
    scheduler: Option<Scheduler>,
}

impl HttpFilter for Probe {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, end_of_stream: bool) -> HeadersStatus {
        let tag = self.tag.clone();
        self.requests.increment().unwrap();
        self.inflight.add(1).unwrap();
        record(&tag, format!("eos={end_of_stream}"));
        match tag.as_str() {
            t if t.starts_with("headers") => {
                // Hold views across mutations: the ABI keeps them valid until the hook returns.
                let before = host.request_header("x-a").unwrap();
                host.set_request_header("x-a", "replaced").unwrap();
                host.add_request_header("x-multi", "3").unwrap();
                let removed = host.remove_request_header("x-gone").unwrap();
                record(&tag, format!("held={} removed={removed}", s(before)));
                record(&tag, format!("now={}", s(host.request_header("X-A").unwrap())));
                let multi: Vec<String> =
                    host.header_values(HeaderKind::RequestHeaders, "x-multi").unwrap().iter().map(|v| s(v)).collect();
                record(&tag, format!("multi={}", multi.join(",")));
                let all = host.request_headers().unwrap();
                record(&tag, format!("count={} first={}={}", all.len(), s(all[0].0), s(all[0].1)));
                record(&tag, format!("absent={:?}", host.request_header("nope")));
                record(&tag, format!("resp={:?}", host.response_headers().err()));
                HeadersStatus::Continue
            }
            "grpc" => {
                record(&tag, format!("is_grpc={}", host.request_is_grpc()));
                host.send_grpc_status(GrpcStatus::PermissionDenied, "no: 100%", b"grpc_denied").unwrap();
                HeadersStatus::StopIteration
            }
            "reply" => {
                host.send_response_with_details(403, &[(b"x-why", b"denied")], b"go away", b"probe_denied").unwrap();
                record(&tag, format!("after={:?}", host.set_request_header("x", "y")));
                record(&tag, format!("read_after={:?}", host.request_headers().err()));
                HeadersStatus::StopIteration
            }
            "scheduled" => {
                let sched = host.new_scheduler().expect("scheduler");
                let remote = host.new_scheduler().expect("second scheduler");
                let committer = std::thread::spawn(move || {
                    assert!(remote.commit(7).is_ok());
                    assert!(remote.commit(9).is_ok());
                    // remote drops here: deleted from a foreign thread.
                });
                *COMMITTER.lock().unwrap() = Some(committer);
                self.scheduler = Some(sched);
                HeadersStatus::StopIteration
            }
            "info" => {
                record(&tag, format!("method={}", s(host.attribute_string(Attribute::RequestMethod).unwrap())));
                record(&tag, format!("port={}", host.attribute_int(Attribute::SourcePort).unwrap()));
                record(&tag, format!("missing={:?}", host.attribute_string(Attribute::RequestId).err()));
                host.set_metadata_string("probe", "who", "me").unwrap();
                host.set_metadata_number("probe", "n", 2.5).unwrap();
                host.set_metadata_string("probe", "numeric", "7.5").unwrap();
                record(
                    &tag,
                    format!(
                        "numeric={:?} text={:?}",
                        host.metadata_number("probe", "numeric"),
                        host.metadata_number("probe", "who")
                    ),
                );
                record(
                    &tag,
                    format!(
                        "meta={} {}",
                        s(host.metadata_string("probe", "who").unwrap()),
                        host.metadata_number("probe", "n").unwrap()
                    ),
                );
                record(&tag, format!("route={:?}", host.per_route_config::<String>()));
                record(&tag, format!("wrong_type={:?}", host.per_route_config::<u32>()));
                host.clear_route_cache().unwrap();
                sluice_info!("probe {} info log {}", tag, 42);
                sluice_trace!("probe {} trace log", tag);
                HeadersStatus::Continue
            }
            _ => HeadersStatus::Continue,
        }
    }

    fn on_request_body(&mut self, host: &mut HostFilter<'_>, end_of_stream: bool) -> BodyStatus {
        let size = host.body_size(BodyKind::ReceivedRequest).unwrap();
        self.sizes.record(size as u64).unwrap();
        if !end_of_stream {
            return BodyStatus::StopIterationAndBuffer;
        }
        // The whole body is what was buffered plus this last chunk;
        // upper-case it and send it on as the received body.
        let mut whole = host.body_bytes(BodyKind::BufferedRequest).unwrap();
        let buffered_chunks = host.body_chunks(BodyKind::BufferedRequest).unwrap();
        whole.extend(host.body_bytes(BodyKind::ReceivedRequest).unwrap());
        record(&self.tag, format!("sizes={} {}", host.body_size(BodyKind::BufferedRequest).unwrap(), whole.len()));
        host.drain_body(BodyKind::BufferedRequest, usize::MAX).unwrap();
        host.drain_body(BodyKind::ReceivedRequest, usize::MAX).unwrap();
        host.append_body(BodyKind::ReceivedRequest, whole.to_ascii_uppercase()).unwrap();
        // Views taken before the drain are still readable.
        let old: Vec<String> = buffered_chunks.iter().map(|c| s(c)).collect();
        record(&self.tag, format!("old_chunks={}", old.join("|")));
        BodyStatus::Continue
    }

    fn on_request_trailers(&mut self, host: &mut HostFilter<'_>) -> TrailersStatus {
        host.set_header(HeaderKind::RequestTrailers, "x-checked", "1").unwrap();
        TrailersStatus::Continue
    }

    fn on_response_headers(&mut self, host: &mut HostFilter<'_>, _eos: bool) -> HeadersStatus {
        host.set_response_header("x-probe", &self.tag).unwrap();
        HeadersStatus::Continue
    }

    fn on_stream_complete(&mut self, host: &mut HostFilter<'_>) {
        self.inflight.add(-1).unwrap();
        record(&self.tag, format!("complete read={:?}", host.request_header(":path").map(s)));
        record(&self.tag, format!("complete write={:?}", host.set_request_header("x", "y")));
    }

    fn on_scheduled(&mut self, host: &mut HostFilter<'_>, event_id: u64) {
        record(&self.tag, format!("scheduled={event_id}"));
        if event_id == 9 {
            host.continue_decoding().unwrap();
        }
    }
}

// ---- a filter that panics where its config says -------------------------

struct PanicConfig {
    hook: String,
}

impl PanicConfig {
    fn new(_host: &mut HostConfig<'_>, config: &[u8]) -> Result<PanicConfig, String> {
        Ok(PanicConfig { hook: s(config) })
    }
}

impl HttpFilterConfig for PanicConfig {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        if self.hook == "new_filter" {
            panic!("no filter for you");
        }
        Box::new(Panicker { hook: self.hook.clone(), scheduler: None })
    }
}

struct Panicker {
    hook: String,
    scheduler: Option<Scheduler>,
}

impl Panicker {
    fn maybe(&self, hook: &str) {
        if self.hook == hook {
            panic!("boom in {hook}");
        }
    }
}

impl HttpFilter for Panicker {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _eos: bool) -> HeadersStatus {
        if self.hook == "after_reply" {
            host.send_response(200, sluice_sdk::NO_HEADERS, b"ok").unwrap();
            panic!("boom after reply");
        }
        if self.hook == "on_scheduled" {
            let sched = host.new_scheduler().unwrap();
            assert!(sched.commit(1).is_ok());
            self.scheduler = Some(sched);
            return HeadersStatus::StopIteration;
        }
        self.maybe("on_request_headers");
        HeadersStatus::Continue
    }
    fn on_request_body(&mut self, _host: &mut HostFilter<'_>, _eos: bool) -> BodyStatus {
        self.maybe("on_request_body");
        BodyStatus::Continue
    }
    fn on_response_headers(&mut self, _host: &mut HostFilter<'_>, _eos: bool) -> HeadersStatus {
        self.maybe("on_response_headers");
        HeadersStatus::Continue
    }
    fn on_scheduled(&mut self, _host: &mut HostFilter<'_>, _event_id: u64) {
        self.maybe("on_scheduled");
    }
}

impl Drop for Panicker {
    fn drop(&mut self) {
        if self.hook == "drop" {
            panic!("boom in drop");
        }
    }
}

declare_module! {
    filters: {
        "probe" => ProbeConfig::new,
        "panicker" => PanicConfig::new,
    }
}

fn module() -> FakeModule {
    FakeModule::load(__sluice_module::symbols()).expect("load")
}

// ---- tests ---------------------------------------------------------------

#[test]
fn exports_the_abi_version() {
    let want = (sluice_sdk::abi::SLUICE_ABI_VERSION_MAJOR << 16) | sluice_sdk::abi::SLUICE_ABI_VERSION_MINOR;
    assert_eq!((__sluice_module::symbols().abi_version)(), want);
}

#[test]
fn unknown_filter_name_is_rejected_with_the_offered_names() {
    let err = module().config("nope", "x").err().unwrap();
    assert_eq!(err, "unknown filter_name \"nope\" (this module offers: probe, panicker)");
}

#[test]
fn constructor_error_becomes_the_reject_reason() {
    assert_eq!(module().config("probe", "").err().unwrap(), "probe needs a tag");
}

#[test]
fn constructor_panic_is_a_rejection_not_an_unwind() {
    assert_eq!(module().config("probe", "explode").err().unwrap(), "panic: constructor exploded");
    assert_eq!(logs_containing("panic in config_new of filter \"probe\"").len(), 1);
}

#[test]
fn header_reads_and_mutations() {
    let cfg = module().config("probe", "headers1").unwrap();
    let mut st = cfg.new_stream().unwrap();
    let mut hs: Vec<(String, String)> = vec![
        (":path".into(), "/p".into()),
        ("x-a".into(), "orig".into()),
        ("x-gone".into(), "1".into()),
        ("x-gone".into(), "2".into()),
        ("x-multi".into(), "1".into()),
    ];
    // More than the SDK's first batch (32) to exercise the retry.
    for i in 0..40 {
        hs.push((format!("x-fill-{i}"), i.to_string()));
    }
    hs.push(("x-multi".into(), "2".into()));
    let refs: Vec<(&str, &str)> = hs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    st.set_request_headers(&refs);
    assert_eq!(st.request_headers(true), HeadersStatus::Continue);
    assert_eq!(
        recorded("headers1"),
        vec![
            "eos=true",
            "held=orig removed=2",
            "now=replaced",
            "multi=1,2,3",
            "count=45 first=:path=/p",
            "absent=None",
            "resp=Some(Unavailable)",
        ]
    );
    assert_eq!(st.header(HeaderKind::RequestHeaders, "x-gone"), None);
    assert_eq!(st.header(HeaderKind::RequestHeaders, "x-a").as_deref(), Some(&b"replaced"[..]));
    assert_eq!(cfg.metric("requests"), Some(1));
}

#[test]
fn local_reply_ends_the_stream() {
    let cfg = module().config("probe", "reply").unwrap();
    let mut st = cfg.new_stream().unwrap();
    assert_eq!(st.request_headers(true), HeadersStatus::StopIteration);
    assert_eq!(
        st.local_reply(),
        Some(LocalReply {
            status: 403,
            headers: vec![("x-why".into(), "denied".into())],
            body: b"go away".to_vec(),
            details: "probe_denied".into()
        })
    );
    // Writes are refused once the stream ended; reads still work.
    assert_eq!(recorded("reply")[1..], ["after=Err(StreamEnded)", "read_after=None"]);
}

#[test]
fn grpc_status_reply_is_trailers_only() {
    let cfg = module().config("probe", "grpc").unwrap();
    let mut st = cfg.new_stream().unwrap();
    st.set_request_headers(&[(":path", "/svc/M"), ("content-type", "application/grpc+proto")]);
    assert_eq!(st.request_headers(false), HeadersStatus::StopIteration);
    assert_eq!(recorded("grpc"), ["eos=false", "is_grpc=true"]);
    assert_eq!(
        st.local_reply(),
        Some(LocalReply {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/grpc".into()),
                ("grpc-status".into(), "7".into()),
                ("grpc-message".into(), "no: 100%25".into()),
            ],
            body: vec![],
            details: "grpc_denied".into()
        })
    );
}

#[test]
fn body_is_buffered_then_rewritten_across_chunks() {
    let cfg = module().config("probe", "body").unwrap();
    let mut st = cfg.new_stream().unwrap();
    st.set_request_headers(&[(":path", "/")]);
    assert_eq!(st.request_headers(false), HeadersStatus::Continue);
    assert_eq!(st.request_body(b"hello ", false), BodyStatus::StopIterationAndBuffer);
    assert_eq!(st.request_body(b"wor", false), BodyStatus::StopIterationAndBuffer);
    assert_eq!(st.forwarded_body(true), b"");
    assert_eq!(st.request_body(b"ld", true), BodyStatus::Continue);
    assert_eq!(st.forwarded_body(true), b"HELLO WORLD");
    assert_eq!(recorded("body"), ["eos=false", "sizes=9 11", "old_chunks=hello |wor"]);
    // Each call received only its own chunk.
    assert_eq!(cfg.metric("sizes"), Some(6 + 3 + 2));
}

#[test]
fn trailers_and_response_headers() {
    let cfg = module().config("probe", "trailers").unwrap();
    let mut st = cfg.new_stream().unwrap();
    st.set_request_trailers(&[("x-t", "1")]);
    assert_eq!(st.request_trailers(), TrailersStatus::Continue);
    assert_eq!(
        st.headers(HeaderKind::RequestTrailers),
        vec![("x-t".into(), "1".into()), ("x-checked".into(), "1".into())]
    );
    st.set_response_headers(&[(":status", "200")]);
    assert_eq!(st.response_headers(true), HeadersStatus::Continue);
    assert_eq!(st.header(HeaderKind::ResponseHeaders, "x-probe").as_deref(), Some(&b"trailers"[..]));
}

#[test]
fn stream_complete_allows_reads_only_and_metrics_track_it() {
    let cfg = module().config("probe", "complete").unwrap();
    let mut st = cfg.new_stream().unwrap();
    st.set_request_headers(&[(":path", "/done")]);
    st.request_headers(true);
    assert_eq!(cfg.metric("inflight"), Some(1));
    st.complete();
    assert_eq!(cfg.metric("inflight"), Some(0));
    assert_eq!(recorded("complete")[1..], ["complete read=Some(\"/done\")", "complete write=Err(StreamEnded)"]);
}

#[test]
fn scheduler_commits_from_another_thread_arrive_in_order_on_the_filter() {
    let cfg = module().config("probe", "scheduled").unwrap();
    let mut st = cfg.new_stream().unwrap();
    st.set_request_headers(&[(":path", "/")]);
    assert_eq!(st.request_headers(true), HeadersStatus::StopIteration);
    assert_eq!(st.run_scheduled(2, Duration::from_secs(10)), 2);
    assert_eq!(recorded("scheduled")[1..], ["scheduled=7", "scheduled=9"]);
    assert_eq!(st.continue_decoding_calls(), 1);
    // The thread's scheduler was deleted when it dropped; the filter's is
    // deleted with the filter.
    COMMITTER.lock().unwrap().take().expect("committer thread").join().unwrap();
    assert_eq!(st.schedulers(), (2, 1));
    st.complete();
    assert_eq!(st.schedulers(), (2, 2));
}

#[test]
fn attributes_metadata_per_route_and_logs() {
    let cfg = module().config("probe", "info").unwrap();
    let route = cfg.per_route("route-a").unwrap();
    assert_eq!(cfg.per_route("").err().unwrap(), "empty per-route config");
    let mut st = cfg.new_stream().unwrap();
    st.set_attribute_string(Attribute::RequestMethod, "GET");
    st.set_attribute_int(Attribute::SourcePort, 4321);
    st.set_per_route(&route);
    assert_eq!(st.request_headers(true), HeadersStatus::Continue);
    assert_eq!(
        recorded("info")[1..],
        [
            "method=GET",
            "port=4321",
            "missing=Some(NotFound)",
            "numeric=Ok(7.5) text=Err(InvalidArgument)",
            "meta=me 2.5",
            "route=Some(\"route-a\")",
            "wrong_type=None",
        ]
    );
    assert_eq!(st.metadata("probe", "who"), Some(Metadata::String(b"me".to_vec())));
    assert_eq!(st.metadata("probe", "n"), Some(Metadata::Number(2.5)));
    assert_eq!(st.clear_route_cache_calls(), 1);
    assert_eq!(logs_containing("probe info info log 42").len(), 1);
    assert!(logs_containing("probe info trace log").is_empty(), "trace is below the fake host's level");
}

#[test]
fn filters_without_per_route_support_reject_it() {
    let cfg = module().config("panicker", "none").unwrap();
    assert_eq!(cfg.per_route("{}").err().unwrap(), "this filter takes no per-route config");
}

fn assert_panic_reply(st: &sluice_sdk::testing::FakeStream) {
    assert_eq!(
        st.local_reply(),
        Some(LocalReply { status: 500, headers: vec![], body: PANIC_BODY.to_vec(), details: s(PANIC_DETAILS) })
    );
}

#[test]
fn panic_in_request_headers_answers_500_and_poisons_the_filter() {
    let cfg = module().config("panicker", "on_request_headers").unwrap();
    let mut st = cfg.new_stream().unwrap();
    assert_eq!(st.request_headers(true), HeadersStatus::StopIteration);
    assert_panic_reply(&st);
    let logged = logs_containing("boom in on_request_headers");
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].starts_with("panic in on_request_headers of filter \"panicker\" at "), "{}", logged[0]);
    assert!(logged[0].contains("tests/fake_host.rs:"), "{}", logged[0]);
    assert!(logged[0].ends_with(": boom in on_request_headers"), "{}", logged[0]);
}

#[test]
fn panic_in_body_and_response_hooks_answers_500() {
    for (hook, want) in [
        ("on_request_body", BodyStatus::StopIterationNoBuffer as i32),
        ("on_response_headers", HeadersStatus::StopIteration as i32),
    ] {
        let cfg = module().config("panicker", hook).unwrap();
        let mut st = cfg.new_stream().unwrap();
        assert_eq!(st.request_headers(false), HeadersStatus::Continue);
        let got = if hook == "on_request_body" {
            st.request_body(b"x", true) as i32
        } else {
            st.set_response_headers(&[(":status", "200")]);
            st.response_headers(true) as i32
        };
        assert_eq!(got, want, "{hook}");
        assert_panic_reply(&st);
    }
}

#[test]
fn a_poisoned_filter_passes_later_hooks_through() {
    let cfg = module().config("panicker", "on_response_headers").unwrap();
    let mut st = cfg.new_stream().unwrap();
    st.set_response_headers(&[(":status", "200")]);
    assert_eq!(st.response_headers(false), HeadersStatus::StopIteration);
    // The host runs the local 500 through the encoder path: no second panic.
    assert_eq!(st.response_headers(true), HeadersStatus::Continue);
    assert_eq!(logs_containing("boom in on_response_headers").len(), 1);
}

#[test]
fn panic_after_the_stream_ended_returns_the_failure_status() {
    let cfg = module().config("panicker", "after_reply").unwrap();
    let mut st = cfg.new_stream().unwrap();
    assert_eq!(st.request_headers_raw(true), FAILED_STATUS);
    assert_eq!(st.local_reply().unwrap().status, 200);
}

#[test]
fn panic_in_new_filter_fails_the_stream() {
    let cfg = module().config("panicker", "new_filter").unwrap();
    assert_eq!(cfg.new_stream().err().unwrap(), "filter_new returned NULL");
    assert_eq!(logs_containing("panic in new_filter of filter \"panicker\"").len(), 1);
}

#[test]
fn panic_in_on_scheduled_answers_500() {
    let cfg = module().config("panicker", "on_scheduled").unwrap();
    let mut st = cfg.new_stream().unwrap();
    assert_eq!(st.request_headers(true), HeadersStatus::StopIteration);
    assert_eq!(st.run_scheduled(1, Duration::from_secs(10)), 1);
    assert_panic_reply(&st);
}

#[test]
fn panic_in_drop_is_contained() {
    let cfg = module().config("panicker", "drop").unwrap();
    let mut st = cfg.new_stream().unwrap();
    st.request_headers(true);
    st.complete();
    assert_eq!(logs_containing("panic in destroy of filter \"panicker\"").len(), 1);
}

#[test]
fn metrics_cannot_be_defined_after_config_load() {
    let cfg = module().config("probe", "late").unwrap();
    // SAFETY: a stale-phase call on a real config handle, as a module could make.
    let mut host = unsafe { HostConfig::new(cfg.handle(), b"probe") };
    assert_eq!(host.define_counter("late"), Err(Error::WrongPhase));
}

#[test]
fn concurrency_comes_from_the_host() {
    let _ = module();
    assert_eq!(host::concurrency(), 2);
}
