//! The host callback table, kept from `sluice_on_program_init` for the life
//! of the process (the header guarantees it stays valid).

use crate::abi::sluice_host_api;
use core::sync::atomic::{AtomicPtr, Ordering};

static HOST_API: AtomicPtr<sluice_host_api> = AtomicPtr::new(core::ptr::null_mut());

/// Install the table. Called by the exported `sluice_on_program_init`; tests
/// call it with a fake table (see [`crate::testing`]).
///
/// # Safety
/// `api` must stay valid (and unchanged) for the rest of the process.
pub unsafe fn install(api: *const sluice_host_api) {
    HOST_API.store(api as *mut sluice_host_api, Ordering::Release);
}

/// The installed table, if any.
pub fn api() -> Option<&'static sluice_host_api> {
    let p = HOST_API.load(Ordering::Acquire);
    // SAFETY: install's contract: the pointee lives forever.
    unsafe { p.as_ref() }
}

/// Look up one callback: `Error::Unsupported` when there is no host or the
/// host's table is too small to contain it (an older minor version).
macro_rules! callback {
    ($field:ident) => {{
        match $crate::host::api() {
            Some(api)
                if $crate::abi::host_api_has(
                    api,
                    core::mem::offset_of!($crate::abi::sluice_host_api, $field),
                    core::mem::size_of_val(&api.$field),
                ) =>
            {
                api.$field.ok_or($crate::error::Error::Unsupported)
            }
            _ => Err($crate::error::Error::Unsupported),
        }
    }};
}
pub(crate) use callback;

/// Number of host workers (1 when unknown).
pub fn concurrency() -> u32 {
    match callback!(concurrency) {
        // SAFETY: a host callback with no arguments.
        Ok(f) => unsafe { f() },
        Err(_) => 1,
    }
}
