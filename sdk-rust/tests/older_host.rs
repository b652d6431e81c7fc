//! A host built against an older minor version has a shorter callback
//! table: the SDK must check `size` (SLUICE_HOST_API_HAS) before calling,
//! and report `Error::Unsupported` for callbacks past the end, never read
//! beyond it. Runs in its own test binary because it installs its own table.

use core::mem::offset_of;
use sluice_sdk::abi::{self, sluice_host_api};
use sluice_sdk::testing::host_table;
use sluice_sdk::{host, Error, HostConfig, HostConnection, HostFilter};

/// A copy of the fake table claiming to end before `per_route_config`,
/// with a poisoned entry after the end to prove it is never called.
fn truncated_table() -> &'static sluice_host_api {
    let full = host_table();
    // SAFETY: sluice_host_api is plain data; copying it field by field
    // through ptr::read is what a C memcpy would do.
    let mut t: sluice_host_api = unsafe { core::ptr::read(full) };
    t.size = offset_of!(sluice_host_api, per_route_config) as u32;
    t.per_route_config = Some(must_not_be_called);
    Box::leak(Box::new(t))
}

unsafe extern "C" fn must_not_be_called(
    _: abi::sluice_filter_handle,
    _: *mut *mut core::ffi::c_void,
) -> abi::sluice_result {
    panic!("called a callback past the table's size");
}

unsafe extern "C" fn must_not_write(
    _: abi::sluice_network_filter_handle,
    _: *const u8,
    _: usize,
    _: bool,
) -> abi::sluice_result {
    panic!("called a callback past the table's size");
}

#[test]
fn callbacks_past_the_table_size_are_unsupported() {
    // A 2.0 host: the table ends before the 2.1 callbacks (network
    // filters, then callouts).
    let mut v20: sluice_host_api = unsafe { core::ptr::read(host_table()) };
    v20.size = offset_of!(sluice_host_api, network_buffer_chunks) as u32;
    v20.network_write = Some(must_not_write);
    unsafe { host::install(Box::leak(Box::new(v20))) };
    // SAFETY: a handle the fake host does not know; nothing is called.
    let mut conn = unsafe { HostConnection::new(abi::sluice_network_filter_handle { id: 12345 }) };
    assert_eq!(conn.write("x", false), Err(Error::Unsupported));
    assert_eq!(conn.read_buffer().err(), Some(Error::Unsupported));
    assert_eq!(conn.close(sluice_sdk::CloseType::Abort), Err(Error::Unsupported));
    assert!(conn.new_scheduler().is_none());
    let mut f = unsafe { HostFilter::new(abi::sluice_filter_handle { id: 12345 }) };
    assert_eq!(f.connection_metadata_string("ns", "k").err(), Some(Error::Unsupported));
    let check = sluice_sdk::CalloutRequest::new("authz", "GET", "/");
    assert_eq!(f.http_callout(&check), Err(Error::Unsupported));
    assert_eq!(f.cancel_callout(sluice_sdk::CalloutId(1)), Err(Error::Unsupported));
    let mut c = unsafe { HostConfig::new(abi::sluice_config_handle { id: 999 }, b"x") };
    assert_eq!(c.http_callout(&check), Err(Error::Unsupported));
    drop(conn);

    // SAFETY: leaked, lives forever.
    unsafe { host::install(truncated_table()) };
    // SAFETY: a handle the fake host does not know; the calls only check it.
    let host_filter = unsafe { HostFilter::new(abi::sluice_filter_handle { id: 12345 }) };
    assert_eq!(host_filter.per_route_config::<u32>(), None);
    // Earlier entries still work (and report the unknown handle).
    assert_eq!(host_filter.attribute_int(sluice_sdk::Attribute::StreamId), Err(Error::InvalidHandle));
    let mut cfg = unsafe { HostConfig::new(abi::sluice_config_handle { id: 999 }, b"x") };
    assert_eq!(cfg.define_counter("c"), Err(Error::InvalidHandle));
    // A table too short for even the first callback: everything unsupported.
    let mut tiny: sluice_host_api = unsafe { core::ptr::read(host_table()) };
    tiny.size = offset_of!(sluice_host_api, log) as u32;
    unsafe { host::install(Box::leak(Box::new(tiny))) };
    assert_eq!(host::concurrency(), 1, "default when the host cannot say");
    assert_eq!(cfg.define_counter("c"), Err(Error::Unsupported));
    assert!(!sluice_sdk::log::enabled(sluice_sdk::LogLevel::Error));
}
