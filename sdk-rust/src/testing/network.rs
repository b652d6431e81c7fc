//! The fake host's network (L4) side, ABI 2.1: one network filter on one
//! connection, in front of a terminal filter that behaves like sluice's
//! `tcp_proxy` (it takes everything that passes the filter, and closes the
//! connection once both directions ended).
//!
//! The callbacks follow the host's result contract: a destroyed filter's
//! handle is stale (`InvalidHandle`); once the connection closed, calls that
//! act on it return `StreamEnded` while reads (attributes, metadata) still
//! work until the filter is destroyed; the write buffer exists only inside
//! `on_write`. Host calls that run hooks of the filter in sluice run them
//! here too, synchronously: `write` passes the chunk through the filter's
//! own `on_write`, `close` delivers `LocalClose` to its `on_event`, and the
//! filter is destroyed once the outermost of its hooks returned.

use super::callbacks::{input, out_view};
use super::metadata::{self, MetadataSink, MetadataSource};
use super::state::{bytes, state, Bytes, FilterState, MetadataMap, State};
use super::{config_metric, config_panics, run_config_scheduled, run_scheduled, Metadata, NetworkSymbols};
use crate::abi::{self, sluice_buffer, sluice_config_handle as CH, sluice_network_filter_handle as NFH};
use crate::types::{Attribute, CloseType, ConnectionEvent, NetworkStatus};
use core::ffi::c_void;
use std::time::Duration;

/// Address attributes the fake reports unless a test sets them.
const SOURCE: (&str, i64) = ("127.0.0.1:40000", 40000);
const DESTINATION: (&str, i64) = ("127.0.0.1:10000", 10000);

/// One network filter on one connection.
pub(crate) struct ConnState {
    sym: NetworkSymbols,
    filter: usize,
    /// The connection's read buffer (read from the client, not drained).
    read_buf: Vec<u8>,
    /// Chunks lent to the running write hooks (the last is the current).
    write_chunks: Vec<Vec<u8>>,
    /// What passed the filter to the terminal filter, and whether a FIN did.
    upstream: Vec<u8>,
    upstream_end: bool,
    /// The terminal filter started (tcp_proxy connects upstream then).
    upstream_started: bool,
    /// What reached the client, and whether a FIN did.
    client: Vec<u8>,
    client_end: bool,
    /// The client's FIN was read.
    eof_seen: bool,
    /// The filter saw on_new_connection.
    started: bool,
    closed: bool,
    close_type: Option<CloseType>,
    /// destroy is running or ran: acting calls end, metadata is read-only.
    pub destroyed: bool,
    /// destroy returned: the handle is stale.
    released: bool,
    /// Hooks of this filter on the stack (destroy waits for 0).
    depth: u32,
    /// Of those, the hooks sluice runs inside its read/write iteration
    /// (new_connection, read, write): continue_reading from them is the
    /// same as returning Continue.
    own_depth: u32,
    /// Hooks run by the connection (these and events, watermarks): a
    /// continue_reading from inside them resumes once they unwound.
    conn_depth: u32,
    cont_pending: bool,
    resume_pending: bool,
    read_disabled: u32,
    continue_reading_calls: u32,
    events: Vec<ConnectionEvent>,
    /// Attributes, metadata, schedulers, timers, and the raw statuses the
    /// re-entered on_read returned.
    pub common: FilterState,
    /// read_disable runs on_read at once (see `reenter_on_read_disable`).
    reenter: bool,
    /// Copies lent to the module, kept until the outermost hook returns.
    lent: Vec<Bytes>,
}

impl ConnState {
    fn open(&self) -> bool {
        !self.closed && !self.destroyed
    }

    fn lend(&mut self, b: &[u8]) -> sluice_buffer {
        self.lent.push(bytes(b));
        out_view(self.lent.last().expect("just pushed"))
    }

    /// The terminal filter's read pass: it starts if it has not, takes
    /// everything in the read buffer, and the client's FIN once read.
    fn pass_to_terminal(&mut self) {
        self.upstream_started = true;
        let data = core::mem::take(&mut self.read_buf);
        self.upstream.extend_from_slice(&data);
        self.upstream_end |= self.eof_seen;
    }
}

/// Which kind of hook a call runs (see ConnState's depth counters).
#[derive(Clone, Copy, PartialEq, Eq)]
enum HookKind {
    /// new_connection, read, write.
    Iteration,
    /// event, watermark.
    Connection,
    /// scheduled, timer: delivered by the worker outside any iteration.
    Worker,
}

