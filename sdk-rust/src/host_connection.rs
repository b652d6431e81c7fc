//! `HostConnection`: the connection as one network filter sees it, lent to
//! every hook of a [`NetworkFilter`](crate::NetworkFilter) (ABI 2.1).

use crate::abi::{self, sluice_buffer};
use crate::error::{Error, Result};
use crate::host::callback;
use crate::host_filter::{fetch_batch, view};
use crate::scheduler::Scheduler;
use crate::timer::Timer;
use crate::types::{Attribute, CloseType, LogLevel, NetworkBuffer};
use core::marker::PhantomData;
use std::borrow::Cow;

/// The host handle of one network filter on one connection, valid during
/// one hook.
///
/// Views it returns (`&'h [u8]`, `Cow::Borrowed`) are copies the host keeps
/// until the hook returns, so they stay valid across drains and appends;
/// `'h` is chosen per hook call, so a view cannot be stored in the filter:
/// copy what must outlive it.
///
/// **Flow calls take effect when the hook returns**, in the order they were
/// made: [`continue_reading`](Self::continue_reading),
/// [`inject_read`](Self::inject_read), [`inject_write`](Self::inject_write),
/// [`write`](Self::write) and [`close`](Self::close). Each of them can run
/// hooks of this same filter at once inside sluice (a `write` passes through
/// this filter's own `on_write`; a `close` delivers `LocalClose` to its
/// `on_event`), and those must not run while the current hook still holds
/// `&mut self`. They return `Ok` when the connection was open at the call
/// (checked with the host), `Err(StreamEnded)` once it closed or after a
/// `close` in this hook; a failure when the SDK performs the call is logged
/// at debug level. After `close`, the other calls that act on the
/// connection (buffers, `read_disable`, new schedulers and timers) return
/// `Err(StreamEnded)` too; reads of attributes and metadata still work.
///
/// Worker-thread only: neither `Send` nor `Sync`. To act on the connection
/// from another thread, use a [`Scheduler`].
pub struct HostConnection<'h> {
    handle: abi::sluice_network_filter_handle,
    deferred: Vec<Deferred>,
    /// `close` was called in this hook.
    closing: bool,
    /// The host said the connection was open during this hook.
    open: bool,
    _hook: PhantomData<&'h ()>,
    _not_send: PhantomData<*const ()>,
}

/// A flow call, performed when the hook returns.
enum Deferred {
    ContinueReading,
    InjectRead(Vec<u8>, bool),
    InjectWrite(Vec<u8>, bool),
    Write(Vec<u8>, bool),
    Close(CloseType),
}

impl Drop for HostConnection<'_> {
    fn drop(&mut self) {
        self.flush_deferred();
    }
}

