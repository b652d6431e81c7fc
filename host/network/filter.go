package network

// FilterStatus is what a read or write hook returns: Envoy's network
// filter statuses.
type FilterStatus uint8

const (
	// Continue passes the iteration on to the next filter.
	Continue FilterStatus = iota
	// StopIteration ends this iteration at this filter. It stops only this
	// pass: the next read (or ContinueReading) iterates again.
	StopIteration
)

func (s FilterStatus) String() string {
	if s == Continue {
		return "Continue"
	}
	return "StopIteration"
}

// ConnectionEvent is what OnEvent reports.
type ConnectionEvent uint8

const (
	// Connected: the transport is ready (right after the connection was
	// accepted for cleartext; after the handshake for TLS).
	Connected ConnectionEvent = iota
	// RemoteClose: the peer closed or reset the connection.
	RemoteClose
	// LocalClose: sluice closed it (a filter, a timeout, a drain).
	LocalClose
)

func (e ConnectionEvent) String() string {
	switch e {
	case Connected:
		return "Connected"
	case RemoteClose:
		return "RemoteClose"
	default:
		return "LocalClose"
	}
}

// ReadFilter sees the downstream-to-upstream direction.
type ReadFilter interface {
	// OnNewConnection runs once, before the filter's first OnData: when
	// the connection is set up, or, for a filter after one that stopped,
	// when the iteration first reaches it. StopIteration ends that pass
	// before this filter's OnData: read-buffer bytes wait for the next
	// pass, but data injected by the filter before it is gone, so a
	// terminal filter returns Continue and takes what it cannot use yet
	// in OnData (tcp_proxy while it connects).
	OnNewConnection() FilterStatus
	// OnData gets the connection's whole read buffer: what earlier
	// iterations left in it is still there, so a filter may see the same
	// bytes again. endStream: the peer half-closed (no byte will follow).
	OnData(data *Buffer, endStream bool) FilterStatus
}

// WriteFilter sees the upstream-to-downstream direction, one chunk at a
// time. StopIteration keeps the chunk from going further; a filter that
// wants to send it later keeps a copy (or drains it into state of its own)
// and injects it with InjectWriteData.
type WriteFilter interface {
	OnWrite(data *Buffer, endStream bool) FilterStatus
}

// EventHandler is implemented by filters that want connection events. Like
// watermark notifications and drains, events go only to filters that have
// started: a read filter once it saw OnNewConnection (one behind a filter
// that stopped or closed the connection never hears of it), any other
// filter from the start. Destroy reaches every filter.
type EventHandler interface {
	OnEvent(ev ConnectionEvent)
}

// WatermarkHandler is implemented by filters that follow the connection's
// output backpressure.
type WatermarkHandler interface {
	// The output went above the connection's high watermark.
	OnAboveWriteBufferHighWatermark()
	// It drained to the low watermark again.
	OnBelowWriteBufferLowWatermark()
}

// Destroyer is implemented by filters that hold resources: OnDestroy runs
// once, after the connection closed and every event was delivered.
type Destroyer interface {
	OnDestroy()
}

// Drainer is implemented by terminal filters that can end their traffic
// gracefully (the HTTP connection manager: GOAWAY, close after the current
// response). Others are closed when the drain deadline passes.
type Drainer interface {
	Drain()
}

// Filter is a ReadFilter, a WriteFilter or both, optionally with the other
// interfaces above.
type Filter any

// FilterFactory makes one filter instance per connection.
type FilterFactory interface {
	// NewFilter creates the filter of one connection; cb stays valid until
	// the filter is destroyed. A nil filter fails the connection (it is
	// closed).
	NewFilter(cb *Callbacks) Filter
}

// FilterFactoryFunc adapts a function to FilterFactory.
type FilterFactoryFunc func(cb *Callbacks) Filter

// NewFilter calls f.
func (f FilterFactoryFunc) NewFilter(cb *Callbacks) Filter { return f(cb) }

// NamedFilterFactory is one configured network filter.
type NamedFilterFactory struct {
	Name    string
	Factory FilterFactory
}

// Callbacks is what a filter gets to act on its connection. It belongs to
// one filter of one connection.
type Callbacks struct {
	nc  *Connection
	idx int
}

// Connection is the filter's connection.
func (cb *Callbacks) Connection() *Connection { return cb.nc }

// ContinueReading resumes a read iteration this filter stopped: the
// filters after it get OnNewConnection (if they have not yet) and OnData
// with the read buffer as it is now. Called from inside this filter's own
// hook, it takes effect when the hook returns (as if it returned
// Continue).
func (cb *Callbacks) ContinueReading() { cb.nc.continueReading(cb.idx) }

// InjectReadData passes data to the filters after this one as if it had
// been read (it is not added to the read buffer; what they leave of it is
// dropped). For a filter that holds data back and releases it later.
func (cb *Callbacks) InjectReadData(data []byte, endStream bool) {
	cb.nc.injectRead(cb.idx, data, endStream)
}

// InjectWriteData passes data to the write filters between this one and
// the socket, then to the socket.
func (cb *Callbacks) InjectWriteData(data []byte, endStream bool) {
	cb.nc.writeFrom(cb.idx-1, data, endStream)
}
