package abi

// Symbol names of the hooks a module exports.
const (
	SymABIVersion      = "sluice_module_abi_version"
	SymProgramInit     = "sluice_on_program_init"
	SymProgramShutdown = "sluice_on_program_shutdown"

	SymHTTPConfigNew             = "sluice_on_http_filter_config_new"
	SymHTTPConfigDestroy         = "sluice_on_http_filter_config_destroy"
	SymHTTPPerRouteConfigNew     = "sluice_on_http_filter_per_route_config_new"
	SymHTTPPerRouteConfigDestroy = "sluice_on_http_filter_per_route_config_destroy"
	SymHTTPFilterNew             = "sluice_on_http_filter_new"
	SymHTTPFilterDestroy         = "sluice_on_http_filter_destroy"
	SymHTTPRequestHeaders        = "sluice_on_http_filter_request_headers"
	SymHTTPRequestBody           = "sluice_on_http_filter_request_body"
	SymHTTPRequestTrailers       = "sluice_on_http_filter_request_trailers"
	SymHTTPResponseHeaders       = "sluice_on_http_filter_response_headers"
	SymHTTPResponseBody          = "sluice_on_http_filter_response_body"
	SymHTTPResponseTrailers      = "sluice_on_http_filter_response_trailers"
	SymHTTPStreamComplete        = "sluice_on_http_filter_stream_complete"
	SymHTTPScheduled             = "sluice_on_http_filter_scheduled"
	SymHTTPTimer                 = "sluice_on_http_filter_timer"
	SymHTTPConfigScheduled       = "sluice_on_http_filter_config_scheduled"

	// ABI 2.1: network filters.
	SymNetConfigNew       = "sluice_on_network_filter_config_new"
	SymNetConfigDestroy   = "sluice_on_network_filter_config_destroy"
	SymNetConfigScheduled = "sluice_on_network_filter_config_scheduled"
	SymNetFilterNew       = "sluice_on_network_filter_new"
	SymNetFilterDestroy   = "sluice_on_network_filter_destroy"
	SymNetNewConnection   = "sluice_on_network_filter_new_connection"
	SymNetRead            = "sluice_on_network_filter_read"
	SymNetWrite           = "sluice_on_network_filter_write"
	SymNetEvent           = "sluice_on_network_filter_event"
	SymNetWatermark       = "sluice_on_network_filter_watermark"
	SymNetScheduled       = "sluice_on_network_filter_scheduled"
	SymNetTimer           = "sluice_on_network_filter_timer"

	// HTTP callouts (ABI 2.1).
	SymHTTPCalloutDone       = "sluice_on_http_filter_callout_done"
	SymHTTPConfigCalloutDone = "sluice_on_http_filter_config_callout_done"
)

// HookPrefix starts every hook a module exports (besides the version
// function); an exported function with it that the host does not know is a
// misspelled hook, or one from a newer ABI minor.
const HookPrefix = "sluice_on_"

// HTTPFilterPrefix starts every HTTP filter hook's name; a module exporting
// any such symbol offers HTTP filters.
const HTTPFilterPrefix = "sluice_on_http_filter_"

// NetworkFilterPrefix starts every network filter hook's name; a module
// exporting any such symbol offers network filters.
const NetworkFilterPrefix = "sluice_on_network_filter_"

// RequiredNetworkSymbols must be exported by a module that offers network
// filters, in the order the loader checks them.
var RequiredNetworkSymbols = []string{
	SymNetConfigNew, SymNetConfigDestroy, SymNetFilterNew, SymNetFilterDestroy,
	SymNetNewConnection, SymNetRead,
}

// OptionalNetworkSymbols may be absent.
var OptionalNetworkSymbols = []string{
	SymNetWrite, SymNetEvent, SymNetWatermark, SymNetScheduled, SymNetTimer, SymNetConfigScheduled,
}

// RequiredProgramSymbols must be exported by every module.
var RequiredProgramSymbols = []string{SymABIVersion, SymProgramInit}

// RequiredHTTPSymbols must be exported by a module that offers HTTP filters,
// in the order the loader checks them.
var RequiredHTTPSymbols = []string{
	SymHTTPConfigNew, SymHTTPConfigDestroy, SymHTTPFilterNew, SymHTTPFilterDestroy,
	SymHTTPRequestHeaders, SymHTTPResponseHeaders,
}

// OptionalHTTPSymbols may be absent; the host then uses the default stated
// in the header (Continue, or no call).
var OptionalHTTPSymbols = []string{
	SymHTTPRequestBody, SymHTTPRequestTrailers, SymHTTPResponseBody, SymHTTPResponseTrailers,
	SymHTTPStreamComplete, SymHTTPScheduled, SymHTTPPerRouteConfigNew, SymHTTPPerRouteConfigDestroy,
	SymHTTPTimer, SymHTTPConfigScheduled,
	SymHTTPCalloutDone, SymHTTPConfigCalloutDone,
}

// OptionalProgramSymbols may be exported by any module.
var OptionalProgramSymbols = []string{SymProgramShutdown}

// KnownHook reports whether name is a hook of this ABI version.
func KnownHook(name string) bool {
	for _, list := range allHookLists() {
		for _, s := range list {
			if s == name {
				return true
			}
		}
	}
	return false
}

// KnownHooks lists every hook of this ABI version.
func KnownHooks() []string {
	var out []string
	for _, list := range allHookLists() {
		out = append(out, list...)
	}
	return out
}

func allHookLists() [][]string {
	return [][]string{RequiredProgramSymbols, OptionalProgramSymbols, RequiredHTTPSymbols, OptionalHTTPSymbols,
		RequiredNetworkSymbols, OptionalNetworkSymbols}
}
