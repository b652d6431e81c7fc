package network

import "github.com/sluiceproxy/sluice/host/worker"

// Buffer is the data a read or write hook gets: the connection's read
// buffer (bytes read and not yet drained, kept across reads), or one chunk
// on its way to the socket (or injected). Valid during the hook only; the
// bytes of Bytes are a view, valid until the buffer is changed.
type Buffer struct {
	conn  *worker.Conn // the read buffer: the socket's unconsumed input
	b     []byte       // a chunk: the writer's bytes until changed
	owned bool         // b is a copy of ours, so it may be changed in place
}

func readBuffer(c *worker.Conn) Buffer { return Buffer{conn: c} }

func chunk(p []byte) Buffer { return Buffer{b: p} }

// Bytes is the data, contiguous.
func (b *Buffer) Bytes() []byte {
	if b.conn != nil {
		return b.conn.Input()
	}
	return b.b
}

// Len is len(Bytes()).
func (b *Buffer) Len() int {
	if b.conn != nil {
		return len(b.conn.Input())
	}
	return len(b.b)
}

// Drain removes the first n bytes (all of them when n > Len): consumed,
// they are not passed on.
func (b *Buffer) Drain(n int) {
	n = max(0, min(n, b.Len()))
	if b.conn != nil {
		b.conn.Consume(n)
		return
	}
	b.b = b.b[n:]
}

// Append adds p at the end.
func (b *Buffer) Append(p []byte) {
	if len(p) == 0 {
		return
	}
	if b.conn != nil {
		b.conn.AppendInput(p)
		return
	}
	if !b.owned {
		b.b = append(make([]byte, 0, len(b.b)+len(p)), b.b...)
		b.owned = true
	}
	b.b = append(b.b, p...)
}

// Prepend puts p before the data.
func (b *Buffer) Prepend(p []byte) {
	if len(p) == 0 {
		return
	}
	if b.conn != nil {
		b.conn.PrependInput(p)
		return
	}
	joined := make([]byte, 0, len(p)+len(b.b))
	b.b = append(append(joined, p...), b.b...)
	b.owned = true
}

// Replace sets the data to p (copied).
func (b *Buffer) Replace(p []byte) {
	b.Drain(b.Len())
	if b.conn != nil {
		b.conn.AppendInput(p)
		return
	}
	b.b = append([]byte(nil), p...)
	b.owned = true
}
