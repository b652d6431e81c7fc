package main

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestInjectedDataWaitsForTheUpstream: behind a gatekeeper, tcp_proxy
// starts only when the gatekeeper continues, and the throttler between
// them drains that first pass and injects it later — while tcp_proxy may
// still be connecting. The injected bytes and FIN must reach the backend
// all the same (they are not in the read buffer, which would keep them).
func TestInjectedDataWaitsForTheUpstream(t *testing.T) {
	be := tcpBackend(t, echoServe)
	filters := netModule(t, "gate", "net_gatekeeper", `{"allow": "open", "delay_ms": 5}`) +
		netModule(t, "slow", "net_throttler", `{"delay_ms": 0}`)
	p := startSluice(t, tcpProxyConfig(be, filters, "", ""))
	for i := 0; i < 4; i++ {
		c := dialProxy(t, p)
		payload := fmt.Sprintf("payload %d %s", i, strings.Repeat("p", 3000))
		io.WriteString(c, "HELLO open\n"+payload)
		c.CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil || string(got) != payload {
			t.Fatalf("connection %d: %d of %d bytes back, %v", i, len(got), len(payload), err)
		}
	}
}
