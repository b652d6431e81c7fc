//! `declare_module!`: the exported symbols of a module crate.

/// Export every hook symbol the ABI knows, wired to the SDK.
///
/// ```ignore
/// sluice_sdk::declare_module! {
///     init: my_init,                       // optional: fn() -> bool
///     filters: {
///         "external_cache" => CacheConfig::new,   // fn(&mut HostConfig, &[u8]) -> Result<T, E>
///         "other" => OtherConfig::new,            //   T: HttpFilterConfig, E: Display
///     }
/// }
/// ```
///
/// Use it once, in a `crate-type = ["cdylib"]` crate. The host picks a
/// constructor by the `filter_name` of its config; an unknown name is
/// rejected with a message listing the names offered here.
#[macro_export]
macro_rules! declare_module {
    (
        $(init: $init:expr,)?
        filters: { $($name:literal => $ctor:expr),+ $(,)? } $(,)?
    ) => {
        const _: () = {
            use ::core::ffi::c_void;
            use $crate::abi;

            fn new_config(
                host: &mut $crate::HostConfig<'_>,
                name: &[u8],
                config: &[u8],
            ) -> ::core::option::Option<::core::result::Result<::std::boxed::Box<dyn $crate::HttpFilterConfig>, ::std::string::String>> {
                $(
                    if name == $name.as_bytes() {
                        return ::core::option::Option::Some($crate::ffi::boxed_config(($ctor)(host, config)));
                    }
                )+
                ::core::option::Option::None
            }

            const FILTER_NAMES: &[&str] = &[$($name),+];

            #[unsafe(no_mangle)]
            pub extern "C" fn sluice_module_abi_version() -> u32 {
                abi::SLUICE_ABI_VERSION
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_program_init(api: *const abi::sluice_host_api) -> bool {
                #[allow(unreachable_code)]
                let init = || -> bool {
                    $( return ($init)(); )?
                    true
                };
                $crate::ffi::program_init(api, init)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_config_new(
                config: abi::sluice_config_handle,
                name_ptr: *const u8,
                name_len: usize,
                config_ptr: *const u8,
                config_len: usize,
            ) -> *mut c_void {
                $crate::ffi::config_new(config, name_ptr, name_len, config_ptr, config_len, new_config, FILTER_NAMES)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_config_destroy(config: *mut c_void) {
                $crate::ffi::config_destroy(config)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_per_route_config_new(
                config: abi::sluice_config_handle,
                filter_config: *mut c_void,
                config_ptr: *const u8,
                config_len: usize,
            ) -> *mut c_void {
                $crate::ffi::per_route_config_new(config, filter_config, config_ptr, config_len)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_per_route_config_destroy(per_route: *mut c_void) {
                $crate::ffi::per_route_config_destroy(per_route)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_new(config: *mut c_void, filter: abi::sluice_filter_handle) -> *mut c_void {
                $crate::ffi::filter_new(config, filter)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_destroy(filter_module: *mut c_void) {
                $crate::ffi::filter_destroy(filter_module)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_request_headers(
                filter_module: *mut c_void,
                filter: abi::sluice_filter_handle,
                end_of_stream: bool,
            ) -> abi::sluice_headers_status {
                $crate::ffi::request_headers(filter_module, filter, end_of_stream)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_request_body(
                filter_module: *mut c_void,
                filter: abi::sluice_filter_handle,
                end_of_stream: bool,
            ) -> abi::sluice_body_status {
                $crate::ffi::request_body(filter_module, filter, end_of_stream)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_request_trailers(
                filter_module: *mut c_void,
                filter: abi::sluice_filter_handle,
            ) -> abi::sluice_trailers_status {
                $crate::ffi::request_trailers(filter_module, filter)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_response_headers(
                filter_module: *mut c_void,
                filter: abi::sluice_filter_handle,
                end_of_stream: bool,
            ) -> abi::sluice_headers_status {
                $crate::ffi::response_headers(filter_module, filter, end_of_stream)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_response_body(
                filter_module: *mut c_void,
                filter: abi::sluice_filter_handle,
                end_of_stream: bool,
            ) -> abi::sluice_body_status {
                $crate::ffi::response_body(filter_module, filter, end_of_stream)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_response_trailers(
                filter_module: *mut c_void,
                filter: abi::sluice_filter_handle,
            ) -> abi::sluice_trailers_status {
                $crate::ffi::response_trailers(filter_module, filter)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_stream_complete(filter_module: *mut c_void, filter: abi::sluice_filter_handle) {
                $crate::ffi::stream_complete(filter_module, filter)
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_http_filter_scheduled(
                filter_module: *mut c_void,
                filter: abi::sluice_filter_handle,
                event_id: u64,
            ) {
                $crate::ffi::scheduled(filter_module, filter, event_id)
            }
        };
    };
}
