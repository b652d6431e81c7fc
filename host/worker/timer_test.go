package worker

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestTimersFireInDeadlineOrder(t *testing.T) {
	w := startWorker(t, Options{})
	done := make(chan []int, 1)
	var want []int
	onLoop(t, w, func() {
		var fired []int
		delays := []int{30, 10, 50, 20, 40, 10, 0}
		timers := make([]*Timer, len(delays))
		for i, ms := range delays {
			timers[i] = w.AfterFunc(time.Duration(ms)*time.Millisecond, func() {
				if unix.Gettid() != w.TID() {
					fired = append(fired, -1)
				}
				fired = append(fired, i)
				if len(fired) == len(delays) {
					done <- fired
				}
			})
		}
		// Expected: by actual deadline, then creation order. (Deriving it
		// from the deadlines keeps a descheduled test goroutine from
		// reordering the delays we asked for.)
		for i := range timers {
			want = append(want, i)
		}
		slices.SortStableFunc(want, func(a, b int) int {
			return cmp.Compare(timers[a].when, timers[b].when)
		})
	})
	got := recv(t, done, "timers")
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}

func TestTimerStopAndReset(t *testing.T) {
	w := startWorker(t, Options{})
	done := make(chan string, 4)
	onLoop(t, w, func() {
		stopped := w.AfterFunc(5*time.Millisecond, func() { done <- "stopped timer fired" })
		if !stopped.Stop() {
			done <- "Stop of pending timer returned false"
		}
		if stopped.Stop() {
			done <- "second Stop returned true"
		}
		late := w.AfterFunc(time.Hour, func() { done <- "late" })
		late.Reset(20 * time.Millisecond) // pulled in: must fire
		var again *Timer
		n := 0
		again = w.AfterFunc(time.Millisecond, func() {
			n++
			if n < 3 {
				again.Reset(time.Millisecond) // re-arm from its own callback
				return
			}
			if again.Stop() {
				done <- "Stop after firing returned true"
			}
			done <- "again x3"
		})
	})
	got := map[string]bool{}
	for len(got) < 2 {
		got[recv(t, done, "timer results")] = true
	}
	if !got["late"] || !got["again x3"] {
		t.Fatalf("results: %v", got)
	}
	// Anything unexpected would have been sent before or alongside; check
	// after a loop round trip that nothing else arrived.
	onLoop(t, w, func() {})
	select {
	case extra := <-done:
		t.Fatalf("unexpected: %s", extra)
	default:
	}
}

// The epoll timeout must follow the nearest deadline: with no other
// activity, a timer fires after few loop iterations (the loop does not spin,
// and it does not sleep past the deadline).
func TestPollTimeoutFollowsNearestDeadline(t *testing.T) {
	w := startWorker(t, Options{})
	fired := make(chan time.Duration, 1)
	var before uint64
	onLoop(t, w, func() {
		start := time.Now()
		before = w.Stats().Iterations
		w.AfterFunc(time.Hour, func() {})
		w.AfterFunc(30*time.Millisecond, func() { fired <- time.Since(start) })
		// At most the 30 ms timer's delay (0 only if we were descheduled
		// past its deadline), never the hour-long one's.
		if got := w.pollTimeout(); got < 0 || got > 30 {
			t.Errorf("pollTimeout = %d ms, want 0..30", got)
		}
	})
	elapsed := recv(t, fired, "timer")
	if elapsed < 30*time.Millisecond {
		t.Fatalf("timer fired early: %v", elapsed)
	}
	// Idle loop: a handful of iterations (posted fn, timer wake, the odd
	// EINTR), not a spin (which would be thousands in 30 ms).
	if n := w.Stats().Iterations - before; n > 50 {
		t.Fatalf("%d iterations while waiting for one timer", n)
	}
	onLoop(t, w, func() {
		if got := w.pollTimeout(); got < 1000 {
			t.Errorf("pollTimeout with only the 1h timer = %d ms", got)
		}
	})
}

// Stop and Reset leave the heap entry where it was (lazy); the entry that
// comes up early must move to the new deadline, keep (deadline, reset
// order) among the other timers, and never fire a stopped timer.
func TestLazyTimerKeepsDeadlineOrder(t *testing.T) {
	w := startWorker(t, Options{})
	done := make(chan []string, 1)
	onLoop(t, w, func() {
		var fired []string
		note := func(name string) func() {
			return func() {
				fired = append(fired, name)
				if len(fired) == 3 {
					done <- fired
				}
			}
		}
		moved := w.AfterFunc(5*time.Millisecond, note("moved"))
		gone := w.AfterFunc(10*time.Millisecond, func() { fired = append(fired, "stopped timer fired") })
		w.AfterFunc(20*time.Millisecond, note("middle"))
		moved.Stop()
		gone.Stop()
		moved.Reset(40 * time.Millisecond) // later than its heap entry: stays put
		if !moved.Pending() || gone.Pending() {
			fired = append(fired, "Pending wrong after Stop/Reset")
		}
		w.AfterFunc(60*time.Millisecond, note("last"))
	})
	got := recv(t, done, "timers")
	if want := []string{"middle", "moved", "last"}; !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	onLoop(t, w, func() {
		if n := w.timers.len(); n != 0 {
			t.Errorf("%d heap entries left after every timer fired or was stopped", n)
		}
	})
}

// Timers stopped long before their deadline do not pile up in the heap:
// once stopped entries are the majority they are swept out, and the
// timers still armed fire in order afterwards.
func TestStoppedTimersAreSwept(t *testing.T) {
	w := startWorker(t, Options{})
	done := make(chan []int, 1)
	onLoop(t, w, func() {
		var fired []int
		for i := range 3 {
			w.AfterFunc(time.Duration(3-i)*time.Millisecond, func() {
				fired = append(fired, 3-i)
				if len(fired) == 3 {
					done <- fired
				}
			})
		}
		for range 10000 {
			w.AfterFunc(time.Hour, func() {}).Stop()
		}
		if n := w.timers.len(); n > 200 {
			t.Errorf("heap holds %d entries for 3 armed timers", n)
		}
	})
	if got := recv(t, done, "timers"); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("fired %v, want [1 2 3]", got)
	}
}
