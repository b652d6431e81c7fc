package router

import (
	"errors"
	"regexp"
	"strings"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/headers"
)

type headerMatchKind uint8

const (
	headerExact headerMatchKind = iota
	headerPrefix
	headerRegex
	headerPresent
)

// headerMatcher is a compiled config.HeaderMatcher. As in Envoy, a header
// with several values is matched as the values joined with ",".
type headerMatcher struct {
	name    string
	kind    headerMatchKind
	value   string
	re      *regexp.Regexp
	present bool // for headerPresent: true matches presence, false absence
	invert  bool
}

func compileHeaderMatcher(c *config.HeaderMatcher) (headerMatcher, error) {
	m := headerMatcher{name: strings.ToLower(c.Name), invert: c.InvertMatch}
	n := 0
	if c.ExactMatch != nil {
		m.kind, m.value = headerExact, *c.ExactMatch
		n++
	}
	if c.PrefixMatch != nil {
		m.kind, m.value = headerPrefix, *c.PrefixMatch
		n++
	}
	if c.PresentMatch != nil {
		m.kind, m.present = headerPresent, *c.PresentMatch
		n++
	}
	if c.SafeRegexMatch != nil {
		re, err := compileFull(*c.SafeRegexMatch)
		if err != nil {
			return m, err
		}
		m.kind, m.re = headerRegex, re
		n++
	}
	if n != 1 {
		return m, errors.New("exactly one of exact_match, present_match, safe_regex_match, prefix_match is required")
	}
	return m, nil
}

func (m *headerMatcher) matches(h *headers.Map) bool {
	return m.test(h) != m.invert
}

// test is the match before invert_match. An absent header matches only
// present_match: false.
func (m *headerMatcher) test(h *headers.Map) bool {
	count := h.Count(m.name)
	if m.kind == headerPresent {
		return (count > 0) == m.present
	}
	switch {
	case count == 0:
		return false
	case count == 1:
		v, _ := h.Get(m.name)
		return m.testValue(v)
	}
	switch m.kind {
	case headerExact:
		ok, n := joinedPrefix(h, m.name, m.value)
		return ok && n == len(m.value)
	case headerPrefix:
		ok, _ := joinedPrefix(h, m.name, m.value)
		return ok
	}
	// A regex over several values needs them joined; this allocates, but
	// repeated headers are rare and regex header matchers rarer.
	joined := make([]byte, 0, 64)
	first := true
	h.Values(m.name, func(v []byte) bool {
		if !first {
			joined = append(joined, ',')
		}
		first = false
		joined = append(joined, v...)
		return true
	})
	return m.re.Match(joined)
}

func (m *headerMatcher) testValue(v []byte) bool {
	switch m.kind {
	case headerExact:
		return string(v) == m.value
	case headerPrefix:
		return len(v) >= len(m.value) && string(v[:len(m.value)]) == m.value
	default:
		return m.re.Match(v)
	}
}

// joinedPrefix reports whether the ","-joined values of name start with
// want, without building the joined string, and the joined length.
func joinedPrefix(h *headers.Map, name, want string) (ok bool, joinedLen int) {
	pos, first, ok := 0, true, true
	h.Values(name, func(v []byte) bool {
		if !first {
			if pos < len(want) && want[pos] != ',' {
				ok = false
				return false
			}
			pos++
		}
		first = false
		if pos < len(want) {
			n := min(len(v), len(want)-pos)
			if string(v[:n]) != want[pos:pos+n] {
				ok = false
				return false
			}
		}
		pos += len(v)
		return true
	})
	return ok && pos >= len(want), pos
}
