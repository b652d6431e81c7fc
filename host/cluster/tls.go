package cluster

import (
	"errors"
	"net/netip"

	"github.com/sluiceproxy/sluice/host/worker"
)

// ErrALPN fails a TLS connection whose endpoint chose (by ALPN) another
// protocol than the one the cluster speaks.
var ErrALPN = errors.New("cluster: the endpoint negotiated another application protocol (ALPN) than the cluster's")

// dial connects to an endpoint, with TLS when the cluster has it.
func (wp *workerPool) dial(addr netip.AddrPort, h worker.ConnHandler) (*worker.Conn, error) {
	s := &wp.c.settings
	if s.TLS != nil {
		return wp.w.DialTLS(addr, s.ConnectTimeout, s.TLS(), h)
	}
	return wp.w.Dial(addr, s.ConnectTimeout, h)
}

// checkALPN accepts a cleartext connection, no ALPN, or want.
func checkALPN(c *worker.Conn, want string) error {
	st, ok := c.TLSConnectionState()
	if !ok || st.NegotiatedProtocol == "" || st.NegotiatedProtocol == want {
		return nil
	}
	return ErrALPN
}
