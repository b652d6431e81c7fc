package worker

import (
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkPost: cost of Post from another goroutine (amortised; wakes are
// coalesced, so most posts do not write the eventfd).
func BenchmarkPost(b *testing.B) {
	w := startWorker(b, Options{})
	n := 0
	fn := func() { n++ }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Post(fn)
	}
	onLoop(b, w, func() {})
	b.StopTimer()
	if n != b.N {
		b.Fatalf("ran %d of %d", n, b.N)
	}
}

// BenchmarkPostLatency: Post -> fn running on the (idle, sleeping) loop ->
// reply observed by the poster. Reports p50/p99 of the one-way Post->run
// leg, measured on the loop with the poster's timestamp; ns/op is the
// round trip.
func BenchmarkPostLatency(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchPostLatency(b, false) })
	b.Run("yield", func(b *testing.B) { benchPostLatency(b, true) })
}

func benchPostLatency(b *testing.B, yield bool) {
	w := startWorker(b, Options{})
	lat := make([]time.Duration, 0, b.N)
	done := make(chan struct{}, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		w.Post(func() {
			lat = append(lat, time.Since(start))
			done <- struct{}{}
			if yield {
				w.YieldBeforeSleep() // the reply woke the poster
			}
		})
		<-done
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkTimerAddStop(b *testing.B) {
	w := startWorker(b, Options{})
	fn := func() {}
	b.ReportAllocs()
	b.ResetTimer()
	onLoop(b, w, func() {
		// A background of pending timers so the heap has depth.
		for i := 0; i < 1000; i++ {
			w.AfterFunc(time.Hour+time.Duration(i), fn)
		}
		for i := 0; i < b.N; i++ {
			w.AfterFunc(time.Minute, fn).Stop()
		}
	})
}

func BenchmarkTimerReset(b *testing.B) {
	w := startWorker(b, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	onLoop(b, w, func() {
		t := w.AfterFunc(time.Hour, func() {})
		for i := 0; i < b.N; i++ {
			t.Reset(time.Minute + time.Duration(i&1023))
		}
		t.Stop()
	})
}

// BenchmarkEchoRoundTrip: 64-byte ping-pong between a blocking net.Conn
// client and an echo server on a worker. Allocations are the client's plus
// the worker's per round trip (the worker's steady state is 0).
func BenchmarkEchoRoundTrip(b *testing.B) {
	w := startWorker(b, Options{})
	addr := listen(b, w, func(c *Conn) { c.SetHandler(&echoHandler{}) })
	nc, err := net.Dial("tcp", addr.String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	msg, got := make([]byte, 64), make([]byte, 64)
	var made uint64
	b.ReportAllocs()
	b.SetBytes(64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i == 1 {
			made = w.Stats().BuffersMade
		}
		if _, err := nc.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(nc, got); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if b.N > 1 && w.Stats().BuffersMade != made {
		b.Fatalf("steady state allocated buffers: %d -> %d", made, w.Stats().BuffersMade)
	}
}

// BenchmarkChanWakeLatencyBaseline is the Go-scheduler counterpart of
// BenchmarkPostLatency: a goroutine parked on a channel instead of a locked
// thread in epoll_wait. Same metrics, for RATIONALE.md.
func BenchmarkChanWakeLatencyBaseline(b *testing.B) {
	work := make(chan time.Time)
	done := make(chan struct{})
	lat := make([]time.Duration, 0, b.N)
	go func() {
		for start := range work {
			lat = append(lat, time.Since(start))
			done <- struct{}{}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		work <- time.Now()
		<-done
	}
	b.StopTimer()
	close(work)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkSendsOfOnePass: the sends one loop pass makes for six
// connections (100 bytes each), as six sendmsg calls or one io_uring_enter
// carrying six; each op also reads the six on the peers' side, the same
// for both. The difference per op is what batching saves on six sends.
func BenchmarkSendsOfOnePass(b *testing.B) {
	const conns = 6
	run := func(b *testing.B, send func(fds []int, msgs []unix.Msghdr, res []int32)) {
		fds, peers := make([]int, conns), make([]int, conns)
		for i := range fds {
			fds[i], peers[i] = socketPair(b)
		}
		payload := onHeap[byte](100)
		msgs := onHeap[unix.Msghdr](conns)
		iovs := onHeap[unix.Iovec](conns)
		for i := range msgs {
			iovs[i].Base = &payload[0]
			iovs[i].SetLen(len(payload))
			msgs[i].Iov = &iovs[i]
			msgs[i].SetIovlen(1)
		}
		res := make([]int32, conns)
		buf := make([]byte, 4096)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			send(fds, msgs, res)
			for j, p := range peers {
				if res[j] != 100 {
					b.Fatalf("send %d: %d", j, res[j])
				}
				if got, err := readFull(p, buf[:100]); err != nil {
					b.Fatalf("peer %d: %d bytes, %v", j, len(got), err)
				}
			}
		}
	}
	b.Run("sendmsg", func(b *testing.B) {
		run(b, func(fds []int, msgs []unix.Msghdr, res []int32) {
			for i, fd := range fds {
				n, errno := sendmsg(fd, &msgs[i])
				res[i] = int32(n)
				if errno != 0 {
					res[i] = -int32(errno)
				}
			}
		})
	})
	b.Run("io_uring", func(b *testing.B) {
		r, err := newIORing()
		if err != nil {
			b.Skipf("io_uring unavailable: %v", err)
		}
		defer r.close()
		run(b, r.sendmsgs)
	})
}
