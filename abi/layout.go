package abi

import "unsafe"

// The structs below mirror the header's layouts field by field; the `c`
// tag names the C field, which abi_test.go checks offset by offset.

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

// SchedSlot is sluice_sched_slot: one cell of a worker's commit ring.
type SchedSlot struct {
	Seq      uint64 `c:"seq"`
	Filter   uint64 `c:"filter"`
	EventID  uint64 `c:"event_id"`
	Reserved uint64 `c:"reserved"`
}

// SchedRing is sluice_sched_ring: the per-worker ring header, in host
// mmap memory. Producer, consumer and wake fields sit on separate lines.
type SchedRing struct {
	Slots        uintptr   `c:"slots"`
	Mask         uint64    `c:"mask"`
	WakeFD       int32     `c:"wake_fd"`
	WorkerIndex  uint32    `c:"worker_index"`
	Pad0         [5]uint64 `c:"pad0"`
	EnqueuePos   uint64    `c:"enqueue_pos"`
	Pad1         [7]uint64 `c:"pad1"`
	DequeuePos   uint64    `c:"dequeue_pos"`
	Pad2         [7]uint64 `c:"pad2"`
	WakePending  uint32    `c:"wake_pending"`
	Closed       uint32    `c:"closed"`
	RejectedFull uint64    `c:"rejected_full"`
	Wakes        uint64    `c:"wakes"`
	Pad3         [5]uint64 `c:"pad3"`
}

// Scheduler is sluice_scheduler.
type Scheduler struct {
	Ring     uintptr `c:"ring"`
	Filter   uint64  `c:"filter"`
	Deleted  uint32  `c:"deleted"`
	Reserved uint32  `c:"reserved"`
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
	SchedulerDelete uintptr `c:"scheduler_delete"`

	GetAttributeString uintptr `c:"get_attribute_string"`
	GetAttributeInt    uintptr `c:"get_attribute_int"`
	MetadataSetString  uintptr `c:"metadata_set_string"`
	MetadataSetNumber  uintptr `c:"metadata_set_number"`
	MetadataGetString  uintptr `c:"metadata_get_string"`
	MetadataGetNumber  uintptr `c:"metadata_get_number"`
	PerRouteConfig     uintptr `c:"per_route_config"`
}
