package auth

import (
	"encoding/csv"
	"io"
	"strings"
)

// CSVWriter writes CSV for spreadsheets, as every export of Gatehouse does: a UTF-8 BOM first (so Excel
// and WPS read Chinese names as UTF-8), CRLF line ends, and every cell a spreadsheet would read as a
// formula (one starting with =, +, -, @, a tab or a carriage return) prefixed with an apostrophe, so a
// value a visitor chose (a username, an audit target) cannot run as a formula when an admin opens it.
type CSVWriter struct {
	w       *csv.Writer
	out     io.Writer
	started bool
}

// NewCSVWriter writes to out.
func NewCSVWriter(out io.Writer) *CSVWriter {
	w := csv.NewWriter(out)
	w.UseCRLF = true
	return &CSVWriter{w: w, out: out}
}

// Write writes one record.
func (s *CSVWriter) Write(record ...string) error {
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
func (s *CSVWriter) Flush() error {
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
