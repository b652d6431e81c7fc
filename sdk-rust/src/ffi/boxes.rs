//! What the hooks hand the host — a [`ConfigBox`] per configured filter, a
//! [`FilterBox`] per stream or connection — and the hook bodies that HTTP
//! and network filters share. `C` is `dyn HttpFilterConfig` or
//! `dyn NetworkFilterConfig`, `F` `dyn HttpFilter` or `dyn NetworkFilter`;
//! the rest of what differs (words in logs and panic reports, statuses,
//! what contains a panic) is passed in by [`super`] and [`super::network`].

use super::{guard, report_panic, slice, FAILED_STATUS};
use crate::abi;
use crate::filter::{HttpFilter, HttpFilterConfig};
use crate::host_config::HostConfig;
use crate::host_connection::HostConnection;
use crate::host_filter::HostFilter;
use crate::log::log_str;
use crate::types::LogLevel;
use core::ffi::c_void;

/// What `config_new` returns to the host.
pub struct ConfigBox<C: ?Sized = dyn HttpFilterConfig> {
    name: String,
    handle: abi::sluice_config_handle,
    inner: Box<C>,
}

/// What `filter_new` returns to the host.
pub struct FilterBox<F: ?Sized = dyn HttpFilter, C: ?Sized = dyn HttpFilterConfig> {
    inner: Box<F>,
    // The config outlives its filters (config_destroy comes after every
    // stream or connection using it was destroyed), so a raw pointer is
    // enough.
    config: *const ConfigBox<C>,
    poisoned: bool,
    /// A hook of this filter is running user code (holds `&mut` to it).
    busy: bool,
    /// destroy arrived while busy: free when the hook returns.
    destroy_pending: bool,
    /// A nested hook was refused; logged once.
    reentry_logged: bool,
}

/// Maps a filter name to its constructor (`ConfigFactory` of either kind).
pub(super) type Factory<C> = fn(&mut HostConfig<'_>, &[u8], &[u8]) -> Option<Result<Box<C>, String>>;

/// What tells the two kinds of filter apart in logs and panic reports.
pub(super) struct Kind {
    /// The warning logged (once per filter) when hook `hook` of filter
    /// `name` arrives while another of its hooks runs.
    pub reentered: fn(hook: &str, name: &str) -> String,
    /// The hook named when dropping a filter panicked.
    pub destroy: &'static str,
}

/// The per-hook host object of a filter, whose flow calls wait until user
/// code returned.
pub(super) trait Deferring {
    fn flush_deferred(&mut self);
    fn discard_deferred(&mut self);
}

impl Deferring for HostFilter<'_> {
    fn flush_deferred(&mut self) {
        HostFilter::flush_deferred(self)
    }
    fn discard_deferred(&mut self) {
        HostFilter::discard_deferred(self)
    }
}

impl Deferring for HostConnection<'_> {
    fn flush_deferred(&mut self) {
        HostConnection::flush_deferred(self)
    }
    fn discard_deferred(&mut self) {
        HostConnection::discard_deferred(self)
    }
}

