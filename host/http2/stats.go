package http2

// Add sums o into s (to aggregate connections, e.g. per worker for admin).
func (s *Stats) Add(o Stats) {
	s.StreamsOpened += o.StreamsOpened
	s.StreamsRefused += o.StreamsRefused
	s.StreamErrors += o.StreamErrors
	s.ClientResets += o.ClientResets
	s.RapidResetGoAways += o.RapidResetGoAways
	s.HeaderBlockTooLarge += o.HeaderBlockTooLarge
	s.HeaderListTooLarge += o.HeaderListTooLarge
	s.ControlFloodGoAways += o.ControlFloodGoAways
	s.OutputOverflowResets += o.OutputOverflowResets
	s.EmptyFrameFloods += o.EmptyFrameFloods
	s.SettingsTimeouts += o.SettingsTimeouts
	s.ConnectionErrors += o.ConnectionErrors
	s.PingsReceived += o.PingsReceived
	s.SettingsReceived += o.SettingsReceived
}

// Stats counts what one connection's codec saw. Attack counters say which
// limit fired; each one that ends the connection is counted once.
type Stats struct {
	StreamsOpened        uint64 // request streams handed to the connection manager
	StreamsRefused       uint64 // RST_STREAM(REFUSED_STREAM): over MaxConcurrentStreams or after GOAWAY
	StreamErrors         uint64 // RST_STREAM we sent for a stream-level protocol error
	ClientResets         uint64 // RST_STREAM received for an open stream
	RapidResetGoAways    uint64 // rapid-reset budget exceeded (CVE-2023-44487)
	HeaderBlockTooLarge  uint64 // header block over the byte or CONTINUATION-frame cap (CVE-2024-27316)
	HeaderListTooLarge   uint64 // decoded header list over MaxHeaderListSize (HPACK bomb): answered 431
	ControlFloodGoAways  uint64 // SETTINGS/PING/RST reply flood without reading
	OutputOverflowResets uint64 // streams reset for queueing 4x StreamBufferLimit
	EmptyFrameFloods     uint64 // too many empty DATA frames in a row (CVE-2019-9518)
	SettingsTimeouts     uint64 // our SETTINGS not acknowledged in time
	ConnectionErrors     uint64 // GOAWAY sent with an error code
	PingsReceived        uint64
	SettingsReceived     uint64
}
