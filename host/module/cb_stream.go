package module

import (
	"unsafe"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/headers"
)

// Stream callbacks: worker only. Each resolves the filter handle through
// its worker's generation-checked table, so a stale handle fails cleanly.

const (
	rOK          = int32(abi.OK)
	rInvalid     = int32(abi.ErrInvalidHandle)
	rEnded       = int32(abi.ErrStreamEnded)
	rNotFound    = int32(abi.ErrNotFound)
	rUnavailable = int32(abi.ErrUnavailable)
	rTooSmall    = int32(abi.ErrBufferTooSmall)
	rBadArg      = int32(abi.ErrInvalidArg)
	rWrongThread = int32(abi.ErrWrongThread)
	rWrongPhase  = int32(abi.ErrWrongPhase)
	rLimit       = int32(abi.ErrLimit)
)

// lookupFilter resolves h. A worker-only call made while the worker runs
// no module hook comes from another thread and is refused; the check is
// cheap, not complete (a foreign call racing a hook is not detected: a
// precise thread check costs a ~1 us gettid syscall on every callback).
func lookupFilter(h uint64) (*filter, int32) {
	if handleKind(h) != kindFilter {
		return nil, rInvalid
	}
	ws := workersByGID[handleDomain(h)].Load()
	if ws == nil {
		return nil, rInvalid
	}
	f := ws.table.get(h)
	if f == nil {
		return nil, rInvalid
	}
	if ws.hookDepth.Load() == 0 {
		return nil, rWrongThread
	}
	return f, rOK
}

// readFilter: header/body reads. Refused after the running hook handed the
// stream on, or once the filter is being destroyed.
func readFilter(h uint64) (*filter, int32) {
	f, r := lookupFilter(h)
	if r != rOK {
		return nil, r
	}
	if f.handedOff || f.destroyed {
		return nil, rEnded
	}
	return f, rOK
}

// writeFilter: mutations and stream control; also refused once the stream
// ended.
func writeFilter(h uint64) (*filter, int32) {
	f, r := readFilter(h)
	if r != rOK {
		return nil, r
	}
	if f.cb.Ended() {
		return nil, rEnded
	}
	return f, rOK
}

func (f *filter) headerMap(kind uint32) (*headers.Map, int32) {
	var m *headers.Map
	switch abi.HeaderKind(kind) {
	case abi.RequestHeaders:
		if m = f.cb.RequestHeaders(); m == nil {
			m = f.reqHeaders
		}
	case abi.RequestTrailers:
		if m = f.cb.RequestTrailers(); m == nil {
			m = f.reqTrailers
		}
	case abi.ResponseHeaders:
		if m = f.cb.ResponseHeaders(); m == nil {
			m = f.respHeaders
		}
	case abi.ResponseTrailers:
		if m = f.cb.ResponseTrailers(); m == nil {
			m = f.respTrailers
		}
	default:
		return nil, rBadArg
	}
	if m == nil {
		return nil, rUnavailable
	}
	return m, rOK
}

// nameMatches compares a stored (lowercase) header name with the module's
// name of any case.
func nameMatches(stored, name []byte) bool {
	if len(stored) != len(name) {
		return false
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if stored[i] != c {
			return false
		}
	}
	return true
}

// validHeaderBytes rejects what would let a module split or smuggle
// headers: CR, LF and NUL anywhere; an empty name.
func validHeaderBytes(b []byte) bool {
	for _, c := range b {
		if c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}

func (f *filter) lend(p []byte) abi.Buffer {
	return abi.Buffer{Ptr: f.ws.arena.copy(p), Len: uintptr(len(p))}
}

func storeCount(out unsafe.Pointer, n int) {
	if out != nil {
		*(*uintptr)(out) = uintptr(n)
	}
}

func cbHeaderGet(h uint64, kind uint32, name unsafe.Pointer, nameLen uintptr, index uintptr,
	valueOut unsafe.Pointer, countOut unsafe.Pointer) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	m, r := f.headerMap(kind)
	if r != rOK {
		return r
	}
	if valueOut == nil {
		return rBadArg
	}
	key := cBytes(name, nameLen)
	n := 0
	var found []byte
	ok := false
	m.Range(func(k, v []byte) bool {
		if nameMatches(k, key) {
			if uintptr(n) == index {
				found, ok = v, true
			}
			n++
		}
		return true
	})
	storeCount(countOut, n)
	if !ok {
		return rNotFound
	}
	*(*abi.Buffer)(valueOut) = f.lend(found)
	return rOK
}

func cbHeaderValues(h uint64, kind uint32, name unsafe.Pointer, nameLen uintptr, values unsafe.Pointer,
	capacity uintptr, countOut unsafe.Pointer) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	m, r := f.headerMap(kind)
	if r != rOK {
		return r
	}
	var out []abi.Buffer
	if values != nil && capacity > 0 {
		out = unsafe.Slice((*abi.Buffer)(values), capacity)
	}
	key := cBytes(name, nameLen)
	n := 0
	m.Range(func(k, v []byte) bool {
		if nameMatches(k, key) {
			if n < len(out) {
				out[n] = f.lend(v)
			}
			n++
		}
		return true
	})
	storeCount(countOut, n)
	if capacity > 0 && uintptr(n) > capacity {
		return rTooSmall
	}
	return rOK
}

