//! `declare_module!`: the exported symbols of a module crate.

/// Export the hook symbols of the filter kinds a module offers, wired to
/// the SDK.
///
/// ```ignore
/// sluice_sdk::declare_module! {
///     init: my_init,                       // optional: fn() -> bool
///     shutdown: my_shutdown,               // optional: fn(), at sluice's exit
///     filters: {                           // HTTP filters (optional if network_filters is given)
///         "external_cache" => CacheConfig::new,   // fn(&mut HostConfig, &[u8]) -> Result<T, E>
///         "other" => OtherConfig::new,            //   T: HttpFilterConfig, E: Display
///     },
///     network_filters: {                   // network (L4) filters, ABI 2.1 (optional)
///         "gatekeeper" => GateConfig::new,        //   T: NetworkFilterConfig
///     }
/// }
/// ```
///
/// sluice decides which kinds a module offers from its exported symbols:
/// `filters` exports `sluice_on_http_filter_*` (every HTTP hook of the
/// ABI), `network_filters` exports `sluice_on_network_filter_*` (every
/// network hook); a module exports only the kinds it declares, plus
/// `sluice_module_abi_version`, `sluice_on_program_init` and
/// `sluice_on_program_shutdown`. One module may offer both (a network
/// filter that tags connections and an HTTP filter that reads the tags).
///
/// Use it once, at the root of a `crate-type = ["cdylib"]` crate (it
/// defines a hidden module `__sluice_module` whose `symbols()` feeds
/// [`testing::FakeModule`](crate::testing::FakeModule)). The host picks a
/// constructor by the `filter_name` of its config, among the filters of
/// the kind it configures; an unknown name is rejected with a message
/// listing the names offered here.
#[macro_export]
macro_rules! declare_module {
    // ---- internal rules -------------------------------------------------

    (@count $t:tt) => { 1 };

    (@http_symbols) => { ::core::option::Option::None };
    (@http_symbols $t:tt) => {
        ::core::option::Option::Some($crate::testing::HttpSymbols {
            config_new: sluice_on_http_filter_config_new,
            config_destroy: sluice_on_http_filter_config_destroy,
            per_route_config_new: sluice_on_http_filter_per_route_config_new,
            per_route_config_destroy: sluice_on_http_filter_per_route_config_destroy,
            filter_new: sluice_on_http_filter_new,
            filter_destroy: sluice_on_http_filter_destroy,
            request_headers: sluice_on_http_filter_request_headers,
            request_body: sluice_on_http_filter_request_body,
            request_trailers: sluice_on_http_filter_request_trailers,
            response_headers: sluice_on_http_filter_response_headers,
            response_body: sluice_on_http_filter_response_body,
            response_trailers: sluice_on_http_filter_response_trailers,
            stream_complete: sluice_on_http_filter_stream_complete,
            scheduled: sluice_on_http_filter_scheduled,
            config_scheduled: sluice_on_http_filter_config_scheduled,
            timer: sluice_on_http_filter_timer,
            callout_done: sluice_on_http_filter_callout_done,
            config_callout_done: sluice_on_http_filter_config_callout_done,
        })
    };

    (@network_symbols) => { ::core::option::Option::None };
    (@network_symbols $t:tt) => {
        ::core::option::Option::Some($crate::testing::NetworkSymbols {
            config_new: sluice_on_network_filter_config_new,
            config_destroy: sluice_on_network_filter_config_destroy,
            config_scheduled: sluice_on_network_filter_config_scheduled,
            filter_new: sluice_on_network_filter_new,
            filter_destroy: sluice_on_network_filter_destroy,
            new_connection: sluice_on_network_filter_new_connection,
            read: sluice_on_network_filter_read,
            write: sluice_on_network_filter_write,
            event: sluice_on_network_filter_event,
            watermark: sluice_on_network_filter_watermark,
            scheduled: sluice_on_network_filter_scheduled,
            timer: sluice_on_network_filter_timer,
        })
    };

    (@http_hooks { $($name:literal => $ctor:expr),+ $(,)? }) => {
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
        pub unsafe extern "C" fn sluice_on_http_filter_config_new(
            config: $crate::abi::sluice_config_handle,
            name_ptr: *const u8,
            name_len: usize,
            config_ptr: *const u8,
            config_len: usize,
        ) -> *mut ::core::ffi::c_void {
            $crate::ffi::config_new(config, name_ptr, name_len, config_ptr, config_len, new_config, FILTER_NAMES)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_config_destroy(config: *mut ::core::ffi::c_void) {
            $crate::ffi::config_destroy(config)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_config_scheduled(
            config: *mut ::core::ffi::c_void,
            handle: $crate::abi::sluice_config_handle,
            event_id: u64,
        ) {
            $crate::ffi::config_scheduled(config, handle, event_id)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_per_route_config_new(
            config: $crate::abi::sluice_config_handle,
            filter_config: *mut ::core::ffi::c_void,
            config_ptr: *const u8,
            config_len: usize,
        ) -> *mut ::core::ffi::c_void {
            $crate::ffi::per_route_config_new(config, filter_config, config_ptr, config_len)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_per_route_config_destroy(per_route: *mut ::core::ffi::c_void) {
            $crate::ffi::per_route_config_destroy(per_route)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_new(
            config: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_filter_handle,
        ) -> *mut ::core::ffi::c_void {
            $crate::ffi::filter_new(config, filter)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_destroy(filter_module: *mut ::core::ffi::c_void) {
            $crate::ffi::filter_destroy(filter_module)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_request_headers(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_filter_handle,
            end_of_stream: bool,
        ) -> $crate::abi::sluice_headers_status {
            $crate::ffi::request_headers(filter_module, filter, end_of_stream)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_request_body(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_filter_handle,
            end_of_stream: bool,
        ) -> $crate::abi::sluice_body_status {
            $crate::ffi::request_body(filter_module, filter, end_of_stream)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_request_trailers(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_filter_handle,
        ) -> $crate::abi::sluice_trailers_status {
            $crate::ffi::request_trailers(filter_module, filter)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_response_headers(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_filter_handle,
            end_of_stream: bool,
        ) -> $crate::abi::sluice_headers_status {
            $crate::ffi::response_headers(filter_module, filter, end_of_stream)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_response_body(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_filter_handle,
            end_of_stream: bool,
        ) -> $crate::abi::sluice_body_status {
            $crate::ffi::response_body(filter_module, filter, end_of_stream)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_response_trailers(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_filter_handle,
        ) -> $crate::abi::sluice_trailers_status {
            $crate::ffi::response_trailers(filter_module, filter)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_stream_complete(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_filter_handle,
        ) {
            $crate::ffi::stream_complete(filter_module, filter)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_timer(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_filter_handle,
            timer: $crate::abi::sluice_timer_handle,
        ) {
            $crate::ffi::timer(filter_module, filter, timer)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_callout_done(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_filter_handle,
            callout: $crate::abi::sluice_callout_handle,
            result: *const $crate::abi::sluice_callout_result,
        ) {
            $crate::ffi::callout_done(filter_module, filter, callout, result)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_config_callout_done(
            config: *mut ::core::ffi::c_void,
            handle: $crate::abi::sluice_config_handle,
            callout: $crate::abi::sluice_callout_handle,
            result: *const $crate::abi::sluice_callout_result,
        ) {
            $crate::ffi::config_callout_done(config, handle, callout, result)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_http_filter_scheduled(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_filter_handle,
            event_id: u64,
        ) {
            $crate::ffi::scheduled(filter_module, filter, event_id)
        }
    };

    (@network_hooks { $($name:literal => $ctor:expr),+ $(,)? }) => {
        fn new_network_config(
            host: &mut $crate::HostConfig<'_>,
            name: &[u8],
            config: &[u8],
        ) -> ::core::option::Option<::core::result::Result<::std::boxed::Box<dyn $crate::NetworkFilterConfig>, ::std::string::String>> {
            $(
                if name == $name.as_bytes() {
                    return ::core::option::Option::Some($crate::ffi::network::boxed_config(($ctor)(host, config)));
                }
            )+
            ::core::option::Option::None
        }

        const NETWORK_FILTER_NAMES: &[&str] = &[$($name),+];

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_network_filter_config_new(
            config: $crate::abi::sluice_config_handle,
            name_ptr: *const u8,
            name_len: usize,
            config_ptr: *const u8,
            config_len: usize,
        ) -> *mut ::core::ffi::c_void {
            $crate::ffi::network::config_new(
                config, name_ptr, name_len, config_ptr, config_len, new_network_config, NETWORK_FILTER_NAMES,
            )
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_network_filter_config_destroy(config: *mut ::core::ffi::c_void) {
            $crate::ffi::network::config_destroy(config)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_network_filter_config_scheduled(
            config: *mut ::core::ffi::c_void,
            handle: $crate::abi::sluice_config_handle,
            event_id: u64,
        ) {
            $crate::ffi::network::config_scheduled(config, handle, event_id)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_network_filter_new(
            config: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_network_filter_handle,
        ) -> *mut ::core::ffi::c_void {
            $crate::ffi::network::filter_new(config, filter)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_network_filter_destroy(filter_module: *mut ::core::ffi::c_void) {
            $crate::ffi::network::filter_destroy(filter_module)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_network_filter_new_connection(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_network_filter_handle,
        ) -> $crate::abi::sluice_network_status {
            $crate::ffi::network::new_connection(filter_module, filter)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_network_filter_read(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_network_filter_handle,
            data_length: usize,
            end_stream: bool,
        ) -> $crate::abi::sluice_network_status {
            $crate::ffi::network::read(filter_module, filter, data_length, end_stream)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_network_filter_write(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_network_filter_handle,
            data_length: usize,
            end_stream: bool,
        ) -> $crate::abi::sluice_network_status {
            $crate::ffi::network::write(filter_module, filter, data_length, end_stream)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_network_filter_event(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_network_filter_handle,
            event: $crate::abi::sluice_network_event,
        ) {
            $crate::ffi::network::event(filter_module, filter, event)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_network_filter_watermark(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_network_filter_handle,
            above: bool,
        ) {
            $crate::ffi::network::watermark(filter_module, filter, above)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_network_filter_scheduled(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_network_filter_handle,
            event_id: u64,
        ) {
            $crate::ffi::network::scheduled(filter_module, filter, event_id)
        }

        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn sluice_on_network_filter_timer(
            filter_module: *mut ::core::ffi::c_void,
            filter: $crate::abi::sluice_network_filter_handle,
            timer: $crate::abi::sluice_timer_handle,
        ) {
            $crate::ffi::network::timer(filter_module, filter, timer)
        }
    };

    // ---- the macro --------------------------------------------------------

    (
        $(init: $init:expr,)?
        $(shutdown: $shutdown:expr,)?
        $(filters: $http:tt $(,)?)?
        $(network_filters: $net:tt $(,)?)?
    ) => {
        /// The exported hook symbols (generated by `sluice_sdk::declare_module!`).
        #[doc(hidden)]
        #[allow(missing_docs, clippy::missing_safety_doc)]
        pub mod __sluice_module {
            #[allow(unused_imports)]
            use super::*;

            const _: () = ::core::assert!(
                0 $(+ $crate::declare_module!(@count $http))? $(+ $crate::declare_module!(@count $net))? > 0,
                "declare_module! needs `filters` (HTTP), `network_filters`, or both"
            );

            /// The hooks as function pointers, for `sluice_sdk::testing::FakeModule`.
            pub fn symbols() -> $crate::testing::ModuleSymbols {
                $crate::testing::ModuleSymbols {
                    abi_version: sluice_module_abi_version,
                    program_init: sluice_on_program_init,
                    program_shutdown: sluice_on_program_shutdown,
                    http: $crate::declare_module!(@http_symbols $($http)?),
                    network: $crate::declare_module!(@network_symbols $($net)?),
                }
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn sluice_module_abi_version() -> u32 {
                $crate::abi::SLUICE_ABI_VERSION
            }

            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn sluice_on_program_init(api: *const $crate::abi::sluice_host_api) -> bool {
                #[allow(unreachable_code)]
                let init = || -> bool {
                    $( return ($init)(); )?
                    true
                };
                $crate::ffi::program_init(api, init)
            }

            #[unsafe(no_mangle)]
            pub extern "C" fn sluice_on_program_shutdown() {
                #[allow(unreachable_code)]
                $crate::ffi::program_shutdown(|| {
                    $( return ($shutdown)(); )?
                })
            }

            $( $crate::declare_module!(@http_hooks $http); )?
            $( $crate::declare_module!(@network_hooks $net); )?
        }
    };
}
