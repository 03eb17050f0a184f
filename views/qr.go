package views

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/a-h/templ"
	"rsc.io/qr"
)

// QRCode draws text as an inline SVG QR code: no outside service and no data: URI, so the page's
// CSP stays 'self'. Only numbers go into the markup, never text, so it is safe to write raw.
func QRCode(text, label string) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		code, err := qr.Encode(text, qr.M)
		if err != nil {
			return fmt.Errorf("encode QR code: %w", err)
		}
		const quiet = 4
		n := code.Size + 2*quiet
		var path strings.Builder
		for y := range code.Size {
			for x := range code.Size {
				if code.Black(x, y) {
					fmt.Fprintf(&path, "M%d %dh1v1h-1z", x+quiet, y+quiet)
				}
			}
		}
		if _, err := fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" data-testid="handoff-qr" aria-label="`, n, n); err != nil {
			return err
		}
		if _, err := io.WriteString(w, templ.EscapeString(label)); err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, `"><rect width="%d" height="%d" fill="#fff"/><path d="%s" fill="#1f2329"/></svg>`, n, n, path.String())
		return err
	})
}