func cbHeadersGet(h uint64, kind uint32, hdrs unsafe.Pointer, capacity uintptr, countOut unsafe.Pointer) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	m, r := f.headerMap(kind)
	if r != rOK {
		return r
	}
	var out []abi.Header
	if hdrs != nil && capacity > 0 {
		out = unsafe.Slice((*abi.Header)(hdrs), capacity)
	}
	i := 0
	m.Range(func(k, v []byte) bool {
		if i >= len(out) {
			return false
		}
		out[i] = abi.Header{Name: f.lend(k), Value: f.lend(v)}
		i++
		return true
	})
	storeCount(countOut, m.Len())
	if capacity > 0 && uintptr(m.Len()) > capacity {
		return rTooSmall
	}
	return rOK
}

func mutableMap(h uint64, kind uint32, name unsafe.Pointer, nameLen uintptr) (*headers.Map, []byte, int32) {
	f, r := writeFilter(h)
	if r != rOK {
		return nil, nil, r
	}
	m, r := f.headerMap(kind)
	if r != rOK {
		return nil, nil, r
	}
	key := cBytes(name, nameLen)
	if len(key) == 0 || !validHeaderBytes(key) {
		return nil, nil, rBadArg
	}
	return m, key, rOK
}

func cbHeaderSet(h uint64, kind uint32, name unsafe.Pointer, nameLen uintptr, value unsafe.Pointer, valueLen uintptr) int32 {
	m, key, r := mutableMap(h, kind, name, nameLen)
	if r != rOK {
		return r
	}
	v := cBytes(value, valueLen)
	if !validHeaderBytes(v) {
		return rBadArg
	}
	// Set copies both into the map's arena; the string only lives for the call.
	m.Set(unsafe.String(&key[0], len(key)), v)
	return rOK
}

func cbHeaderAdd(h uint64, kind uint32, name unsafe.Pointer, nameLen uintptr, value unsafe.Pointer, valueLen uintptr) int32 {
	m, key, r := mutableMap(h, kind, name, nameLen)
	if r != rOK {
		return r
	}
	v := cBytes(value, valueLen)
	if !validHeaderBytes(v) {
		return rBadArg
	}
	m.Add(key, v)
	return rOK
}

func cbHeaderRemove(h uint64, kind uint32, name unsafe.Pointer, nameLen uintptr, removedOut unsafe.Pointer) int32 {
	m, key, r := mutableMap(h, kind, name, nameLen)
	if r != rOK {
		return r
	}
	storeCount(removedOut, m.DelBytes(key))
	return rOK
}

// body returns the buffer of kind; a nil buffer with rOK is an empty
// buffered body.
func (f *filter) body(kind uint32) (hcm.Buffer, int32) {
	switch k := abi.BodyKind(kind); k {
	case abi.ReceivedRequestBody, abi.ReceivedResponseBody:
		if f.received == nil || f.receivedKind != k {
			return nil, rUnavailable
		}
		return f.received, rOK
	case abi.BufferedRequestBody:
		return f.cb.BufferedRequestBody(), rOK
	case abi.BufferedResponseBody:
		return f.cb.BufferedResponseBody(), rOK
	}
	return nil, rBadArg
}

func cbBodyChunks(h uint64, kind uint32, chunks unsafe.Pointer, capacity uintptr, countOut unsafe.Pointer) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	b, r := f.body(kind)
	if r != rOK {
		return r
	}
	var out []abi.Buffer
	if chunks != nil && capacity > 0 {
		out = unsafe.Slice((*abi.Buffer)(chunks), capacity)
	}
	n := 0
	if b != nil {
		b.Chunks(func(p []byte) bool {
			if len(p) == 0 {
				return true
			}
			if n < len(out) {
				out[n] = f.lend(p)
			}
			n++
			return true
		})
	}
	storeCount(countOut, n)
	if capacity > 0 && uintptr(n) > capacity {
		return rTooSmall
	}
	return rOK
}

func cbBodySize(h uint64, kind uint32, sizeOut unsafe.Pointer) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	b, r := f.body(kind)
	if r != rOK {
		return r
	}
	if sizeOut == nil {
		return rBadArg
	}
	n := 0
	if b != nil {
		n = b.Len()
	}
	storeCount(sizeOut, n)
	return rOK
}

func cbBodyAppend(h uint64, kind uint32, data unsafe.Pointer, n uintptr) int32 {
	f, r := writeFilter(h)
	if r != rOK {
		return r
	}
	b, r := f.body(kind)
	if r != rOK {
		return r
	}
	if b == nil {
		// No buffered body yet: the filter may create one when it holds
		// the stopped headers.
		p := append([]byte(nil), cBytes(data, n)...)
		if abi.BodyKind(kind) == abi.BufferedRequestBody && f.cb.AddDecodedData(p) ||
			abi.BodyKind(kind) == abi.BufferedResponseBody && f.cb.AddEncodedData(p) {
			return rOK
		}
		return rUnavailable
	}
	if n > 0 {
		// Copy: the buffer may keep the slice, and module memory is the
		// module's.
		b.Append(append([]byte(nil), cBytes(data, n)...))
	}
	return rOK
}

