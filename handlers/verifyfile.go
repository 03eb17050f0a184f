package handlers

import (
	"errors"
	"io"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/models"
)

// verifyFileName is the only name a domain verification file may have: WeCom's WW_verify_<code>.txt.
var verifyFileName = regexp.MustCompile(`^WW_verify_[A-Za-z0-9]{1,64}\.txt$`)

// maxVerifyFile is the largest content accepted; WeCom's files hold a 16-character code.
const maxVerifyFile = 1024

// AuthenticatorVerifyFile stores the domain verification file WeCom asks for, uploaded (multipart
// "file") or pasted ("name" and "content"), or removes it ("remove" = "yes").
func (h *Handlers) AuthenticatorVerifyFile(c *gin.Context) {
	a, ok := h.loadWeComAuthenticator(c)
	if !ok {
		return
	}
	back := "/admin/authenticators/" + strconv.FormatInt(a.ID, 10)
	var f *models.VerifyFile
	if c.PostForm("remove") != "yes" {
		name, content, problem := verifyFileInput(c)
		if problem != "" {
			h.flash(c, "error", "flash.verify_file_"+problem)
			c.Redirect(http.StatusSeeOther, back)
			return
		}
		f = &models.VerifyFile{Name: name, Content: content}
	}
	if err := h.Store.SetVerifyFile(c.Request.Context(), a.ID, f); err != nil {
		h.fail(c, err)
		return
	}
	detail := map[string]any{"verify_file": "removed"}
	if f != nil {
		detail["verify_file"] = f.Name
		h.flash(c, "ok", "flash.verify_file_saved", "Name", f.Name)
	} else {
		h.flash(c, "ok", "flash.verify_file_removed")
	}
	h.audit(c, models.Event{Action: models.ActionAuthUpdate, Target: a.Name, Authenticator: a.Name, Detail: detail})
	c.Redirect(http.StatusSeeOther, back)
}

// verifyFileInput reads the upload or the pasted fields and says what is wrong ("name", "content",
// "missing") when they will not do.
func verifyFileInput(c *gin.Context) (name, content, problem string) {
	if fh, err := c.FormFile("file"); err == nil {
		name = path.Base(strings.ReplaceAll(fh.Filename, `\`, "/")) // browsers on Windows may send a path
		if fh.Size > maxVerifyFile {
			return name, "", "content"
		}
		r, err := fh.Open()
		if err != nil {
			return name, "", "content"
		}
		defer r.Close()
		b, err := io.ReadAll(io.LimitReader(r, maxVerifyFile+1))
		if err != nil {
			return name, "", "content"
		}
		content = string(b)
	} else {
		name, content = strings.TrimSpace(c.PostForm("name")), c.PostForm("content")
		if name == "" && content == "" {
			return "", "", "missing"
		}
	}
	content = strings.TrimSpace(content)
	switch {
	case !verifyFileName.MatchString(name):
		return name, content, "name"
	case content == "" || len(content) > maxVerifyFile || !printable(content):
		return name, content, "content"
	}
	return name, content, ""
}

// printable tells whether s is printable ASCII: WeCom's code is, and anything else (markup, control
// characters) has no business being served from the domain's root.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// VerifyFile serves a stored domain verification file at exactly its name, as text/plain; every other
// path at the root (another WW_verify_*.txt included) is the ordinary 404.
func (h *Handlers) VerifyFile(c *gin.Context) {
	name := c.Param("file")
	if !verifyFileName.MatchString(name) {
		h.NotFound(c)
		return
	}
	f, err := h.Store.VerifyFileByName(c.Request.Context(), name)
	if errors.Is(err, models.ErrNotFound) {
		h.NotFound(c)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(f.Content))
}