impl<C: ?Sized> ConfigBox<C> {
    /// The config behind what `config_new` returned; `None` for NULL.
    ///
    /// # Safety
    /// `config` is NULL or what `config_new` returned, not yet destroyed.
    pub(super) unsafe fn from_host<'a>(config: *mut c_void) -> Option<&'a ConfigBox<C>> {
        config.cast::<ConfigBox<C>>().as_ref()
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn inner(&self) -> &C {
        &self.inner
    }

    pub(super) fn panic_scope(&self) -> Option<(&str, abi::sluice_config_handle)> {
        Some((self.name.as_str(), self.handle))
    }
}

/// The config of a filter, for panic reports.
fn filter_scope<'a, C: ?Sized + 'a>(config: *const ConfigBox<C>) -> Option<(&'a str, abi::sluice_config_handle)> {
    // SAFETY: the config outlives its filters (see FilterBox::config).
    unsafe { config.as_ref().and_then(|c| c.panic_scope()) }
}

/// `config_new` of either kind: build the config with `factory`, or reject
/// it with the constructor's reason, `unknown(name)` when the module offers
/// no filter of that name, or the panic's message.
///
/// # Safety
/// Pointers are host views valid during the call.
pub(super) unsafe fn config_new<C: ?Sized>(
    handle: abi::sluice_config_handle,
    name_ptr: *const u8,
    name_len: usize,
    config_ptr: *const u8,
    config_len: usize,
    factory: Factory<C>,
    unknown: impl FnOnce(&str) -> String,
) -> *mut c_void {
    let name = slice(name_ptr, name_len);
    let config = slice(config_ptr, config_len);
    let name_text = String::from_utf8_lossy(name).into_owned();
    let mut host = HostConfig::new(handle, name);
    let outcome = match guard(|| factory(&mut host, name, config)) {
        Ok(Some(Ok(inner))) => return Box::into_raw(Box::new(ConfigBox { name: name_text, handle, inner })).cast(),
        Ok(Some(Err(reason))) => reason,
        Ok(None) => unknown(&name_text),
        Err(p) => format!("panic: {}", report_panic("config_new", Some((&name_text, handle)), &*p)),
    };
    let _ = host.reject(&outcome);
    core::ptr::null_mut()
}

/// `config_destroy` of either kind.
///
/// # Safety
/// `config` is NULL or what `config_new` returned, destroyed once.
pub(super) unsafe fn config_destroy<C: ?Sized>(config: *mut c_void) {
    if config.is_null() {
        return;
    }
    let boxed = Box::from_raw(config.cast::<ConfigBox<C>>());
    let (name, handle) = (boxed.name.clone(), boxed.handle);
    if let Err(p) = guard(move || drop(boxed)) {
        report_panic("config_destroy", Some((&name, handle)), &*p);
    }
}

/// A config-level hook (scheduled, callout done): run `call`, reporting a
/// panic as `hook`.
///
/// # Safety
/// `config` is what `config_new` returned (alive: the host stops
/// delivering before config_destroy).
pub(super) unsafe fn config_hook<C: ?Sized>(
    config: *mut c_void,
    handle: abi::sluice_config_handle,
    hook: &str,
    call: impl FnOnce(&C, &mut HostConfig<'_>),
) {
    let Some(cfg) = ConfigBox::<C>::from_host(config) else {
        return;
    };
    let mut host = HostConfig::new(handle, cfg.name.as_bytes());
    if let Err(p) = guard(|| call(&*cfg.inner, &mut host)) {
        report_panic(hook, cfg.panic_scope(), &*p);
    }
}

/// `filter_new` of either kind: NULL when `config` is NULL or `new`
/// panicked (then `after_panic` runs on the host object first).
///
/// # Safety
/// `config` is what `config_new` returned; `host` wraps the new filter's
/// handle.
pub(super) unsafe fn filter_new<C: ?Sized, F: ?Sized, H>(
    config: *mut c_void,
    mut host: H,
    new: impl FnOnce(&C, &mut H) -> Box<F>,
    after_panic: impl FnOnce(&mut H),
) -> *mut c_void {
    let Some(cfg) = ConfigBox::<C>::from_host(config) else {
        return core::ptr::null_mut();
    };
    match guard(|| new(&*cfg.inner, &mut host)) {
        Ok(inner) => Box::into_raw(Box::new(FilterBox {
            inner,
            config: cfg,
            poisoned: false,
            busy: false,
            destroy_pending: false,
            reentry_logged: false,
        }))
        .cast(),
        Err(p) => {
            after_panic(&mut host);
            report_panic("new_filter", cfg.panic_scope(), &*p);
            core::ptr::null_mut()
        }
    }
}

/// `filter_destroy` of either kind.
///
/// # Safety
/// NULL or what `filter_new` returned, destroyed once.
pub(super) unsafe fn filter_destroy<F: ?Sized, C: ?Sized>(filter: *mut c_void, kind: &Kind) {
    if filter.is_null() {
        return;
    }
    let fb = filter.cast::<FilterBox<F, C>>();
    if (*fb).busy {
        // The ABI defers destroy past running hooks; should a host not,
        // freeing now would pull the filter from under its own hook.
        (*fb).destroy_pending = true;
        return;
    }
    free_filter(fb, kind);
}

unsafe fn free_filter<F: ?Sized, C: ?Sized>(fb: *mut FilterBox<F, C>, kind: &Kind) {
    let boxed = Box::from_raw(fb);
    let config = boxed.config;
    if let Err(p) = guard(move || drop(boxed)) {
        report_panic(kind.destroy, filter_scope(config), &*p);
    }
}

/// Run hook `hook` of a live, unpoisoned filter of either kind with `host`
/// (which wraps `filter`'s handle). A poisoned filter, or one destroyed
/// while its hook ran, returns `skipped`; a hook arriving while user code of
/// this filter is on the stack returns `reentered` (logged once). After a
/// panic, the filter is poisoned and `contain` (closing the stream or
/// connection) gives the status.
///
/// Host calls made from a hook can run hooks of this same filter
/// synchronously (sluice supports such nesting). The user's `&mut self` must
/// never be aliased, so: FilterBox is only touched through short accesses
/// via the raw pointer, never a borrow held across a host call; flow calls
/// are deferred until user code returned (see `flush_deferred`); and a
/// re-entering hook is refused rather than aliased.
///
/// # Safety
/// `filter` is NULL or what `filter_new` returned; on the filter's worker.
pub(super) unsafe fn filter_hook<F: ?Sized, C: ?Sized, H: Deferring>(
    filter: *mut c_void,
    mut host: H,
    kind: &Kind,
    hook: &str,
    (skipped, reentered): (i32, i32),
    call: impl FnOnce(&mut F, &mut H) -> i32,
    contain: impl FnOnce(&mut H) -> i32,
) -> i32 {
    let fb = filter.cast::<FilterBox<F, C>>();
    if fb.is_null() {
        return FAILED_STATUS;
    }
    if (*fb).poisoned {
        return skipped;
    }
    if (*fb).busy {
        if !(*fb).reentry_logged {
            (*fb).reentry_logged = true;
            let name = filter_scope((*fb).config).map(|(n, _)| n).unwrap_or("");
            log_str(LogLevel::Warn, &(kind.reentered)(hook, name));
        }
        return reentered;
    }
    (*fb).busy = true;
    // The only `&mut` to the user's filter lives inside this call.
    let result = guard(|| call(&mut *(*fb).inner, &mut host));
    (*fb).busy = false;
    if (*fb).destroy_pending {
        host.discard_deferred();
        free_filter(fb, kind);
        return skipped;
    }
    match result {
        Ok(status) => {
            // May run nested hooks of this filter (and even destroy it):
            // nothing below touches `fb`.
            host.flush_deferred();
            status
        }
        Err(p) => {
            (*fb).poisoned = true;
            host.discard_deferred();
            report_panic(hook, filter_scope((*fb).config), &*p);
            contain(&mut host)
        }
    }
}