/// Run one hook of connection `h`, with the host's bookkeeping around it.
/// Returns None when the filter is gone, else the hook's result and
/// whether it called continue_reading from inside an iteration hook.
fn run_hook<R>(h: u64, kind: HookKind, call: impl FnOnce(&NetworkSymbols, *mut c_void, NFH) -> R) -> Option<(R, bool)> {
    let (sym, filter, prev_pending) = {
        let mut st = state();
        let c = st.conns.get_mut(&h).filter(|c| !c.destroyed)?;
        c.depth += 1;
        if kind != HookKind::Worker {
            c.conn_depth += 1;
        }
        let prev = c.cont_pending;
        if kind == HookKind::Iteration {
            c.own_depth += 1;
            c.cont_pending = false;
        }
        (c.sym, c.filter, prev)
    };
    let r = call(&sym, filter as *mut c_void, NFH { id: h });
    let (continued, destroy) = {
        let mut st = state();
        let c = st.conns.get_mut(&h).expect("connection state");
        let mut continued = false;
        if kind == HookKind::Iteration {
            c.own_depth -= 1;
            continued = c.cont_pending;
            c.cont_pending = prev_pending;
        }
        if kind != HookKind::Worker {
            c.conn_depth -= 1;
        }
        c.depth -= 1;
        if c.conn_depth == 0 && c.resume_pending && c.open() {
            c.resume_pending = false;
            c.pass_to_terminal();
        }
        if c.depth == 0 {
            c.lent.clear();
        }
        (continued, c.depth == 0 && c.closed && !c.destroyed)
    };
    if destroy {
        destroy_filter(h);
    }
    Some((r, continued))
}

/// Destroy the filter once (the closing event was delivered and no hook of
/// it runs); its timers go with it and its schedulers' handles go stale.
fn destroy_filter(h: u64) {
    let (sym, filter) = {
        let mut st = state();
        let Some(c) = st.conns.get_mut(&h) else {
            return;
        };
        if c.destroyed {
            return;
        }
        c.destroyed = true;
        c.depth += 1;
        (c.sym, c.filter)
    };
    // SAFETY: the filter from filter_new, destroyed exactly once.
    unsafe { (sym.filter_destroy)(filter as *mut c_void) };
    let mut st = state();
    if let Some(c) = st.conns.get_mut(&h) {
        c.depth -= 1;
        c.released = true;
        c.common.timers.clear();
        c.lent.clear();
    }
}

/// Close connection `h` (idempotent): the filter, if it started, hears
/// `ev`; it is destroyed once no hook of it runs.
fn close_connection(h: u64, how: Option<CloseType>, ev: ConnectionEvent) {
    let (tell, destroy_now) = {
        let mut st = state();
        let Some(c) = st.conns.get_mut(&h) else {
            return;
        };
        if c.closed {
            return;
        }
        c.closed = true;
        c.close_type = how;
        if c.started {
            c.events.push(ev);
        }
        (c.started, c.depth == 0)
    };
    if tell {
        // The hook's end destroys the filter when it is the outermost.
        run_hook(h, HookKind::Connection, |s, f, nh| unsafe { (s.event)(f, nh, ev.to_raw()) });
    }
    if destroy_now && !tell {
        destroy_filter(h);
    }
}

/// Output to the client past every write filter: the socket (dropped once
/// the connection closed or its write side ended). A FIN after the
/// client's FIN closes the connection (tcp_proxy's half-close).
fn to_client(h: u64, data: &[u8], end: bool) {
    let both_ended = {
        let mut st = state();
        let Some(c) = st.conns.get_mut(&h) else {
            return;
        };
        if !c.open() || c.client_end {
            return;
        }
        c.client.extend_from_slice(data);
        if end {
            c.client_end = true;
        }
        end && c.eof_seen
    };
    if both_ended {
        close_connection(h, None, ConnectionEvent::LocalClose);
    }
}

/// The terminal filter's output (or the filter's own `write`): through the
/// filter's on_write, then to the client. Dropped once the connection
/// closed or its write side ended.
fn write_through(h: u64, data: &[u8], end: bool) -> Option<NetworkStatus> {
    {
        let mut st = state();
        let c = st.conns.get_mut(&h)?;
        if !c.open() || c.client_end {
            return None;
        }
        c.write_chunks.push(data.to_vec());
    }
    let (raw, continued) = run_hook(h, HookKind::Iteration, |s, f, nh| unsafe { (s.write)(f, nh, data.len(), end) })?;
    let (chunk, open) = {
        let mut st = state();
        let c = st.conns.get_mut(&h)?;
        (c.write_chunks.pop().unwrap_or_default(), c.open())
    };
    // As in sluice, continue_reading from inside the hook counts as
    // returning Continue.
    let status = if continued { NetworkStatus::Continue } else { super::typed(raw) };
    if status == NetworkStatus::Continue && open {
        to_client(h, &chunk, end);
    }
    Some(status)
}

