//! ext_authz: asks an authorization service before letting a request
//! through, in the spirit of Envoy's ext_authz filter (HTTP service) — the
//! Rust twin of `sdk-c/examples/ext_authz.c`, with the same config and
//! behaviour.
//!
//! For every request it sends a check request to a cluster with an HTTP
//! callout: the request's method, `path_prefix` + its `:path`, and the
//! request headers named in `allowed_headers` (no body). It holds the
//! request (headers and body) until the answer decides:
//!
//! * 200: the request goes on, with the auth response's headers named in
//!   `allowed_upstream_headers` set on it;
//! * 401, 403: the client gets that status, with the auth response's body
//!   and its `www-authenticate` header;
//! * anything else, and every failure (timeout, service down, ...):
//!   `failure_mode_allow: true` lets the request through (fail open);
//!   otherwise (the default) the client gets `status_on_error` (403).
//!
//! Config (only `cluster` is required; `timeout_ms` defaults to 200):
//! ```json
//! {"cluster": "authz", "path_prefix": "/check", "timeout_ms": 200,
//!  "allowed_headers": ["authorization"], "allowed_upstream_headers": ["x-user-id"],
//!  "failure_mode_allow": false, "status_on_error": 403}
//! ```
//!
//! Metrics: `decisions{decision="allowed|denied|failed_open|failed_closed"}`
//! and `wrong_thread` (a done hook on another thread than its filter's
//! creation: must stay 0).

use sluice_sdk::json::{Config, Value};
use sluice_sdk::*;
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

struct Settings {
    cluster: String,
    path_prefix: String,
    timeout: Duration,
    allowed_headers: Vec<String>,
    allowed_upstream_headers: Vec<String>,
    failure_mode_allow: bool,
    status_on_error: u32,
    decisions: Counter,
    wrong_thread: Counter,
}

fn names(field: &str, v: Option<&Value>) -> Result<Vec<String>, String> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let want = || format!("field \"{field}\" must be an array of header names");
    v.as_array()
        .ok_or_else(want)?
        .iter()
        .map(|i| i.as_str().filter(|s| !s.is_empty()).map(str::to_ascii_lowercase).ok_or_else(want))
        .collect()
}

struct ExtAuthzConfig {
    settings: Arc<Settings>,
}

impl ExtAuthzConfig {
    fn new(host: &mut HostConfig<'_>, config: &[u8]) -> Result<ExtAuthzConfig, String> {
        let c = Config::parse(
            config,
            &[
                "cluster",
                "path_prefix",
                "timeout_ms",
                "allowed_headers",
                "allowed_upstream_headers",
                "failure_mode_allow",
                "status_on_error",
            ],
        )?;
        let cluster = c.string("cluster")?;
        if cluster.is_empty() {
            return Err("field \"cluster\" must not be empty".to_string());
        }
        let timeout_ms = c.u64_or("timeout_ms", 200)?;
        if !(1..=60000).contains(&timeout_ms) {
            return Err("field \"timeout_ms\" must be between 1 and 60000".to_string());
        }
        let status_on_error = c.u64_or("status_on_error", 403)?;
        if !(200..=599).contains(&status_on_error) {
            return Err("field \"status_on_error\" must be between 200 and 599".to_string());
        }
        let settings = Settings {
            cluster,
            path_prefix: c.string_or("path_prefix", "")?,
            timeout: Duration::from_millis(timeout_ms),
            allowed_headers: names("allowed_headers", c.get("allowed_headers"))?,
            allowed_upstream_headers: names("allowed_upstream_headers", c.get("allowed_upstream_headers"))?,
            failure_mode_allow: c.bool_or("failure_mode_allow", false)?,
            status_on_error: status_on_error as u32,
            decisions: host.define_counter_with_labels("decisions", &["decision"])?,
            wrong_thread: host.define_counter("wrong_thread")?,
        };
        Ok(ExtAuthzConfig { settings: Arc::new(settings) })
    }
}

