package headers

import (
	"fmt"
	"testing"
)

func TestInternerReusesAndStaysBounded(t *testing.T) {
	var in Interner
	v := []byte("application/grpc")
	if in.Intern(v) != "application/grpc" {
		t.Fatal("wrong value")
	}
	if n := testing.AllocsPerRun(100, func() { in.Intern(v) }); n != 0 {
		t.Fatalf("an interned value allocates %v times", n)
	}
	long := make([]byte, maxInternedLen+1)
	in.Intern(long)
	if _, ok := in.m[string(long)]; ok {
		t.Fatal("a value over the length bound was kept")
	}
	for i := 0; i < 5*maxInterned; i++ {
		in.Intern([]byte(fmt.Sprint("v", i)))
		if len(in.m) > maxInterned {
			t.Fatalf("%d values held, bound %d", len(in.m), maxInterned)
		}
	}
}