// ---- the callback table's network entries ------------------------------

/// The connection of a live handle, or the result code saying why not.
fn lookup(st: &mut State, h: u64) -> Result<&mut ConnState, abi::sluice_result> {
    match st.conns.get_mut(&h) {
        Some(c) if !c.released => Ok(c),
        _ => Err(abi::SLUICE_ERR_INVALID_HANDLE),
    }
}

/// As `lookup`, for calls that act on the connection: refused once it
/// closed.
fn acting(st: &mut State, h: u64) -> Result<&mut ConnState, abi::sluice_result> {
    let c = lookup(st, h)?;
    if c.open() {
        Ok(c)
    } else {
        Err(abi::SLUICE_ERR_STREAM_ENDED)
    }
}

fn with_acting(h: NFH, f: impl FnOnce(&mut ConnState) -> abi::sluice_result) -> abi::sluice_result {
    match acting(&mut state(), h.id) {
        Ok(c) => f(c),
        Err(code) => code,
    }
}

fn with_lookup(h: NFH, f: impl FnOnce(&mut ConnState) -> abi::sluice_result) -> abi::sluice_result {
    match lookup(&mut state(), h.id) {
        Ok(c) => f(c),
        Err(code) => code,
    }
}

/// The buffer `kind` names: the read buffer, or the running write hook's
/// chunk.
fn buffer(c: &mut ConnState, kind: u32) -> Result<&mut Vec<u8>, abi::sluice_result> {
    match kind {
        abi::SLUICE_NETWORK_READ_BUFFER => Ok(&mut c.read_buf),
        abi::SLUICE_NETWORK_WRITE_BUFFER => c.write_chunks.last_mut().ok_or(abi::SLUICE_ERR_UNAVAILABLE),
        _ => Err(abi::SLUICE_ERR_INVALID_ARGUMENT),
    }
}

pub(crate) unsafe extern "C" fn buffer_chunks(
    h: NFH,
    kind: u32,
    chunks: *mut sluice_buffer,
    cap: usize,
    count_out: *mut usize,
) -> abi::sluice_result {
    with_acting(h, |c| {
        let data = match buffer(c, kind) {
            Ok(b) => b.clone(),
            Err(code) => return code,
        };
        // One contiguous chunk, as in sluice; cap 0 only counts.
        let n = usize::from(!data.is_empty());
        if n == 1 && cap > 0 && !chunks.is_null() {
            *chunks = c.lend(&data);
        }
        if !count_out.is_null() {
            *count_out = n;
        }
        abi::SLUICE_OK
    })
}

pub(crate) unsafe extern "C" fn buffer_size(h: NFH, kind: u32, size_out: *mut usize) -> abi::sluice_result {
    with_acting(h, |c| {
        if size_out.is_null() {
            return abi::SLUICE_ERR_INVALID_ARGUMENT;
        }
        match buffer(c, kind) {
            Ok(b) => {
                *size_out = b.len();
                abi::SLUICE_OK
            }
            Err(code) => code,
        }
    })
}

pub(crate) unsafe extern "C" fn buffer_drain(h: NFH, kind: u32, n: usize) -> abi::sluice_result {
    with_acting(h, |c| match buffer(c, kind) {
        Ok(b) => {
            b.drain(..n.min(b.len()));
            abi::SLUICE_OK
        }
        Err(code) => code,
    })
}

pub(crate) unsafe extern "C" fn buffer_append(h: NFH, kind: u32, data: *const u8, len: usize) -> abi::sluice_result {
    let data = input(data, len);
    with_acting(h, |c| match buffer(c, kind) {
        Ok(b) => {
            b.extend_from_slice(data);
            abi::SLUICE_OK
        }
        Err(code) => code,
    })
}

pub(crate) unsafe extern "C" fn buffer_prepend(h: NFH, kind: u32, data: *const u8, len: usize) -> abi::sluice_result {
    let data = input(data, len);
    with_acting(h, |c| match buffer(c, kind) {
        Ok(b) => {
            b.splice(0..0, data.iter().copied());
            abi::SLUICE_OK
        }
        Err(code) => code,
    })
}

