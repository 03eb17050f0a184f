package main

import (
	"strings"
	"testing"
)

// A run of two packages: web reports two attacks (one failed) and has a plain security test; auth runs
// a fuzz target's seeds; models did not build.
const sample = `{"Action":"run","Package":"gatehouse/web","Test":"TestSecurityA"}
{"Action":"run","Package":"gatehouse/web","Test":"TestSecurityA/sqlite"}
{"Action":"output","Package":"gatehouse/web","Test":"TestSecurityA/sqlite","Output":"    a_test.go:9: SECURITY\tok\tforged state\t400 state_invalid\t400 state_invalid\n"}
{"Action":"output","Package":"gatehouse/web","Test":"TestSecurityA/sqlite","Output":"    a_test.go:9: SECURITY\tFAIL\treused state\t400 state_invalid\t303 /\n"}
{"Action":"fail","Package":"gatehouse/web","Test":"TestSecurityA/sqlite"}
{"Action":"fail","Package":"gatehouse/web","Test":"TestSecurityA"}
{"Action":"run","Package":"gatehouse/web","Test":"TestSecurityPlain"}
{"Action":"run","Package":"gatehouse/web","Test":"TestSecurityPlain/one_row"}
{"Action":"pass","Package":"gatehouse/web","Test":"TestSecurityPlain/one_row"}
{"Action":"pass","Package":"gatehouse/web","Test":"TestSecurityPlain"}
{"Action":"fail","Package":"gatehouse/web"}
{"Action":"run","Package":"gatehouse/auth","Test":"FuzzSafeRedirect"}
{"Action":"run","Package":"gatehouse/auth","Test":"FuzzSafeRedirect/seed#0"}
{"Action":"pass","Package":"gatehouse/auth","Test":"FuzzSafeRedirect/seed#0"}
{"Action":"pass","Package":"gatehouse/auth","Test":"FuzzSafeRedirect"}
{"Action":"pass","Package":"gatehouse/auth"}
{"Action":"output","Package":"gatehouse/models","Output":"FAIL\tgatehouse/models [build failed]\n"}
{"Action":"fail","Package":"gatehouse/models"}
`

func TestTable(t *testing.T) {
	r, err := read(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rw := range r.table() {
		got = append(got, rw.attack+"|"+rw.observed+"|"+rw.result+"|"+rw.test)
	}
	want := []string{
		"forged state|400 state_invalid|pass|web TestSecurityA/sqlite",
		"reused state|303 /|FAIL|web TestSecurityA/sqlite",
		"Plain: one row|pass|pass|web TestSecurityPlain/one_row",
		"FuzzSafeRedirect (seed corpus)|pass|pass|auth FuzzSafeRedirect",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(r.broken) != 1 || r.broken[0] != "gatehouse/models" {
		t.Errorf("broken packages %v, want gatehouse/models only (web's failure is its test's)", r.broken)
	}
	if passed, failed := count(r.table()); passed != 3 || failed != 1 {
		t.Errorf("count = %d passed, %d failed", passed, failed)
	}
}
