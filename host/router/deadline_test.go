package router

import (
	"testing"
	"time"
)

func TestDeadline(t *testing.T) {
	tab := compile(t, `
          - name: v
            domains: ["*"]
            routes:
            - { match: { prefix: /plain }, route: { cluster: c } }
            - { match: { prefix: /msd }, route: { cluster: c, timeout: 10s, max_stream_duration: { max_stream_duration: 2s } } }
            - { match: { prefix: /capped }, route: { cluster: c, max_stream_duration: { grpc_timeout_header_max: 30s } } }
            - { match: { prefix: /uncapped }, route: { cluster: c, max_stream_duration: { grpc_timeout_header_max: 0s, max_stream_duration: 5s } } }
            - { match: { prefix: /offset }, route: { cluster: c, max_stream_duration: { grpc_timeout_header_max: 0s, grpc_timeout_header_offset: 100ms } } }`)
	cases := []struct {
		path, grpcTimeout string
		grpc              bool
		want              Deadline
	}{
		{"/plain", "1S", true, Deadline{After: 15 * time.Second}},
		{"/msd", "", false, Deadline{After: 2 * time.Second, Duration: true}},
		// The client's deadline replaces the route timeout, capped.
		{"/capped", "5S", true, Deadline{After: 5 * time.Second, GRPCTimeout: 5 * time.Second, SetGRPC: true}},
		{"/capped", "2M", true, Deadline{After: 30 * time.Second, GRPCTimeout: 30 * time.Second, SetGRPC: true}},
		{"/capped", "", true, Deadline{After: 30 * time.Second, GRPCTimeout: 30 * time.Second, SetGRPC: true}},
		{"/capped", "bogus", true, Deadline{After: 30 * time.Second, GRPCTimeout: 30 * time.Second, SetGRPC: true}},
		// Not gRPC: the route's own timeout.
		{"/capped", "5S", false, Deadline{After: 15 * time.Second}},
		{"/uncapped", "2M", true, Deadline{After: 2 * time.Minute, GRPCTimeout: 2 * time.Minute, SetGRPC: true}},
		{"/uncapped", "", true, Deadline{}},
		{"/offset", "1000m", true, Deadline{After: 900 * time.Millisecond, GRPCTimeout: 900 * time.Millisecond, SetGRPC: true}},
		{"/offset", "50m", true, Deadline{After: time.Nanosecond, GRPCTimeout: time.Nanosecond, SetGRPC: true}},
	}
	for _, tc := range cases {
		h := request("h", tc.path)
		if tc.grpcTimeout != "" {
			h.SetString("grpc-timeout", tc.grpcTimeout)
		}
		if got := tab.Match(h).Deadline(h, tc.grpc); got != tc.want {
			t.Errorf("%s grpc-timeout %q grpc=%v: %+v, want %+v", tc.path, tc.grpcTimeout, tc.grpc, got, tc.want)
		}
	}
}

func TestGRPCTimeoutFormat(t *testing.T) {
	for in, want := range map[string]time.Duration{"1H": time.Hour, "2M": 2 * time.Minute, "3S": 3 * time.Second,
		"99999999m": 99999999 * time.Millisecond, "7u": 7 * time.Microsecond, "8n": 8} {
		if got, ok := ParseGRPCTimeout([]byte(in)); !ok || got != want {
			t.Errorf("%q: %v %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "5", "S", "123456789S", "5s", "-1S", "1.5S"} {
		if _, ok := ParseGRPCTimeout([]byte(bad)); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	for d, want := range map[time.Duration]string{900 * time.Millisecond: "900000u", time.Nanosecond: "1n",
		30 * time.Second: "30000000u", 2 * time.Minute: "120000m", 1500 * time.Hour: "5400000S"} {
		if got := string(AppendGRPCTimeout(nil, d)); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}