/// From the filter's own iteration hook: as returning Continue. From an
/// event or watermark hook: once the connection's hooks unwound. From
/// on_scheduled / on_timer: at once.
pub(crate) unsafe extern "C" fn continue_reading(h: NFH) -> abi::sluice_result {
    with_acting(h, |c| {
        c.continue_reading_calls += 1;
        if c.own_depth > 0 {
            c.cont_pending = true;
        } else if c.conn_depth > 0 {
            c.resume_pending = true;
        } else {
            c.pass_to_terminal();
        }
        abi::SLUICE_OK
    })
}

/// To the filters after this one: the terminal filter takes it all.
pub(crate) unsafe extern "C" fn inject_read_data(h: NFH, data: *const u8, len: usize, end: bool) -> abi::sluice_result {
    let data = input(data, len);
    with_acting(h, |c| {
        c.upstream_started = true;
        c.upstream.extend_from_slice(data);
        c.upstream_end |= end;
        abi::SLUICE_OK
    })
}

/// To the write filters before this one (none here), then the client.
pub(crate) unsafe extern "C" fn inject_write_data(
    h: NFH,
    data: *const u8,
    len: usize,
    end: bool,
) -> abi::sluice_result {
    let rc = with_acting(h, |_| abi::SLUICE_OK);
    if rc == abi::SLUICE_OK {
        to_client(h.id, input(data, len), end);
    }
    rc
}

/// Through every write filter (this one's on_write too), then the client.
pub(crate) unsafe extern "C" fn write(h: NFH, data: *const u8, len: usize, end: bool) -> abi::sluice_result {
    let rc = with_acting(h, |_| abi::SLUICE_OK);
    if rc == abi::SLUICE_OK {
        write_through(h.id, input(data, len), end);
    }
    rc
}

pub(crate) unsafe extern "C" fn close(h: NFH, how: abi::sluice_close_type) -> abi::sluice_result {
    let how = match how {
        abi::SLUICE_CLOSE_FLUSH => CloseType::Flush,
        abi::SLUICE_CLOSE_ABORT => CloseType::Abort,
        _ => return with_acting(h, |_| abi::SLUICE_ERR_INVALID_ARGUMENT),
    };
    let rc = with_acting(h, |_| abi::SLUICE_OK);
    if rc == abi::SLUICE_OK {
        close_connection(h.id, Some(how), ConnectionEvent::LocalClose);
    }
    rc
}

pub(crate) unsafe extern "C" fn read_disable(h: NFH, disable: bool) -> abi::sluice_result {
    let mut reenter = None;
    let rc = with_acting(h, |c| {
        if disable {
            c.read_disabled += 1;
        } else {
            c.read_disabled = c.read_disabled.saturating_sub(1);
        }
        reenter = c.reenter.then_some(c.read_buf.len());
        abi::SLUICE_OK
    });
    if let Some(len) = reenter {
        if let Some((raw, _)) = run_hook(h.id, HookKind::Iteration, |s, f, nh| (s.read)(f, nh, len, false)) {
            if let Some(c) = state().conns.get_mut(&h.id) {
                c.common.reentered.push(raw);
            }
        }
    }
    rc
}

const TLS_ATTRIBUTES: [Attribute; 5] =
    [Attribute::TlsSni, Attribute::TlsAlpn, Attribute::TlsVersion, Attribute::TlsPeerSubject, Attribute::TlsPeerSans];

pub(crate) unsafe extern "C" fn get_attribute_string(h: NFH, id: u32, out: *mut sluice_buffer) -> abi::sluice_result {
    with_lookup(h, |c| {
        if out.is_null() {
            return abi::SLUICE_ERR_INVALID_ARGUMENT;
        }
        let value = match c.common.attr_str.get(&id) {
            Some(v) => v.to_vec(),
            None if id == Attribute::SourceAddress as u32 => SOURCE.0.as_bytes().to_vec(),
            None if id == Attribute::DestinationAddress as u32 => DESTINATION.0.as_bytes().to_vec(),
            None if TLS_ATTRIBUTES.iter().any(|a| *a as u32 == id) => return abi::SLUICE_ERR_NOT_FOUND,
            None => return abi::SLUICE_ERR_INVALID_ARGUMENT,
        };
        *out = c.lend(&value);
        abi::SLUICE_OK
    })
}

