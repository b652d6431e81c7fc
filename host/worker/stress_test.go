package worker

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// jitteryEcho echoes with small buffers, partial consumption and random
// pause/resume through timers: many interleavings of the read, write and
// flow-control paths, all checked end to end by the clients.
type jitteryEcho struct {
	rng *rand.Rand
}

func (j *jitteryEcho) OnConnect(*Conn, error) {}
func (j *jitteryEcho) OnClose(*Conn, error)   {}
func (j *jitteryEcho) OnWritable(c *Conn)     { c.ResumeReading() }
func (j *jitteryEcho) OnData(c *Conn) {
	if in := c.Input(); len(in) > 0 {
		n := 1 + j.rng.IntN(len(in)) // consume a random prefix
		c.Write(in[:n])
		c.Consume(n)
	}
	if c.ReadEOF() && len(c.Input()) == 0 {
		c.CloseAfterFlush()
		return
	}
	switch {
	case c.AboveHighWatermark():
		c.PauseReading()
	case j.rng.IntN(8) == 0:
		c.PauseReading()
		c.Worker().AfterFunc(time.Duration(j.rng.IntN(2))*time.Millisecond, c.ResumeReading)
	case len(c.Input()) > 0:
		// Leftover input with no new bytes coming (e.g. after EOF) would
		// stall: ask for redelivery.
		c.PauseReading()
		c.ResumeReading()
	}
}

func TestEchoStressManyConns(t *testing.T) {
	const conns, perConn = 24, 1 << 20
	w := startWorker(t, Options{ReadBufferSize: 4 << 10, MaxReadBuffer: 16 << 10})
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	addr := listen(t, w, func(c *Conn) {
		c.SetWatermarks(32<<10, 8<<10)
		c.SetHandler(&jitteryEcho{rng: rng})
	})
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- stressClient(addr.String(), perConn, int64(i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Server conns close after our FIN (CloseAfterFlush).
	waitNoConns(t, w)
}

func stressClient(addr string, total int, salt int64) error {
	nc, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(2 * waitLimit))
	wrote := make(chan error, 1)
	go func() {
		buf := make([]byte, 7919) // odd size: chunk boundaries move around
		for off := 0; off < total; off += len(buf) {
			n := min(len(buf), total-off)
			pattern(buf[:n], int64(off)+salt)
			if _, err := nc.Write(buf[:n]); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nc.(*net.TCPConn).CloseWrite()
	}()
	got, want := make([]byte, 32<<10), make([]byte, 32<<10)
	for off := 0; off < total; {
		n, err := nc.Read(got)
		if err != nil {
			return err
		}
		pattern(want[:n], int64(off)+salt)
		if !bytes.Equal(got[:n], want[:n]) {
			return io.ErrUnexpectedEOF
		}
		off += n
	}
	if err := <-wrote; err != nil {
		return err
	}
	if n, err := nc.Read(got); n != 0 || err != io.EOF {
		return io.ErrShortBuffer
	}
	return nil
}