impl HttpFilterConfig for ExtAuthzConfig {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(ExtAuthz { settings: Arc::clone(&self.settings), thread: std::thread::current().id() })
    }
}

struct ExtAuthz {
    settings: Arc<Settings>,
    /// The worker thread the filter was created on.
    thread: ThreadId,
}

impl ExtAuthz {
    fn decide(&self, decision: &str) {
        let _ = self.settings.decisions.add_with(&[decision], 1);
    }

    /// No decision can be made: fail open or closed, as configured.
    fn failed(&self, host: &mut HostFilter<'_>, why: &str) {
        sluice_debug!("ext_authz: check failed ({why})");
        if self.settings.failure_mode_allow {
            self.decide("failed_open");
            let _ = host.continue_decoding();
        } else {
            self.decide("failed_closed");
            let _ = host.send_response_with_details(
                self.settings.status_on_error,
                NO_HEADERS,
                "authorization check failed\n",
                "ext_authz_error",
            );
        }
    }
}

impl HttpFilter for ExtAuthz {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _end_of_stream: bool) -> HeadersStatus {
        let s = &*self.settings;
        // Every request header in one host call (views valid in this hook).
        let headers = host.request_headers().unwrap_or_default();
        let find = |name: &[u8]| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let (Some(method), Some(path)) = (find(b":method"), find(b":path")) else {
            self.failed(host, "request without :method or :path");
            return HeadersStatus::StopIteration;
        };
        let mut check_path = s.path_prefix.as_bytes().to_vec();
        check_path.extend_from_slice(path);
        let mut check = CalloutRequest::new(&s.cluster, method, check_path).timeout(s.timeout);
        for (name, value) in &headers {
            if s.allowed_headers.iter().any(|a| a.as_bytes() == *name) {
                check = check.header(name, value);
            }
        }
        if let Err(e) = host.http_callout(&check) {
            self.failed(host, &format!("callout refused: {e}"));
            return HeadersStatus::StopIteration;
        }
        // Hold the headers and any body here until the answer.
        HeadersStatus::StopAllIterationAndBuffer
    }

    fn on_callout_done(&mut self, host: &mut HostFilter<'_>, _id: CalloutId, result: &CalloutResult<'_>) {
        // Every hook of a filter runs on its stream's worker thread; the
        // check keeps that promise visible (and tested).
        if std::thread::current().id() != self.thread {
            let _ = self.settings.wrong_thread.add(1);
        }
        if result.outcome() != CalloutOutcome::Response {
            let why = format!("{}: {}", result.outcome().as_str(), String::from_utf8_lossy(result.detail()));
            self.failed(host, &why);
            return;
        }
        match result.status() {
            200 => {
                for name in &self.settings.allowed_upstream_headers {
                    if let Some(v) = result.header(name) {
                        let _ = host.set_request_header(name, v);
                    }
                }
                self.decide("allowed");
                let _ = host.continue_decoding();
            }
            status @ (401 | 403) => {
                self.decide("denied");
                let challenge: Vec<(&str, &[u8])> =
                    result.header("www-authenticate").map(|v| ("www-authenticate", v)).into_iter().collect();
                let _ = host.send_response_with_details(status, &challenge, result.body(), "ext_authz_denied");
            }
            status => self.failed(host, &format!("authorization service answered {status}")),
        }
    }
}

