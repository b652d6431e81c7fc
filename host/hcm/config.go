package hcm

import (
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/http1"
	"github.com/sluiceproxy/sluice/host/overload"
	"github.com/sluiceproxy/sluice/host/router"
)

// HTTP2Factory builds an HTTP/2 server codec on a connection. upgrade is nil
// for prior-knowledge connections.
type HTTP2Factory func(t codec.Transport, cb codec.Callbacks) codec.ServerCodec

// HTTP2UpgradeFactory builds an HTTP/2 codec for a connection that switched
// protocols with "Upgrade: h2c"; settings is the HTTP2-Settings header value
// as sent (base64url).
type HTTP2UpgradeFactory func(t codec.Transport, cb codec.Callbacks, settings []byte, req *headers.Map) (codec.ServerCodec, error)

// CodecType selects the downstream protocol.
type CodecType uint8

const (
	CodecAuto CodecType = iota
	CodecHTTP1
	CodecHTTP2
)

// NamedFilter is one configured HTTP filter (not the router, which the
// connection manager always appends itself).
type NamedFilter struct {
	Name    string
	Factory FilterFactory
}

// Config is one compiled http_connection_manager. It is immutable once built
// and shared by every worker.
type Config struct {
	StatPrefix                string
	Codec                     CodecType
	ServerName                string
	Via                       string
	UseRemoteAddress          bool
	XFFNumTrustedHops         int
	SkipXFFAppend             bool
	GenerateRequestID         bool
	PreserveExternalRequestID bool
	IdleTimeout               time.Duration
	RequestHeadersTimeout     time.Duration
	StreamIdleTimeout         time.Duration
	RequestTimeout            time.Duration
	Limits                    http1.Limits
	BufferLimit               int
	// ConnBufferLimit is the listener's per_connection_buffer_limit_bytes:
	// the output watermark of each downstream connection (0: default).
	ConnBufferLimit int
	Filters         []NamedFilter
	// Upgrades is the connection manager's upgrade_configs: which
	// protocol switches routes allow unless they say otherwise.
	Upgrades   []UpgradeSetting
	Routes     *router.Table
	Clusters   *cluster.Manager
	AccessLogs []*AccessLog
	Log        *zap.Logger
	Stats      *Stats
	// NewHTTP2 builds an HTTP/2 server codec (nil: HTTP/2 not available).
	NewHTTP2 HTTP2Factory
	// UpgradeHTTP2 continues an HTTP/1.1 connection upgraded to h2c with
	// the decoded HTTP2-Settings value and the upgrading request (nil: no
	// h2c upgrade; the request is served over HTTP/1.1).
	UpgradeHTTP2 HTTP2UpgradeFactory
	// Overload is the overload manager whose per-worker State new streams
	// consult (nil: none).
	Overload *overload.Manager
}

// UpgradeSetting is one upgrade_configs entry: an Upgrade protocol such as
// "websocket", or "CONNECT", compared case-insensitively.
type UpgradeSetting struct {
	Type    string
	Enabled bool
}

// Stats are the connection manager's counters (Envoy's http.<prefix>.*).
// They are shared by all workers, hence atomic.
type Stats struct {
	DownstreamCxTotal       atomic.Uint64
	DownstreamCxActive      atomic.Int64
	DownstreamRqTotal       atomic.Uint64
	DownstreamRqActive      atomic.Int64
	DownstreamRq1xx         atomic.Uint64
	DownstreamRq2xx         atomic.Uint64
	DownstreamRq3xx         atomic.Uint64
	DownstreamRq4xx         atomic.Uint64
	DownstreamRq5xx         atomic.Uint64
	DownstreamCxProtocolErr atomic.Uint64
	DownstreamRqTimeout     atomic.Uint64
	DownstreamRqIdleTimeout atomic.Uint64
	DownstreamCxIdleTimeout atomic.Uint64
	DownstreamRqTooLarge    atomic.Uint64
	FilterFailures          atomic.Uint64
	RqDirectResponse        atomic.Uint64
	NoRoute                 atomic.Uint64
	NoCluster               atomic.Uint64
	UpstreamRqTimeout       atomic.Uint64
	// Protocol switches (upgrade.go, tunnel.go).
	DownstreamCxUpgradesTotal  atomic.Uint64
	DownstreamCxUpgradesActive atomic.Int64
	DownstreamRqWsOnNonWsRoute atomic.Uint64
	// DownstreamRqMaxDurationReached counts streams ended by a route's
	// max_stream_duration.
	DownstreamRqMaxDurationReached atomic.Uint64
	// DownstreamRqTxBodyBytes sums the response body bytes that reached
	// clients' connections (a truncated response counts what got out).
	DownstreamRqTxBodyBytes atomic.Uint64
	// DownstreamRqResponseTruncated counts responses sluice finished that
	// the client did not get whole (stream or connection gone, flush
	// timeout).
	DownstreamRqResponseTruncated atomic.Uint64
	// Overload actions (Envoy's names): requests answered 503 by
	// shed_new_streams, connections whose keep-alive disable_keepalive
	// turned off.
	DownstreamRqOverloadClose            atomic.Uint64
	DownstreamCxOverloadDisableKeepalive atomic.Uint64
}

