package http1

import (
	"errors"
	"testing"

	"github.com/sluiceproxy/sluice/host/http1/http1test"
)

func TestSmugglingCases(t *testing.T) {
	if len(http1test.Smuggling) < 30 {
		t.Fatalf("only %d smuggling cases", len(http1test.Smuggling))
	}
	seen := map[string]bool{}
	for _, c := range http1test.Smuggling {
		if seen[c.Name] {
			t.Fatalf("duplicate case name %s", c.Name)
		}
		seen[c.Name] = true
		t.Run(c.Name, func(t *testing.T) {
			r := parseAll(Request, c.Raw, true)
			if c.Accepted() {
				if r.err != nil {
					t.Fatalf("rejected with %v; want accepted", r.err)
				}
				if len(r.events) == 0 || r.events[len(r.events)-1] != "end" {
					t.Fatalf("events %q: message not complete", r.events)
				}
				return
			}
			var e *Error
			if !errors.As(r.err, &e) {
				t.Fatalf("accepted (events %q); want %d %s", r.events, c.Status, c.Reason)
			}
			if e.Status != c.Status || e.Reason != c.Reason {
				t.Fatalf("got %d %s; want %d %s", e.Status, e.Reason, c.Status, c.Reason)
			}
		})
	}
}

// The absolute-form's authority wins over Host.
func TestAbsoluteFormAuthorityWins(t *testing.T) {
	for _, c := range http1test.Smuggling {
		if c.Name != "absolute_form_mismatched_host" {
			continue
		}
		var p Parser
		p.Init(Request, Limits{})
		ev, _, err := p.Next([]byte(c.Raw))
		if ev != EventHead || err != nil {
			t.Fatalf("Next = %v %v", ev, err)
		}
		var m mapForTest
		HeadToMap(p.Head(), Request, "http", &m.Map)
		if got := string(m.Authority()); got != "a.example" {
			t.Fatalf(":authority = %q", got)
		}
		if m.Has("host") {
			t.Fatal("host field kept beside :authority")
		}
		return
	}
	t.Fatal("case missing")
}
