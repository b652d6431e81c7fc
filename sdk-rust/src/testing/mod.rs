//! A fake host for unit tests of modules, driven through the module's real
//! exported hooks (so the SDK's glue and panic handling are under test too).
//!
//! ```ignore
//! use sluice_sdk::testing::FakeModule;
//! let module = FakeModule::load(crate::__sluice_module::symbols()).unwrap();
//! let config = module.config("my_filter", r#"{"x":1}"#).unwrap();
//! let mut stream = config.new_stream().unwrap();
//! stream.set_request_headers(&[(":path", "/"), ("cache-key", "existing")]);
//! assert_eq!(stream.request_headers(true), HeadersStatus::StopIteration);
//! ```
//!
//! Network filters (ABI 2.1) run on a [`FakeConnection`] in front of a
//! terminal filter that acts like `tcp_proxy`:
//!
//! ```ignore
//! let config = module.network_config("gatekeeper", r#"{"allow": "open"}"#).unwrap();
//! let mut conn = config.new_connection().unwrap();
//! assert_eq!(conn.start(), NetworkStatus::StopIteration);   // on_new_connection, Connected
//! conn.read(b"HELLO open\npayload", false);                  // on_read with the whole buffer
//! conn.run_scheduled(1, Duration::from_secs(10));           // on_scheduled, as the worker
//! assert_eq!(conn.upstream(), b"payload");                  // what went past the filter
//! ```
//!
//! `declare_module!` generates `__sluice_module::symbols()` in the module
//! crate. The fake keeps global state keyed by handle, so tests may run in
//! parallel. Hook methods return the same status types a filter returns
//! (`HeadersStatus`, `BodyStatus`, `TrailersStatus`, `NetworkStatus`) and
//! fail the test if the module returned anything else;
//! `request_headers_raw` gives the raw value (it is `ffi::FAILED_STATUS`
//! after a panic once the stream ended).

mod callbacks;
mod metadata;
mod network;
mod state;

pub use network::{FakeConnection, FakeNetworkConfig};
pub use state::{FakeCallout, LocalReply, Metadata, Reentry};

use crate::abi::{
    self, sluice_config_handle as CH, sluice_filter_handle as FH, sluice_host_api, sluice_network_filter_handle as NFH,
};
use crate::callout::{CalloutId, CalloutOutcome};
use crate::types::{Attribute, BodyStatus, HeaderKind, HeadersStatus, TrailersStatus};
use core::ffi::c_void;
use state::{bytes, state, ConfigState, Phase, ReentryTarget, StreamState, SCHEDULED};
use std::time::{Duration, Instant};

/// The hook symbols of a module, as `declare_module!` exports them.
#[derive(Clone, Copy)]
pub struct ModuleSymbols {
    pub abi_version: extern "C" fn() -> u32,
    pub program_init: unsafe extern "C" fn(*const sluice_host_api) -> bool,
    pub program_shutdown: extern "C" fn(),
    /// The HTTP filter hooks; `None` when the module offers none.
    pub http: Option<HttpSymbols>,
    /// The network filter hooks (ABI 2.1); `None` when the module offers none.
    pub network: Option<NetworkSymbols>,
}

/// The HTTP filter hooks of a module.
#[derive(Clone, Copy)]
pub struct HttpSymbols {
    pub config_new: unsafe extern "C" fn(CH, *const u8, usize, *const u8, usize) -> *mut c_void,
    pub config_destroy: unsafe extern "C" fn(*mut c_void),
    pub per_route_config_new: unsafe extern "C" fn(CH, *mut c_void, *const u8, usize) -> *mut c_void,
    pub per_route_config_destroy: unsafe extern "C" fn(*mut c_void),
    pub filter_new: unsafe extern "C" fn(*mut c_void, FH) -> *mut c_void,
    pub filter_destroy: unsafe extern "C" fn(*mut c_void),
    pub request_headers: unsafe extern "C" fn(*mut c_void, FH, bool) -> i32,
    pub request_body: unsafe extern "C" fn(*mut c_void, FH, bool) -> i32,
    pub request_trailers: unsafe extern "C" fn(*mut c_void, FH) -> i32,
    pub response_headers: unsafe extern "C" fn(*mut c_void, FH, bool) -> i32,
    pub response_body: unsafe extern "C" fn(*mut c_void, FH, bool) -> i32,
    pub response_trailers: unsafe extern "C" fn(*mut c_void, FH) -> i32,
    pub stream_complete: unsafe extern "C" fn(*mut c_void, FH),
    pub scheduled: unsafe extern "C" fn(*mut c_void, FH, u64),
    pub config_scheduled: unsafe extern "C" fn(*mut c_void, CH, u64),
    pub timer: unsafe extern "C" fn(*mut c_void, FH, abi::sluice_timer_handle),
    pub callout_done:
        unsafe extern "C" fn(*mut c_void, FH, abi::sluice_callout_handle, *const abi::sluice_callout_result),
    pub config_callout_done:
        unsafe extern "C" fn(*mut c_void, CH, abi::sluice_callout_handle, *const abi::sluice_callout_result),
}