pub(crate) unsafe extern "C" fn get_attribute_int(h: NFH, id: u32, out: *mut i64) -> abi::sluice_result {
    with_lookup(h, |c| {
        if out.is_null() {
            return abi::SLUICE_ERR_INVALID_ARGUMENT;
        }
        *out = match c.common.attr_int.get(&id) {
            Some(v) => *v,
            None if id == Attribute::SourcePort as u32 => SOURCE.1,
            None if id == Attribute::DestinationPort as u32 => DESTINATION.1,
            None if id == Attribute::ConnectionId as u32 => h.id as i64,
            None if id == Attribute::WorkerIndex as u32 => 0,
            None => return abi::SLUICE_ERR_INVALID_ARGUMENT,
        };
        abi::SLUICE_OK
    })
}

/// A network filter's connection metadata: read until the filter is
/// destroyed, and set until then too (closing events included).
pub(crate) struct ConnMetadata;

impl MetadataSource for ConnMetadata {
    type Handle = NFH;
    fn read(h: NFH, read: impl FnOnce(&MetadataMap) -> abi::sluice_result) -> abi::sluice_result {
        with_lookup(h, |c| read(&c.common.metadata))
    }
}

impl MetadataSink for ConnMetadata {
    fn write(h: NFH, write: impl FnOnce(&mut MetadataMap, &mut Vec<Bytes>)) -> abi::sluice_result {
        with_lookup(h, |c| {
            if c.destroyed {
                return abi::SLUICE_ERR_STREAM_ENDED;
            }
            write(&mut c.common.metadata, &mut c.common.graveyard);
            abi::SLUICE_OK
        })
    }
}

pub(crate) unsafe extern "C" fn scheduler_new(h: NFH) -> abi::sluice_scheduler_handle {
    let mut st = state();
    if acting(&mut st, h.id).is_err() {
        return abi::sluice_scheduler_handle { id: 0 };
    }
    let id = st.new_scheduler(h.id);
    if let Some(c) = st.conns.get_mut(&h.id) {
        c.common.schedulers.push(id);
    }
    abi::sluice_scheduler_handle { id }
}

pub(crate) unsafe extern "C" fn timer_new(h: NFH) -> abi::sluice_timer_handle {
    let mut st = state();
    if acting(&mut st, h.id).is_err() {
        return abi::sluice_timer_handle { id: 0 };
    }
    let id = st.new_handle();
    if let Some(c) = st.conns.get_mut(&h.id) {
        c.common.timers.insert(id, None);
    }
    abi::sluice_timer_handle { id }
}

/// Logged like `log`, with the connection's filter handle in front (the
/// fake's stand-in for the host's conn_id field).
pub(crate) unsafe extern "C" fn log(
    h: NFH,
    level: abi::sluice_log_level,
    msg: *const u8,
    len: usize,
) -> abi::sluice_result {
    let text = String::from_utf8_lossy(input(msg, len)).into_owned();
    let mut st = state();
    if lookup(&mut st, h.id).is_err() {
        return abi::SLUICE_ERR_INVALID_HANDLE;
    }
    match level {
        abi::SLUICE_LOG_OFF => {}
        l if l < abi::SLUICE_LOG_OFF => st.logs.push((level, format!("[connection {}] {text}", h.id))),
        _ => return abi::SLUICE_ERR_INVALID_ARGUMENT,
    }
    abi::SLUICE_OK
}

// ---- what tests drive ---------------------------------------------------

/// One configured network filter in the fake host.
pub struct FakeNetworkConfig {
    sym: NetworkSymbols,
    handle: u64,
    ptr: *mut c_void,
}

// SAFETY: as FakeConfig: NetworkFilterConfig is Send + Sync.
unsafe impl Send for FakeNetworkConfig {}
unsafe impl Sync for FakeNetworkConfig {}
// SAFETY: a test may drive a connection from another thread, e.g. to
// check that a module detects a host breaking thread affinity.
unsafe impl Send for FakeConnection {}

impl FakeNetworkConfig {
    pub(crate) fn new(sym: NetworkSymbols, handle: u64, ptr: *mut c_void) -> FakeNetworkConfig {
        FakeNetworkConfig { sym, handle, ptr }
    }

    /// The config handle.
    pub fn handle(&self) -> CH {
        CH { id: self.handle }
    }

    /// Current value of metric `name` (histograms: the sum recorded).
    pub fn metric(&self, name: &str) -> Option<i64> {
        config_metric(self.handle, name)
    }

