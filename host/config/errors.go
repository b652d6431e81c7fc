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

// problems collects errors and remembers the order in which the decoder
// visited each path, so errors can be reported in file order even though
// viper hands us Go maps (which have no order). Visiting follows the schema's
// field order and the list order of the file.
type problems struct {
	list  []Error
	order map[string]int
}

func newProblems() *problems { return &problems{order: make(map[string]int)} }

func (p *problems) visit(path string) {
	if _, ok := p.order[path]; !ok {
		p.order[path] = len(p.order)
	}
}

func (p *problems) add(path, msg string) { p.list = append(p.list, Error{Path: path, Msg: msg}) }

// rank is the visit order of path or of its nearest visited ancestor.
func (p *problems) rank(path string) int {
	for {
		if r, ok := p.order[path]; ok {
			return r
		}
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return len(p.order)
		}
		path = path[:i]
	}
}

// sorted returns the errors in file order; errors at the same place keep the
// order in which they were found.
func (p *problems) sorted() []Error {
	out := append([]Error(nil), p.list...)
	sort.SliceStable(out, func(i, j int) bool { return p.rank(out[i].Path) < p.rank(out[j].Path) })
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
