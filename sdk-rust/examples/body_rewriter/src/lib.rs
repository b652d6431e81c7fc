//! body_rewriter: replace byte strings in request and response bodies,
//! including chunked bodies whose matches straddle chunk boundaries.
//!
//! The body is buffered by the host until the end of the stream
//! (`StopIterationAndBuffer`: each call receives its own chunk, earlier
//! chunks are the buffered body), then rewritten once and sent on.
//!
//! Length: with a `content-length` the headers are held (`StopIteration`)
//! until the body is rewritten, so the length can be corrected. Without one
//! (chunked) the headers go on at once and the rewritten body follows; a
//! body ending in trailers is rewritten in the trailers hook.
//!
//! Config:
//! `{"request": [{"from": "foo", "to": "bar"}], "response": [...], "max_body_bytes": 1048576}`
//! Rules apply in order, each replacing every non-overlapping match left to right.

use sluice_sdk::json::{self, Value};
use sluice_sdk::*;
use std::sync::Arc;

struct Rule {
    from: Vec<u8>,
    to: Vec<u8>,
}

struct Rules {
    request: Vec<Rule>,
    response: Vec<Rule>,
    max_body: usize,
}

fn parse_rules(field: &str, v: &Value) -> Result<Vec<Rule>, String> {
    let items = v.as_array().ok_or(format!("{field}: want an array of {{\"from\", \"to\"}}"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let from = r.get("from").and_then(Value::as_str).filter(|s| !s.is_empty());
            let to = r.get("to").and_then(Value::as_str);
            match (from, to) {
                (Some(f), Some(t)) => Ok(Rule { from: f.as_bytes().to_vec(), to: t.as_bytes().to_vec() }),
                _ => Err(format!("{field}[{i}]: want a non-empty \"from\" and a \"to\" string")),
            }
        })
        .collect()
}

/// Apply every rule in order.
fn rewrite(rules: &[Rule], body: &[u8]) -> Vec<u8> {
    let mut cur = body.to_vec();
    for rule in rules {
        let mut out = Vec::with_capacity(cur.len());
        let mut i = 0;
        while i < cur.len() {
            if cur[i..].starts_with(&rule.from) {
                out.extend_from_slice(&rule.to);
                i += rule.from.len();
            } else {
                out.push(cur[i]);
                i += 1;
            }
        }
        cur = out;
    }
    cur
}

struct RewriterConfig {
    rules: Arc<Rules>,
}

impl RewriterConfig {
    fn new(_host: &mut HostConfig<'_>, config: &[u8]) -> Result<RewriterConfig, String> {
        let v = json::parse(config).map_err(|e| e.to_string())?;
        let fields = v.as_object().ok_or("config: want an object")?;
        let mut rules = Rules { request: Vec::new(), response: Vec::new(), max_body: 1 << 20 };
        for (k, val) in fields {
            match k.as_str() {
                "request" => rules.request = parse_rules(k, val)?,
                "response" => rules.response = parse_rules(k, val)?,
                "max_body_bytes" => {
                    rules.max_body =
                        val.as_u64().filter(|n| *n > 0).ok_or("max_body_bytes: want a positive integer")? as usize
                }
                other => return Err(format!("unknown field \"{other}\"")),
            }
        }
        if rules.request.is_empty() && rules.response.is_empty() {
            return Err("no rules: set \"request\" and/or \"response\"".to_string());
        }
        Ok(RewriterConfig { rules: Arc::new(rules) })
    }
}

impl HttpFilterConfig for RewriterConfig {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(Rewriter { rules: Arc::clone(&self.rules), request: Side::default(), response: Side::default() })
    }
}

/// Per-direction state.
#[derive(Default)]
struct Side {
    /// The body is being rewritten (rules exist and a body is coming).
    active: bool,
    /// Headers are held so content-length can be fixed at the end.
    fix_length: bool,
}

struct Rewriter {
    rules: Arc<Rules>,
    request: Side,
    response: Side,
}

/// What one direction needs: its rules, header map and body kinds.
struct Dir<'a> {
    rules: &'a [Rule],
    headers: HeaderKind,
    received: BodyKind,
    buffered: BodyKind,
}

