//! A host call can run hooks of the same filter synchronously (sluice:
//! continue_decoding, then the route answers directly and the response
//! comes back through this filter's on_response_headers). The SDK must
//! never alias the filter's `&mut self`: continues take effect when the
//! hook returns, and a hook arriving while user code runs is refused.

use sluice_sdk::testing::{logs_containing, FakeModule, Reentry};
use sluice_sdk::*;
use std::sync::Mutex;

static RECORD: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn recorded(tag: &str) -> Vec<String> {
    RECORD.lock().unwrap().iter().filter(|l| l.starts_with(tag)).cloned().collect()
}

struct Config(String);
impl Config {
    fn new(_: &mut HostConfig<'_>, c: &[u8]) -> Result<Config, String> {
        Ok(Config(String::from_utf8_lossy(c).into_owned()))
    }
}
impl HttpFilterConfig for Config {
    fn new_filter(&self, _: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(Filter { tag: self.0.clone(), stage: 0 })
    }
}

struct Filter {
    tag: String,
    stage: u32,
}

impl HttpFilter for Filter {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _: bool) -> HeadersStatus {
        self.stage = 1;
        if self.tag.starts_with("continue") {
            host.continue_decoding().unwrap();
            // Still ours to change: the continue has not happened yet.
            host.set_request_header("x-after-continue", "1").unwrap();
        } else {
            host.clear_route_cache().unwrap();
        }
        self.stage = 2;
        HeadersStatus::StopIteration
    }

    fn on_response_headers(&mut self, host: &mut HostFilter<'_>, _: bool) -> HeadersStatus {
        RECORD.lock().unwrap().push(format!("{} response_headers at stage {}", self.tag, self.stage));
        host.set_response_header("x-stage", self.stage.to_string()).unwrap();
        HeadersStatus::Continue
    }
}

declare_module! {
    filters: { "reentry" => Config::new }
}

#[test]
fn a_continue_runs_after_the_hook_so_nested_hooks_see_its_effects() {
    let m = FakeModule::load(__sluice_module::symbols()).unwrap();
    let cfg = m.config("reentry", "continue-1").unwrap();
    let mut st = cfg.new_stream().unwrap();
    st.reenter_on(Reentry::ContinueDecoding);
    assert_eq!(st.request_headers(true), HeadersStatus::StopIteration);
    assert_eq!(st.continue_decoding_calls(), 1);
    assert_eq!(st.reentered(), vec![HeadersStatus::Continue]);
    assert_eq!(recorded("continue-1"), ["continue-1 response_headers at stage 2"]);
    assert_eq!(st.header(HeaderKind::ResponseHeaders, "x-stage").as_deref(), Some(&b"2"[..]));
    assert_eq!(st.header(HeaderKind::RequestHeaders, "x-after-continue").as_deref(), Some(&b"1"[..]));
}

#[test]
fn a_hook_nested_inside_user_code_is_refused_not_aliased() {
    let m = FakeModule::load(__sluice_module::symbols()).unwrap();
    let cfg = m.config("reentry", "clear-1").unwrap();
    let mut st = cfg.new_stream().unwrap();
    st.reenter_on(Reentry::ClearRouteCache);
    assert_eq!(st.request_headers(true), HeadersStatus::StopIteration);
    // The nested hook passed through without running the filter's code.
    assert_eq!(st.reentered(), vec![HeadersStatus::Continue]);
    assert!(recorded("clear-1").is_empty());
    assert_eq!(
        logs_containing("on_response_headers of filter \"reentry\" re-entered while another of its hooks runs"),
        vec!["on_response_headers of filter \"reentry\" re-entered while another of its hooks runs: passed through"]
    );
    // Once the hook returned, the filter's hooks run normally again.
    st.set_response_headers(&[(":status", "200")]);
    assert_eq!(st.response_headers(true), HeadersStatus::Continue);
    assert_eq!(recorded("clear-1"), ["clear-1 response_headers at stage 2"]);
}