    /// How many panics the module reported for this config.
    pub fn panics(&self) -> u32 {
        config_panics(self.handle)
    }

    /// Deliver (at most `timeout` waiting) `n` events committed through the
    /// config's schedulers to `NetworkFilterConfig::on_scheduled`, as the
    /// host's main thread does. Returns how many were delivered.
    pub fn run_scheduled(&self, n: usize, timeout: Duration) -> usize {
        run_config_scheduled(self.handle, self.ptr, self.sym.config_scheduled, n, timeout)
    }

    /// A new connection: the module's filter is created (`Err` when its
    /// filter_new returned NULL, which makes sluice close the connection).
    /// Nothing else runs until the test calls [`FakeConnection::start`] or
    /// [`FakeConnection::read`].
    pub fn new_connection(&self) -> Result<FakeConnection, String> {
        let handle = {
            let mut st = state();
            let h = st.new_handle();
            st.conns.insert(h, new_conn_state(self.sym));
            h
        };
        // filter_new runs as a hook: calls during it are allowed.
        if let Some(c) = state().conns.get_mut(&handle) {
            c.depth += 1;
        }
        // SAFETY: config pointer from config_new; handle registered above.
        let filter = unsafe { (self.sym.filter_new)(self.ptr, NFH { id: handle }) };
        let mut st = state();
        let c = st.conns.get_mut(&handle).expect("connection state");
        c.depth -= 1;
        c.lent.clear();
        if filter.is_null() {
            st.conns.remove(&handle);
            return Err("filter_new returned NULL".to_string());
        }
        c.filter = filter as usize;
        Ok(FakeConnection { handle })
    }
}

fn new_conn_state(sym: NetworkSymbols) -> ConnState {
    ConnState {
        sym,
        filter: 0,
        read_buf: Vec::new(),
        write_chunks: Vec::new(),
        upstream: Vec::new(),
        upstream_end: false,
        upstream_started: false,
        client: Vec::new(),
        client_end: false,
        eof_seen: false,
        started: false,
        closed: false,
        close_type: None,
        destroyed: false,
        released: false,
        depth: 0,
        own_depth: 0,
        conn_depth: 0,
        cont_pending: false,
        resume_pending: false,
        read_disabled: 0,
        continue_reading_calls: 0,
        events: Vec::new(),
        reenter: false,
        common: FilterState::default(),
        lent: Vec::new(),
    }
}

impl Drop for FakeNetworkConfig {
    fn drop(&mut self) {
        // SAFETY: from config_new, destroyed once, after its connections
        // (tests drop them first by scope).
        unsafe { (self.sym.config_destroy)(self.ptr) };
        state().configs.remove(&self.handle);
    }
}

/// One connection through one network filter, in front of a terminal
/// filter that acts like `tcp_proxy`: whatever passes the filter (a read
/// pass it continues, `continue_reading`, `inject_read`) goes
/// [`upstream`](Self::upstream); whatever passes its write side (or the
/// filter injects) reaches the [`client`](Self::client). The connection
/// closes when the filter closes it, the client resets it
/// ([`remote_close`](Self::remote_close)), or both directions ended (the
/// client's FIN was read and a FIN reached the client). The filter is
/// destroyed once its closing event ran (or when this value is dropped).
///
/// Hook methods return the status the filter returned (a value outside
/// the ABI's fails the test) and panic once the connection closed: sluice
/// runs no hook then.
pub struct FakeConnection {
    handle: u64,
}

impl FakeConnection {
    /// The network filter handle.
    pub fn handle(&self) -> NFH {
        NFH { id: self.handle }
    }

    fn with<R>(&self, f: impl FnOnce(&mut ConnState) -> R) -> R {
        let mut st = state();
        f(st.conns.get_mut(&self.handle).expect("connection state"))
    }

    fn assert_open(&self, what: &str) {
        assert!(self.with(|c| c.open()), "{what} on a closed connection: sluice runs no hook then");
    }

    /// Give a string attribute a value (the TLS ones are `NotFound` until
    /// set; the addresses default to 127.0.0.1:40000 → 127.0.0.1:10000).
    pub fn set_attribute_string(&self, id: Attribute, value: &str) {
        self.with(|c| c.common.attr_str.insert(id as u32, bytes(value.as_bytes())));
    }

    /// Give an integer attribute a value (the connection id defaults to the
    /// handle, the worker index to 0).
    pub fn set_attribute_int(&self, id: Attribute, value: i64) {
        self.with(|c| c.common.attr_int.insert(id as u32, value));
    }

