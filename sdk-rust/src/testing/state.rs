//! The fake host's memory: one global table of streams and configs, since
//! the ABI's callbacks carry only handles. Host views handed to the module
//! point into boxed slices that are never freed before the stream is
//! removed (replaced values move to a graveyard), which gives the same
//! "valid until the hook returns" guarantee the real host makes.

use crate::abi;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

pub(crate) type Bytes = Box<[u8]>;

/// A header map: (lowercase name, value) in order.
pub(crate) type HeaderList = Vec<(Bytes, Bytes)>;

/// Dynamic metadata: (namespace, key) -> a string or a number.
pub(crate) type MetadataMap = BTreeMap<(String, String), (Option<Bytes>, Option<f64>)>;

/// Timers of one filter: id -> armed delay (None = disarmed).
pub(crate) type Timers = BTreeMap<u64, Option<std::time::Duration>>;

/// What the fake keeps for every filter, HTTP (per stream) or network
/// (per connection).
#[derive(Default)]
pub(crate) struct FilterState {
    /// Attributes the test set.
    pub attr_str: BTreeMap<u32, Bytes>,
    pub attr_int: BTreeMap<u32, i64>,
    /// Dynamic metadata the filter set.
    pub metadata: MetadataMap,
    /// Schedulers handed out (their ids).
    pub schedulers: Vec<u64>,
    pub timers: Timers,
    /// Bytes replaced or removed while views of them may still be held.
    pub graveyard: Vec<Bytes>,
    /// Statuses the re-entered hook returned.
    pub reentered: Vec<i32>,
}

impl FilterState {
    /// The armed timers: (id, delay it was last enabled with).
    pub fn armed_timers(&self) -> Vec<(crate::TimerId, std::time::Duration)> {
        self.timers.iter().filter_map(|(id, d)| d.map(|d| (crate::TimerId(*id), d))).collect()
    }

    /// Disarm timer `id`, as when it fires; false when it was not armed.
    pub fn disarm(&mut self, id: u64) -> bool {
        match self.timers.get_mut(&id) {
            Some(d @ Some(_)) => {
                *d = None;
                true
            }
            _ => false,
        }
    }
}

pub(crate) fn bytes(s: &[u8]) -> Bytes {
    s.to_vec().into_boxed_slice()
}

/// A dynamic-metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Metadata {
    String(Vec<u8>),
    Number(f64),
}

/// A reply the filter sent with `send_response`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub details: String,
}

/// Which hook is running, for the callbacks whose availability depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Idle,
    RequestBody,
    ResponseBody,
    Completing,
}

/// Which host call re-enters the filter (see `FakeStream::reenter_on`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reentry {
    /// continue_decoding runs the filter's response-headers hook at once, as
    /// sluice does when the route answers directly.
    ContinueDecoding,
    /// clear_route_cache does (no real host call does this; it checks the
    /// SDK's guard against re-entry while user code runs).
    ClearRouteCache,
}

/// A hook the fake calls back into from inside a host call.
#[derive(Clone, Copy)]
pub(crate) struct ReentryTarget {
    pub on: Reentry,
    pub hook: unsafe extern "C" fn(*mut core::ffi::c_void, crate::abi::sluice_filter_handle, bool) -> i32,
    pub filter: usize,
}

pub(crate) struct StreamState {
    #[allow(dead_code)]
    pub config: u64,
    /// By `sluice_header_kind`; None = that map does not exist (yet).
    pub headers: [Option<HeaderList>; 4],
    /// By `sluice_body_kind`.
    pub bodies: [Vec<Bytes>; 4],
    /// What passed this filter downstream (request) / upstream-to-client (response).
    pub forwarded: [Vec<u8>; 2],
    pub common: FilterState,
    pub local_reply: Option<LocalReply>,
    pub ended: bool,
    pub phase: Phase,
    pub continue_decoding: u32,
    pub continue_encoding: u32,
    pub clear_route_cache: u32,
    /// The per-route object the "selected route" carries (0 = none).
    pub per_route: usize,
    pub reentry: Option<ReentryTarget>,
    /// The metadata network filters set on the stream's connection.
    pub conn_metadata: MetadataMap,
    /// Callouts started, in order (their ids).
    pub callouts: Vec<u64>,
}

impl StreamState {
    pub fn new(config: u64) -> StreamState {
        StreamState {
            config,
            headers: [Some(Vec::new()), None, None, None],
            bodies: Default::default(),
            forwarded: Default::default(),
            common: FilterState::default(),
            local_reply: None,
            ended: false,
            phase: Phase::Idle,
            continue_decoding: 0,
            continue_encoding: 0,
            clear_route_cache: 0,
            per_route: 0,
            reentry: None,
            conn_metadata: BTreeMap::new(),
            callouts: Vec::new(),
        }
    }
}

