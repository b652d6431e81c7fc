package healthcheck

import (
	"crypto/tls"
	"time"
)

// Config is one of a cluster's health_checks (Envoy's HealthCheck). The
// scheduling fields are read by the cluster; exactly one of HTTP, TCP and
// GRPC says what to probe.
type Config struct {
	Timeout  time.Duration // one probe; required
	Interval time.Duration // between probes of one endpoint; required
	// IntervalJitter adds up to this much to each interval, and
	// IntervalJitterPercent up to that percentage of the interval, so
	// probes of many endpoints spread out.
	IntervalJitter        time.Duration
	IntervalJitterPercent uint32
	// InitialJitter delays the first probe of an endpoint by up to this.
	InitialJitter time.Duration
	// UnhealthyInterval replaces Interval while the endpoint is
	// unhealthy (0: Interval).
	UnhealthyInterval time.Duration
	// UnhealthyThreshold consecutive failures make a healthy endpoint
	// unhealthy; HealthyThreshold consecutive passes make an unhealthy
	// one healthy. An endpoint not checked yet becomes healthy at its
	// first pass.
	UnhealthyThreshold uint32
	HealthyThreshold   uint32

	HTTP *HTTP
	TCP  *TCP
	GRPC *GRPC

	// TLS, when set, is the cluster's TLS: every probe connection does
	// a handshake with the config it returns (ALPN h2 for HTTP/2 and
	// gRPC probes, none otherwise) before it probes.
	TLS func() *tls.Config
}

// WithDefaults fills what a hand-built config may leave out.
func (c Config) WithDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.UnhealthyThreshold == 0 {
		c.UnhealthyThreshold = 1
	}
	if c.HealthyThreshold == 0 {
		c.HealthyThreshold = 1
	}
	if h := c.HTTP; h != nil {
		hh := *h
		if hh.Path == "" {
			hh.Path = "/"
		}
		if hh.Method == "" {
			hh.Method = "GET"
		}
		if len(hh.ExpectedStatuses) == 0 {
			hh.ExpectedStatuses = []StatusRange{{Start: 200, End: 201}}
		}
		c.HTTP = &hh
	}
	return c
}

// Kind names the probe for logs and /clusters.
func (c *Config) Kind() string {
	switch {
	case c.HTTP != nil:
		return "http"
	case c.GRPC != nil:
		return "grpc"
	}
	return "tcp"
}

// HTTP is http_health_check.
type HTTP struct {
	// Host is the Host header (":authority" over HTTP/2); the cluster
	// sets it to its own name when the config leaves it empty, as Envoy.
	Host   string
	Path   string // default "/"
	Method string // default GET
	// ExpectedStatuses are the statuses that pass, each [Start, End)
	// (Envoy's Int64Range); default only 200.
	ExpectedStatuses []StatusRange
	// RequestHeaders are added to every probe (request_headers_to_add).
	RequestHeaders [][2]string
	// HTTP2 probes with HTTP/2 prior knowledge (codec_client_type: HTTP2).
	HTTP2 bool
}

// StatusRange is a half-open range of HTTP statuses.
type StatusRange struct{ Start, End int }

// TCP is tcp_health_check: connect, then optionally send bytes and look
// for blocks in the answer, in order but not necessarily adjacent (Envoy's
// "fuzzy" matching). Without Send and Receive a connect passes.
type TCP struct {
	Send    []byte
	Receive [][]byte
}

// GRPC is grpc_health_check.
type GRPC struct {
	ServiceName string // the HealthCheckRequest's service ("" asks about the server)
	Authority   string // :authority; the cluster sets its name when empty
}