/// The network filter hooks of a module (ABI 2.1).
#[derive(Clone, Copy)]
pub struct NetworkSymbols {
    pub config_new: unsafe extern "C" fn(CH, *const u8, usize, *const u8, usize) -> *mut c_void,
    pub config_destroy: unsafe extern "C" fn(*mut c_void),
    pub config_scheduled: unsafe extern "C" fn(*mut c_void, CH, u64),
    pub filter_new: unsafe extern "C" fn(*mut c_void, NFH) -> *mut c_void,
    pub filter_destroy: unsafe extern "C" fn(*mut c_void),
    pub new_connection: unsafe extern "C" fn(*mut c_void, NFH) -> i32,
    pub read: unsafe extern "C" fn(*mut c_void, NFH, usize, bool) -> i32,
    pub write: unsafe extern "C" fn(*mut c_void, NFH, usize, bool) -> i32,
    pub event: unsafe extern "C" fn(*mut c_void, NFH, abi::sluice_network_event),
    pub watermark: unsafe extern "C" fn(*mut c_void, NFH, bool),
    pub scheduled: unsafe extern "C" fn(*mut c_void, NFH, u64),
    pub timer: unsafe extern "C" fn(*mut c_void, NFH, abi::sluice_timer_handle),
}

/// The fake host's callback table (valid forever).
pub fn host_table() -> &'static sluice_host_api {
    &callbacks::TABLE
}

/// Every message logged through the fake host so far (level, text).
pub fn logs() -> Vec<(u32, String)> {
    state().logs.clone()
}

/// Logged messages containing `needle`.
pub fn logs_containing(needle: &str) -> Vec<String> {
    state().logs.iter().filter(|(_, m)| m.contains(needle)).map(|(_, m)| m.clone()).collect()
}

/// A module loaded into the fake host.
pub struct FakeModule {
    sym: ModuleSymbols,
}

impl FakeModule {
    /// Check the ABI version and run program init with the fake table,
    /// as the host's loader does.
    pub fn load(sym: ModuleSymbols) -> Result<FakeModule, String> {
        let v = (sym.abi_version)();
        if v >> 16 != abi::SLUICE_ABI_VERSION_MAJOR {
            return Err(format!(
                "module ABI {}.{}, host {}.{}",
                v >> 16,
                v & 0xffff,
                abi::SLUICE_ABI_VERSION_MAJOR,
                abi::SLUICE_ABI_VERSION_MINOR
            ));
        }
        // SAFETY: the table is static.
        if !unsafe { (sym.program_init)(host_table()) } {
            return Err("program init failed".to_string());
        }
        Ok(FakeModule { sym })
    }

    /// Run the module's `sluice_on_program_shutdown`, as sluice does when
    /// it stops (after every config was destroyed).
    pub fn shutdown(&self) {
        (self.sym.program_shutdown)()
    }

    /// Configure HTTP filter `filter_name` with JSON `config`; `Err`
    /// carries the module's reject reason.
    pub fn config(&self, filter_name: &str, config: &str) -> Result<FakeConfig, String> {
        let sym = self.sym.http.ok_or_else(|| {
            "the module offers no HTTP filters (it exports no sluice_on_http_filter_* hooks)".to_string()
        })?;
        let (handle, ptr) = new_config(filter_name, config, sym.config_new)?;
        Ok(FakeConfig { sym, handle, ptr })
    }

    /// Configure network filter `filter_name` with JSON `config` (ABI
    /// 2.1); `Err` carries the module's reject reason.
    pub fn network_config(&self, filter_name: &str, config: &str) -> Result<FakeNetworkConfig, String> {
        let sym = self.sym.network.ok_or_else(|| {
            "the module offers no network filters (it exports no sluice_on_network_filter_* hooks)".to_string()
        })?;
        let (handle, ptr) = new_config(filter_name, config, sym.config_new)?;
        Ok(FakeNetworkConfig::new(sym, handle, ptr))
    }
}

type ConfigNew = unsafe extern "C" fn(CH, *const u8, usize, *const u8, usize) -> *mut c_void;

