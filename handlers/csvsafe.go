package handlers

import (
	"encoding/csv"
	"io"
	"strings"
)

// safeCSV writes CSV for spreadsheets: a UTF-8 BOM first, and every cell a spreadsheet would read as a
// formula (one starting with =, +, -, @, a tab or a carriage return) prefixed with an apostrophe, so an
// exported value a visitor chose (a username, a target) cannot run as a formula when an admin opens it.
type safeCSV struct {
	w       *csv.Writer
	out     io.Writer
	started bool
}

func newSafeCSV(out io.Writer) *safeCSV { return &safeCSV{w: csv.NewWriter(out), out: out} }

// Write writes one record.
func (s *safeCSV) Write(record []string) error {
	if !s.started {
		s.started = true
		if _, err := io.WriteString(s.out, "\uFEFF"); err != nil {
			return err
		}
	}
	cells := make([]string, len(record))
	for i, v := range record {
		cells[i] = csvCell(v)
	}
	return s.w.Write(cells)
}

// Flush sends what is buffered and reports any write error.
func (s *safeCSV) Flush() error {
	s.w.Flush()
	return s.w.Error()
}

// csvCell neutralises a formula.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