impl<'h> HostConnection<'h> {
    /// Wrap the network filter handle the host passed to the running hook.
    ///
    /// # Safety
    /// Only within that hook, on the worker thread.
    pub unsafe fn new(handle: abi::sluice_network_filter_handle) -> HostConnection<'h> {
        HostConnection {
            handle,
            deferred: Vec::new(),
            closing: false,
            open: false,
            _hook: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// The raw network filter handle (for code that calls the ABI directly).
    pub fn handle(&self) -> abi::sluice_network_filter_handle {
        self.handle
    }

    /// Perform the flow calls made during the hook, in order. The SDK calls
    /// this after the filter's hook returned (and `Drop` does, as a
    /// fallback).
    pub(crate) fn flush_deferred(&mut self) {
        for op in core::mem::take(&mut self.deferred) {
            let (name, result) = self.perform(op);
            if let Err(e) = result {
                crate::sluice_debug!("{name} for network filter handle {:#x}: {e}", self.handle.id);
            }
        }
    }

    /// Forget the flow calls made during the hook (it panicked).
    pub(crate) fn discard_deferred(&mut self) {
        self.deferred.clear();
    }

    /// Close the connection at once (after a panic, when no user code of
    /// the filter runs).
    pub(crate) fn close_now(&mut self, how: CloseType) -> Result<()> {
        self.perform(Deferred::Close(how)).1
    }

    fn perform(&self, op: Deferred) -> (&'static str, Result<()>) {
        let h = self.handle;
        // SAFETY (every arm): value arguments, or data read (copied) during
        // the call.
        match op {
            Deferred::ContinueReading => {
                ("continue_reading", callback!(network_continue_reading).and_then(|f| Error::check(unsafe { f(h) })))
            }
            Deferred::InjectRead(data, end) => (
                "inject_read",
                callback!(network_inject_read_data)
                    .and_then(|f| Error::check(unsafe { f(h, data.as_ptr(), data.len(), end) })),
            ),
            Deferred::InjectWrite(data, end) => (
                "inject_write",
                callback!(network_inject_write_data)
                    .and_then(|f| Error::check(unsafe { f(h, data.as_ptr(), data.len(), end) })),
            ),
            Deferred::Write(data, end) => (
                "write",
                callback!(network_write).and_then(|f| Error::check(unsafe { f(h, data.as_ptr(), data.len(), end) })),
            ),
            Deferred::Close(how) => {
                ("close", callback!(network_close).and_then(|f| Error::check(unsafe { f(h, how as u32) })))
            }
        }
    }

    /// Refuse calls that act on the connection after a `close` in this hook.
    fn acting(&self) -> Result<()> {
        if self.closing {
            Err(Error::StreamEnded)
        } else {
            Ok(())
        }
    }

    /// Queue a flow call if the connection is open now (asked of the host
    /// once per hook, with a call that changes nothing).
    fn defer(&mut self, op: Deferred) -> Result<()> {
        self.acting()?;
        if !self.open {
            self.buffer_size(NetworkBuffer::Read)?;
            self.open = true;
        }
        self.deferred.push(op);
        Ok(())
    }

    // ---- buffers ---------------------------------------------------------

    /// Views of the buffer's contiguous chunks (sluice's buffers are one
    /// chunk; empty when the buffer is). Valid until the hook returns, even
    /// after `drain` / `append`.
    pub fn buffer_chunks(&self, kind: NetworkBuffer) -> Result<Vec<&'h [u8]>> {
        self.acting()?;
        let f = callback!(network_buffer_chunks)?;
        // SAFETY: the array has cap slots.
        let bufs = fetch_batch(sluice_buffer::EMPTY, 1, |arr, cap, count| unsafe {
            f(self.handle, kind as u32, arr, cap, count)
        })?;
        // SAFETY: host views from this hook.
        Ok(bufs.iter().map(|b| unsafe { view(*b) }).collect())
    }

