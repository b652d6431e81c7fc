package healthcheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/net/http2"
)

// ResponseError is a probe the endpoint answered wrongly (as opposed to a
// network failure: no connection, no answer in time).
type ResponseError struct{ Reason string }

func (e *ResponseError) Error() string { return "health check failed: " + e.Reason }

// IsNetworkFailure reports whether a failed probe got no valid answer at
// all (Envoy's health_check.network_failure).
func IsNetworkFailure(err error) bool {
	var re *ResponseError
	return err != nil && !errors.As(err, &re)
}

// maxResponse bounds what a probe reads of an answer.
const maxResponse = 64 << 10

// Prober probes one endpoint with one health check. It is used by one
// goroutine at a time.
type Prober struct {
	cfg    Config
	addr   netip.AddrPort
	client *http.Client
	idle   interface{ CloseIdleConnections() }
}

// NewProber prepares probes of addr. host is the Host header or gRPC
// authority when the config leaves it empty (the cluster's name, as in
// Envoy).
func NewProber(cfg Config, addr netip.AddrPort, host string) *Prober {
	cfg = cfg.WithDefaults()
	p := &Prober{cfg: cfg, addr: addr}
	h2 := cfg.GRPC != nil || cfg.HTTP != nil && cfg.HTTP.HTTP2
	dial := func(ctx context.Context) (net.Conn, error) { return p.dial(ctx, h2) }
	switch {
	case cfg.HTTP != nil:
		h := *cfg.HTTP
		if h.Host == "" {
			h.Host = host
		}
		p.cfg.HTTP = &h
	case cfg.GRPC != nil:
		g := *cfg.GRPC
		if g.Authority == "" {
			g.Authority = host
		}
		p.cfg.GRPC = &g
	default:
		return p
	}
	if h2 {
		tr := &http2.Transport{
			AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
				return dial(ctx)
			},
		}
		p.client, p.idle = &http.Client{Transport: tr}, tr
	} else {
		tr := &http.Transport{
			DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
			DisableCompression:  true,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     3*cfg.Interval + cfg.Timeout,
		}
		p.client, p.idle = &http.Client{Transport: tr}, tr
	}
	p.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return p
}

// Close releases the prober's kept-alive connection.
func (p *Prober) Close() {
	if p.idle != nil {
		p.idle.CloseIdleConnections()
	}
}

// Probe runs one probe, bounded by the config's timeout (and ctx). nil
// means the endpoint passed.
func (p *Prober) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	switch {
	case p.cfg.HTTP != nil:
		return p.probeHTTP(ctx)
	case p.cfg.GRPC != nil:
		return p.probeGRPC(ctx)
	}
	return p.probeTCP(ctx)
}

func (p *Prober) probeHTTP(ctx context.Context) error {
	h := p.cfg.HTTP
	req, err := http.NewRequestWithContext(ctx, h.Method, "http://"+p.addr.String()+h.Path, nil)
	if err != nil {
		return err
	}
	req.Host = h.Host
	req.Header.Set("User-Agent", "sluice/HC")
	for _, kv := range h.RequestHeaders {
		req.Header.Add(kv[0], kv[1])
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	// Read (a bounded part of) the body so the connection can be reused.
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	for _, r := range h.ExpectedStatuses {
		if resp.StatusCode >= r.Start && resp.StatusCode < r.End {
			if err != nil && ctx.Err() != nil {
				return err // the body did not arrive in time
			}
			return nil
		}
	}
	return &ResponseError{Reason: "http status " + strconv.Itoa(resp.StatusCode)}
}

// grpcServing is HealthCheckResponse.ServingStatus SERVING.
const grpcServing = 1

func (p *Prober) probeGRPC(ctx context.Context) error {
	g := p.cfg.GRPC
	// HealthCheckRequest{service = 1}, length-prefixed as a gRPC message.
	var msg []byte
	if g.ServiceName != "" {
		msg = append(msg, 0x0a)
		msg = binary.AppendUvarint(msg, uint64(len(g.ServiceName)))
		msg = append(msg, g.ServiceName...)
	}
	body := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(body[1:], uint32(len(msg)))
	body = append(body, msg...)
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+p.addr.String()+"/grpc.health.v1.Health/Check", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Host = g.Authority
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("User-Agent", "sluice/HC")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return &ResponseError{Reason: "grpc: http status " + strconv.Itoa(resp.StatusCode)}
	}
	status := resp.Trailer.Get("Grpc-Status")
	if status == "" {
		status = resp.Header.Get("Grpc-Status") // trailers-only answer
	}
	if status != "0" {
		return &ResponseError{Reason: fmt.Sprintf("grpc: grpc-status %q %s", status, resp.Trailer.Get("Grpc-Message"))}
	}
	serving, ok := parseHealthResponse(data)
	if !ok {
		return &ResponseError{Reason: "grpc: malformed HealthCheckResponse"}
	}
	if serving != grpcServing {
		return &ResponseError{Reason: "grpc: " + servingName(serving)}
	}
	return nil
}

