// Command securitytable reads `go test -json` on stdin and prints the security suite's summary: one row
// per attack a test reported with securitytest.Report (attack | expected | observed | result | test),
// one row for every other leaf test that ran (a TestSecurity… or Fuzz… test that reports no rows still
// shows whether it passed), the output of every failed test, and a last line "N passed, N failed".
// It exits 1 when anything failed, including a package that did not build, so it can end a pipe.
//
//	go test -json -run '^(TestSecurity|Fuzz)' ./... | go run ./web/securitytest/cmd/securitytable
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"gatehouse/web/securitytest"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// row is one line of the table.
type row struct {
	attack, expected, observed, result, test string
}

// run collects what the test run reported.
type run struct {
	rows    []row
	results map[string]string   // "pkg test" → pass, fail or skip
	output  map[string][]string // "pkg test" → output lines, to show for failures
	order   []string            // "pkg test" in the order they started
	broken  []string            // packages that failed outside any test (build errors)
}

func main() {
	markdown := flag.Bool("markdown", false, "print a Markdown table (for SECURITY.md) instead of aligned columns")
	flag.Parse()
	r, err := read(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "securitytable:", err)
		os.Exit(2)
	}
	rows := r.table()
	r.printFailures(os.Stdout)
	print(os.Stdout, rows, *markdown)
	passed, failed := count(rows)
	failed += len(r.broken)
	for _, p := range r.broken {
		fmt.Printf("package %s failed outside any test (see its output above)\n", p)
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 || passed == 0 {
		os.Exit(1)
	}
}

func read(in io.Reader) (*run, error) {
	r := &run{results: map[string]string{}, output: map[string][]string{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Println(sc.Text()) // not JSON: go's own messages (build errors), pass them on
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output": // compiler errors (go 1.24+ reports them in the JSON stream)
			fmt.Print(e.Output)
		case "run":
			r.order = append(r.order, key)
		case "output":
			if e.Test == "" {
				if strings.HasPrefix(e.Output, "FAIL") || strings.Contains(e.Output, ".go:") {
					fmt.Print(e.Output) // build and setup errors of a package
				}
				continue
			}
			r.output[key] = append(r.output[key], e.Output)
			if row, ok := parse(e.Output); ok {
				row.test = shortPkg(e.Package) + " " + e.Test
				r.rows = append(r.rows, row)
			}
		case "pass", "fail", "skip":
			if e.Test == "" {
				if e.Action == "fail" && !r.anyFailed(e.Package) {
					r.broken = append(r.broken, e.Package)
				}
				continue
			}
			r.results[key] = e.Action
		}
	}
	return r, sc.Err()
}

// parse reads a line logged by securitytest.Check: "    file.go:12: SECURITY\tok\tattack\texpected\tobserved".
func parse(line string) (row, bool) {
	i := strings.Index(line, securitytest.Marker+"\t")
	if i < 0 {
		return row{}, false
	}
	f := strings.Split(strings.TrimRight(line[i:], "\n"), "\t")
	if len(f) != 5 {
		return row{}, false
	}
	return row{result: map[string]string{"ok": "pass", "FAIL": "FAIL"}[f[1]], attack: f[2], expected: f[3], observed: f[4]}, true
}

func (r *run) anyFailed(pkg string) bool {
	for k, v := range r.results {
		if v == "fail" && strings.HasPrefix(k, pkg+" ") {
			return true
		}
	}
	return false
}

// table is the reported rows, plus one row per leaf test that reported none (its pass or fail).
func (r *run) table() []row {
	covered := map[string]bool{}
	for _, rw := range r.rows {
		pkg, test, _ := strings.Cut(rw.test, " ")
		for t := test; ; {
			covered[pkg+" "+t] = true
			i := strings.LastIndex(t, "/")
			if i < 0 {
				break
			}
			t = t[:i]
		}
	}
	rows := r.rows
	for _, key := range r.order {
		pkg, test, _ := strings.Cut(key, " ")
		res := r.results[key]
		if covered[shortPkg(pkg)+" "+test] || !r.leaf(key) || res == "skip" || seed(test) {
			continue
		}
		observed := map[string]string{"pass": "pass", "fail": "FAIL", "": "did not finish"}[res]
		rows = append(rows, row{attack: words(test), expected: "pass", observed: observed, result: observed, test: shortPkg(pkg) + " " + test})
	}
	return rows
}

// leaf tells whether a test has no subtests; a fuzz target's seed inputs count as the target itself.
func (r *run) leaf(key string) bool {
	for _, k := range r.order {
		if strings.HasPrefix(k, key+"/") && !seed(k) {
			return false
		}
	}
	return true
}

// printFailures shows the output of each failed leaf test, as go test would have.
func (r *run) printFailures(w io.Writer) {
	for _, key := range r.order {
		if r.results[key] == "fail" && r.leaf(key) {
			fmt.Fprintf(w, "--- FAIL: %s\n%s", key, strings.Join(r.output[key], ""))
		}
	}
}

// print writes the table, grouped by test and then by attack, so that one attack's rows on SQLite and
// PostgreSQL sit together; the test column names the top-level test and the database.
func print(w io.Writer, rows []row, markdown bool) {
	for i := range rows {
		rows[i].test = testLabel(rows[i].test)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if ta, tb := strings.Fields(a.test)[1], strings.Fields(b.test)[1]; ta != tb {
			return ta < tb
		}
		if a.attack != b.attack {
			return a.attack < b.attack
		}
		return a.test < b.test
	})
	if markdown {
		fmt.Fprintln(w, "| attack | expected | observed | result | test |\n|---|---|---|---|---|")
		for _, r := range rows {
			fmt.Fprintf(w, "| %s | %s | %s | %s | `%s` |\n", md(r.attack), md(r.expected), md(r.observed), r.result, r.test)
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ATTACK\tEXPECTED\tOBSERVED\tRESULT\tTEST")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cut(r.attack, 100), cut(r.expected, 45), cut(r.observed, 45), r.result, r.test)
	}
	tw.Flush()
}

func count(rows []row) (passed, failed int) {
	for _, r := range rows {
		if r.result == "pass" {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

// testLabel shortens "web TestX/postgres/some_row" to "web TestX [postgres]": the attack column already
// says which row it is.
func testLabel(test string) string {
	pkg, name, _ := strings.Cut(test, " ")
	parts := strings.Split(name, "/")
	label := pkg + " " + parts[0]
	for _, p := range parts[1:] {
		if p == "sqlite" || p == "postgres" {
			label += " [" + p + "]"
		}
	}
	return label
}

func seed(test string) bool {
	i := strings.LastIndex(test, "/")
	return i >= 0 && strings.HasPrefix(test[i+1:], "seed#")
}

// words turns a test name into the attack it names ("TestSecurityX/a_b" → "X: a b").
func words(test string) string {
	if strings.HasPrefix(test, "Fuzz") && !strings.Contains(test, "/") {
		return test + " (seed corpus)"
	}
	test = strings.TrimPrefix(strings.TrimPrefix(test, "TestSecurity"), "Test")
	return strings.NewReplacer("_", " ", "/", ": ").Replace(test)
}

func shortPkg(p string) string { return strings.TrimPrefix(p, "gatehouse/") }

func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func md(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
