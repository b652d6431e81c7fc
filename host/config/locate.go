package config

import (
	"bytes"
	"strconv"
	"strings"
)

// locate maps the YAML paths of block-style keys and list items to their
// 1-based line numbers, so errors can be sorted in file order (viper hands
// us maps, which have no order). It is a heuristic over indentation, not a
// YAML parser: whatever it cannot place (flow-style content, merged
// anchors) is ordered by its nearest located ancestor instead.
func locate(data []byte) map[string]int {
	type frame struct {
		indent int
		path   string
		item   bool // a "- " list item, not a key
		next   int  // next list index under this key
	}
	lines := make(map[string]int)
	stack := []*frame{{indent: -1}}
	blockIndent := -1 // inside a block scalar ("|" or ">") opened at this indent

	for n, raw := range bytes.Split(data, []byte("\n")) {
		line := strings.TrimRight(string(raw), " \r")
		col := len(line) - len(strings.TrimLeft(line, " "))
		rest := line[col:]
		if blockIndent >= 0 {
			if rest == "" || col > blockIndent {
				continue
			}
			blockIndent = -1
		}
		if rest == "" || rest[0] == '#' || rest[0] == '%' || strings.HasPrefix(rest, "---") || strings.HasPrefix(rest, "...") {
			continue
		}
		for {
			if rest == "-" || strings.HasPrefix(rest, "- ") {
				// An item belongs to the nearest key left of or at its column.
				for top := stack[len(stack)-1]; top.indent > col || (top.indent == col && top.item); top = stack[len(stack)-1] {
					stack = stack[:len(stack)-1]
				}
				parent := stack[len(stack)-1]
				f := &frame{indent: col, item: true, path: parent.path + "[" + strconv.Itoa(parent.next) + "]"}
				parent.next++
				stack = append(stack, f)
				record(lines, f.path, n+1)
				if rest == "-" {
					break
				}
				after := rest[2:]
				skip := len(after) - len(strings.TrimLeft(after, " "))
				col += 2 + skip
				rest = after[skip:]
				if isBlockScalar(rest) {
					blockIndent = f.indent
				}
				continue
			}
			key, value, ok := splitKey(rest)
			if !ok {
				break
			}
			for top := stack[len(stack)-1]; top.indent >= col; top = stack[len(stack)-1] {
				stack = stack[:len(stack)-1]
			}
			parent := stack[len(stack)-1]
			f := &frame{indent: col, path: join(parent.path, key)}
			stack = append(stack, f)
			record(lines, f.path, n+1)
			if isBlockScalar(value) {
				blockIndent = col
			}
			break
		}
	}
	return lines
}

func record(lines map[string]int, path string, line int) {
	if _, seen := lines[path]; !seen {
		lines[path] = line
	}
}

// splitKey splits "key: value" (plain or quoted key); ok is false for
// anything else (scalars, flow collections, continuation lines).
func splitKey(s string) (key, value string, ok bool) {
	if s == "" || strings.IndexByte("[{&*!|>@`?", s[0]) >= 0 {
		return "", "", false
	}
	if q := s[0]; q == '"' || q == '\'' {
		end := strings.IndexByte(s[1:], q)
		if end < 0 {
			return "", "", false
		}
		key, s = s[1:1+end], s[2+end:]
		s = strings.TrimLeft(s, " ")
		if s != ":" && !strings.HasPrefix(s, ": ") {
			return "", "", false
		}
		return key, strings.TrimSpace(s[1:]), true
	}
	i := strings.Index(s, ": ")
	if i < 0 {
		if !strings.HasSuffix(s, ":") {
			return "", "", false
		}
		i = len(s) - 1
	}
	if j := strings.Index(s, " #"); j >= 0 && j < i {
		return "", "", false // the colon is inside a comment
	}
	return strings.TrimRight(s[:i], " "), strings.TrimSpace(s[i+1:]), true
}

// isBlockScalar reports whether a value opens a literal or folded block
// ("|", ">-", "|+2", optionally followed by a comment).
func isBlockScalar(v string) bool {
	if v == "" || (v[0] != '|' && v[0] != '>') {
		return false
	}
	for _, c := range v[1:] {
		switch {
		case c == '-' || c == '+' || (c >= '1' && c <= '9'):
		case c == ' ' || c == '#':
			return true
		default:
			return false
		}
	}
	return true
}