/// Run a config_new hook as sluice's main thread does: metrics may be
/// defined during the call only; NULL is a rejection with the reason the
/// module gave.
fn new_config(filter_name: &str, config: &str, config_new: ConfigNew) -> Result<(u64, *mut c_void), String> {
    let handle = {
        let mut st = state();
        let h = st.new_handle();
        st.configs.insert(
            h,
            ConfigState {
                reject_reason: None,
                defining: true,
                metrics: Vec::new(),
                schedulers: Vec::new(),
                label_counts: Vec::new(),
                panics: 0,
                callouts: Vec::new(),
            },
        );
        h
    };
    // SAFETY: host views valid during the call.
    let ptr = unsafe {
        config_new(CH { id: handle }, filter_name.as_ptr(), filter_name.len(), config.as_ptr(), config.len())
    };
    let mut st = state();
    let c = st.configs.get_mut(&handle).expect("config state");
    c.defining = false;
    if ptr.is_null() {
        let reason = c.reject_reason.clone().unwrap_or_else(|| "rejected without a reason".to_string());
        st.configs.remove(&handle);
        return Err(reason);
    }
    Ok((handle, ptr))
}

/// Current value of metric `name` of a config (histograms: the sum).
fn config_metric(handle: u64, name: &str) -> Option<i64> {
    let st = state();
    st.configs.get(&handle)?.metrics.iter().find(|(_, n, _)| n == name).map(|(_, _, v)| *v)
}

/// Panics the module reported for a config.
fn config_panics(handle: u64) -> u32 {
    state().configs.get(&handle).map(|c| c.panics).unwrap_or(0)
}

type ConfigScheduled = unsafe extern "C" fn(*mut c_void, CH, u64);

/// Deliver (at most `timeout` waiting) `n` events committed through the
/// schedulers of config `handle` to its `config_scheduled` hook (`ptr` is
/// what config_new returned), as the host's main thread does; returns how
/// many were delivered.
fn run_config_scheduled(handle: u64, ptr: *mut c_void, hook: ConfigScheduled, n: usize, timeout: Duration) -> usize {
    let schedulers = move |st: &state::State| st.configs.get(&handle).map(|c| c.schedulers.clone()).unwrap_or_default();
    run_scheduled(n, timeout, schedulers, |event| {
        // SAFETY: config pointer from config_new, not destroyed (its owner lives).
        unsafe { hook(ptr, CH { id: handle }, event) };
        true
    })
}

/// Deliver (at most `timeout` waiting) `n` events committed through the
/// schedulers that `scheduler_ids` names, in commit order per scheduler,
/// to `deliver` (false: the event was dropped, not delivered); returns
/// how many were delivered.
fn run_scheduled(
    n: usize,
    timeout: Duration,
    scheduler_ids: impl Fn(&state::State) -> Vec<u64>,
    mut deliver: impl FnMut(u64) -> bool,
) -> usize {
    let deadline = Instant::now() + timeout;
    let mut delivered = 0;
    while delivered < n {
        let Some(events) = wait_events(deadline, &scheduler_ids) else {
            break;
        };
        for event in events {
            if deliver(event) {
                delivered += 1;
            }
        }
    }
    delivered
}

