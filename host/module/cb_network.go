package module

import (
	"strconv"
	"strings"
	"unsafe"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/network"
)

// Network filter callbacks (ABI 2.1): worker only, resolved through the
// worker's generation-checked table like the HTTP ones.

// lookupNet resolves a network filter handle for a worker-only call.
func lookupNet(h uint64) (*netFilter, int32) {
	if handleKind(h) != kindNetFilter {
		return nil, rInvalid
	}
	ws := workersByGID[handleDomain(h)].Load()
	if ws == nil {
		return nil, rInvalid
	}
	f := ws.nets.get(h)
	if f == nil {
		return nil, rInvalid
	}
	if ws.hookDepth.Load() == 0 {
		return nil, rWrongThread
	}
	return f, rOK
}

// actingNet: calls that act on the connection, refused once it closed.
func actingNet(h uint64) (*netFilter, int32) {
	f, r := lookupNet(h)
	if r != rOK {
		return nil, r
	}
	if f.closed || f.destroyed || f.nc.Closed() {
		return nil, rEnded
	}
	return f, rOK
}

func (f *netFilter) lend(p []byte) abi.Buffer {
	return abi.Buffer{Ptr: f.ws.arena.copy(p), Len: uintptr(len(p))}
}

// buffer is the network buffer a call addresses: the running read hook's
// data or, outside it, the connection's read buffer; the running write
// hook's chunk.
func (f *netFilter) buffer(kind uint32) (*network.Buffer, int32) {
	switch kind {
	case abi.NetworkReadBuffer:
		if f.readBuf != nil {
			return f.readBuf, rOK
		}
		return f.nc.ReadBuffer(), rOK
	case abi.NetworkWriteBuffer:
		if f.writeBuf != nil {
			return f.writeBuf, rOK
		}
		return nil, rUnavailable
	}
	return nil, rBadArg
}

func cbNetBufferChunks(h uint64, kind uint32, chunks unsafe.Pointer, capacity uintptr, countOut unsafe.Pointer) int32 {
	f, r := actingNet(h)
	if r != rOK {
		return r
	}
	b, r := f.buffer(kind)
	if r != rOK {
		return r
	}
	n := 0
	if p := b.Bytes(); len(p) > 0 {
		n = 1 // the buffers are contiguous
		if chunks != nil && capacity > 0 {
			*(*abi.Buffer)(chunks) = f.lend(p)
		}
	}
	storeCount(countOut, n)
	return rOK
}

func cbNetBufferSize(h uint64, kind uint32, sizeOut unsafe.Pointer) int32 {
	f, r := actingNet(h)
	if r != rOK {
		return r
	}
	if sizeOut == nil {
		return rBadArg
	}
	b, r := f.buffer(kind)
	if r != rOK {
		return r
	}
	*(*uintptr)(sizeOut) = uintptr(b.Len())
	return rOK
}

func cbNetBufferDrain(h uint64, kind uint32, n uintptr) int32 {
	f, r := actingNet(h)
	if r != rOK {
		return r
	}
	b, r := f.buffer(kind)
	if r != rOK {
		return r
	}
	b.Drain(int(min(n, uintptr(b.Len()))))
	return rOK
}

func cbNetBufferAppend(h uint64, kind uint32, data unsafe.Pointer, n uintptr) int32 {
	f, r := actingNet(h)
	if r != rOK {
		return r
	}
	b, r := f.buffer(kind)
	if r != rOK {
		return r
	}
	b.Append(cBytes(data, n))
	return rOK
}

func cbNetBufferPrepend(h uint64, kind uint32, data unsafe.Pointer, n uintptr) int32 {
	f, r := actingNet(h)
	if r != rOK {
		return r
	}
	b, r := f.buffer(kind)
	if r != rOK {
		return r
	}
	b.Prepend(cBytes(data, n))
	return rOK
}

func cbNetContinueReading(h uint64) int32 {
	f, r := actingNet(h)
	if r != rOK {
		return r
	}
	f.cb.ContinueReading()
	return rOK
}

