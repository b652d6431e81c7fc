package hcm

import (
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/network"
)

// HeadersStatus is what a filter's headers hook returns; the values and
// meanings are Envoy's FilterHeadersStatus.
type HeadersStatus int32

const (
	// Continue passes the headers to the next filter.
	HeadersContinue HeadersStatus = 0
	// StopIteration holds the headers here; body data keeps flowing to
	// this filter's data hook (and is buffered if it stops too).
	HeadersStopIteration HeadersStatus = 1
	// ContinueAndDontEndStream passes headers on without end_stream when
	// they ended the stream: the filter adds the body with
	// Inject*Data(..., end=true). On headers that did not end the stream
	// it is Continue.
	HeadersContinueAndDontEndStream HeadersStatus = 2
	// StopAllIterationAndBuffer holds headers and buffers all later data
	// and trailers until the filter continues, up to the buffer limit
	// (413 on requests, 500 on responses past it).
	HeadersStopAllIterationAndBuffer HeadersStatus = 3
	// StopAllIterationAndWatermark is StopAllIterationAndBuffer with flow
	// control: past the buffer limit the sender is paused, not failed.
	HeadersStopAllIterationAndWatermark HeadersStatus = 4
)

// DataStatus is what a filter's data hook returns (Envoy's FilterDataStatus).
type DataStatus int32

const (
	DataContinue DataStatus = 0
	// StopIterationAndBuffer buffers this data. As in Envoy, the next call
	// gets only the new chunk; what was buffered before is
	// Buffered{Request,Response}Body, and Continue passes both on.
	DataStopIterationAndBuffer DataStatus = 1
	// StopIterationAndWatermark buffers with flow control.
	DataStopIterationAndWatermark DataStatus = 2
	// StopIterationNoBuffer drops nothing but does not buffer: the filter
	// took the data (e.g. drained it into its own state).
	DataStopIterationNoBuffer DataStatus = 3
)

// TrailersStatus is what a trailers hook returns.
type TrailersStatus int32

const (
	TrailersContinue      TrailersStatus = 0
	TrailersStopIteration TrailersStatus = 1
)

// Buffer is a body buffer a filter may read and mutate during a data hook.
// Chunks are views valid only during the hook that received the buffer.
type Buffer interface {
	Len() int
	// Chunks calls fn for each contiguous slice of the buffer.
	Chunks(fn func(p []byte) bool)
	// Append adds data at the end.
	Append(p []byte)
	// Prepend adds data at the front.
	Prepend(p []byte)
	// Drain removes n bytes from the front.
	Drain(n int)
	// Bytes returns the whole buffer as one slice (may coalesce).
	Bytes() []byte
}

// StreamFilter is one filter instance for one stream. Built-in Go filters
// and module filters both implement it. Every method runs on the worker that
// owns the stream.
type StreamFilter interface {
	DecodeHeaders(h *headers.Map, endStream bool) HeadersStatus
	DecodeData(b Buffer, endStream bool) DataStatus
	DecodeTrailers(t *headers.Map) TrailersStatus
	EncodeHeaders(h *headers.Map, endStream bool) HeadersStatus
	EncodeData(b Buffer, endStream bool) DataStatus
	EncodeTrailers(t *headers.Map) TrailersStatus
	// OnStreamComplete runs once when the stream ends for any reason,
	// before OnDestroy (access-log time in Envoy's terms).
	OnStreamComplete()
	// OnDestroy runs exactly once, after the hook that ended the stream has
	// returned; the filter must release everything.
	OnDestroy()
}

// PassThrough is a StreamFilter that continues every phase; embed it to
// implement only the hooks a filter needs.
type PassThrough struct{}

