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
		n, path, err := QRPath(text)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" data-testid="handoff-qr" aria-label="`, n, n); err != nil {
			return err
		}
		if _, err := io.WriteString(w, templ.EscapeString(label)); err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, `"><rect width="%d" height="%d" fill="#fff"/><path d="%s" fill="#1f2329"/></svg>`, n, n, path)
		return err
	})
}

// QRPath encodes text as a QR code and returns the side of the SVG square it is drawn in (the code and
// its quiet zone) and the SVG path of its dark modules. The WeCom simulator draws its QR pages with it too.
func QRPath(text string) (size int, path string, err error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return 0, "", fmt.Errorf("encode QR code: %w", err)
	}
	const quiet = 4
	var b strings.Builder
	for y := range code.Size {
		for x := range code.Size {
			if code.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	return code.Size + 2*quiet, b.String(), nil
}
