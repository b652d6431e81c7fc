package http1

import (
	"math/rand"
	"testing"

	"github.com/sluiceproxy/sluice/host/http1/http1test"
)

type streamCase struct {
	name   string
	kind   Kind
	method string // for responses: the request's method
	raw    string
}

// propertyCorpus is every message of the table tests.
func propertyCorpus() []streamCase {
	var cs []streamCase
	for _, c := range acceptRequestCases {
		cs = append(cs, streamCase{c.name, Request, "", c.raw})
	}
	for _, c := range rejectRequestCases {
		cs = append(cs, streamCase{c.name, Request, "", c.raw})
	}
	for _, c := range http1test.Smuggling {
		cs = append(cs, streamCase{c.Name, Request, "", c.Raw})
	}
	for _, c := range responseCases {
		cs = append(cs, streamCase{"response_" + c.name, Response, c.method, c.raw})
	}
	return cs
}

func runSplit(c streamCase, pieces [][]byte) result {
	var p Parser
	p.Init(c.kind, Limits{})
	if c.kind == Response {
		p.ExpectResponseToMethod([]byte(c.method))
	}
	return drive(&p, pieces, true)
}

// Splitting a stream anywhere, or feeding it byte by byte, must not change
// a single event, view or error.
func TestSplitAtEveryByteGivesSameEvents(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, c := range propertyCorpus() {
		raw := []byte(c.raw)
		whole := runSplit(c, [][]byte{raw}).fullTrace()
		check := func(how string, pieces [][]byte) {
			if got := runSplit(c, pieces).fullTrace(); got != whole {
				t.Fatalf("%s split %s:\n%s\nwhole:\n%s", c.name, how, got, whole)
			}
		}
		var bytewise [][]byte
		for i := range raw {
			bytewise = append(bytewise, raw[i:i+1])
		}
		check("byte by byte", bytewise)
		if len(raw) <= 4096 {
			for i := 0; i <= len(raw); i++ {
				check("at "+itoa(i), [][]byte{raw[:i], raw[i:]})
			}
			continue
		}
		for n := 0; n < 50; n++ { // large inputs: random three-way splits
			i := rng.Intn(len(raw) + 1)
			j := i + rng.Intn(len(raw)-i+1)
			check("at "+itoa(i)+","+itoa(j), [][]byte{raw[:i], raw[i:j], raw[j:]})
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}
