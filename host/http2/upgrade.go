package http2

import (
	"encoding/base64"
	"errors"

	"go.uber.org/zap"
	"golang.org/x/net/http2"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
)

// upgradeRequest is the HTTP/1.1 request that asked for h2c; it becomes
// stream 1, already half-closed by the client (RFC 7540 3.2).
type upgradeRequest struct{ h *headers.Map }

var errBadSettingsHeader = errors.New("http2: malformed HTTP2-Settings")

// DecodeSettingsHeader decodes an HTTP2-Settings header value (base64url,
// padding optional) into a SETTINGS payload.
func DecodeSettingsHeader(v []byte) ([]byte, error) {
	for len(v) > 0 && v[len(v)-1] == '=' {
		v = v[:len(v)-1]
	}
	out := make([]byte, base64.RawURLEncoding.DecodedLen(len(v)))
	n, err := base64.RawURLEncoding.Decode(out, v)
	if err != nil || n%6 != 0 {
		return nil, errBadSettingsHeader
	}
	return out[:n], nil
}

func newServerCodecFromUpgrade(t transport, cb codec.Callbacks, opts Options, log *zap.Logger, settingsPayload []byte, req *headers.Map) (*ServerCodec, error) {
	if len(settingsPayload)%6 != 0 {
		return nil, errBadSettingsHeader
	}
	if req == nil || len(req.Method()) == 0 || len(req.Path()) == 0 {
		return nil, errors.New("http2: upgrade request without :method or :path")
	}
	c := newServerCodec(t, cb, opts, log)
	// The header's settings count as the client's first SETTINGS; the 101
	// acknowledges them, so no ACK frame is sent (RFC 7540 3.2.1).
	for p := settingsPayload; len(p) > 0; p = p[6:] {
		s := http2.Setting{
			ID:  http2.SettingID(uint16(p[0])<<8 | uint16(p[1])),
			Val: uint32(p[2])<<24 | uint32(p[3])<<16 | uint32(p[4])<<8 | uint32(p[5]),
		}
		if err := c.applySetting(s); err != nil {
			c.stopSettingsTimer()
			return nil, errBadSettingsHeader
		}
	}
	if _, ok := req.Get(":scheme"); !ok {
		req.SetString(":scheme", "http")
	}
	c.maxClientID, c.lastGoodID = 1, 1
	c.upgradeReq = &upgradeRequest{h: req}
	// Deliver from the loop, not from inside the caller's constructor call;
	// Dispatch delivers first if the preface arrives before the Post runs.
	t.Post(c.deliverUpgrade)
	return c, nil
}

func (c *ServerCodec) deliverUpgrade() {
	u := c.upgradeReq
	if u == nil || c.fatalErr != nil {
		return
	}
	c.upgradeReq = nil
	c.openStream(1, u.h, -1, true)
}
