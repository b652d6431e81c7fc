//! `HostConfig`: what a filter-config constructor can ask of the host.

use crate::abi;
use crate::callout::{CalloutId, CalloutRequest};
use crate::error::{Error, Result};
use crate::host::callback;
use crate::metrics::{Counter, Gauge, Histogram};
use crate::scheduler::Scheduler;
use core::marker::PhantomData;

/// The host side of one configured filter, lent to the config constructor
/// (and to `on_scheduled` / per-route constructors) on the host's module
/// main thread: one OS thread that runs every config-level hook. Metrics
/// can only be defined in the constructor.
pub struct HostConfig<'c> {
    handle: abi::sluice_config_handle,
    name: &'c [u8],
    // Main-thread only: neither Send nor Sync.
    _not_send: PhantomData<*const ()>,
}

type DefineFn = unsafe extern "C" fn(abi::sluice_config_handle, *const u8, usize, *mut u32) -> abi::sluice_result;

impl<'c> HostConfig<'c> {
    /// Wrap a config handle for the duration of a config hook.
    ///
    /// # Safety
    /// `handle` is the handle the host passed to the running config hook.
    pub unsafe fn new(handle: abi::sluice_config_handle, name: &'c [u8]) -> HostConfig<'c> {
        HostConfig { handle, name, _not_send: PhantomData }
    }

    /// The config handle (also valid for metric updates from any thread).
    pub fn handle(&self) -> abi::sluice_config_handle {
        self.handle
    }

    /// The `filter_name` the operator configured.
    pub fn filter_name(&self) -> &'c [u8] {
        self.name
    }

    /// Define (or look up: same name and kind = same id) a counter, shown by
    /// the host as `module.<entry>.<name>` in `/stats`, where `<entry>` is
    /// the `name` of the `http_filters` entry (not the filter_name).
    pub fn define_counter(&mut self, name: &str) -> Result<Counter> {
        let id = self.define(callback!(define_counter)?, name)?;
        Ok(Counter { handle: self.handle, id })
    }

    /// Define a gauge.
    pub fn define_gauge(&mut self, name: &str) -> Result<Gauge> {
        let id = self.define(callback!(define_gauge)?, name)?;
        Ok(Gauge { handle: self.handle, id })
    }

    /// Define a histogram.
    pub fn define_histogram(&mut self, name: &str) -> Result<Histogram> {
        let id = self.define(callback!(define_histogram)?, name)?;
        Ok(Histogram { handle: self.handle, id })
    }

    /// A counter with labels: each update names the values of `labels`, in
    /// this order ([`Counter::add_with`]). In `/stats/prometheus` it is
    /// `sluice_module_metric_<name>{filter="<entry>",<label>="<value>",...}`.
    pub fn define_counter_with_labels(&mut self, name: &str, labels: &[&str]) -> Result<Counter> {
        let id = self.define_metric(abi::SLUICE_METRIC_COUNTER, name, labels, &[])?;
        Ok(Counter { handle: self.handle, id })
    }

    /// A gauge with labels ([`Gauge::set_with`], [`Gauge::add_with`]).
    pub fn define_gauge_with_labels(&mut self, name: &str, labels: &[&str]) -> Result<Gauge> {
        let id = self.define_metric(abi::SLUICE_METRIC_GAUGE, name, labels, &[])?;
        Ok(Gauge { handle: self.handle, id })
    }

    /// A histogram with labels and bucket upper bounds (ascending; empty =
    /// the host's default bounds), in the unit you record.
    pub fn define_histogram_with_buckets(&mut self, name: &str, labels: &[&str], buckets: &[u64]) -> Result<Histogram> {
        let id = self.define_metric(abi::SLUICE_METRIC_HISTOGRAM, name, labels, buckets)?;
        Ok(Histogram { handle: self.handle, id })
    }

    fn define_metric(
        &self,
        kind: abi::sluice_metric_kind,
        name: &str,
        labels: &[&str],
        buckets: &[u64],
    ) -> Result<u32> {
        let f = callback!(define_metric)?;
        let names: Vec<abi::sluice_buffer> =
            labels.iter().map(|l| abi::sluice_buffer::from_slice(l.as_bytes())).collect();
        let def = abi::sluice_metric_def {
            size: core::mem::size_of::<abi::sluice_metric_def>() as u32,
            kind,
            name: abi::sluice_buffer::from_slice(name.as_bytes()),
            label_names: names.as_ptr(),
            n_label_names: names.len(),
            buckets: buckets.as_ptr(),
            n_buckets: buckets.len(),
        };
        let mut id = 0u32;
        // SAFETY: def and what it points to live across the call.
        Error::check(unsafe { f(self.handle, &def, &mut id) })?;
        Ok(id)
    }

    fn define(&self, f: DefineFn, name: &str) -> Result<u32> {
        let mut id = 0u32;
        // SAFETY: name is read during the call; id is a valid out-pointer.
        Error::check(unsafe { f(self.handle, name.as_ptr(), name.len(), &mut id) })?;
        Ok(id)
    }

    /// A config-level scheduler: its commits run
    /// [`HttpFilterConfig::on_scheduled`](crate::HttpFilterConfig::on_scheduled)
    /// on the host's module main thread, for config-wide background work
    /// (cache refresh, key rotation) done by your own threads. `None` when
    /// the host refuses (not on the main thread, stale handle). Commits are
    /// refused once the config is destroyed.
    pub fn new_scheduler(&mut self) -> Option<Scheduler> {
        let f = callback!(config_scheduler_new).ok()?;
        // SAFETY: value argument; a non-zero result is ours to delete.
        let raw = unsafe { f(self.handle) };
        (raw.id != 0).then(|| unsafe { Scheduler::from_raw(raw) })
    }

    /// A config-wide HTTP callout (cache refresh, key rotation), started on
    /// the main thread inside a config hook (the constructor, `on_scheduled`,
    /// `on_callout_done`): the request runs on one of the workers' pools
    /// and the answer comes to
    /// [`HttpFilterConfig::on_callout_done`](crate::HttpFilterConfig::on_callout_done)
    /// on the main thread. The host cancels the config's callouts when the
    /// config is destroyed. Errors as for
    /// [`HostFilter::http_callout`](crate::HostFilter::http_callout); `Limit`
    /// at 64 in flight for the config.
    pub fn http_callout(&mut self, request: &CalloutRequest) -> Result<CalloutId> {
        let f = callback!(config_http_callout)?;
        let mut out = abi::sluice_callout_handle { id: 0 };
        // SAFETY: the request lives across the call; out is valid.
        Error::check(request.with_raw(|raw| unsafe { f(self.handle, raw, &mut out) }))?;
        Ok(CalloutId(out.id))
    }

    /// Abandon a config callout (main thread, inside a config hook).
    pub fn cancel_callout(&mut self, id: CalloutId) -> Result<()> {
        let f = callback!(http_callout_cancel)?;
        // SAFETY: value argument.
        Error::check(unsafe { f(abi::sluice_callout_handle { id: id.0 }) })
    }

    /// Tell the host why the config is rejected (the SDK does this with the
    /// constructor's `Err` text; call it directly only from raw code).
    pub fn reject(&mut self, reason: &str) -> Result<()> {
        let f = callback!(config_reject)?;
        // SAFETY: reason is read during the call.
        Error::check(unsafe { f(self.handle, reason.as_ptr(), reason.len()) })
    }
}