func cbBodyDrain(h uint64, kind uint32, n uintptr) int32 {
	f, r := writeFilter(h)
	if r != rOK {
		return r
	}
	b, r := f.body(kind)
	if r != rOK || b == nil {
		return r
	}
	if size := uintptr(b.Len()); n > size {
		n = size
	}
	if n > 0 {
		b.Drain(int(n))
	}
	return rOK
}

func cbSendResponse(h uint64, status uint32, hdrs unsafe.Pointer, nHdrs uintptr, body unsafe.Pointer, bodyLen uintptr,
	details unsafe.Pointer, detailsLen uintptr) int32 {
	f, r := writeFilter(h)
	if r != rOK {
		return r
	}
	if status < 100 || status > 599 || (nHdrs > 0 && hdrs == nil) {
		return rBadArg
	}
	var list [][2]string
	if nHdrs > 0 {
		in := unsafe.Slice((*abi.Header)(hdrs), nHdrs)
		list = make([][2]string, 0, len(in))
		for _, hd := range in {
			name := cBytes(hd.Name.Ptr, hd.Name.Len)
			value := cBytes(hd.Value.Ptr, hd.Value.Len)
			if len(name) == 0 || !validHeaderBytes(name) || !validHeaderBytes(value) {
				return rBadArg
			}
			list = append(list, [2]string{string(name), string(value)})
		}
	}
	var b []byte
	if bodyLen > 0 {
		b = append([]byte(nil), cBytes(body, bodyLen)...)
	}
	f.replies++
	f.handedOff = true
	if !f.cb.SendLocalReply(int(status), list, b, cString(details, detailsLen)) {
		return rEnded
	}
	return rOK
}

func cbContinueDecoding(h uint64) int32 {
	return continueStream(h, hcm.FilterCallbacks.ContinueDecoding)
}

func cbContinueEncoding(h uint64) int32 {
	return continueStream(h, hcm.FilterCallbacks.ContinueEncoding)
}

// continueStream resumes one direction of the filter's stream; after it the
// hook has handed the stream off (later calls in the same hook fail).
func continueStream(h uint64, resume func(hcm.FilterCallbacks) bool) int32 {
	f, r := writeFilter(h)
	if r != rOK {
		return r
	}
	if !resume(f.cb) {
		return rWrongPhase
	}
	f.handedOff = true
	return rOK
}

func cbClearRouteCache(h uint64) int32 {
	f, r := writeFilter(h)
	if r != rOK {
		return r
	}
	f.cb.ClearRouteCache()
	return rOK
}

// cbSchedulerNew creates a scheduler delivering to the filter on its
// worker; 0 on failure. Commit and delete are assembly (commit_amd64.s).
func cbSchedulerNew(h uint64) uint64 {
	f, r := lookupFilter(h)
	if r != rOK || f.destroyed || f.hk.scheduled == 0 || f.cb.Ended() {
		return 0
	}
	sh, err := f.ws.sched.alloc(f)
	if err != nil {
		return 0
	}
	f.scheds = append(f.scheds, sh)
	return sh
}

// cbLogFilter logs with the stream's context: the same conn_id and
// stream_id fields as sluice's own lines and the access log.
func cbLogFilter(h uint64, level uint32, msg unsafe.Pointer, n uintptr) int32 {
	f, r := lookupFilter(h)
	if r != rOK {
		return r
	}
	lv, ok := zapLevel(level)
	if !ok {
		if abi.LogLevel(level) == abi.LogOff {
			return rOK
		}
		return rBadArg
	}
	log := f.factory.host.log
	if ce := log.Check(lv, cString(msg, n)); ce != nil {
		fields := [5]zap.Field{zap.String("filter", f.factory.key), zap.Uint64("conn_id", f.cb.ConnID()),
			zap.Uint64("stream_id", f.cb.StreamID())}
		nf := 3
		if abi.LogLevel(level) == abi.LogCritical {
			fields[nf] = zap.Bool("critical", true)
			nf++
		}
		ce.Write(fields[:nf]...)
	}
	return rOK
}

// cbInjectData passes data from the filter to the ones after it.
func cbInjectData(h uint64, dir uint32, data unsafe.Pointer, n uintptr, eos bool) int32 {
	f, r := writeFilter(h)
	if r != rOK {
		return r
	}
	p := append([]byte(nil), cBytes(data, n)...)
	var ok bool
	switch dir {
	case abi.DirectionRequest:
		ok = f.cb.InjectDecodedData(p, eos)
	case abi.DirectionResponse:
		ok = f.cb.InjectEncodedData(p, eos)
	default:
		return rBadArg
	}
	if !ok {
		return rWrongPhase
	}
	return rOK
}