func cbNetInjectReadData(h uint64, data unsafe.Pointer, n uintptr, end bool) int32 {
	f, r := actingNet(h)
	if r != rOK {
		return r
	}
	f.cb.InjectReadData(append([]byte(nil), cBytes(data, n)...), end)
	return rOK
}

func cbNetInjectWriteData(h uint64, data unsafe.Pointer, n uintptr, end bool) int32 {
	f, r := actingNet(h)
	if r != rOK {
		return r
	}
	f.cb.InjectWriteData(cBytes(data, n), end) // copied by the socket write
	return rOK
}

func cbNetWrite(h uint64, data unsafe.Pointer, n uintptr, end bool) int32 {
	f, r := actingNet(h)
	if r != rOK {
		return r
	}
	f.nc.Write(cBytes(data, n), end)
	return rOK
}

func cbNetClose(h uint64, how uint32) int32 {
	f, r := actingNet(h)
	if r != rOK {
		return r
	}
	var ct network.CloseType
	switch how {
	case abi.CloseFlush:
		ct = network.FlushWrite
	case abi.CloseAbort:
		ct = network.NoFlush
	default:
		return rBadArg
	}
	f.nc.SetTerminationDetails("network_filter_closed")
	f.nc.Close(ct)
	return rOK
}

func cbNetReadDisable(h uint64, disable bool) int32 {
	f, r := actingNet(h)
	if r != rOK {
		return r
	}
	f.nc.ReadDisable(disable)
	return rOK
}

// tlsAttribute is a TLS attribute of a connection ("" when absent).
func tlsAttribute(a *network.Attributes, id abi.AttributeID) (string, bool) {
	switch id {
	case abi.AttrTLSSNI:
		return a.ServerName, true
	case abi.AttrTLSALPN:
		return a.ALPN, true
	case abi.AttrTLSVersion:
		return a.TLSVersion, true
	case abi.AttrTLSPeerSubject:
		return a.PeerSubject, true
	case abi.AttrTLSPeerSANs:
		return strings.Join(a.PeerSANs, ","), true
	}
	return "", false
}

func cbNetGetAttributeString(h uint64, id uint32, out unsafe.Pointer) int32 {
	f, r := lookupNet(h)
	if r != rOK {
		return r
	}
	if out == nil {
		return rBadArg
	}
	var v string
	switch abi.AttributeID(id) {
	case abi.AttrSourceAddress:
		v = f.nc.RemoteAddr().String()
	case abi.AttrDestinationAddress:
		v = f.nc.LocalAddr().String()
	default:
		var known bool
		if v, known = tlsAttribute(f.nc.Attributes(), abi.AttributeID(id)); !known {
			return rBadArg
		}
	}
	if v == "" {
		return rNotFound
	}
	*(*abi.Buffer)(out) = f.lend([]byte(v))
	return rOK
}

func cbNetGetAttributeInt(h uint64, id uint32, out unsafe.Pointer) int32 {
	f, r := lookupNet(h)
	if r != rOK {
		return r
	}
	if out == nil {
		return rBadArg
	}
	var v int64
	switch abi.AttributeID(id) {
	case abi.AttrSourcePort:
		v = int64(f.nc.RemoteAddr().Port())
	case abi.AttrDestinationPort:
		v = int64(f.nc.LocalAddr().Port())
	case abi.AttrConnectionID:
		v = int64(f.nc.ID())
	case abi.AttrWorkerIndex:
		v = int64(f.ws.index)
	default:
		return rBadArg
	}
	*(*int64)(out) = v
	return rOK
}

func cbNetMetadataSetString(h uint64, ns unsafe.Pointer, nsLen uintptr, key unsafe.Pointer, keyLen uintptr,
	value unsafe.Pointer, valueLen uintptr) int32 {
	f, r := lookupNet(h)
	if r != rOK {
		return r
	}
	if f.destroyed {
		return rEnded
	}
	f.nc.SetMetadata(cString(ns, nsLen), cString(key, keyLen), network.MetadataValue{Str: cString(value, valueLen)})
	return rOK
}

