package router

import (
	"strings"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/headers"
)

type appendAction uint8

const (
	appendIfExistsOrAdd appendAction = iota
	addIfAbsent
	overwriteIfExistsOrAdd
	overwriteIfExists
)

type headerAdd struct {
	name, value string
	action      appendAction
}

// headerMutations are one level's (virtual host or route) header edits.
// Removals run before additions, as in Envoy.
type headerMutations struct {
	requestAdd, responseAdd       []headerAdd
	requestRemove, responseRemove []string
}

func compileMutations(reqAdd []config.HeaderValueOption, reqRemove []string, respAdd []config.HeaderValueOption, respRemove []string) headerMutations {
	return headerMutations{
		requestAdd:     compileAdds(reqAdd),
		requestRemove:  lowerAll(reqRemove),
		responseAdd:    compileAdds(respAdd),
		responseRemove: lowerAll(respRemove),
	}
}

func compileAdds(list []config.HeaderValueOption) []headerAdd {
	out := make([]headerAdd, 0, len(list))
	for _, o := range list {
		a := headerAdd{name: strings.ToLower(o.Header.Key), value: o.Header.Value}
		switch o.AppendAction {
		case config.AddIfAbsent:
			a.action = addIfAbsent
		case config.OverwriteIfExistsOrAdd:
			a.action = overwriteIfExistsOrAdd
		case config.OverwriteIfExists:
			a.action = overwriteIfExists
		default:
			a.action = appendIfExistsOrAdd
		}
		out = append(out, a)
	}
	return out
}

func lowerAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}

func (m *headerMutations) applyRequest(h *headers.Map) { apply(h, m.requestRemove, m.requestAdd) }

func (m *headerMutations) applyResponse(h *headers.Map) { apply(h, m.responseRemove, m.responseAdd) }

func apply(h *headers.Map, remove []string, add []headerAdd) {
	for _, name := range remove {
		h.Del(name)
	}
	for i := range add {
		a := &add[i]
		switch a.action {
		case appendIfExistsOrAdd:
			h.AddString(a.name, a.value)
		case addIfAbsent:
			if !h.Has(a.name) {
				h.AddString(a.name, a.value)
			}
		case overwriteIfExistsOrAdd:
			h.SetString(a.name, a.value)
		case overwriteIfExists:
			if h.Has(a.name) {
				h.SetString(a.name, a.value)
			}
		}
	}
}
