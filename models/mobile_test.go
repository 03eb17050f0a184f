package models_test

import (
	"errors"
	"testing"

	"gatehouse/models"
)

func TestNormalizeMobile(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"empty stays empty (no mobile)", "", "", nil},
		{"blank stays empty", "   ", "", nil},
		{"11-digit mainland number assumes +86", "13800000001", "+8613800000001", nil},
		{"spaces inside a mainland number are dropped", "138 0000 0001", "+8613800000001", nil},
		{"+86 with dashes and a space", "+86 138-0000-0001", "+8613800000001", nil},
		{"0086 international prefix", "008613800000001", "+8613800000001", nil},
		{"86 prefix without plus", "8613800000001", "+8613800000001", nil},
		{"parentheses and dots are separators", "(138) 0000.0001", "+8613800000001", nil},
		{"Hong Kong number keeps its country code", "+852 9123 4567", "+85291234567", nil},
		{"US number with 00 prefix", "0012025550123", "+12025550123", nil},
		{"letters are refused", "138abc00001", "", models.ErrInvalidMobile},
		{"too short is refused", "12345", "", models.ErrInvalidMobile},
		{"10 digits without country code is refused", "1380000000", "", models.ErrInvalidMobile},
		{"11 digits not starting with 1 is refused", "23800000001", "", models.ErrInvalidMobile},
		{"foreign number without + is refused", "85291234567", "", models.ErrInvalidMobile},
		{"plus alone is refused", "+", "", models.ErrInvalidMobile},
		{"international number starting with 0 is refused", "+0123456789", "", models.ErrInvalidMobile},
		{"too long international number is refused", "+1234567890123456", "", models.ErrInvalidMobile},
		{"an email is refused", "alice@example.com", "", models.ErrInvalidMobile},
		{"SQL is refused", "1' OR '1'='1", "", models.ErrInvalidMobile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := models.NormalizeMobile(tt.in)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("NormalizeMobile(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("NormalizeMobile(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestRedactMobile(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"mainland number keeps country code and last four", "+8613800000001", "+86138****0001"},
		{"Hong Kong number", "+85291234567", "+852****4567"},
		{"short value is fully hidden", "+1234", "***"},
		{"empty is hidden", "", "***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := models.RedactMobile(tt.in)
			if got != tt.want {
				t.Fatalf("RedactMobile(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if len(tt.in) >= 9 && got == tt.in {
				t.Fatalf("RedactMobile(%q) left the number readable", tt.in)
			}
		})
	}
}