impl Rewriter {
    fn dir(&self, request: bool) -> Dir<'_> {
        if request {
            Dir {
                rules: &self.rules.request,
                headers: HeaderKind::RequestHeaders,
                received: BodyKind::ReceivedRequest,
                buffered: BodyKind::BufferedRequest,
            }
        } else {
            Dir {
                rules: &self.rules.response,
                headers: HeaderKind::ResponseHeaders,
                received: BodyKind::ReceivedResponse,
                buffered: BodyKind::BufferedResponse,
            }
        }
    }

    fn side(&mut self, request: bool) -> &mut Side {
        if request {
            &mut self.request
        } else {
            &mut self.response
        }
    }

    fn on_headers(&mut self, host: &mut HostFilter<'_>, request: bool, end_of_stream: bool) -> HeadersStatus {
        let d = self.dir(request);
        if end_of_stream || d.rules.is_empty() {
            return HeadersStatus::Continue;
        }
        let fix_length = host.header(d.headers, "content-length").is_some();
        *self.side(request) = Side { active: true, fix_length };
        if fix_length {
            HeadersStatus::StopIteration
        } else {
            HeadersStatus::Continue
        }
    }

    fn on_body(&mut self, host: &mut HostFilter<'_>, request: bool, end_of_stream: bool) -> BodyStatus {
        if !self.side(request).active {
            return BodyStatus::Continue;
        }
        let (received, headers) = {
            let d = self.dir(request);
            (d.received, d.headers)
        };
        let buffered = if request { BodyKind::BufferedRequest } else { BodyKind::BufferedResponse };
        let size = host.body_size(buffered).unwrap_or(0) + host.body_size(received).unwrap_or(0);
        if size > self.rules.max_body {
            let _ = host.send_response(
                if request { 413 } else { 500 },
                sluice_sdk::NO_HEADERS,
                b"body too large to rewrite\n",
            );
            return BodyStatus::StopIterationNoBuffer;
        }
        if !end_of_stream {
            return BodyStatus::StopIterationAndBuffer;
        }
        // The whole body is the buffered part plus this last chunk: move
        // it all into the received body, rewritten.
        let new_len = self.replace_all(host, buffered, received);
        if self.side(request).fix_length {
            let _ = host.set_header(headers, "content-length", new_len.to_string());
        }
        self.side(request).active = false;
        BodyStatus::Continue
    }

    fn on_trailers(&mut self, host: &mut HostFilter<'_>, request: bool) -> TrailersStatus {
        if self.side(request).active {
            // The stream ends here: rewrite what was buffered; it goes on
            // before the trailers.
            let buffered = self.dir(request).buffered;
            self.replace_all(host, buffered, buffered);
            self.side(request).active = false;
        }
        TrailersStatus::Continue
    }

    /// Rewrite `first` followed by `last` (the same kind, or buffered then
    /// received) and leave the result in `last`; returns its length.
    fn replace_all(&self, host: &mut HostFilter<'_>, first: BodyKind, last: BodyKind) -> usize {
        let request = matches!(first, BodyKind::BufferedRequest | BodyKind::ReceivedRequest);
        let mut whole = host.body_bytes(first).unwrap_or_default();
        if last != first {
            whole.extend(host.body_bytes(last).unwrap_or_default());
            let _ = host.drain_body(first, usize::MAX);
        }
        let out = rewrite(self.dir(request).rules, &whole);
        let _ = host.drain_body(last, usize::MAX);
        let _ = host.append_body(last, &out);
        out.len()
    }
}

impl HttpFilter for Rewriter {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, end_of_stream: bool) -> HeadersStatus {
        self.on_headers(host, true, end_of_stream)
    }
    fn on_request_body(&mut self, host: &mut HostFilter<'_>, end_of_stream: bool) -> BodyStatus {
        self.on_body(host, true, end_of_stream)
    }
    fn on_request_trailers(&mut self, host: &mut HostFilter<'_>) -> TrailersStatus {
        self.on_trailers(host, true)
    }
    fn on_response_headers(&mut self, host: &mut HostFilter<'_>, end_of_stream: bool) -> HeadersStatus {
        self.on_headers(host, false, end_of_stream)
    }
    fn on_response_body(&mut self, host: &mut HostFilter<'_>, end_of_stream: bool) -> BodyStatus {
        self.on_body(host, false, end_of_stream)
    }
    fn on_response_trailers(&mut self, host: &mut HostFilter<'_>) -> TrailersStatus {
        self.on_trailers(host, false)
    }
}

