package cluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// bulkHandler uploads a large body while respecting AboveWriteWatermark,
// and pauses the response after every piece, resuming on a later loop
// turn (a slow downstream). It records the most bytes the stream ever
// held in each direction.
type bulkHandler struct {
	*recorder
	w        *worker.Worker
	up       []byte
	sent     int
	s        *Stream
	gotBytes int
	gotHash  [32]byte
	hasher   interface {
		io.Writer
		Sum([]byte) []byte
	}
	maxOut, maxHeld, pauses int
}

const bulkChunk = 48 << 10

func (b *bulkHandler) OnPoolReady(s *Stream, host netip.AddrPort) {
	b.s = s
	b.recorder.OnPoolReady(s, host)
}

func (b *bulkHandler) pump() {
	s := b.s
	for b.sent < len(b.up) && !s.AboveWriteWatermark() {
		n := min(bulkChunk, len(b.up)-b.sent)
		s.SendData(b.up[b.sent:b.sent+n], b.sent+n == len(b.up))
		b.sent += n
		if s.hs != nil {
			b.maxOut = max(b.maxOut, len(s.hs.out))
		}
	}
}

func (b *bulkHandler) OnUpstreamWritable() { b.writable++; b.pump() }

func (b *bulkHandler) OnResponseData(p []byte, end bool) {
	b.gotBytes += len(p)
	b.hasher.Write(p)
	if end {
		copy(b.gotHash[:], b.hasher.Sum(nil))
		b.log("data end")
		b.finish("end")
		return
	}
	s := b.s
	s.PauseResponse()
	b.pauses++
	b.w.Post(func() {
		if s.hs != nil {
			b.maxHeld = max(b.maxHeld, len(s.hs.held))
		}
		s.ResumeResponse()
	})
}

func TestH2LargeBodiesBothWaysBoundedMemory(t *testing.T) {
	const size = 8 << 20
	download := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	_, c, w := h2Setup(t, func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Upload", strconv.FormatInt(n, 10)+" "+hex.EncodeToString(h.Sum(nil)))
		for off := 0; off < len(download); off += 32 << 10 {
			w.Write(download[off : off+32<<10])
		}
	}, Settings{HTTP2Options: HTTP2Options{InitialStreamWindowSize: minWindow, InitialConnectionWindowSize: minWindow}})
	up := make([]byte, size)
	for i := range up {
		up[i] = byte(i * 7)
	}
	b := &bulkHandler{recorder: newRecorder(reqWith("POST", "/upload")), w: w, up: up, hasher: sha256.New()}
	b.onReady = func(r *recorder, s *Stream) {
		s.SendHeaders(r.req, false)
		b.pump()
	}
	onLoop(t, w, func() { c.NewStream(w, b) })
	b.wait(t)
	if b.final != "end" || b.status != 200 {
		t.Fatalf("%s", b.eventString())
	}
	upSum := sha256.Sum256(up)
	if got, _ := b.resp.Get("x-upload"); string(got) != strconv.Itoa(size)+" "+hex.EncodeToString(upSum[:]) {
		t.Fatalf("server saw upload %s", got)
	}
	if b.gotBytes != size || b.gotHash != sha256.Sum256(download) {
		t.Fatalf("download %d bytes, hash mismatch %v", b.gotBytes, b.gotHash != sha256.Sum256(download))
	}
	// The upload buffer stays within the high mark plus one chunk; what a
	// paused stream holds stays within its receive window.
	if b.maxOut > h2SendHigh+bulkChunk || b.writable == 0 {
		t.Fatalf("held upload %d bytes (limit %d), writable callbacks %d", b.maxOut, h2SendHigh+bulkChunk, b.writable)
	}
	if b.maxHeld > minWindow {
		t.Fatalf("held %d response bytes while paused, window %d", b.maxHeld, minWindow)
	}
	t.Logf("upload: max held %d B, %d writable callbacks; download: %d pauses, max held %d B", b.maxOut, b.writable, b.pauses, b.maxHeld)
}

// A paused stream holds what arrives (bounded by its window) without
// stalling the connection: the connection window is credited as bytes
// arrive, so another stream completes meanwhile. On resume the held body
// and trailers come in order.
func TestH2PausedStreamDoesNotBlockOthers(t *testing.T) {
	body := bytes.Repeat([]byte("p"), minWindow)
	_, c, w := h2Setup(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			io.WriteString(w, "small")
			return
		}
		w.Header().Set("Trailer", "X-Done")
		w.Write(body)
		w.Header().Set("X-Done", "yes")
	}, Settings{HTTP2Options: HTTP2Options{InitialStreamWindowSize: minWindow, InitialConnectionWindowSize: minWindow}})
	big := newRecorder(getReq("/big"))
	big.onHeader = func(r *recorder, h *headers.Map, end bool) { r.stream.PauseResponse() }
	sb := start(t, w, c, big)
	// Wait (in loop turns) until the whole body and the trailers are held.
	deadline := time.Now().Add(waitLimit)
	for held := false; !held; {
		onLoop(t, w, func() {
			st := sb.hs
			held = st != nil && len(st.held) == len(body) && st.heldTrailers
		})
		if !held && time.Now().After(deadline) {
			t.Fatalf("the paused stream never held its whole response; events %s", big.eventString())
		}
	}
	small := roundTrip(t, w, c, newRecorder(getReq("/small")))
	if small.final != "end" || string(small.got) != "small" {
		t.Fatalf("small: %s", small.eventString())
	}
	onLoop(t, w, func() {
		if big.final != "" {
			t.Errorf("paused stream got events: %s", big.eventString())
		}
		sb.ResumeResponse()
	})
	big.wait(t)
	if big.eventString() != "ready, headers 200 end=false, data 65535 end=false, trailers 1" || !bytes.Equal(big.got, body) {
		t.Fatalf("big: %s", big.eventString())
	}
	if v, _ := big.respTr.Get("x-done"); string(v) != "yes" {
		t.Fatalf("trailer %q", v)
	}
}