    /// From now on, the host call read_disable runs the filter's `on_read`
    /// synchronously before returning. No sluice call does that; it checks
    /// the SDK's guard against a hook arriving while user code of the same
    /// filter runs (the hook is refused, never run on an aliased filter).
    pub fn reenter_on_read_disable(&self) {
        self.with(|c| c.reenter = true);
    }

    /// Statuses the re-entered `on_read` returned, in order.
    pub fn reentered(&self) -> Vec<NetworkStatus> {
        self.with(|c| c.common.reentered.clone()).into_iter().map(super::typed).collect()
    }

    /// Set up the connection, as sluice does right after accepting it:
    /// `on_new_connection`, then the `Connected` event. When the filter
    /// continues, the terminal filter starts (tcp_proxy would connect
    /// upstream).
    pub fn start(&mut self) -> NetworkStatus {
        self.assert_open("start");
        assert!(!self.with(|c| c.started), "start: the connection already started");
        self.with(|c| c.started = true);
        let (raw, continued) =
            run_hook(self.handle, HookKind::Iteration, |s, f, h| unsafe { (s.new_connection)(f, h) })
                .expect("live filter");
        let status = if continued { NetworkStatus::Continue } else { super::typed(raw) };
        let open = self.with(|c| {
            if status == NetworkStatus::Continue && c.open() {
                c.upstream_started = true;
            }
            c.open()
        });
        if open {
            self.with(|c| c.events.push(ConnectionEvent::Connected));
            let ev = ConnectionEvent::Connected.to_raw();
            run_hook(self.handle, HookKind::Connection, |s, f, h| unsafe { (s.event)(f, h, ev) });
        }
        status
    }

    /// The client sent `data` (`end_stream`: then half-closed): it joins the
    /// read buffer and the filter's `on_read` sees the whole buffer (not
    /// called when it is empty and the stream goes on). When the filter
    /// continues, the terminal filter takes the buffer. Starts the
    /// connection first if the test did not (as sluice set it up when it
    /// accepted it, before any byte: `on_read` follows even when
    /// `on_new_connection` stopped).
    pub fn read(&mut self, data: &[u8], end_stream: bool) -> NetworkStatus {
        self.assert_open("read");
        if !self.with(|c| c.started) {
            self.start();
        }
        if !self.with(|c| c.open()) {
            return NetworkStatus::StopIteration;
        }
        let len = self.with(|c| {
            c.read_buf.extend_from_slice(data);
            c.eof_seen |= end_stream;
            c.read_buf.len()
        });
        let mut status = NetworkStatus::Continue;
        if len > 0 || end_stream {
            let (raw, continued) =
                run_hook(self.handle, HookKind::Iteration, |s, f, h| unsafe { (s.read)(f, h, len, end_stream) })
                    .expect("live filter");
            status = if continued { NetworkStatus::Continue } else { super::typed(raw) };
            if status == NetworkStatus::Continue {
                self.with(|c| {
                    if c.open() {
                        c.pass_to_terminal();
                    }
                });
            }
        }
        let both_ended = self.with(|c| end_stream && c.open() && c.client_end);
        if both_ended {
            close_connection(self.handle, None, ConnectionEvent::RemoteClose);
        }
        status
    }

    /// The terminal filter writes `data` toward the client (`end_stream`: a
    /// FIN follows): the filter's `on_write` sees the chunk, and what it
    /// lets through reaches the client.
    pub fn write(&mut self, data: &[u8], end_stream: bool) -> NetworkStatus {
        self.assert_open("write");
        assert!(!self.with(|c| c.client_end), "write: the write side already ended");
        write_through(self.handle, data, end_stream).expect("live filter")
    }

    /// The client closed or reset the connection: the filter hears
    /// `RemoteClose` (if it started), then is destroyed.
    pub fn remote_close(&mut self) {
        self.assert_open("remote_close");
        close_connection(self.handle, None, ConnectionEvent::RemoteClose);
    }

    /// The output to the client crossed its high (`above`) or low
    /// watermark: the filter's `on_watermark`.
    pub fn watermark(&mut self, above: bool) {
        self.assert_open("watermark");
        run_hook(self.handle, HookKind::Connection, |s, f, h| unsafe { (s.watermark)(f, h, above) });
    }

