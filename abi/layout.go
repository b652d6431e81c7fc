package abi

import "unsafe"

// The structs below mirror the header's layouts field by field; the `c`
// tag names the C field, which abi_test.go checks offset by offset.

// Handle mirrors each struct-wrapped handle type (sluice_config_handle,
// sluice_filter_handle, sluice_scheduler_handle, sluice_timer_handle,
// sluice_network_filter_handle, sluice_callout_handle): one uint64 id,
// passed in the same register as a uint64.
type Handle struct {
	ID uint64 `c:"id"`
}

// Buffer is sluice_buffer.
// Ptr is unsafe.Pointer so Go code can read module buffers without
// uintptr round trips; it always points to C memory, never the Go heap.
type Buffer struct {
	Ptr unsafe.Pointer `c:"ptr"`
	Len uintptr        `c:"len"`
}

// Header is sluice_header.
type Header struct {
	Name  Buffer `c:"name"`
	Value Buffer `c:"value"`
}

// HostAPI is sluice_host_api: the callback table, each entry a C function
// pointer.
type HostAPI struct {
	Size       uint32 `c:"size"`
	ABIVersion uint32 `c:"abi_version"`

	Log         uintptr `c:"log"`
	LogEnabled  uintptr `c:"log_enabled"`
	Concurrency uintptr `c:"concurrency"`

	ConfigReject    uintptr `c:"config_reject"`
	DefineCounter   uintptr `c:"define_counter"`
	DefineGauge     uintptr `c:"define_gauge"`
	DefineHistogram uintptr `c:"define_histogram"`
	CounterAdd      uintptr `c:"counter_add"`
	GaugeSet        uintptr `c:"gauge_set"`
	GaugeAdd        uintptr `c:"gauge_add"`
	HistogramRecord uintptr `c:"histogram_record"`

	HeaderGet    uintptr `c:"header_get"`
	HeaderValues uintptr `c:"header_values"`
	HeadersGet   uintptr `c:"headers_get"`
	HeaderSet    uintptr `c:"header_set"`
	HeaderAdd    uintptr `c:"header_add"`
	HeaderRemove uintptr `c:"header_remove"`

	BodyChunks uintptr `c:"body_chunks"`
	BodySize   uintptr `c:"body_size"`
	BodyAppend uintptr `c:"body_append"`
	BodyDrain  uintptr `c:"body_drain"`

	SendResponse     uintptr `c:"send_response"`
	ContinueDecoding uintptr `c:"continue_decoding"`
	ContinueEncoding uintptr `c:"continue_encoding"`
	ClearRouteCache  uintptr `c:"clear_route_cache"`

	SchedulerNew    uintptr `c:"scheduler_new"`
	SchedulerCommit uintptr `c:"scheduler_commit"`
	SchedulerDelete uintptr `c:"scheduler_delete"`

	GetAttributeString uintptr `c:"get_attribute_string"`
	GetAttributeInt    uintptr `c:"get_attribute_int"`
	MetadataSetString  uintptr `c:"metadata_set_string"`
	MetadataSetNumber  uintptr `c:"metadata_set_number"`
	MetadataGetString  uintptr `c:"metadata_get_string"`
	MetadataGetNumber  uintptr `c:"metadata_get_number"`
	PerRouteConfig     uintptr `c:"per_route_config"`

	ConfigSchedulerNew uintptr `c:"config_scheduler_new"`
	LogFilter          uintptr `c:"log_filter"`

	TimerNew     uintptr `c:"timer_new"`
	TimerEnable  uintptr `c:"timer_enable"`
	TimerDisable uintptr `c:"timer_disable"`
	TimerDelete  uintptr `c:"timer_delete"`

	DefineMetric uintptr `c:"define_metric"`
	ReportPanic  uintptr `c:"report_panic"`

	InjectData uintptr `c:"inject_data"`

	// ABI 2.1: network filters.
	NetworkBufferChunks         uintptr `c:"network_buffer_chunks"`
	NetworkBufferSize           uintptr `c:"network_buffer_size"`
	NetworkBufferDrain          uintptr `c:"network_buffer_drain"`
	NetworkBufferAppend         uintptr `c:"network_buffer_append"`
	NetworkBufferPrepend        uintptr `c:"network_buffer_prepend"`
	NetworkContinueReading      uintptr `c:"network_continue_reading"`
	NetworkInjectReadData       uintptr `c:"network_inject_read_data"`
	NetworkInjectWriteData      uintptr `c:"network_inject_write_data"`
	NetworkWrite                uintptr `c:"network_write"`
	NetworkClose                uintptr `c:"network_close"`
	NetworkReadDisable          uintptr `c:"network_read_disable"`
	NetworkGetAttributeString   uintptr `c:"network_get_attribute_string"`
	NetworkGetAttributeInt      uintptr `c:"network_get_attribute_int"`
	NetworkMetadataSetString    uintptr `c:"network_metadata_set_string"`
	NetworkMetadataSetNumber    uintptr `c:"network_metadata_set_number"`
	NetworkMetadataGetString    uintptr `c:"network_metadata_get_string"`
	NetworkMetadataGetNumber    uintptr `c:"network_metadata_get_number"`
	NetworkSchedulerNew         uintptr `c:"network_scheduler_new"`
	NetworkTimerNew             uintptr `c:"network_timer_new"`
	NetworkLog                  uintptr `c:"network_log"`
	ConnectionMetadataGetString uintptr `c:"connection_metadata_get_string"`
	ConnectionMetadataGetNumber uintptr `c:"connection_metadata_get_number"`

	// HTTP callouts (ABI 2.1).
	HTTPCallout       uintptr `c:"http_callout"`
	ConfigHTTPCallout uintptr `c:"config_http_callout"`
	HTTPCalloutCancel uintptr `c:"http_callout_cancel"`
}

// MetricDef is sluice_metric_def.
type MetricDef struct {
	Size        uint32         `c:"size"`
	Kind        uint32         `c:"kind"`
	Name        Buffer         `c:"name"`
	LabelNames  unsafe.Pointer `c:"label_names"`
	NLabelNames uintptr        `c:"n_label_names"`
	Buckets     unsafe.Pointer `c:"buckets"`
	NBuckets    uintptr        `c:"n_buckets"`
}

// CalloutRequest is sluice_callout_request (ABI 2.1).
type CalloutRequest struct {
	Size             uint32         `c:"size"`
	TimeoutMS        uint32         `c:"timeout_ms"`
	Cluster          Buffer         `c:"cluster"`
	Headers          unsafe.Pointer `c:"headers"`
	NHeaders         uintptr        `c:"n_headers"`
	Body             Buffer         `c:"body"`
	MaxResponseBytes uint64         `c:"max_response_bytes"`
}

// CalloutResult is sluice_callout_result (ABI 2.1).
type CalloutResult struct {
	Size      uint32         `c:"size"`
	Outcome   uint32         `c:"outcome"`
	Status    uint32         `c:"status"`
	Reserved  uint32         `c:"reserved"`
	Headers   unsafe.Pointer `c:"headers"`
	NHeaders  uintptr        `c:"n_headers"`
	Body      Buffer         `c:"body"`
	Trailers  unsafe.Pointer `c:"trailers"`
	NTrailers uintptr        `c:"n_trailers"`
	Detail    Buffer         `c:"detail"`
}