    /// The whole buffer: borrowed when it is one chunk (always, with
    /// sluice), else copied together.
    pub fn buffer(&self, kind: NetworkBuffer) -> Result<Cow<'h, [u8]>> {
        let chunks = self.buffer_chunks(kind)?;
        Ok(match chunks.as_slice() {
            [] => Cow::Borrowed(&[][..]),
            [one] => Cow::Borrowed(*one),
            many => Cow::Owned(many.concat()),
        })
    }

    /// The read buffer: inside `on_read` the data the hook was given (the
    /// connection's read buffer, or what a filter before this one
    /// injected); elsewhere the connection's read buffer (read, not yet
    /// drained).
    pub fn read_buffer(&self) -> Result<Cow<'h, [u8]>> {
        self.buffer(NetworkBuffer::Read)
    }

    /// The chunk passed to the running `on_write` (`Err(Unavailable)`
    /// outside it).
    pub fn write_buffer(&self) -> Result<Cow<'h, [u8]>> {
        self.buffer(NetworkBuffer::Write)
    }

    /// The buffer's length in bytes.
    pub fn buffer_size(&self, kind: NetworkBuffer) -> Result<usize> {
        self.acting()?;
        let f = callback!(network_buffer_size)?;
        let mut size = 0usize;
        // SAFETY: size is a valid out-pointer.
        Error::check(unsafe { f(self.handle, kind as u32, &mut size) })?;
        Ok(size)
    }

    /// Remove `n` bytes from the front (more than the size drains all):
    /// consumed, they go no further. A filter that forwards or rewrites
    /// data drains what it handled.
    pub fn drain(&mut self, kind: NetworkBuffer, n: usize) -> Result<()> {
        self.acting()?;
        let f = callback!(network_buffer_drain)?;
        // SAFETY: value arguments only.
        Error::check(unsafe { f(self.handle, kind as u32, n) })
    }

    /// Add `data` (copied) at the end of the buffer.
    pub fn append(&mut self, kind: NetworkBuffer, data: impl AsRef<[u8]>) -> Result<()> {
        self.acting()?;
        let f = callback!(network_buffer_append)?;
        let data = data.as_ref();
        // SAFETY: data is read during the call.
        Error::check(unsafe { f(self.handle, kind as u32, data.as_ptr(), data.len()) })
    }

    /// Add `data` (copied) at the front of the buffer.
    pub fn prepend(&mut self, kind: NetworkBuffer, data: impl AsRef<[u8]>) -> Result<()> {
        self.acting()?;
        let f = callback!(network_buffer_prepend)?;
        let data = data.as_ref();
        // SAFETY: data is read during the call.
        Error::check(unsafe { f(self.handle, kind as u32, data.as_ptr(), data.len()) })
    }

    // ---- flow (performed when the hook returns) ---------------------------

    /// Resume the read pass this filter stopped: the filters after it get
    /// `on_new_connection` (if they have not yet) and the read buffer as it
    /// is then, without waiting for another byte. The usual call: from
    /// `on_scheduled` once your thread decided. From `on_new_connection` /
    /// `on_read` it is the same as returning `Continue`.
    pub fn continue_reading(&mut self) -> Result<()> {
        callback!(network_continue_reading)?;
        self.defer(Deferred::ContinueReading)
    }

    /// Pass `data` to the filters after this one as if it had been read (it
    /// does not enter the read buffer); `end_stream` ends the client's
    /// direction. For a filter that drained data and releases it later (a
    /// throttler, a decoder).
    pub fn inject_read(&mut self, data: impl AsRef<[u8]>, end_stream: bool) -> Result<()> {
        callback!(network_inject_read_data)?;
        self.defer(Deferred::InjectRead(data.as_ref().to_vec(), end_stream))
    }

    /// Pass `data` to the write filters between this one and the client,
    /// then to the client; `end_stream` sends a FIN after it.
    pub fn inject_write(&mut self, data: impl AsRef<[u8]>, end_stream: bool) -> Result<()> {
        callback!(network_inject_write_data)?;
        self.defer(Deferred::InjectWrite(data.as_ref().to_vec(), end_stream))
    }

    /// Send `data` to the client through every write filter (this one's
    /// `on_write` included), as the terminal filter's output goes;
    /// `end_stream` sends a FIN after it.
    pub fn write(&mut self, data: impl AsRef<[u8]>, end_stream: bool) -> Result<()> {
        callback!(network_write)?;
        self.defer(Deferred::Write(data.as_ref().to_vec(), end_stream))
    }

    /// Close the connection: [`CloseType::Flush`] sends what is queued
    /// first (a `write` made before it in this hook included),
    /// [`CloseType::Abort`] drops it. The filters hear `LocalClose`, then
    /// are dropped.
    pub fn close(&mut self, how: CloseType) -> Result<()> {
        callback!(network_close)?;
        self.defer(Deferred::Close(how))?;
        self.closing = true;
        Ok(())
    }

    // ---- the client's socket --------------------------------------------

    /// Stop (`true`) or resume (`false`) reading the client's socket; it
    /// counts, so every disable needs its enable. While reading is stopped
    /// the kernel pushes back on the client.
    pub fn read_disable(&mut self, disable: bool) -> Result<()> {
        self.acting()?;
        let f = callback!(network_read_disable)?;
        // SAFETY: value arguments only.
        Error::check(unsafe { f(self.handle, disable) })
    }

    // ---- connection information -----------------------------------------

    /// A string attribute: [`Attribute::SourceAddress`],
    /// [`Attribute::DestinationAddress`] (the PROXY protocol's when a
    /// listener filter read one) and the TLS ones (`Err(NotFound)` on a
    /// cleartext connection). A host view valid until the hook returns.
    pub fn attribute_string(&self, id: Attribute) -> Result<&'h [u8]> {
        let f = callback!(network_get_attribute_string)?;
        let mut out = sluice_buffer::EMPTY;
        // SAFETY: out is a valid out-pointer.
        Error::check(unsafe { f(self.handle, id as u32, &mut out) })?;
        // SAFETY: a host view from this hook.
        Ok(unsafe { view(out) })
    }

    /// An integer attribute: [`Attribute::SourcePort`],
    /// [`Attribute::DestinationPort`], [`Attribute::ConnectionId`],
    /// [`Attribute::WorkerIndex`]. Stream attributes are
    /// `Err(InvalidArgument)`.
    pub fn attribute_int(&self, id: Attribute) -> Result<i64> {
        let f = callback!(network_get_attribute_int)?;
        let mut out = 0i64;
        // SAFETY: out is a valid out-pointer.
        Error::check(unsafe { f(self.handle, id as u32, &mut out) })?;
        Ok(out)
    }

    /// Set string connection metadata `ns`.`key`: the connection's HTTP
    /// filters read it ([`HostFilter::connection_metadata_string`]), and the
    /// access logs show it under `connection_metadata`.
    ///
    /// [`HostFilter::connection_metadata_string`]: crate::HostFilter::connection_metadata_string
    pub fn set_metadata_string(&mut self, ns: &str, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        let f = callback!(network_metadata_set_string)?;
        let value = value.as_ref();
        // SAFETY: every slice is read during the call.
        Error::check(unsafe {
            f(self.handle, ns.as_ptr(), ns.len(), key.as_ptr(), key.len(), value.as_ptr(), value.len())
        })
    }

    /// Set number connection metadata `ns`.`key`.
    pub fn set_metadata_number(&mut self, ns: &str, key: &str, value: f64) -> Result<()> {
        let f = callback!(network_metadata_set_number)?;
        // SAFETY: every slice is read during the call.
        Error::check(unsafe { f(self.handle, ns.as_ptr(), ns.len(), key.as_ptr(), key.len(), value) })
    }

    /// String connection metadata `ns`.`key` (`Err(InvalidArgument)` for a
    /// number).
    pub fn metadata_string(&self, ns: &str, key: &str) -> Result<&'h [u8]> {
        let f = callback!(network_metadata_get_string)?;
        let mut out = sluice_buffer::EMPTY;
        // SAFETY: slices are read during the call; out is a valid out-pointer.
        Error::check(unsafe { f(self.handle, ns.as_ptr(), ns.len(), key.as_ptr(), key.len(), &mut out) })?;
        // SAFETY: a host view from this hook.
        Ok(unsafe { view(out) })
    }

    /// Number connection metadata `ns`.`key` (a string holding a number
    /// reads as that number).
    pub fn metadata_number(&self, ns: &str, key: &str) -> Result<f64> {
        let f = callback!(network_metadata_get_number)?;
        let mut out = 0f64;
        // SAFETY: slices are read during the call; out is a valid out-pointer.
        Error::check(unsafe { f(self.handle, ns.as_ptr(), ns.len(), key.as_ptr(), key.len(), &mut out) })?;
        Ok(out)
    }

    // ---- schedulers, timers, logs ----------------------------------------

    /// A scheduler for this filter, to be moved to another thread: its
    /// commits run [`NetworkFilter::on_scheduled`](crate::NetworkFilter::on_scheduled)
    /// on the connection's worker, in commit order, while the connection is
    /// open. `None` when the host refuses (stale handle, wrong thread,
    /// connection closed).
    pub fn new_scheduler(&mut self) -> Option<Scheduler> {
        self.acting().ok()?;
        let f = callback!(network_scheduler_new).ok()?;
        // SAFETY: value argument; a non-zero result is ours to delete.
        let raw = unsafe { f(self.handle) };
        (raw.id != 0).then(|| unsafe { Scheduler::from_raw(raw) })
    }

    /// A one-shot timer of this filter (disarmed; see [`Timer::enable`]),
    /// firing [`NetworkFilter::on_timer`](crate::NetworkFilter::on_timer).
    /// `None` when the host refuses (stale handle, connection closed).
    pub fn new_timer(&mut self) -> Option<Timer> {
        self.acting().ok()?;
        let f = callback!(network_timer_new).ok()?;
        // SAFETY: value argument; a non-zero result is ours to delete.
        let raw = unsafe { f(self.handle) };
        (raw.id != 0).then(|| Timer::from_raw(raw))
    }

    /// Log `msg` with this connection's `conn_id` (and the filter's name)
    /// as fields: the id sluice's own lines and access logs carry.
    pub fn log(&self, level: LogLevel, msg: impl AsRef<[u8]>) -> Result<()> {
        let f = callback!(network_log)?;
        let msg = msg.as_ref();
        // SAFETY: msg is read during the call.
        Error::check(unsafe { f(self.handle, level as u32, msg.as_ptr(), msg.len()) })
    }
}

/// `HostConnection` must stay on the worker thread:
///
/// ```compile_fail
/// fn send<T: Send>() {}
/// send::<sluice_sdk::HostConnection<'static>>();
/// ```
///
/// and its views cannot outlive the hook that lent them:
///
/// ```compile_fail
/// use sluice_sdk::{HostConnection, NetworkFilter, NetworkStatus};
/// struct Keeps { kept: &'static [u8] }
/// impl NetworkFilter for Keeps {
///     fn on_read(&mut self, host: &mut HostConnection<'_>, _n: usize, _end: bool) -> NetworkStatus {
///         self.kept = host.attribute_string(sluice_sdk::Attribute::SourceAddress).unwrap();
///         NetworkStatus::Continue
///     }
/// }
/// ```
#[allow(dead_code)]
struct ThreadRulesDoc;