/// Wait until `deadline` for events committed through the schedulers that
/// `scheduler_ids` names, and take them (in commit order per scheduler);
/// `None` at the deadline.
fn wait_events(deadline: Instant, scheduler_ids: impl Fn(&state::State) -> Vec<u64>) -> Option<Vec<u64>> {
    let mut st = state();
    loop {
        let mut events = Vec::new();
        for id in scheduler_ids(&st) {
            if let Some(sched) = st.schedulers.get_mut(&id) {
                events.extend(sched.queue.drain(..));
            }
        }
        if !events.is_empty() {
            return Some(events);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        st = SCHEDULED.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
    }
}

/// One configured filter in the fake host.
pub struct FakeConfig {
    sym: HttpSymbols,
    handle: u64,
    ptr: *mut c_void,
}

/// A per-route config object made by the module.
pub struct FakePerRoute {
    sym: HttpSymbols,
    ptr: *mut c_void,
}

impl Drop for FakePerRoute {
    fn drop(&mut self) {
        // SAFETY: made by per_route_config_new, destroyed once.
        unsafe { (self.sym.per_route_config_destroy)(self.ptr) }
    }
}

// SAFETY: a config's filters are created from many workers at once
// (HttpFilterConfig is Send + Sync); moving it is what a host does too.
unsafe impl Send for FakeConfig {}
unsafe impl Sync for FakeConfig {}
// SAFETY: a test may drive a stream from another thread, e.g. to check
// that a module detects a host breaking thread affinity.
unsafe impl Send for FakeStream {}

impl FakeConfig {
    /// The config handle.
    pub fn handle(&self) -> CH {
        CH { id: self.handle }
    }

    /// Current value of metric `name` (histograms: the sum recorded).
    pub fn metric(&self, name: &str) -> Option<i64> {
        config_metric(self.handle, name)
    }

    /// How many panics the module reported for this config (counted by
    /// sluice as `module.<entry>.panics`).
    pub fn panics(&self) -> u32 {
        config_panics(self.handle)
    }

    /// A per-route config from JSON; `Err` carries the reject reason.
    pub fn per_route(&self, config: &str) -> Result<FakePerRoute, String> {
        // SAFETY: host views valid during the call.
        let ptr =
            unsafe { (self.sym.per_route_config_new)(CH { id: self.handle }, self.ptr, config.as_ptr(), config.len()) };
        let mut st = state();
        let reason = st.configs.get_mut(&self.handle).and_then(|c| c.reject_reason.take());
        if ptr.is_null() {
            return Err(reason.unwrap_or_else(|| "rejected without a reason".to_string()));
        }
        Ok(FakePerRoute { sym: self.sym, ptr })
    }

    /// Deliver (at most `timeout` waiting) `n` events committed through the
    /// config's schedulers to `HttpFilterConfig::on_scheduled`, as the
    /// host's main thread does. Returns how many were delivered.
    pub fn run_scheduled(&self, n: usize, timeout: Duration) -> usize {
        run_config_scheduled(self.handle, self.ptr, self.sym.config_scheduled, n, timeout)
    }

    /// A new stream with an (empty) request header map; `Err` when the
    /// module's filter_new returned NULL.
    pub fn new_stream(&self) -> Result<FakeStream, String> {
        let handle = {
            let mut st = state();
            let h = st.new_handle();
            st.streams.insert(h, StreamState::new(self.handle));
            h
        };
        // SAFETY: config pointer from config_new; handle registered above.
        let filter = unsafe { (self.sym.filter_new)(self.ptr, FH { id: handle }) };
        if filter.is_null() {
            state().streams.remove(&handle);
            return Err("filter_new returned NULL".to_string());
        }
        Ok(FakeStream { sym: self.sym, handle, filter, destroyed: false })
    }
}

impl FakeConfig {
    /// The config callouts the module started, in order.
    pub fn callouts(&self) -> Vec<FakeCallout> {
        let st = state();
        let ids = st.configs.get(&self.handle).map(|c| c.callouts.clone()).unwrap_or_default();
        callouts_of(&st, &ids)
    }

    /// Answer config callout `id` with a response, running the config's
    /// `on_callout_done` as sluice's main thread would. `false` (no hook)
    /// when it was cancelled or already answered.
    pub fn respond_callout(&self, id: CalloutId, status: u32, headers: &[(&str, &str)], body: &[u8]) -> bool {
        self.finish_callout(id, &CalloutEnd { outcome: CalloutOutcome::Response, status, headers, body, detail: b"" })
    }

    /// End config callout `id` with a failure outcome.
    pub fn fail_callout(&self, id: CalloutId, outcome: CalloutOutcome, detail: &str) -> bool {
        self.finish_callout(id, &CalloutEnd { outcome, status: 0, headers: &[], body: b"", detail: detail.as_bytes() })
    }

    fn finish_callout(&self, id: CalloutId, end: &CalloutEnd<'_>) -> bool {
        if !take_callout(id, &self.handle_callouts()) {
            return false;
        }
        end.with_raw(|raw| {
            // SAFETY: config pointer from config_new, alive (self lives).
            unsafe {
                (self.sym.config_callout_done)(
                    self.ptr,
                    CH { id: self.handle },
                    abi::sluice_callout_handle { id: id.0 },
                    raw,
                )
            }
        });
        true
    }

    fn handle_callouts(&self) -> Vec<u64> {
        state().configs.get(&self.handle).map(|c| c.callouts.clone()).unwrap_or_default()
    }
}

/// The recorded callouts with these ids, in order.
fn callouts_of(st: &state::State, ids: &[u64]) -> Vec<FakeCallout> {
    ids.iter().filter_map(|id| st.callouts.get(id).cloned()).collect()
}

/// Marks callout `id` (one of `ids`) answered; false when it is not
/// there, already answered or cancelled.
fn take_callout(id: CalloutId, ids: &[u64]) -> bool {
    let mut st = state();
    match st.callouts.get_mut(&id.0) {
        Some(c) if ids.contains(&id.0) && !c.over => {
            c.over = true;
            true
        }
        _ => false,
    }
}

/// Cancels every callout of `ids` still in flight (the owner went away).
fn cancel_callouts(ids: &[u64]) {
    let mut st = state();
    for id in ids {
        if let Some(c) = st.callouts.get_mut(id).filter(|c| !c.over) {
            c.over = true;
            c.cancelled = true;
        }
    }
}

/// How a test ends a callout: a response (`status`, `headers`, `body`) or
/// a failure `outcome` with `detail`.
struct CalloutEnd<'a> {
    outcome: CalloutOutcome,
    status: u32,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
    detail: &'a [u8],
}