// parseHealthResponse reads HealthCheckResponse.status (field 1, varint)
// from one length-prefixed gRPC message; an absent field is UNKNOWN (0).
func parseHealthResponse(data []byte) (uint64, bool) {
	if len(data) < 5 || data[0] != 0 {
		return 0, false
	}
	n := binary.BigEndian.Uint32(data[1:5])
	if uint32(len(data)-5) != n {
		return 0, false
	}
	msg := data[5:]
	status := uint64(0)
	for len(msg) > 0 {
		tag, k := binary.Uvarint(msg)
		if k <= 0 {
			return 0, false
		}
		msg = msg[k:]
		switch tag & 7 {
		case 0: // varint
			v, k := binary.Uvarint(msg)
			if k <= 0 {
				return 0, false
			}
			msg = msg[k:]
			if tag>>3 == 1 {
				status = v
			}
		case 2: // length-delimited: skip
			l, k := binary.Uvarint(msg)
			if k <= 0 || uint64(len(msg)-k) < l {
				return 0, false
			}
			msg = msg[k+int(l):]
		default:
			return 0, false
		}
	}
	return status, true
}

func servingName(s uint64) string {
	switch s {
	case 0:
		return "UNKNOWN"
	case 2:
		return "NOT_SERVING"
	case 3:
		return "SERVICE_UNKNOWN"
	}
	return "status " + strconv.FormatUint(s, 10)
}

// dial connects to the endpoint, with a TLS handshake when the cluster
// has TLS (offering h2 for HTTP/2 probes).
func (p *Prober) dial(ctx context.Context, h2 bool) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.addr.String())
	if err != nil || p.cfg.TLS == nil {
		return c, err
	}
	cfg := p.cfg.TLS().Clone()
	cfg.NextProtos = nil
	if h2 {
		cfg.NextProtos = []string{"h2"}
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

func (p *Prober) probeTCP(ctx context.Context) error {
	c, err := p.dial(ctx, false)
	if err != nil {
		return err
	}
	defer c.Close()
	t := p.cfg.TCP
	if t == nil || (len(t.Send) == 0 && len(t.Receive) == 0) {
		return nil
	}
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if len(t.Send) > 0 {
		if _, err := c.Write(t.Send); err != nil {
			return err
		}
	}
	if len(t.Receive) == 0 {
		return nil
	}
	var got []byte
	buf := make([]byte, 4096)
	for len(got) < maxResponse {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if containsInOrder(got, t.Receive) {
			return nil
		}
		if err != nil {
			if err == io.EOF {
				return &ResponseError{Reason: "tcp: the expected bytes did not arrive before the connection closed"}
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return fmt.Errorf("tcp: the expected bytes did not arrive within %v: %w", p.cfg.Timeout, err)
			}
			return err
		}
	}
	return &ResponseError{Reason: "tcp: the expected bytes were not in the first " + strconv.Itoa(maxResponse) + " bytes"}
}

// containsInOrder reports whether every block occurs in data, each after
// the previous one.
func containsInOrder(data []byte, blocks [][]byte) bool {
	for _, b := range blocks {
		i := bytes.Index(data, b)
		if i < 0 {
			return false
		}
		data = data[i+len(b):]
	}
	return true
}

// Jittered returns an interval with the config's jitter added, given a
// uniform random value in [0, 1).
func (c *Config) Jittered(base time.Duration, r float64) time.Duration {
	extra := time.Duration(r * float64(c.IntervalJitter))
	if c.IntervalJitterPercent > 0 {
		extra += time.Duration(r * float64(base) * float64(c.IntervalJitterPercent) / 100)
	}
	return base + extra
}