func cbNetMetadataSetNumber(h uint64, ns unsafe.Pointer, nsLen uintptr, key unsafe.Pointer, keyLen uintptr, value float64) int32 {
	f, r := lookupNet(h)
	if r != rOK {
		return r
	}
	if f.destroyed {
		return rEnded
	}
	f.nc.SetMetadata(cString(ns, nsLen), cString(key, keyLen), network.MetadataValue{Num: value, IsNumber: true})
	return rOK
}

// metadataOut writes a metadata value found by the caller: a string as a
// host view, or a number (a string holding a number counts as one).
func metadataString(v network.MetadataValue, ok bool, lend func([]byte) abi.Buffer, out unsafe.Pointer) int32 {
	if out == nil {
		return rBadArg
	}
	if !ok {
		return rNotFound
	}
	if v.IsNumber {
		return rBadArg
	}
	*(*abi.Buffer)(out) = lend([]byte(v.Str))
	return rOK
}

func metadataNumber(v network.MetadataValue, ok bool, out unsafe.Pointer) int32 {
	if out == nil {
		return rBadArg
	}
	if !ok {
		return rNotFound
	}
	if !v.IsNumber {
		n, err := strconv.ParseFloat(v.Str, 64)
		if err != nil {
			return rBadArg
		}
		v.Num = n
	}
	*(*float64)(out) = v.Num
	return rOK
}

func cbNetMetadataGetString(h uint64, ns unsafe.Pointer, nsLen uintptr, key unsafe.Pointer, keyLen uintptr, out unsafe.Pointer) int32 {
	f, r := lookupNet(h)
	if r != rOK {
		return r
	}
	v, ok := f.nc.GetMetadata(unsafeString(ns, nsLen), unsafeString(key, keyLen))
	return metadataString(v, ok, f.lend, out)
}

func cbNetMetadataGetNumber(h uint64, ns unsafe.Pointer, nsLen uintptr, key unsafe.Pointer, keyLen uintptr, out unsafe.Pointer) int32 {
	f, r := lookupNet(h)
	if r != rOK {
		return r
	}
	v, ok := f.nc.GetMetadata(unsafeString(ns, nsLen), unsafeString(key, keyLen))
	return metadataNumber(v, ok, out)
}

func cbNetSchedulerNew(h uint64) uint64 {
	f, r := actingNet(h)
	if r != rOK || f.hk.scheduled == 0 {
		return 0
	}
	sh, err := f.ws.sched.alloc(f)
	if err != nil {
		return 0
	}
	f.scheds = append(f.scheds, sh)
	return sh
}

func cbNetTimerNew(h uint64) uint64 {
	f, r := actingNet(h)
	if r != rOK || f.hk.timer == 0 {
		return 0
	}
	th := f.ws.newTimer(f)
	if th != 0 {
		f.timers = append(f.timers, th)
	}
	return th
}

// cbNetLog logs with the connection's conn_id and the filter's name.
func cbNetLog(h uint64, level uint32, msg unsafe.Pointer, n uintptr) int32 {
	f, r := lookupNet(h)
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
	if ce := f.factory.host.log.Check(lv, cString(msg, n)); ce != nil {
		ce.Write(zap.String("filter", f.factory.key), zap.Uint64("conn_id", f.nc.ID()))
	}
	return rOK
}

// HTTP filters reading the metadata network filters set on their
// connection.

func (f *filter) connectionMetadata(ns unsafe.Pointer, nsLen uintptr, key unsafe.Pointer, keyLen uintptr) (network.MetadataValue, bool) {
	nc := f.cb.Connection()
	if nc == nil {
		return network.MetadataValue{}, false
	}
	return nc.GetMetadata(unsafeString(ns, nsLen), unsafeString(key, keyLen))
}

func cbConnectionMetadataGetString(h uint64, ns unsafe.Pointer, nsLen uintptr, key unsafe.Pointer, keyLen uintptr, out unsafe.Pointer) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	v, ok := f.connectionMetadata(ns, nsLen, key, keyLen)
	return metadataString(v, ok, f.lend, out)
}

func cbConnectionMetadataGetNumber(h uint64, ns unsafe.Pointer, nsLen uintptr, key unsafe.Pointer, keyLen uintptr, out unsafe.Pointer) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	v, ok := f.connectionMetadata(ns, nsLen, key, keyLen)
	return metadataNumber(v, ok, out)
}
