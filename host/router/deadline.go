package router

import (
	"strconv"
	"time"

	"github.com/sluiceproxy/sluice/host/headers"
)

// Deadline is when a stream on this route is ended, counted from its
// request head, and what ends it.
type Deadline struct {
	// After is the time allowed; 0 means none.
	After time.Duration
	// Duration: max_stream_duration ends the stream (Envoy's DT, 408);
	// otherwise the route timeout or the gRPC deadline that replaces it
	// (UT, 504).
	Duration bool
	// GRPCTimeout, when set, is the grpc-timeout the upstream should see:
	// the client's deadline after the cap and the offset.
	GRPCTimeout time.Duration
	SetGRPC     bool
}

// Deadline computes the stream's deadline for request h. For a gRPC
// request on a route with max_stream_duration.grpc_timeout_header_max,
// the client's grpc-timeout replaces the route timeout (and
// max_stream_duration): capped by the maximum (0: no cap), less the offset
// (a deadline that leaves nothing expires at once). A call without
// grpc-timeout gets the maximum, or no deadline when it is 0.
func (r *Route) Deadline(h *headers.Map, grpc bool) Deadline {
	if grpc && r.hasGRPCTimeoutMax {
		t, ok := ParseGRPCTimeout(headerValue(h, "grpc-timeout"))
		if !ok || (r.grpcTimeoutMax > 0 && t > r.grpcTimeoutMax) {
			t = r.grpcTimeoutMax
		}
		if t == 0 {
			return Deadline{}
		}
		if r.grpcTimeoutOffset > 0 {
			// Expire before the client does, so sluice answers the call.
			t = max(t-r.grpcTimeoutOffset, time.Nanosecond)
		}
		return Deadline{After: t, GRPCTimeout: t, SetGRPC: true}
	}
	d := Deadline{After: r.Timeout}
	if m := r.maxStreamDuration; m > 0 && (d.After == 0 || m < d.After) {
		d = Deadline{After: m, Duration: true}
	}
	return d
}

func headerValue(h *headers.Map, name string) []byte {
	v, _ := h.Get(name)
	return v
}

// ParseGRPCTimeout reads a grpc-timeout value: at most 8 digits and a unit
// (H, M, S, m, u, n). A malformed value is as if absent.
func ParseGRPCTimeout(v []byte) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	var n int64
	for _, c := range v[:len(v)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// AppendGRPCTimeout appends d as a grpc-timeout value, in the finest unit
// that fits 8 digits (rounded up, so the upstream never gets less time
// than sluice allows).
func AppendGRPCTimeout(dst []byte, d time.Duration) []byte {
	const max8 = 99999999
	units := [...]struct {
		unit time.Duration
		c    byte
	}{{time.Nanosecond, 'n'}, {time.Microsecond, 'u'}, {time.Millisecond, 'm'}, {time.Second, 'S'}, {time.Minute, 'M'}, {time.Hour, 'H'}}
	for _, u := range units {
		n := (d + u.unit - 1) / u.unit
		if n <= max8 {
			return append(strconv.AppendInt(dst, int64(n), 10), u.c)
		}
	}
	return append(dst, "99999999H"...)
}