declare_module! {
    filters: {
        "body_rewriter" => RewriterConfig::new,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::testing::FakeModule;

    const CONFIG: &str = r#"{"request": [{"from": "cat", "to": "kitty"}, {"from": "kitty!", "to": "KITTY!"}],
        "response": [{"from": "secret", "to": "[redacted]"}], "max_body_bytes": 64}"#;

    fn module() -> FakeModule {
        FakeModule::load(crate::__sluice_module::symbols()).unwrap()
    }

    #[test]
    fn rules_apply_in_order_without_overlap() {
        let rules =
            [Rule { from: b"aa".to_vec(), to: b"b".to_vec() }, Rule { from: b"bb".to_vec(), to: b"c".to_vec() }];
        assert_eq!(rewrite(&rules, b"aaaaa"), b"ca");
        assert_eq!(rewrite(&rules, b""), b"");
    }

    #[test]
    fn chunked_request_is_rewritten_across_chunk_boundaries() {
        let cfg = module().config("body_rewriter", CONFIG).unwrap();
        let mut st = cfg.new_stream().unwrap();
        st.set_request_headers(&[(":method", "POST"), ("transfer-encoding", "chunked")]);
        assert_eq!(st.request_headers(false), HeadersStatus::Continue, "no length to fix: headers go on");
        assert_eq!(st.request_body(b"my c", false), BodyStatus::StopIterationAndBuffer);
        assert_eq!(st.request_body(b"at! a ca", false), BodyStatus::StopIterationAndBuffer);
        assert_eq!(st.request_body(b"t", true), BodyStatus::Continue);
        assert_eq!(st.forwarded_body(true), b"my KITTY! a kitty");
        assert_eq!(st.header(HeaderKind::RequestHeaders, "content-length"), None);
    }

    #[test]
    fn content_length_is_fixed_while_headers_are_held() {
        let cfg = module().config("body_rewriter", CONFIG).unwrap();
        let mut st = cfg.new_stream().unwrap();
        st.set_request_headers(&[(":method", "POST"), ("content-length", "7")]);
        assert_eq!(st.request_headers(false), HeadersStatus::StopIteration);
        assert_eq!(st.request_body(b"cat cat", true), BodyStatus::Continue);
        assert_eq!(st.forwarded_body(true), b"kitty kitty");
        assert_eq!(st.header(HeaderKind::RequestHeaders, "content-length").as_deref(), Some(&b"11"[..]));
        st.set_response_headers(&[(":status", "200"), ("content-length", "9")]);
        assert_eq!(st.response_headers(false), HeadersStatus::StopIteration);
        assert_eq!(st.response_body(b"a secret!", true), BodyStatus::Continue);
        assert_eq!(st.forwarded_body(false), b"a [redacted]!");
        assert_eq!(st.header(HeaderKind::ResponseHeaders, "content-length").as_deref(), Some(&b"13"[..]));
    }

    #[test]
    fn body_ending_in_trailers_is_rewritten_there() {
        let cfg = module().config("body_rewriter", CONFIG).unwrap();
        let mut st = cfg.new_stream().unwrap();
        st.set_request_headers(&[(":method", "POST")]);
        st.request_headers(false);
        assert_eq!(st.request_body(b"ca", false), BodyStatus::StopIterationAndBuffer);
        assert_eq!(st.request_body(b"t", false), BodyStatus::StopIterationAndBuffer);
        st.set_request_trailers(&[("x-t", "1")]);
        assert_eq!(st.request_trailers(), TrailersStatus::Continue);
        assert_eq!(st.forwarded_body(true), b"kitty");
    }

    #[test]
    fn oversized_body_is_refused() {
        let cfg = module().config("body_rewriter", CONFIG).unwrap();
        let mut st = cfg.new_stream().unwrap();
        st.request_headers(false);
        assert_eq!(st.request_body(&[b'x'; 65], false), BodyStatus::StopIterationNoBuffer);
        assert_eq!(st.local_reply().unwrap().status, 413);
    }

    #[test]
    fn untouched_when_no_body_or_no_rules() {
        let cfg = module().config("body_rewriter", r#"{"response": [{"from": "a", "to": "b"}]}"#).unwrap();
        let mut st = cfg.new_stream().unwrap();
        assert_eq!(st.request_headers(false), HeadersStatus::Continue);
        assert_eq!(st.request_body(b"cat", true), BodyStatus::Continue);
        assert_eq!(st.forwarded_body(true), b"cat");
        st.set_response_headers(&[(":status", "204")]);
        assert_eq!(st.response_headers(true), HeadersStatus::Continue);
    }

    #[test]
    fn bad_configs_are_rejected() {
        let m = module();
        for (config, want) in [
            ("{}", "no rules: set \"request\" and/or \"response\""),
            (r#"{"request": {}}"#, "request: want an array of {\"from\", \"to\"}"),
            (r#"{"request": [{"from": "", "to": "x"}]}"#, "request[0]: want a non-empty \"from\" and a \"to\" string"),
            (r#"{"response": [{"from": "a"}]}"#, "response[0]: want a non-empty \"from\" and a \"to\" string"),
            (
                r#"{"request": [{"from": "a", "to": "b"}], "max_body_bytes": 0}"#,
                "max_body_bytes: want a positive integer",
            ),
            (r#"{"rules": []}"#, "unknown field \"rules\""),
        ] {
            assert_eq!(m.config("body_rewriter", config).err().unwrap(), want, "config {config}");
        }
    }
}