impl CalloutEnd<'_> {
    /// Runs `f` with a `sluice_callout_result` pointing into local memory.
    fn with_raw(&self, f: impl FnOnce(*const abi::sluice_callout_result)) {
        let CalloutEnd { outcome, status, headers, body, detail } = *self;
        let list: Vec<abi::sluice_header> = headers
            .iter()
            .map(|(n, v)| abi::sluice_header {
                name: abi::sluice_buffer::from_slice(n.as_bytes()),
                value: abi::sluice_buffer::from_slice(v.as_bytes()),
            })
            .collect();
        let raw = abi::sluice_callout_result {
            size: core::mem::size_of::<abi::sluice_callout_result>() as u32,
            outcome: outcome.to_raw(),
            status,
            reserved: 0,
            headers: if list.is_empty() { core::ptr::null() } else { list.as_ptr() },
            n_headers: list.len(),
            body: abi::sluice_buffer::from_slice(body),
            trailers: core::ptr::null(),
            n_trailers: 0,
            detail: abi::sluice_buffer::from_slice(detail),
        };
        f(&raw);
    }
}

impl Drop for FakeConfig {
    fn drop(&mut self) {
        // SAFETY: from config_new, destroyed once, after its streams (they
        // borrow nothing from it, but tests drop streams first by scope).
        unsafe { (self.sym.config_destroy)(self.ptr) };
        cancel_callouts(&self.handle_callouts());
        state().configs.remove(&self.handle);
    }
}

/// One stream through one filter. Setters prepare what the "host" holds;
/// hook methods call the module; getters show what the filter did.
pub struct FakeStream {
    sym: HttpSymbols,
    handle: u64,
    filter: *mut c_void,
    destroyed: bool,
}

fn to_pairs(list: &[(&str, &str)]) -> state::HeaderList {
    list.iter().map(|(n, v)| (bytes(n.to_ascii_lowercase().as_bytes()), bytes(v.as_bytes()))).collect()
}

impl FakeStream {
    /// The filter handle.
    pub fn handle(&self) -> FH {
        FH { id: self.handle }
    }

    fn with<R>(&self, f: impl FnOnce(&mut StreamState) -> R) -> R {
        let mut st = state();
        f(st.streams.get_mut(&self.handle).expect("stream state"))
    }

    fn set_map(&self, kind: HeaderKind, list: &[(&str, &str)]) {
        self.with(|s| {
            if let Some(old) = s.headers[kind as usize].replace(to_pairs(list)) {
                for (a, b) in old {
                    s.common.graveyard.push(a);
                    s.common.graveyard.push(b);
                }
            }
        })
    }

    /// Replace the request headers.
    pub fn set_request_headers(&self, list: &[(&str, &str)]) {
        self.set_map(HeaderKind::RequestHeaders, list)
    }
    /// Make response headers exist with these values.
    pub fn set_response_headers(&self, list: &[(&str, &str)]) {
        self.set_map(HeaderKind::ResponseHeaders, list)
    }
    /// Make request trailers exist.
    pub fn set_request_trailers(&self, list: &[(&str, &str)]) {
        self.set_map(HeaderKind::RequestTrailers, list)
    }
    /// Make response trailers exist.
    pub fn set_response_trailers(&self, list: &[(&str, &str)]) {
        self.set_map(HeaderKind::ResponseTrailers, list)
    }
    /// Give a string attribute a value.
    pub fn set_attribute_string(&self, id: Attribute, value: &str) {
        self.with(|s| s.common.attr_str.insert(id as u32, bytes(value.as_bytes())));
    }
    /// Give an integer attribute a value.
    pub fn set_attribute_int(&self, id: Attribute, value: i64) {
        self.with(|s| s.common.attr_int.insert(id as u32, value));
    }
    /// Give the stream's connection string metadata, as a network filter
    /// before the HTTP connection manager would
    /// (`HostFilter::connection_metadata_string` reads it).
    pub fn set_connection_metadata_string(&self, ns: &str, key: &str, value: &str) {
        self.with(|s| {
            let key = (ns.to_string(), key.to_string());
            metadata::set(&mut s.conn_metadata, &mut s.common.graveyard, key, (Some(bytes(value.as_bytes())), None))
        });
    }
    /// Give the stream's connection number metadata.
    pub fn set_connection_metadata_number(&self, ns: &str, key: &str, value: f64) {
        self.with(|s| {
            let key = (ns.to_string(), key.to_string());
            metadata::set(&mut s.conn_metadata, &mut s.common.graveyard, key, (None, Some(value)))
        });
    }
    /// From now on, the host call `on` runs this filter's response-headers
    /// hook synchronously before returning, as sluice does when a
    /// continued request is answered directly by the route.
    pub fn reenter_on(&self, on: Reentry) {
        let target = ReentryTarget { on, hook: self.sym.response_headers, filter: self.filter as usize };
        self.with(|s| s.reentry = Some(target));
    }