// Each visits every counter with its Envoy-style name.
func (s *Stats) Each(fn func(name string, value int64)) {
	fn("downstream_cx_total", int64(s.DownstreamCxTotal.Load()))
	fn("downstream_cx_active", s.DownstreamCxActive.Load())
	fn("downstream_rq_total", int64(s.DownstreamRqTotal.Load()))
	fn("downstream_rq_active", s.DownstreamRqActive.Load())
	fn("downstream_rq_1xx", int64(s.DownstreamRq1xx.Load()))
	fn("downstream_rq_2xx", int64(s.DownstreamRq2xx.Load()))
	fn("downstream_rq_3xx", int64(s.DownstreamRq3xx.Load()))
	fn("downstream_rq_4xx", int64(s.DownstreamRq4xx.Load()))
	fn("downstream_rq_5xx", int64(s.DownstreamRq5xx.Load()))
	fn("downstream_cx_protocol_error", int64(s.DownstreamCxProtocolErr.Load()))
	fn("downstream_rq_timeout", int64(s.DownstreamRqTimeout.Load()))
	fn("downstream_rq_idle_timeout", int64(s.DownstreamRqIdleTimeout.Load()))
	fn("downstream_cx_idle_timeout", int64(s.DownstreamCxIdleTimeout.Load()))
	fn("downstream_rq_too_large", int64(s.DownstreamRqTooLarge.Load()))
	fn("filter_failures", int64(s.FilterFailures.Load()))
	fn("rq_direct_response", int64(s.RqDirectResponse.Load()))
	fn("no_route", int64(s.NoRoute.Load()))
	fn("no_cluster", int64(s.NoCluster.Load()))
	fn("upstream_rq_timeout", int64(s.UpstreamRqTimeout.Load()))
	fn("downstream_cx_upgrades_total", int64(s.DownstreamCxUpgradesTotal.Load()))
	fn("downstream_cx_upgrades_active", s.DownstreamCxUpgradesActive.Load())
	fn("downstream_rq_ws_on_non_ws_route", int64(s.DownstreamRqWsOnNonWsRoute.Load()))
	fn("downstream_rq_max_duration_reached", int64(s.DownstreamRqMaxDurationReached.Load()))
	fn("downstream_rq_tx_body_bytes", int64(s.DownstreamRqTxBodyBytes.Load()))
	fn("downstream_rq_response_truncated", int64(s.DownstreamRqResponseTruncated.Load()))
	fn("downstream_rq_overload_close", int64(s.DownstreamRqOverloadClose.Load()))
	fn("downstream_cx_overload_disable_keepalive", int64(s.DownstreamCxOverloadDisableKeepalive.Load()))
}

func (s *Stats) countStatus(code int) {
	switch {
	case code < 200:
		s.DownstreamRq1xx.Add(1)
	case code < 300:
		s.DownstreamRq2xx.Add(1)
	case code < 400:
		s.DownstreamRq3xx.Add(1)
	case code < 500:
		s.DownstreamRq4xx.Add(1)
	default:
		s.DownstreamRq5xx.Add(1)
	}
}
