//! Every object the SDK hands to the host is dropped exactly once, when the
//! host destroys it: configs, per-route configs, filters (and the
//! schedulers they own).

use sluice_sdk::testing::FakeModule;
use sluice_sdk::*;
use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};

static CONFIGS: AtomicUsize = AtomicUsize::new(0);
static FILTERS: AtomicUsize = AtomicUsize::new(0);
static ROUTES: AtomicUsize = AtomicUsize::new(0);

struct Counted(&'static AtomicUsize);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Config {
    _c: Counted,
}
impl Config {
    fn new(_: &mut HostConfig<'_>, _: &[u8]) -> Result<Config, String> {
        Ok(Config { _c: Counted(&CONFIGS) })
    }
}
impl HttpFilterConfig for Config {
    fn new_filter(&self, _: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(Filter { _c: Counted(&FILTERS), scheduler: None })
    }
    fn new_per_route_config(&self, _: &mut HostConfig<'_>, _: &[u8]) -> Result<Box<dyn Any + Send + Sync>, String> {
        Ok(Box::new(Counted(&ROUTES)))
    }
}

struct Filter {
    _c: Counted,
    scheduler: Option<Scheduler>,
}
impl HttpFilter for Filter {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _: bool) -> HeadersStatus {
        self.scheduler = host.new_scheduler();
        HeadersStatus::Continue
    }
}

declare_module! {
    filters: { "counted" => Config::new }
}

#[test]
fn objects_are_dropped_once_when_the_host_destroys_them() {
    let m = FakeModule::load(__sluice_module::symbols()).unwrap();
    let cfg = m.config("counted", "null").unwrap();
    let route = cfg.per_route("{}").unwrap();
    let mut streams: Vec<_> = (0..3).map(|_| cfg.new_stream().unwrap()).collect();
    for st in &mut streams {
        st.request_headers(true);
    }
    assert_eq!(FILTERS.load(Ordering::SeqCst), 0);
    streams[0].complete();
    assert_eq!(FILTERS.load(Ordering::SeqCst), 1);
    assert_eq!(streams[0].schedulers(), (1, 1), "the filter's scheduler is deleted with it");
    assert_eq!(streams[1].schedulers(), (1, 0));
    streams[0].complete(); // a second completion is a no-op
    assert_eq!(FILTERS.load(Ordering::SeqCst), 1);
    drop(streams); // the host destroys the rest
    assert_eq!(FILTERS.load(Ordering::SeqCst), 3);
    assert_eq!(ROUTES.load(Ordering::SeqCst), 0);
    drop(route);
    assert_eq!(ROUTES.load(Ordering::SeqCst), 1);
    assert_eq!(CONFIGS.load(Ordering::SeqCst), 0);
    drop(cfg);
    assert_eq!(CONFIGS.load(Ordering::SeqCst), 1);
}