    /// Statuses returned by re-entered response-headers hooks, in order.
    pub fn reentered(&self) -> Vec<HeadersStatus> {
        self.with(|s| s.common.reentered.clone()).into_iter().map(typed).collect()
    }

    /// Make the "selected route" carry this per-route config.
    pub fn set_per_route(&self, per_route: &FakePerRoute) {
        self.with(|s| s.per_route = per_route.ptr as usize);
    }

    fn call<R>(&mut self, f: impl FnOnce(&HttpSymbols, *mut c_void, FH) -> R) -> R {
        assert!(!self.destroyed, "hook called after destroy");
        f(&self.sym, self.filter, FH { id: self.handle })
    }

    /// Run the request-headers hook.
    pub fn request_headers(&mut self, end_of_stream: bool) -> HeadersStatus {
        typed(self.request_headers_raw(end_of_stream))
    }

    /// Run the request-headers hook and return the raw value the module's
    /// hook returned, valid or not.
    pub fn request_headers_raw(&mut self, end_of_stream: bool) -> i32 {
        // SAFETY: live filter from filter_new.
        self.call(|s, f, h| unsafe { (s.request_headers)(f, h, end_of_stream) })
    }

    /// Run the response-headers hook (response headers must be set).
    pub fn response_headers(&mut self, end_of_stream: bool) -> HeadersStatus {
        // SAFETY: live filter from filter_new.
        typed(self.call(|s, f, h| unsafe { (s.response_headers)(f, h, end_of_stream) }))
    }

    /// Deliver one request body chunk the way sluice's connection manager
    /// does (Envoy's semantics): the chunk is the received body during the
    /// hook; what earlier StopIterationAndBuffer returns kept is the
    /// buffered body. StopIterationAndBuffer/Watermark add the chunk to the
    /// buffered body, Continue forwards buffered + received,
    /// StopIterationNoBuffer drops the chunk.
    pub fn request_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyStatus {
        typed(self.body_hook(true, chunk, end_of_stream))
    }

    /// Like `request_body`, for the response.
    pub fn response_body(&mut self, chunk: &[u8], end_of_stream: bool) -> BodyStatus {
        typed(self.body_hook(false, chunk, end_of_stream))
    }

    fn body_hook(&mut self, request: bool, chunk: &[u8], eos: bool) -> i32 {
        let (received, buffered, phase) = if request {
            (abi::SLUICE_RECEIVED_REQUEST_BODY, abi::SLUICE_BUFFERED_REQUEST_BODY, Phase::RequestBody)
        } else {
            (abi::SLUICE_RECEIVED_RESPONSE_BODY, abi::SLUICE_BUFFERED_RESPONSE_BODY, Phase::ResponseBody)
        };
        self.with(|s| {
            s.bodies[received as usize] = if chunk.is_empty() { Vec::new() } else { vec![bytes(chunk)] };
            s.phase = phase;
        });
        // SAFETY: live filter from filter_new.
        let status = self.call(|s, f, h| unsafe {
            if request {
                (s.request_body)(f, h, eos)
            } else {
                (s.response_body)(f, h, eos)
            }
        });
        self.with(|s| {
            s.phase = Phase::Idle;
            let got = core::mem::take(&mut s.bodies[received as usize]);
            if s.ended {
                s.common.graveyard.extend(got);
                return;
            }
            match status {
                abi::SLUICE_BODY_STOP_ITERATION_AND_BUFFER | abi::SLUICE_BODY_STOP_ITERATION_AND_WATERMARK => {
                    s.bodies[buffered as usize].extend(got)
                }
                abi::SLUICE_BODY_CONTINUE => {
                    let held = core::mem::take(&mut s.bodies[buffered as usize]);
                    for c in held.into_iter().chain(got) {
                        s.forwarded[if request { 0 } else { 1 }].extend_from_slice(&c);
                    }
                }
                _ => s.common.graveyard.extend(got),
            }
        });
        status
    }

