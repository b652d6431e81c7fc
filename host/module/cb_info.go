package module

import (
	"unsafe"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/hcm"
)

// Stream information callbacks: attributes, dynamic metadata, per-route
// config. Worker only; allowed until the filter is destroyed (so
// stream_complete can read them) but not after a hand-off in the same hook.

func (f *filter) pseudo(name string) ([]byte, bool) {
	m, r := f.headerMap(uint32(abi.RequestHeaders))
	if r != rOK {
		return nil, false
	}
	return m.Get(name)
}

func cbGetAttributeString(h uint64, id uint32, out unsafe.Pointer) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	if out == nil {
		return rBadArg
	}
	var v []byte
	ok := true
	info := f.cb.Info()
	if info == nil {
		return rEnded
	}
	switch abi.AttributeID(id) {
	case abi.AttrRequestMethod:
		v, ok = f.pseudo(":method")
	case abi.AttrRequestPath:
		v, ok = f.pseudo(":path")
	case abi.AttrRequestHost:
		v, ok = f.pseudo(":authority")
	case abi.AttrRequestScheme:
		v, ok = f.pseudo(":scheme")
	case abi.AttrRequestProtocol:
		v = []byte(info.Protocol)
	case abi.AttrRequestID:
		v = info.RequestID.Bytes()
	case abi.AttrSourceAddress:
		ok = info.Source.IsValid()
		v = []byte(info.Source.String())
	case abi.AttrDestinationAddress:
		ok = info.Destination.IsValid()
		v = []byte(info.Destination.String())
	default:
		nc := f.cb.Connection()
		if nc == nil {
			return rEnded
		}
		tv, known := tlsAttribute(nc.Attributes(), abi.AttributeID(id))
		if !known {
			return rBadArg
		}
		v = []byte(tv)
	}
	if !ok || len(v) == 0 {
		return rNotFound
	}
	*(*abi.Buffer)(out) = f.lend(v)
	return rOK
}

func cbGetAttributeInt(h uint64, id uint32, out unsafe.Pointer) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	if out == nil {
		return rBadArg
	}
	info := f.cb.Info()
	if info == nil {
		return rEnded
	}
	var v int64
	switch abi.AttributeID(id) {
	case abi.AttrSourcePort:
		if !info.Source.IsValid() {
			return rNotFound
		}
		v = int64(info.Source.Port())
	case abi.AttrDestinationPort:
		if !info.Destination.IsValid() {
			return rNotFound
		}
		v = int64(info.Destination.Port())
	case abi.AttrConnectionID:
		v = int64(f.cb.ConnID())
	case abi.AttrStreamID:
		v = int64(f.cb.StreamID())
	case abi.AttrWorkerIndex:
		v = int64(f.cb.WorkerIndex())
	case abi.AttrResponseCode:
		if m, r := f.headerMap(uint32(abi.ResponseHeaders)); r == rOK && m.Status() != 0 {
			v = int64(m.Status())
		} else if info.Status != 0 {
			v = int64(info.Status)
		} else {
			return rNotFound
		}
	default:
		return rBadArg
	}
	*(*int64)(out) = v
	return rOK
}

func cbMetadataSetString(h uint64, ns unsafe.Pointer, nsLen uintptr, key unsafe.Pointer, keyLen uintptr,
	value unsafe.Pointer, valueLen uintptr) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	if nsLen == 0 || keyLen == 0 {
		return rBadArg
	}
	info := f.cb.Info()
	if info == nil {
		return rEnded
	}
	info.SetMetadata(cString(ns, nsLen), cString(key, keyLen), hcm.MetadataValue{Str: cString(value, valueLen)})
	return rOK
}

func cbMetadataSetNumber(h uint64, ns unsafe.Pointer, nsLen uintptr, key unsafe.Pointer, keyLen uintptr, value float64) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	if nsLen == 0 || keyLen == 0 {
		return rBadArg
	}
	info := f.cb.Info()
	if info == nil {
		return rEnded
	}
	info.SetMetadata(cString(ns, nsLen), cString(key, keyLen), hcm.MetadataValue{Num: value, IsNumber: true})
	return rOK
}

func (f *filter) metadata(ns unsafe.Pointer, nsLen uintptr, key unsafe.Pointer, keyLen uintptr) (hcm.MetadataValue, bool) {
	// Lookups with strings converted in place: no allocation, no retention.
	info := f.cb.Info()
	if info == nil {
		return hcm.MetadataValue{}, false
	}
	return info.GetMetadata(unsafeString(ns, nsLen), unsafeString(key, keyLen))
}

func unsafeString(p unsafe.Pointer, n uintptr) string {
	if p == nil || n == 0 {
		return ""
	}
	return unsafe.String((*byte)(p), n)
}

func cbMetadataGetString(h uint64, ns unsafe.Pointer, nsLen uintptr, key unsafe.Pointer, keyLen uintptr, out unsafe.Pointer) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	v, ok := f.metadata(ns, nsLen, key, keyLen)
	return metadataString(v, ok, f.lend, out)
}

func cbMetadataGetNumber(h uint64, ns unsafe.Pointer, nsLen uintptr, key unsafe.Pointer, keyLen uintptr, out unsafe.Pointer) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	v, ok := f.metadata(ns, nsLen, key, keyLen)
	// A string that holds a number is accepted: metadata often comes from
	// headers.
	return metadataNumber(v, ok, out)
}

func cbPerRouteConfig(h uint64, out unsafe.Pointer) int32 {
	f, r := readFilter(h)
	if r != rOK {
		return r
	}
	if out == nil {
		return rBadArg
	}
	pr, ok := f.cb.PerFilterConfig(f.factory.key).(*PerRouteConfig)
	if !ok || pr == nil || pr.destroyed {
		return rNotFound
	}
	*(*uintptr)(out) = pr.modPtr
	return rOK
}