func (PassThrough) DecodeHeaders(*headers.Map, bool) HeadersStatus { return HeadersContinue }
func (PassThrough) DecodeData(Buffer, bool) DataStatus             { return DataContinue }
func (PassThrough) DecodeTrailers(*headers.Map) TrailersStatus     { return TrailersContinue }
func (PassThrough) EncodeHeaders(*headers.Map, bool) HeadersStatus { return HeadersContinue }
func (PassThrough) EncodeData(Buffer, bool) DataStatus             { return DataContinue }
func (PassThrough) EncodeTrailers(*headers.Map) TrailersStatus     { return TrailersContinue }
func (PassThrough) OnStreamComplete()                              {}
func (PassThrough) OnDestroy()                                     {}

// FilterFactory creates a filter for each new stream. One factory exists per
// configured filter (per listener config generation); NewFilter runs on the
// stream's worker.
type FilterFactory interface {
	NewFilter(cb FilterCallbacks) StreamFilter
}

// FilterCallbacks is the stream as seen by one filter. Methods must be
// called on the owning worker; after the stream has ended they return false
// (or do nothing) instead of touching freed state. The object is recycled
// with its stream: a filter must not use it after its OnDestroy returned
// (work that outlives a hook goes through NewScheduler, which is safe).
type FilterCallbacks interface {
	// ConnID and StreamID identify the stream in logs.
	ConnID() uint64
	StreamID() uint64
	// WorkerIndex is the index of the owning worker.
	WorkerIndex() int
	// NewScheduler returns a handle that any goroutine may use to run a
	// function on the owning worker for this stream (Go filters' version of
	// the module scheduler). Call it on the worker, inside a hook.
	NewScheduler() Scheduler
	// ContinueDecoding resumes a request stopped by this filter.
	ContinueDecoding() bool
	// ContinueEncoding resumes a response stopped by this filter.
	ContinueEncoding() bool
	// SendLocalReply answers the stream from this filter; later filters'
	// decode hooks are skipped and the reply runs through the encode chain
	// from this filter on. details is recorded in the access log.
	SendLocalReply(status int, hdrs [][2]string, body []byte, details string) bool
	// RequestHeaders / ResponseHeaders / RequestTrailers / ResponseTrailers
	// return the stream's maps, or nil when not (yet) present.
	RequestHeaders() *headers.Map
	ResponseHeaders() *headers.Map
	RequestTrailers() *headers.Map
	ResponseTrailers() *headers.Map
	// AddRequestTrailers / AddResponseTrailers create trailers during the
	// last data hook (end_stream) when there were none.
	AddRequestTrailers() *headers.Map
	AddResponseTrailers() *headers.Map
	// BufferedRequestBody / BufferedResponseBody are what earlier
	// StopIterationAndBuffer calls kept (nil when empty).
	BufferedRequestBody() Buffer
	BufferedResponseBody() Buffer
	// ClearRouteCache forces the route to be re-selected (after header
	// changes that affect routing).
	ClearRouteCache()
	// InjectDecodedData / InjectEncodedData pass data from this filter to
	// the filters after it (and on to the upstream / client) as if it had
	// arrived there; end ends that direction. Allowed once this filter has
	// passed the headers on (e.g. after ContinueAndDontEndStream, or from a
	// data hook returning DataStopIterationNoBuffer); false otherwise.
	InjectDecodedData(p []byte, end bool) bool
	InjectEncodedData(p []byte, end bool) bool
	// AddDecodedData / AddEncodedData append to the body this filter
	// holds, creating it when the filter stopped the headers and nothing
	// was buffered (a body for a request or response that had none); it
	// goes on when the filter continues. False when the filter holds
	// nothing.
	AddDecodedData(p []byte) bool
	AddEncodedData(p []byte) bool
	// PerFilterConfig returns the per-route config object that the selected
	// route (or its virtual host) carries for the named filter, or nil.
	PerFilterConfig(filterName string) any
	// Ended reports whether the stream has finished (reply sent or reset).
	Ended() bool
	// Info is the per-stream information used by access logs and modules.
	Info() *StreamInfo
	// Connection is the downstream connection the stream runs on: its
	// addresses, TLS attributes and the dynamic metadata network filters
	// set on it. nil once the stream was destroyed.
	Connection() *network.Connection
}