    /// Run the request-trailers hook; if the filter had buffered the body
    /// and continues, the body goes on first (as in sluice).
    pub fn request_trailers(&mut self) -> TrailersStatus {
        // SAFETY: live filter from filter_new.
        let status = self.call(|s, f, h| unsafe { (s.request_trailers)(f, h) });
        self.flush_buffered_on_continue(status, 0);
        typed(status)
    }

    /// Run the response-trailers hook (see `request_trailers`).
    pub fn response_trailers(&mut self) -> TrailersStatus {
        // SAFETY: live filter from filter_new.
        let status = self.call(|s, f, h| unsafe { (s.response_trailers)(f, h) });
        self.flush_buffered_on_continue(status, 1);
        typed(status)
    }

    fn flush_buffered_on_continue(&mut self, status: i32, dir: usize) {
        if status != abi::SLUICE_TRAILERS_CONTINUE {
            return;
        }
        let buffered = if dir == 0 { abi::SLUICE_BUFFERED_REQUEST_BODY } else { abi::SLUICE_BUFFERED_RESPONSE_BODY };
        self.with(|s| {
            for c in core::mem::take(&mut s.bodies[buffered as usize]) {
                s.forwarded[dir].extend_from_slice(&c);
            }
        });
    }

    /// Wait (at most `timeout`) until `n` scheduled events were delivered
    /// to the filter's `on_scheduled`, acting as the worker: take the
    /// events committed through this filter's schedulers, in commit order
    /// per scheduler. Returns how many were delivered.
    pub fn run_scheduled(&mut self, n: usize, timeout: Duration) -> usize {
        let handle = self.handle;
        let schedulers = move |st: &state::State| st.filter_schedulers(handle);
        run_scheduled(n, timeout, schedulers, |event| {
            if self.destroyed {
                return false;
            }
            // SAFETY: live filter from filter_new.
            self.call(|s, f, h| unsafe { (s.scheduled)(f, h, event) });
            true
        })
    }

    /// The filter's armed timers: (id, delay it was last enabled with).
    pub fn armed_timers(&self) -> Vec<(crate::TimerId, Duration)> {
        self.with(|s| s.common.armed_timers())
    }

    /// Fire an armed timer now, as the worker does when it is due (the
    /// fake host has no clock): the filter's `on_timer` runs and the timer
    /// is disarmed. Returns false when it is not armed.
    pub fn fire_timer(&mut self, id: crate::TimerId) -> bool {
        let armed = self.with(|s| s.common.disarm(id.0));
        if armed && !self.destroyed {
            // SAFETY: live filter from filter_new.
            self.call(|s, f, h| unsafe { (s.timer)(f, h, abi::sluice_timer_handle { id: id.0 }) });
        }
        armed
    }

    /// The callouts the filter started, in order.
    pub fn callouts(&self) -> Vec<FakeCallout> {
        let st = state();
        let ids = st.streams.get(&self.handle).map(|s| s.callouts.clone()).unwrap_or_default();
        callouts_of(&st, &ids)
    }

    /// Answer callout `id` with a response (`headers` are the response
    /// headers), running the filter's `on_callout_done` as the worker
    /// would. `false` (no hook) when it was cancelled, already answered,
    /// or the stream ended.
    pub fn respond_callout(&mut self, id: CalloutId, status: u32, headers: &[(&str, &str)], body: &[u8]) -> bool {
        self.finish_callout(id, &CalloutEnd { outcome: CalloutOutcome::Response, status, headers, body, detail: b"" })
    }

    /// End callout `id` with a failure outcome (`Timeout`, ...) and `detail`.
    pub fn fail_callout(&mut self, id: CalloutId, outcome: CalloutOutcome, detail: &str) -> bool {
        self.finish_callout(id, &CalloutEnd { outcome, status: 0, headers: &[], body: b"", detail: detail.as_bytes() })
    }

