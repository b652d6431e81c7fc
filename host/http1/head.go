package http1

// Kind says which side of the exchange a parser reads.
type Kind uint8

const (
	Request Kind = iota
	Response
)

// Event is what Next found.
type Event uint8

const (
	EventNeedMore Event = iota // consumed what it could; feed more bytes
	EventHead                  // Head() is valid
	EventBody                  // Body() is a view of body bytes
	EventTrailers              // Trailers() valid (chunked only)
	EventEnd                   // message complete; parser ready for the next message
)

func (e Event) String() string {
	switch e {
	case EventNeedMore:
		return "NeedMore"
	case EventHead:
		return "Head"
	case EventBody:
		return "Body"
	case EventTrailers:
		return "Trailers"
	case EventEnd:
		return "End"
	}
	return "Event(?)"
}

// Field is one header or trailer line: views into the caller's buffer, the
// value with surrounding whitespace trimmed.
type Field struct{ Name, Value []byte }

// BodyKind is how the message body is delimited.
type BodyKind uint8

const (
	BodyNone       BodyKind = iota // no body (or CONNECT/upgrade: what follows is not HTTP)
	BodyLength                     // Content-Length bytes
	BodyChunked                    // chunked transfer coding
	BodyUntilClose                 // responses only: everything until the peer closes
)

// Head is a parsed request or response head. All byte slices are views into
// the buffer handed to Next.
type Head struct {
	Method, Target []byte // requests
	Status         int    // responses
	Reason         []byte // responses
	Minor          int    // HTTP/1.<Minor>, 0 or 1
	Fields         []Field
	ContentLength  int64 // -1 when absent
	Body           BodyKind
	KeepAlive      bool   // connection persists after this message
	Expect100      bool   // request had "Expect: 100-continue" (HTTP/1.1 only)
	Upgrade        bool   // Connection: upgrade + Upgrade present
	Host           []byte // requests: the Host field value (nil if absent)
}
