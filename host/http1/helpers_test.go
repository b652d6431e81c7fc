package http1

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// snapshot copies what a Head says, so it outlives the buffer.
type snapshot struct {
	Method, Target, Reason string
	Status, Minor          int
	Fields                 string
	ContentLength          int64
	Body                   BodyKind
	KeepAlive, Expect100   bool
	Upgrade                bool
	Host                   string
	HasHost                bool
}

func snap(h *Head) snapshot {
	var fields []string
	for _, f := range h.Fields {
		fields = append(fields, string(f.Name)+"="+string(f.Value))
	}
	return snapshot{
		Method: string(h.Method), Target: string(h.Target), Reason: string(h.Reason),
		Status: h.Status, Minor: h.Minor, Fields: strings.Join(fields, "|"),
		ContentLength: h.ContentLength, Body: h.Body, KeepAlive: h.KeepAlive,
		Expect100: h.Expect100, Upgrade: h.Upgrade, Host: string(h.Host), HasHost: h.Host != nil,
	}
}

// result is everything a parser reported for a byte stream.
type result struct {
	events []string   // "head:GET /", "body:...", "trailers:a=b", "end"
	heads  []snapshot // one per head event
	err    error
}

// fullTrace renders a result with bodies merged, for comparing two ways of
// feeding the same bytes.
func (r result) fullTrace() string {
	var b strings.Builder
	heads := r.heads
	for _, e := range r.events {
		if strings.HasPrefix(e, "head") {
			fmt.Fprintf(&b, "%s %+v\n", e, heads[0])
			heads = heads[1:]
			continue
		}
		b.WriteString(e)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "err=%v", r.err)
	return b.String()
}

// drive feeds pieces to p as a connection would (keeping unconsumed bytes
// and appending each new read), then reports EOF when eof is set.
func drive(p *Parser, pieces [][]byte, eof bool) result {
	var r result
	var pending []byte
	record := func(ev Event) {
		switch ev {
		case EventHead:
			h := p.Head()
			if len(h.Method) > 0 {
				r.events = append(r.events, "head:"+string(h.Method)+" "+string(h.Target))
			} else {
				r.events = append(r.events, fmt.Sprintf("head:%d", h.Status))
			}
			r.heads = append(r.heads, snap(h))
		case EventBody:
			body := string(p.Body())
			if n := len(r.events); n > 0 && strings.HasPrefix(r.events[n-1], "body:") {
				r.events[n-1] += body // merge: splitting must not be visible
			} else {
				r.events = append(r.events, "body:"+body)
			}
		case EventTrailers:
			var ts []string
			for _, f := range p.Trailers() {
				ts = append(ts, string(f.Name)+"="+string(f.Value))
			}
			r.events = append(r.events, "trailers:"+strings.Join(ts, "|"))
		case EventEnd:
			r.events = append(r.events, "end")
		}
	}
	for _, piece := range pieces {
		pending = append(pending, piece...)
		for {
			ev, n, err := p.Next(pending)
			if err != nil {
				r.err = err
				return r
			}
			if n < 0 || n > len(pending) {
				panic(fmt.Sprintf("consumed %d of %d", n, len(pending)))
			}
			pending = pending[n:]
			if ev == EventNeedMore {
				break
			}
			record(ev)
		}
	}
	if eof {
		ev, err := p.EOF()
		if err != nil {
			r.err = err
			return r
		}
		if ev == EventEnd {
			record(ev)
		}
	}
	return r
}

func parseAll(kind Kind, raw string, eof bool) result {
	var p Parser
	p.Init(kind, Limits{})
	return drive(&p, [][]byte{[]byte(raw)}, eof)
}

// wantError asserts err is exactly want (same sentinel, status, reason).
func wantError(t *testing.T, err error, want *Error) {
	t.Helper()
	var got *Error
	if !errors.As(err, &got) || got != want {
		t.Fatalf("error = %v, want %d %s", err, want.Status, want.Reason)
	}
}
