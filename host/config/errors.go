package config

import (
	"sort"
	"strings"
)

// Error is one problem in a config, at a YAML path such as
// "clusters[0].connect_timeout". Path is empty for whole-file problems
// (unreadable file, YAML syntax).
type Error struct {
	Path, Msg string
}

func (e Error) String() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Errors is every problem found in one config source.
type Errors struct {
	Source string
	List   []Error
}

// Error renders one "SOURCE: PATH: MSG" line per problem.
func (e *Errors) Error() string {
	var b strings.Builder
	for i, x := range e.List {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.Source != "" {
			b.WriteString(e.Source)
			b.WriteString(": ")
		}
		b.WriteString(x.String())
	}
	return b.String()
}

// problems collects errors with what is needed to report them in file
// order: the line of each located path, and the order in which the decoder
// visited paths (the schema's field order, the file's list order), which
// breaks ties and places what locate could not.
type problems struct {
	list  []Error
	order map[string]int
	lines map[string]int // path → first line, from locate
	ends  map[string]int // path → last located line of its block
}

func newProblems() *problems { return &problems{order: make(map[string]int)} }

func (p *problems) visit(path string) {
	if _, ok := p.order[path]; !ok {
		p.order[path] = len(p.order)
	}
}

func (p *problems) add(path, msg string) { p.list = append(p.list, Error{Path: path, Msg: msg}) }

// parent strips the last ".key" or "[i]" of a path; ok is false at the root.
func parent(path string) (string, bool) {
	i := strings.LastIndexAny(path, ".[")
	if i <= 0 {
		return "", path != ""
	}
	return path[:i], true
}

// nearest looks path up in m, else its nearest ancestor; missing is what
// an unknown path gets.
func nearest(m map[string]int, path string, missing int) int {
	for {
		if r, ok := m[path]; ok {
			return r
		}
		var more bool
		if path, more = parent(path); !more {
			return missing
		}
	}
}

// setLines records where each path starts, and where each block ends: the
// last located line at or below it.
func (p *problems) setLines(lines map[string]int) {
	p.lines = lines
	p.ends = make(map[string]int, len(lines))
	for path, line := range lines {
		for more := true; more; path, more = parent(path) {
			if line > p.ends[path] {
				p.ends[path] = line
			}
		}
	}
}

// line is where an error at path belongs: the path's own line, or, for
// something absent or written in flow style, the end of the nearest located
// block that holds it (that is where a reader notices it is missing).
func (p *problems) line(path string) (line int, located bool) {
	if l, ok := p.lines[path]; ok {
		return l, true
	}
	for more := true; more; {
		if path, more = parent(path); !more {
			break
		}
		if _, ok := p.lines[path]; ok {
			return p.ends[path], false
		}
	}
	return p.ends[""], false
}

// sorted returns the errors in file order: by line; at the same line,
// located paths first; then by the schema order the decoder visited paths
// in. Errors at the same place keep the order they were found.
func (p *problems) sorted() []Error {
	out := append([]Error(nil), p.list...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Path, out[j].Path
		la, locA := p.line(a)
		lb, locB := p.line(b)
		if la != lb {
			return la < lb
		}
		if locA != locB {
			return locA
		}
		return nearest(p.order, a, len(p.order)) < nearest(p.order, b, len(p.order))
	})
	return out
}

// covers reports whether path is at or below one of the decode error paths,
// so validation does not repeat a problem the decoder already reported.
func covers(bad []string, path string) bool {
	for _, b := range bad {
		if path == b || strings.HasPrefix(path, b+".") || strings.HasPrefix(path, b+"[") {
			return true
		}
	}
	return false
}