    fn finish_callout(&mut self, id: CalloutId, end: &CalloutEnd<'_>) -> bool {
        let ids = self.with(|s| if s.ended { Vec::new() } else { s.callouts.clone() });
        if self.destroyed || !take_callout(id, &ids) {
            return false;
        }
        end.with_raw(|raw| {
            // SAFETY: live filter from filter_new; raw lives across the call.
            self.call(|s, f, h| unsafe { (s.callout_done)(f, h, abi::sluice_callout_handle { id: id.0 }, raw) })
        });
        true
    }

    /// Run stream_complete then destroy, as the host does at stream end.
    pub fn complete(&mut self) {
        if self.destroyed {
            return;
        }
        self.with(|s| {
            s.ended = true;
            s.phase = Phase::Completing;
        });
        // SAFETY: live filter from filter_new.
        self.call(|s, f, h| unsafe { (s.stream_complete)(f, h) });
        self.destroy();
    }

    fn destroy(&mut self) {
        if !self.destroyed {
            self.destroyed = true;
            // SAFETY: destroyed exactly once.
            unsafe { (self.sym.filter_destroy)(self.filter) };
            // As sluice: the stream's end cancels its callouts.
            let ids = self.with(|s| {
                s.phase = Phase::Idle;
                s.callouts.clone()
            });
            cancel_callouts(&ids);
        }
    }

    /// First value of a header the filter sees now (what
    /// `HostFilter::header` would return, owned).
    pub fn header(&self, kind: HeaderKind, name: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        let name = name.as_ref();
        self.with(|s| {
            s.headers[kind as usize]
                .as_ref()?
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_vec())
        })
    }

    /// `header(HeaderKind::RequestHeaders, name)`, as on `HostFilter`.
    pub fn request_header(&self, name: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        self.header(HeaderKind::RequestHeaders, name)
    }

    /// `header(HeaderKind::ResponseHeaders, name)`, as on `HostFilter`.
    pub fn response_header(&self, name: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        self.header(HeaderKind::ResponseHeaders, name)
    }

    /// A whole header map, in order, as (name, value) bytes.
    pub fn headers(&self, kind: HeaderKind) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.with(|s| {
            s.headers[kind as usize]
                .as_ref()
                .map(|m| m.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect())
                .unwrap_or_default()
        })
    }

    /// The local reply, if the filter sent one.
    pub fn local_reply(&self) -> Option<LocalReply> {
        self.with(|s| s.local_reply.clone())
    }

    /// Body bytes that went past the filter (request or response side).
    pub fn forwarded_body(&self, request: bool) -> Vec<u8> {
        self.with(|s| s.forwarded[if request { 0 } else { 1 }].clone())
    }

    /// How many times the filter called continue_decoding.
    pub fn continue_decoding_calls(&self) -> u32 {
        self.with(|s| s.continue_decoding)
    }
    /// How many times the filter called continue_encoding.
    pub fn continue_encoding_calls(&self) -> u32 {
        self.with(|s| s.continue_encoding)
    }
    /// How many times the filter called clear_route_cache.
    pub fn clear_route_cache_calls(&self) -> u32 {
        self.with(|s| s.clear_route_cache)
    }

    /// Dynamic metadata the filter set.
    pub fn metadata(&self, ns: &str, key: &str) -> Option<Metadata> {
        self.with(|s| metadata::lookup(&s.common.metadata, ns, key))
    }

    /// String metadata `ns`.`key`, as `HostFilter::metadata_string`
    /// returns it (owned): `Err(NotFound)` when absent or a number.
    pub fn metadata_string(&self, ns: &str, key: &str) -> crate::error::Result<Vec<u8>> {
        metadata::string_value(self.metadata(ns, key))
    }

    /// Number metadata `ns`.`key`, as `HostFilter::metadata_number` returns
    /// it: `Err(NotFound)` when absent or a string.
    pub fn metadata_number(&self, ns: &str, key: &str) -> crate::error::Result<f64> {
        metadata::number_value(self.metadata(ns, key))
    }

    /// (schedulers created, schedulers deleted) for this filter.
    pub fn schedulers(&self) -> (usize, usize) {
        state().scheduler_counts(self.handle)
    }
}

impl Drop for FakeStream {
    fn drop(&mut self) {
        self.destroy();
        if let Some(s) = state().streams.remove(&self.handle) {
            drop(s);
        }
    }
}

/// A hook's raw return value as the SDK's status type; a value outside the
/// ABI's statuses (which the host would count as invalid_status and fail
/// the stream on) fails the test.
fn typed<T: TryFrom<i32, Error = i32>>(raw: i32) -> T {
    T::try_from(raw).unwrap_or_else(|raw| panic!("the hook returned {raw}, not a valid status"))
}
