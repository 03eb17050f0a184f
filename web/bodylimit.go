package web

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// maxFormBody bounds every request body outside upload routes. Gatehouse's largest form (a WeCom
// authenticator, with its description) is a few KiB url-encoded; 64 KiB leaves room and keeps one
// request from holding megabytes (a multipart POST to /signin used to buffer ~42 MB).
const maxFormBody = 64 << 10

// uploadRoutes are the routes that take a file upload, each with its own body limit: the only routes where
// multipart/form-data is accepted and a body may exceed maxFormBody. Granting a route is one line in
// routes.go: uploads.POST(group, path, limit, handlers...) instead of group.POST(path, handlers...).
type uploadRoutes map[string]int64 // "POST /admin/authenticators/:id/verify-file" → limit in bytes

// POST registers an upload route on g (filled while the routes are built, read-only afterwards).
func (u uploadRoutes) POST(g *gin.RouterGroup, path string, limit int64, handlers ...gin.HandlerFunc) {
	u[http.MethodPost+" "+strings.TrimSuffix(g.BasePath(), "/")+path] = limit
	g.POST(path, handlers...)
}

// limitBody refuses bodies over their route's limit (413) and multipart bodies where no upload is
// taken (415), each with a translated page instead of a 500 or an empty form. Outside upload routes
// the body (at most 64 KiB) is read here, so that an oversized one is answered before a handler runs
// and a handler never sees a form that was silently cut short.
func (s *Server) limitBody(allowed uploadRoutes) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		if r.Body == nil || r.Body == http.NoBody {
			c.Next()
			return
		}
		limit, upload := allowed[r.Method+" "+c.FullPath()]
		if !upload {
			limit = maxFormBody
			if media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); strings.HasPrefix(media, "multipart/") {
				s.refuseBody(c, s.h.UnsupportedMediaType)
				return
			}
		}
		if r.ContentLength > limit {
			s.refuseBody(c, s.h.TooLarge)
			return
		}
		r.Body = http.MaxBytesReader(c.Writer, r.Body, limit)
		if upload {
			c.Next() // the upload handler reads the stream and answers TooLarge on *http.MaxBytesError
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
				s.refuseBody(c, s.h.TooLarge)
			} else {
				s.refuseBody(c, s.h.BadRequest)
			}
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		c.Next()
	}
}

func (s *Server) refuseBody(c *gin.Context, page gin.HandlerFunc) {
	page(c)
	c.Abort()
}