declare_module! {
    filters: {
        "ext_authz" => ExtAuthzConfig::new,
    }
}

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::{FakeModule, FakeStream};
    use sluice_sdk::{CalloutOutcome, HeadersStatus};

    const CONFIG: &str = r#"{"cluster": "authz", "path_prefix": "/check", "timeout_ms": 250,
        "allowed_headers": ["authorization"], "allowed_upstream_headers": ["x-user-id"]}"#;

    fn module() -> FakeModule {
        FakeModule::load(crate::__sluice_module::symbols()).unwrap()
    }

    /// A request through the filter up to its check.
    fn checked(cfg: &sluice_sdk::testing::FakeConfig, auth: Option<&str>) -> FakeStream {
        let mut st = cfg.new_stream().unwrap();
        let mut headers = vec![(":method", "POST"), (":path", "/orders?id=7"), ("cookie", "secret")];
        if let Some(a) = auth {
            headers.push(("authorization", a));
        }
        st.set_request_headers(&headers);
        assert_eq!(st.request_headers(false), HeadersStatus::StopAllIterationAndBuffer);
        assert_eq!(st.callouts().len(), 1);
        st
    }

    #[test]
    fn bad_configs_are_rejected() {
        let m = module();
        assert_eq!(m.config("ext_authz", "{}").err().unwrap(), r#"field "cluster" is required"#);
        assert_eq!(
            m.config("ext_authz", r#"{"cluster": "a", "allowed_headers": "authorization"}"#).err().unwrap(),
            r#"field "allowed_headers" must be an array of header names"#
        );
        assert_eq!(
            m.config("ext_authz", r#"{"cluster": "a", "status_on_error": 99}"#).err().unwrap(),
            r#"field "status_on_error" must be between 200 and 599"#
        );
    }

    #[test]
    fn sends_the_check_and_follows_the_answer() {
        let m = module();
        let cfg = m.config("ext_authz", CONFIG).unwrap();

        let mut st = checked(&cfg, Some("Bearer good"));
        let check = &st.callouts()[0];
        assert_eq!(check.cluster, "authz");
        assert_eq!(check.header(":method"), Some("POST"));
        assert_eq!(check.header(":path"), Some("/check/orders?id=7"));
        assert_eq!(check.header("authorization"), Some("Bearer good"));
        assert_eq!(check.header("cookie"), None);
        assert_eq!(check.timeout_ms, 250);
        assert!(st.respond_callout(check.id, 200, &[("x-user-id", "alice"), ("x-other", "no")], b""));
        assert_eq!(st.continue_decoding_calls(), 1);
        assert_eq!(st.request_header("x-user-id").as_deref(), Some(&b"alice"[..]));
        assert_eq!(st.request_header("x-other"), None);
        st.complete();

        let mut st = checked(&cfg, None);
        let id = st.callouts()[0].id;
        assert!(st.respond_callout(id, 401, &[("www-authenticate", "Bearer")], b"who are you?"));
        let reply = st.local_reply().unwrap();
        assert_eq!(
            (reply.status, reply.body.as_slice(), reply.details.as_str()),
            (401, &b"who are you?"[..], "ext_authz_denied")
        );
        assert_eq!(reply.headers, vec![("www-authenticate".to_string(), "Bearer".to_string())]);
        st.complete();

        let mut st = checked(&cfg, Some("Bearer slow"));
        let id = st.callouts()[0].id;
        assert!(st.fail_callout(id, CalloutOutcome::Timeout, "cluster: callout timed out"));
        let reply = st.local_reply().unwrap();
        assert_eq!((reply.status, reply.details.as_str()), (403, "ext_authz_error"));
        st.complete();

        // The client leaves mid-check: the stream's end cancels the check.
        let mut st = checked(&cfg, Some("Bearer good"));
        let id = st.callouts()[0].id;
        st.complete();
        assert!(st.callouts()[0].cancelled);
        assert!(!st.respond_callout(id, 200, &[], b""));

        assert_eq!(cfg.metric("decisions"), Some(3));
        assert_eq!(cfg.metric("wrong_thread"), Some(0));
    }

    #[test]
    fn fails_open_when_configured() {
        let m = module();
        let cfg = m.config("ext_authz", r#"{"cluster": "authz", "failure_mode_allow": true}"#).unwrap();
        let mut st = checked(&cfg, Some("Bearer good"));
        let check = st.callouts()[0].clone();
        assert_eq!(check.header(":path"), Some("/orders?id=7"));
        assert_eq!(check.header("authorization"), None);
        assert!(st.fail_callout(check.id, CalloutOutcome::ConnectFailure, "connection refused"));
        assert_eq!(st.continue_decoding_calls(), 1);
        assert!(st.local_reply().is_none());
    }
}