pub(crate) struct ConfigState {
    pub reject_reason: Option<String>,
    /// Metrics may be defined only while config_new runs.
    pub defining: bool,
    /// (kind, name, value)
    pub metrics: Vec<(u8, String, i64)>,
    /// Config-level schedulers handed out.
    pub schedulers: Vec<u64>,
    /// Label count of each metric (by id).
    pub label_counts: Vec<usize>,
    /// Panics the module reported (report_panic).
    pub panics: u32,
    /// Config callouts started, in order (their ids).
    pub callouts: Vec<u64>,
}

/// A callout as the fake host recorded it (see `FakeStream::callouts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeCallout {
    pub id: crate::CalloutId,
    pub cluster: String,
    /// Headers as sent, pseudo-headers included (`:method`, `:path`, ...).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// 0 = the host's default (5 s).
    pub timeout_ms: u32,
    /// 0 = the host's default (1 MiB).
    pub max_response_bytes: u64,
    /// Cancelled by the module, or by its stream ending / config going.
    pub cancelled: bool,
    /// Answered (the done hook ran) or cancelled.
    pub over: bool,
}

impl FakeCallout {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A scheduler of the fake host.
pub(crate) struct FakeScheduler {
    /// The stream's filter handle, the connection's network filter handle,
    /// or the config handle of a config-level scheduler.
    pub stream: u64,
    pub deleted: bool,
    pub queue: std::collections::VecDeque<u64>,
}

/// Signalled on every accepted commit (run_scheduled waits on it).
pub(crate) static SCHEDULED: std::sync::Condvar = std::sync::Condvar::new();

pub(crate) struct State {
    pub streams: BTreeMap<u64, StreamState>,
    /// Network filters on their connections, by filter handle (ABI 2.1).
    pub conns: BTreeMap<u64, super::network::ConnState>,
    pub callouts: BTreeMap<u64, FakeCallout>,
    pub schedulers: BTreeMap<u64, FakeScheduler>,
    pub commit_seq: u64,
    pub configs: BTreeMap<u64, ConfigState>,
    pub logs: Vec<(u32, String)>,
    pub next_handle: u64,
}

static STATE: Mutex<State> = Mutex::new(State {
    streams: BTreeMap::new(),
    conns: BTreeMap::new(),
    callouts: BTreeMap::new(),
    schedulers: BTreeMap::new(),
    commit_seq: 0,
    configs: BTreeMap::new(),
    logs: Vec::new(),
    next_handle: 1,
});

/// Lock the fake host. A test that panicked while holding it must not
/// poison the others.
pub(crate) fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    pub fn new_handle(&mut self) -> u64 {
        let h = self.next_handle;
        self.next_handle += 1;
        h
    }

    /// A new scheduler whose events go to `target` (a stream's or
    /// connection's filter handle, or a config handle); its id, for the
    /// target's list.
    pub fn new_scheduler(&mut self, target: u64) -> u64 {
        let id = self.new_handle();
        self.schedulers.insert(id, FakeScheduler { stream: target, deleted: false, queue: Default::default() });
        id
    }

    /// (created, deleted) of the schedulers of stream or connection
    /// `handle`.
    pub fn scheduler_counts(&self, handle: u64) -> (usize, usize) {
        let ids = self.filter_schedulers(handle);
        let deleted = ids.iter().filter(|id| self.schedulers.get(id).is_some_and(|s| s.deleted)).count();
        (ids.len(), deleted)
    }

    /// The timers of the stream or connection that owns timer `id`.
    pub fn timers_owning(&mut self, id: u64) -> Option<&mut Timers> {
        let streams = self.streams.values_mut().map(|s| &mut s.common);
        let conns = self.conns.values_mut().map(|c| &mut c.common);
        streams.chain(conns).find(|f| f.timers.contains_key(&id)).map(|f| &mut f.timers)
    }

    /// The schedulers of stream or connection `handle` (none once it is
    /// gone).
    pub fn filter_schedulers(&self, handle: u64) -> Vec<u64> {
        let stream = self.streams.get(&handle).map(|s| &s.common);
        let conn = || self.conns.get(&handle).map(|c| &c.common);
        stream.or_else(conn).map(|f| f.schedulers.clone()).unwrap_or_default()
    }

    /// Whether a scheduler's target (stream, connection or config) can
    /// still take events: a destroyed connection filter's handle is stale.
    pub fn target_alive(&self, target: u64) -> bool {
        self.streams.contains_key(&target)
            || self.configs.contains_key(&target)
            || self.conns.get(&target).is_some_and(|c| !c.destroyed)
    }
}

/// Result code for a stream lookup that may fail.
pub(crate) fn stream_mut(st: &mut State, handle: u64, mutating: bool) -> Result<&mut StreamState, abi::sluice_result> {
    let s = st.streams.get_mut(&handle).ok_or(abi::SLUICE_ERR_INVALID_HANDLE)?;
    // As in sluice: once the stream ended, reads still work until destroy
    // (e.g. in stream_complete); mutations and stream control do not.
    if s.ended && mutating {
        return Err(abi::SLUICE_ERR_STREAM_ENDED);
    }
    Ok(s)
}
