package worker

import (
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPostOrderAndWakeFromManyGoroutines(t *testing.T) {
	w := startWorker(t, Options{})
	const producers, each = 8, 2000
	seen := make([]int, producers) // loop-only: next expected sequence per producer
	var badOrder, offThread int
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				w.Post(func() {
					if unix.Gettid() != w.TID() {
						offThread++
					}
					if seen[p] != i {
						badOrder++
					}
					seen[p] = i + 1
				})
			}
		}()
	}
	wg.Wait()
	// A post made after all others runs after them (FIFO), so this sees
	// every producer finished.
	var got []int
	onLoop(t, w, func() { got = append(got, seen...) })
	for p, n := range got {
		if n != each {
			t.Errorf("producer %d: %d posts ran, want %d", p, n, each)
		}
	}
	if badOrder != 0 || offThread != 0 {
		t.Fatalf("badOrder=%d offThread=%d", badOrder, offThread)
	}
	if s := w.Stats(); s.PostsRun < producers*each {
		t.Fatalf("PostsRun=%d", s.PostsRun)
	}
}

func TestPostFromLoopRunsLater(t *testing.T) {
	w := startWorker(t, Options{})
	var order []string
	done := make(chan struct{})
	w.Post(func() {
		w.Post(func() { order = append(order, "inner"); close(done) })
		order = append(order, "outer")
	})
	recv(t, done, "inner post")
	var got []string
	onLoop(t, w, func() { got = append(got, order...) })
	if len(got) != 2 || got[0] != "outer" || got[1] != "inner" {
		t.Fatalf("order = %v", got)
	}
}

func TestPostAfterStopIsDropped(t *testing.T) {
	w, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run()
	stopWorker(t, w)
	ran := false
	w.Post(func() { ran = true }) // must neither run nor write a closed eventfd
	if ran {
		t.Fatal("post ran after stop")
	}
}

func TestYieldBeforeSleepIsConsumed(t *testing.T) {
	w := startWorker(t, Options{})
	reply := make(chan struct{})
	w.Post(func() {
		close(reply) // wakes the test goroutine
		w.YieldBeforeSleep()
	})
	recv(t, reply, "reply")
	// The flag is spent by the next poll that could sleep.
	var pending bool
	onLoop(t, w, func() { pending = w.yieldPending })
	if pending {
		t.Fatal("yield request not consumed by an idle poll")
	}
}

func TestPostCoalescesWakes(t *testing.T) {
	w := startWorker(t, Options{})
	release, held := make(chan struct{}), make(chan struct{})
	w.Post(func() { close(held); <-release })
	recv(t, held, "loop held")
	// The loop is busy (its wake already consumed): of these posts only the
	// first writes the eventfd, the rest see it still signalled.
	before := w.Stats().Wakes
	n := 0
	for i := 0; i < 1000; i++ {
		w.Post(func() { n++ })
	}
	if got := w.Stats().Wakes - before; got != 1 {
		t.Fatalf("%d eventfd writes for 1000 posts to a busy loop, want 1", got)
	}
	close(release)
	var ran int
	onLoop(t, w, func() { ran = n })
	if ran != 1000 {
		t.Fatalf("ran %d posts", ran)
	}
}
