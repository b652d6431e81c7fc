package hcm

import (
	"net/netip"
	"time"

	"github.com/sluiceproxy/sluice/host/network"
)

// ResponseFlags are Envoy's short access-log flags explaining why a stream
// ended the way it did.
type ResponseFlags uint32

const (
	FlagNoHealthyUpstream               ResponseFlags = 1 << iota // UH
	FlagUpstreamConnectionFailure                                 // UF
	FlagUpstreamOverflow                                          // UO
	FlagNoRouteFound                                              // NR
	FlagUpstreamRequestTimeout                                    // UT
	FlagLocalReset                                                // LR
	FlagUpstreamRemoteReset                                       // UR
	FlagUpstreamConnectionTermination                             // UC
	FlagDownstreamConnectionTermination                           // DC
	FlagStreamIdleTimeout                                         // SI
	FlagDownstreamProtocolError                                   // DPE
	FlagUpstreamProtocolError                                     // UPE
	FlagNoClusterFound                                            // NC
	FlagDirectResponse                                            // DR? (not an Envoy flag; shown as "-")
	FlagFilterFailure                                             // FF (module contained)
	FlagDurationTimeout                                           // DT
	FlagUpstreamRetryLimitExceeded                                // URX
	FlagResponseTruncated                                         // TR: the client did not get the whole response sluice finished
	FlagOverloadManager                                           // OM: shed by the overload manager
)

var flagNames = []struct {
	f ResponseFlags
	s string
}{
	{FlagNoHealthyUpstream, "UH"}, {FlagUpstreamConnectionFailure, "UF"}, {FlagUpstreamOverflow, "UO"},
	{FlagNoRouteFound, "NR"}, {FlagUpstreamRequestTimeout, "UT"}, {FlagLocalReset, "LR"},
	{FlagUpstreamRemoteReset, "UR"}, {FlagUpstreamConnectionTermination, "UC"},
	{FlagDownstreamConnectionTermination, "DC"}, {FlagStreamIdleTimeout, "SI"},
	{FlagDownstreamProtocolError, "DPE"}, {FlagUpstreamProtocolError, "UPE"}, {FlagNoClusterFound, "NC"},
	{FlagFilterFailure, "FF"}, {FlagDurationTimeout, "DT"}, {FlagUpstreamRetryLimitExceeded, "URX"},
	{FlagResponseTruncated, "TR"}, {FlagOverloadManager, "OM"},
}

// String renders flags the way Envoy's %RESPONSE_FLAGS% does: comma
// separated, "-" when none.
func (f ResponseFlags) String() string {
	if f&^FlagDirectResponse == 0 {
		return "-"
	}
	s := ""
	for _, n := range flagNames {
		if f&n.f != 0 {
			if s != "" {
				s += ","
			}
			s += n.s
		}
	}
	return s
}

// MetadataValue is a dynamic-metadata value: a string or a number (the
// same type network filters use for connection metadata).
type MetadataValue = network.MetadataValue

// StreamInfo is what is known about a stream: for access logs, for modules'
// attribute and metadata calls, and for the stream's own decisions.
type StreamInfo struct {
	ConnID      uint64
	StreamID    uint64
	WorkerIndex int
	Start       time.Time
	Protocol    string // "HTTP/1.0", "HTTP/1.1", "HTTP/2"
	Source      netip.AddrPort
	Destination netip.AddrPort
	// Connection is the downstream connection's attributes: TLS (SNI,
	// negotiated ALPN, version, cipher, the client certificate's subject
	// and SANs) and the PROXY protocol's addresses. Never nil for a
	// stream; read only.
	Connection *network.Attributes
	RequestID  RequestID
	Status     int
	BytesIn    int64
	BytesOut   int64          // response body bytes that reached the connection
	Upstream   netip.AddrPort // upstream host, zero when none
	Attempts   int            // upstream attempts (1 + retries), 0 when none
	Cluster    string
	RouteName  string
	Flags      ResponseFlags
	Details    string // why a local reply was sent, e.g. "route_not_found"
	// Metadata is dynamic metadata keyed by namespace then key. Allocated
	// only when a filter sets some.
	Metadata map[string]map[string]MetadataValue
}

// SetMetadata stores a dynamic-metadata value.
func (si *StreamInfo) SetMetadata(ns, key string, v MetadataValue) {
	if si.Metadata == nil {
		si.Metadata = make(map[string]map[string]MetadataValue)
	}
	m := si.Metadata[ns]
	if m == nil {
		m = make(map[string]MetadataValue)
		si.Metadata[ns] = m
	}
	m[key] = v
}

// GetMetadata reads a dynamic-metadata value.
func (si *StreamInfo) GetMetadata(ns, key string) (MetadataValue, bool) {
	v, ok := si.Metadata[ns][key]
	return v, ok
}

// RequestID holds the stream's x-request-id without a per-stream allocation.
type RequestID struct {
	b [64]byte
	n uint8
}

func (r *RequestID) set(v []byte) { r.n = uint8(copy(r.b[:], v)) }

// Bytes is the id; valid as long as the StreamInfo.
func (r *RequestID) Bytes() []byte { return r.b[:r.n] }

// String is the id as a string.
func (r *RequestID) String() string { return string(r.b[:r.n]) }
