package web

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestDemoGuideExplainsTheHandoff(t *testing.T) {
	var buf bytes.Buffer
	logDemoGuide(slog.New(slog.NewTextHandler(&buf, nil)), Config{AdminUsername: "admin", Addr: "127.0.0.1:8080"})
	for _, want := range []string{"Hand-off QR", "lisi", "Open as the WeCom client", "I have scanned it"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("demo guide does not mention %q", want)
		}
	}
}