    /// Wait (at most `timeout`) until `n` scheduled events were delivered
    /// to the filter's `on_scheduled`, acting as the worker, in commit order
    /// per scheduler. Events arriving once the connection closed are
    /// dropped, as sluice drops them. Returns how many were delivered.
    pub fn run_scheduled(&mut self, n: usize, timeout: Duration) -> usize {
        let h = self.handle;
        let schedulers = move |st: &State| st.filter_schedulers(h);
        run_scheduled(n, timeout, schedulers, |event| {
            let open = self.with(|c| c.open());
            if open {
                run_hook(h, HookKind::Worker, |s, f, nh| unsafe { (s.scheduled)(f, nh, event) });
            }
            open
        })
    }

    /// The filter's armed timers: (id, delay it was last enabled with).
    pub fn armed_timers(&self) -> Vec<(crate::TimerId, Duration)> {
        self.with(|c| c.common.armed_timers())
    }

    /// Fire an armed timer now, as the worker does when it is due (the
    /// fake host has no clock): it is disarmed and the filter's `on_timer`
    /// runs. False when it is not armed or the connection closed.
    pub fn fire_timer(&mut self, id: crate::TimerId) -> bool {
        let due = self.with(|c| {
            let open = c.open();
            c.common.disarm(id.0) && open
        });
        if due {
            let t = abi::sluice_timer_handle { id: id.0 };
            run_hook(self.handle, HookKind::Worker, |s, f, h| unsafe { (s.timer)(f, h, t) });
        }
        due
    }

    // ---- what the filter did ----------------------------------------------

    /// What is left in the read buffer (read, not drained).
    pub fn read_buffer(&self) -> Vec<u8> {
        self.with(|c| c.read_buf.clone())
    }

    /// What passed the filter to the terminal filter.
    pub fn upstream(&self) -> Vec<u8> {
        self.with(|c| c.upstream.clone())
    }

    /// Whether the client's FIN passed the filter.
    pub fn upstream_ended(&self) -> bool {
        self.with(|c| c.upstream_end)
    }

    /// Whether the terminal filter started (tcp_proxy connects upstream
    /// then): false while the filter holds the connection.
    pub fn upstream_started(&self) -> bool {
        self.with(|c| c.upstream_started)
    }

    /// What reached the client.
    pub fn client(&self) -> Vec<u8> {
        self.with(|c| c.client.clone())
    }

    /// Whether a FIN reached the client.
    pub fn client_ended(&self) -> bool {
        self.with(|c| c.client_end)
    }

    /// Whether the connection closed (for any reason).
    pub fn is_closed(&self) -> bool {
        self.with(|c| c.closed)
    }

    /// How the filter closed the connection, if it did.
    pub fn close_type(&self) -> Option<CloseType> {
        self.with(|c| c.close_type)
    }

    /// Whether the filter was destroyed (dropped, with its timers).
    pub fn destroyed(&self) -> bool {
        self.with(|c| c.destroyed)
    }

    /// The events delivered to the filter, in order.
    pub fn events(&self) -> Vec<ConnectionEvent> {
        self.with(|c| c.events.clone())
    }

    /// Whether reading from the client is disabled (more disables than
    /// enables).
    pub fn read_disabled(&self) -> bool {
        self.with(|c| c.read_disabled > 0)
    }

    /// How many times the filter called continue_reading.
    pub fn continue_reading_calls(&self) -> u32 {
        self.with(|c| c.continue_reading_calls)
    }

    /// Connection metadata the filter set.
    pub fn metadata(&self, ns: &str, key: &str) -> Option<Metadata> {
        self.with(|c| metadata::lookup(&c.common.metadata, ns, key))
    }

    /// String metadata `ns`.`key`, as `HostConnection::metadata_string`
    /// returns it (owned): `Err(NotFound)` when absent or a number.
    pub fn metadata_string(&self, ns: &str, key: &str) -> crate::error::Result<Vec<u8>> {
        metadata::string_value(self.metadata(ns, key))
    }

    /// Number metadata `ns`.`key`: `Err(NotFound)` when absent or a string.
    pub fn metadata_number(&self, ns: &str, key: &str) -> crate::error::Result<f64> {
        metadata::number_value(self.metadata(ns, key))
    }

    /// (schedulers created, schedulers deleted) for this filter.
    pub fn schedulers(&self) -> (usize, usize) {
        state().scheduler_counts(self.handle)
    }
}

impl Drop for FakeConnection {
    fn drop(&mut self) {
        destroy_filter(self.handle);
        state().conns.remove(&self.handle);
    }
}
