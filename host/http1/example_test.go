package http1_test

import (
	"fmt"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/http1"
)

// A connection's read loop: keep the unconsumed bytes, hand them all to
// Next, drop what it consumed, and read more on EventNeedMore.
func ExampleParser() {
	reads := []string{
		"POST /upload HTTP/1.1\r\nHost: example.com\r\nTransfer-Enc",
		"oding: chunked\r\n\r\n5\r\nhel",
		"lo\r\n0\r\nX-Sum: 42\r\n\r\nGET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
	}
	var p http1.Parser
	p.Init(http1.Request, http1.Limits{})
	var pending []byte
	var m headers.Map
	for _, r := range reads {
		pending = append(pending, r...)
		for {
			ev, n, err := p.Next(pending)
			if err != nil {
				fmt.Println("reject:", err.(*http1.Error).Status)
				return
			}
			switch ev {
			case http1.EventHead:
				http1.HeadToMap(p.Head(), http1.Request, "http", &m)
				fmt.Printf("head %s %s authority=%s\n", m.Method(), m.Path(), m.Authority())
			case http1.EventBody:
				fmt.Printf("body %q\n", p.Body())
			case http1.EventTrailers:
				fmt.Printf("trailer %s=%s\n", p.Trailers()[0].Name, p.Trailers()[0].Value)
			case http1.EventEnd:
				fmt.Println("end")
			}
			pending = pending[n:]
			if ev == http1.EventNeedMore {
				break
			}
		}
	}
	// Output:
	// head POST /upload authority=example.com
	// body "hel"
	// body "lo"
	// trailer X-Sum=42
	// end
	// head GET / authority=example.com
	// end
}

func ExampleAppendResponseHead() {
	var m headers.Map
	m.SetStatus(200)
	m.AddString("Transfer-Encoding", "chunked")
	wire := http1.AppendResponseHead(nil, &m, 1)
	wire = http1.AppendChunk(wire, []byte("hello"))
	wire = http1.AppendLastChunk(wire, nil)
	fmt.Printf("%q\n", wire)
	// Output:
	// "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
}
