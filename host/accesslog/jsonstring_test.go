package accesslog

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestAppendJSONString(t *testing.T) {
	for in, want := range map[string]string{
		"":                                    `""`,
		"/index.html?a=b&c":                   `"/index.html?a=b&c"`,
		`say "hi" \ bye`:                      `"say \"hi\" \\ bye"`,
		"tab\tnl\ncr\rnul\x00bell\x07del\x7f": `"tab\tnl\ncr\rnul\u0000bell\u0007del` + "\x7f" + `"`,
		"caf\xc3\xa9 \xe2\x82\xac":            "\"caf\xc3\xa9 \xe2\x82\xac\"", // valid UTF-8 stays as is
		"bad\xff\xfe":                         `"bad\ufffd\ufffd"`,
		"cut\xe2\x82":                         `"cut\ufffd\ufffd"`,
		"ls\u2028ps\u2029":                    `"ls\u2028ps\u2029"`,
	} {
		if got := string(AppendJSONString(nil, in)); got != want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestAppendJSONStringDoesNotAllocate(t *testing.T) {
	b := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { b = AppendJSONString(b[:0], "/p?\"q\"\xff\u2028") }); n != 0 {
		t.Fatalf("%v allocations per call", n)
	}
}

// FuzzAppendJSONString: the output is encoding/json's (HTML escaping off)
// for any input, valid UTF-8 or not, and always parses as a JSON string.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\x7f", "\xff\xc3", "é€😀", "\u2028\u2029", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendJSONString([]byte("x"), s)[1:]
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("%q: got %s, encoding/json %s", s, got, want.Bytes())
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: %s does not parse: %v", s, got, err)
		}
	})
}
