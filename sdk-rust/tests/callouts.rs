//! HTTP callouts through the safe layer, against the fake host: the
//! request as built, the done hook with the result's views, cancel, bad
//! requests, a panic in the done hook, and config callouts.

use sluice_sdk::ffi::PANIC_DETAILS;
use sluice_sdk::testing::FakeModule;
use sluice_sdk::*;
use std::sync::Mutex;
use std::time::Duration;

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn seen(prefix: &str) -> Vec<String> {
    SEEN.lock().unwrap().iter().filter(|s| s.starts_with(prefix)).cloned().collect()
}

/// Config text picks the behaviour: "call", "cancel", "bad", "panic", or
/// "config" (a config callout from the constructor).
struct Caller {
    mode: String,
}

impl Caller {
    fn new(host: &mut HostConfig<'_>, config: &[u8]) -> Result<Caller, String> {
        let mode = String::from_utf8_lossy(config).into_owned();
        if mode == "config" {
            let id = host.http_callout(&CalloutRequest::new("keys", "GET", "/jwks"))?;
            SEEN.lock().unwrap().push(format!("config started {}", id.0 != 0));
        }
        Ok(Caller { mode })
    }
}

impl HttpFilterConfig for Caller {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(Call { mode: self.mode.clone(), id: None })
    }

    fn on_callout_done(&self, _host: &mut HostConfig<'_>, _id: CalloutId, result: &CalloutResult<'_>) {
        SEEN.lock().unwrap().push(format!(
            "config done {:?} {} {}",
            result.outcome(),
            result.status(),
            String::from_utf8_lossy(result.body())
        ));
    }
}

struct Call {
    mode: String,
    id: Option<CalloutId>,
}

impl HttpFilter for Call {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _eos: bool) -> HeadersStatus {
        let req = CalloutRequest::new("authz", "POST", "/check")
            .header("x-token", host.request_header("x-token").unwrap_or(b"none"))
            .body("payload")
            .timeout(Duration::from_millis(150))
            .max_response_bytes(4096);
        match self.mode.as_str() {
            "bad" => {
                let no_path = CalloutRequest::new("authz", "GET", "");
                let pseudo = CalloutRequest::new("authz", "GET", "/").header(":protocol", "x");
                let crlf = CalloutRequest::new("authz", "GET", "/").header("x", "a\r\nb");
                for r in [no_path, pseudo, crlf] {
                    SEEN.lock().unwrap().push(format!("bad {:?}", host.http_callout(&r)));
                }
                HeadersStatus::Continue
            }
            "cancel" => {
                let id = host.http_callout(&req).unwrap();
                SEEN.lock().unwrap().push(format!(
                    "cancel {:?} {:?}",
                    host.cancel_callout(id),
                    host.cancel_callout(id)
                ));
                HeadersStatus::Continue
            }
            _ => {
                self.id = Some(host.http_callout(&req).unwrap());
                HeadersStatus::StopAllIterationAndBuffer
            }
        }
    }

    fn on_callout_done(&mut self, host: &mut HostFilter<'_>, id: CalloutId, result: &CalloutResult<'_>) {
        if self.mode == "panic" {
            panic!("done hook exploded");
        }
        let headers: Vec<String> = result
            .headers()
            .iter()
            .map(|(n, v)| format!("{}={}", String::from_utf8_lossy(n), String::from_utf8_lossy(v)))
            .collect();
        SEEN.lock().unwrap().push(format!(
            "done same={} {:?} {} {} [{}] {}",
            Some(id) == self.id,
            result.outcome(),
            result.outcome().as_str(),
            result.status(),
            headers.join(","),
            String::from_utf8_lossy(result.body())
        ));
        host.set_request_header("x-user", result.header("X-User").unwrap_or(b"?")).unwrap();
        host.continue_decoding().unwrap();
    }
}

declare_module! {
    filters: {
        "caller" => Caller::new,
    }
}

fn module() -> FakeModule {
    FakeModule::load(__sluice_module::symbols()).unwrap()
}

#[test]
fn request_result_and_resume() {
    let m = module();
    let cfg = m.config("caller", "call").unwrap();
    let mut st = cfg.new_stream().unwrap();
    st.set_request_headers(&[(":path", "/"), ("x-token", "t0k")]);
    assert_eq!(st.request_headers(true), HeadersStatus::StopAllIterationAndBuffer);
    let c = st.callouts().remove(0);
    assert_eq!(c.cluster, "authz");
    assert_eq!(
        c.headers,
        vec![(":method".into(), "POST".into()), (":path".into(), "/check".into()), ("x-token".into(), "t0k".into())]
    );
    assert_eq!((c.body.as_slice(), c.timeout_ms, c.max_response_bytes), (&b"payload"[..], 150, 4096));
    assert!(st.respond_callout(c.id, 200, &[("x-user", "alice")], b"ok"));
    assert!(!st.respond_callout(c.id, 200, &[], b""), "answered twice");
    assert_eq!(seen("done"), vec!["done same=true Response ok 200 [x-user=alice] ok"]);
    assert_eq!(st.request_header("x-user").as_deref(), Some(&b"alice"[..]));
    assert_eq!(st.continue_decoding_calls(), 1);
}

#[test]
fn cancel_and_bad_requests() {
    let m = module();
    let cfg = m.config("caller", "cancel").unwrap();
    let mut st = cfg.new_stream().unwrap();
    assert_eq!(st.request_headers(true), HeadersStatus::Continue);
    assert_eq!(seen("cancel"), vec!["cancel Ok(()) Err(InvalidHandle)"]);
    assert!(st.callouts()[0].cancelled);

    let cfg = m.config("caller", "bad").unwrap();
    let mut st = cfg.new_stream().unwrap();
    st.request_headers(true);
    assert_eq!(seen("bad"), vec!["bad Err(InvalidArgument)"; 3]);
    assert!(st.callouts().is_empty());
}

#[test]
fn a_panic_in_the_done_hook_answers_500() {
    let m = module();
    let cfg = m.config("caller", "panic").unwrap();
    let mut st = cfg.new_stream().unwrap();
    st.request_headers(true);
    let id = st.callouts()[0].id;
    assert!(st.fail_callout(id, CalloutOutcome::Timeout, "timed out"));
    let reply = st.local_reply().unwrap();
    assert_eq!((reply.status, reply.details.as_bytes()), (500, PANIC_DETAILS));
    assert_eq!(cfg.panics(), 1);
}

#[test]
fn config_callouts() {
    let m = module();
    let cfg = m.config("caller", "config").unwrap();
    assert_eq!(seen("config started"), vec!["config started true"]);
    let c = cfg.callouts().remove(0);
    assert_eq!((c.cluster.as_str(), c.header(":path")), ("keys", Some("/jwks")));
    assert!(cfg.respond_callout(c.id, 200, &[], b"{\"keys\":[]}"));
    assert_eq!(seen("config done"), vec!["config done Response 200 {\"keys\":[]}"]);
}
