//! The traits a network (L4) filter module implements (ABI 2.1).

use crate::host_config::HostConfig;
use crate::host_connection::HostConnection;
use crate::timer::TimerId;
use crate::types::{ConnectionEvent, NetworkStatus};

/// One configured network filter (one entry of a listener's `filters`
/// list, before its terminal filter). Created on the host's main thread by
/// the constructor named under `network_filters` in
/// [`declare_module!`](crate::declare_module) from the filter name and the
/// operator's `config` (JSON bytes); `Err(reason)` rejects the config.
///
/// `new_filter` runs on every worker concurrently, hence `Send + Sync`.
/// The value is dropped on the main thread after every connection using
/// it was destroyed.
pub trait NetworkFilterConfig: Send + Sync + 'static {
    /// A filter for a new connection (on the connection's worker).
    fn new_filter(&self, host: &mut HostConnection<'_>) -> Box<dyn NetworkFilter>;

    /// A commit through a config-level scheduler
    /// ([`HostConfig::new_scheduler`]), on the host's module main thread, in
    /// commit order.
    fn on_scheduled(&self, host: &mut HostConfig<'_>, event_id: u64) {
        let _ = (host, event_id);
    }
}

/// One network filter on one connection: Envoy's L4 model. The read path
/// runs the filters in chain order on every read, each with the
/// connection's **whole** read buffer, until one returns
/// [`NetworkStatus::StopIteration`]; what no filter drained stays, so a
/// filter may see the same bytes again (a filter that consumes bytes drains
/// them; the terminal filter, e.g. `tcp_proxy`, drains what it forwards).
/// The write path passes what goes to the client through the filters from
/// the last to the first, one chunk at a time.
///
/// Every hook runs on the worker thread that owns the connection (including
/// `on_scheduled` and `on_timer`), so the filter needs no locking and need
/// not be `Send`. Each hook has a pass-through default; the filter is
/// dropped once, after the connection closed.
///
/// A panic in a hook is caught by the SDK: it is logged and reported to the
/// host (`module.<entry>.panics`), the connection is closed with
/// [`CloseType::Abort`](crate::CloseType::Abort), and the filter's later
/// hooks are skipped (it is still dropped).
#[allow(unused_variables)]
pub trait NetworkFilter: 'static {
    /// The connection is set up, or — behind a filter that stopped — the
    /// read pass reached this filter for the first time; always before the
    /// first `on_read`. `StopIteration` keeps the filters after this one
    /// (e.g. `tcp_proxy`, which connects upstream here) from starting until
    /// this filter calls [`HostConnection::continue_reading`]; bytes the
    /// client sends meanwhile wait in the read buffer.
    fn on_new_connection(&mut self, host: &mut HostConnection<'_>) -> NetworkStatus {
        NetworkStatus::Continue
    }
    /// A read pass reached this filter: `data_length` bytes are in the read
    /// buffer ([`HostConnection::read_buffer`]); `end_stream`: the client
    /// half-closed (no byte follows).
    fn on_read(&mut self, host: &mut HostConnection<'_>, data_length: usize, end_stream: bool) -> NetworkStatus {
        NetworkStatus::Continue
    }
    /// A chunk of `data_length` bytes on its way to the client is in the
    /// write buffer ([`HostConnection::write_buffer`]); `end_stream`: a FIN
    /// follows it. `StopIteration` keeps the chunk from going further (it
    /// is not buffered: copy it and inject it later with
    /// [`HostConnection::inject_write`] to delay it).
    fn on_write(&mut self, host: &mut HostConnection<'_>, data_length: usize, end_stream: bool) -> NetworkStatus {
        NetworkStatus::Continue
    }
    /// A connection event. Only filters that have started (saw
    /// `on_new_connection`) hear events; a closing event is followed by the
    /// filter's drop. Reads (attributes, metadata) still work in the
    /// closing events.
    fn on_event(&mut self, host: &mut HostConnection<'_>, event: ConnectionEvent) {}
    /// The output to the client went above its high watermark (`above`),
    /// or drained to the low one (`!above`).
    fn on_watermark(&mut self, host: &mut HostConnection<'_>, above: bool) {}
    /// A [`Scheduler::commit`](crate::Scheduler::commit) for this filter,
    /// delivered on its worker in commit order while the connection is
    /// open.
    fn on_scheduled(&mut self, host: &mut HostConnection<'_>, event_id: u64) {}
    /// A [`Timer`](crate::Timer) of this filter is due (on its worker,
    /// while the connection is open).
    fn on_timer(&mut self, host: &mut HostConnection<'_>, timer: TimerId) {}
}
