package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/views"
)

// BulkBindMaxFile is the largest bulk-binding file: 50,000 lines of username and userid fit well
// within it. web/routes.go grants the upload route this limit plus room for the form around the file.
const BulkBindMaxFile = 2 << 20

// Rows the preview page shows; the downloadable CSV has every line.
const (
	previewProblemRows = 500
	previewBindRows    = 200
)

// BulkBindForm shows the upload form.
func (h *Handlers) BulkBindForm(c *gin.Context) {
	h.renderBulkForm(c, http.StatusOK, 0, "")
}

func (h *Handlers) renderBulkForm(c *gin.Context, status int, selected int64, errID string) {
	all, err := h.Store.Authenticators(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	d := views.BulkBindFormData{Selected: selected}
	for _, a := range all {
		if a.IsWeCom() {
			d.Authenticators = append(d.Authenticators, a)
		}
	}
	if errID != "" {
		d.Error = h.T(c).T(errID)
	}
	h.render(c, status, views.BulkBindFormPage(h.page(c, "bulkbind.title", "users"), d))
}

// BulkBindUpload stores the uploaded file server-side and redirects to its preview.
func (h *Handlers) BulkBindUpload(c *gin.Context) {
	authID, _ := strconv.ParseInt(c.PostForm("authenticator"), 10, 64)
	a, err := h.Store.AuthenticatorByID(c.Request.Context(), authID)
	if err != nil || !a.IsWeCom() {
		h.renderBulkForm(c, http.StatusUnprocessableEntity, authID, "bulkbind.error.authenticator")
		return
	}
	data, name, errID := readBulkFile(c)
	if errID == "" {
		_, err := auth.ParseBindFile(data)
		errID = bulkFileError(err)
	}
	if errID != "" {
		h.renderBulkForm(c, http.StatusUnprocessableEntity, authID, errID)
		return
	}
	me, _ := CurrentUser(c)
	sum := sha256.Sum256(data)
	imp := models.BulkImport{ID: randomID(), ActorUserID: me.ID, AuthenticatorID: a.ID, Filename: name, SHA256: hex.EncodeToString(sum[:]),
		Content: data, ExpiresAt: h.Now().Add(models.BulkImportTTL)}
	if err := h.Store.CreateBulkImport(c.Request.Context(), &imp); err != nil {
		h.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/admin/bindings/import/"+imp.ID)
}

// readBulkFile reads the "file" part, or says why not as a message id.
func readBulkFile(c *gin.Context) (data []byte, name string, errID string) {
	fh, err := c.FormFile("file")
	if err != nil {
		return nil, "", "bulkbind.error.no_file"
	}
	if fh.Size > BulkBindMaxFile {
		return nil, "", "bulkbind.error.too_large"
	}
	f, err := fh.Open()
	if err != nil {
		return nil, "", "bulkbind.error.no_file"
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, BulkBindMaxFile+1))
	if err != nil || len(data) > BulkBindMaxFile {
		return nil, "", "bulkbind.error.too_large"
	}
	return data, models.CleanText(cutName(fh.Filename)), ""
}

func cutName(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func bulkFileError(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, auth.ErrBulkTooManyRows):
		return "bulkbind.error.too_many_rows"
	case errors.Is(err, auth.ErrBulkNotUTF8):
		return "bulkbind.error.not_utf8"
	case errors.Is(err, auth.ErrBulkEmpty):
		return "bulkbind.error.empty"
	}
	return "bulkbind.error.unreadable"
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b)
}

// bulkImport is an upload with what it is for, loaded for the signed-in admin only.
type bulkImport struct {
	models.BulkImport
	Authenticator models.Authenticator
	File          auth.BindFile
}

func (h *Handlers) loadBulkImport(c *gin.Context, id string) (bulkImport, bool) {
	me, _ := CurrentUser(c)
	ctx := c.Request.Context()
	imp, err := h.Store.BulkImportByID(ctx, id, me.ID)
	if err != nil {
		h.fail(c, err)
		return bulkImport{}, false
	}
	a, err := h.Store.AuthenticatorByID(ctx, imp.AuthenticatorID)
	if err != nil {
		h.fail(c, err)
		return bulkImport{}, false
	}
	f, err := auth.ParseBindFile(imp.Content)
	if err != nil {
		h.fail(c, err)
		return bulkImport{}, false
	}
	return bulkImport{BulkImport: imp, Authenticator: a, File: f}, true
}

// BulkBindPreview shows what the uploaded file would do now (a dry run), or what it did once applied.
func (h *Handlers) BulkBindPreview(c *gin.Context) {
	imp, ok := h.loadBulkImport(c, c.Param("id"))
	if !ok {
		return
	}
	if imp.AppliedAt != nil {
		h.renderBulkApplied(c, imp)
		return
	}
	p, err := auth.PlanBulkBind(c.Request.Context(), h.Store, imp.Authenticator.ID, imp.File)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.renderBulkPreview(c, http.StatusOK, imp, p, false)
}

func (h *Handlers) renderBulkPreview(c *gin.Context, status int, imp bulkImport, p auth.BulkPlan, changed bool) {
	t := h.T(c)
	d := views.BulkBindPreviewData{ID: imp.ID, Filename: imp.Filename, Authenticator: imp.Authenticator.Title + " (" + imp.Authenticator.Name + ")",
		Counts: p.Counts, Total: len(p.Rows), Fingerprint: p.Fingerprint, Changed: changed}
	for _, r := range p.Rows {
		switch {
		case r.Result == auth.BulkBind && len(d.Bind) < previewBindRows:
			d.Bind = append(d.Bind, bulkRowView(t, r))
		case r.Result != auth.BulkBind && len(d.Problems) < previewProblemRows:
			d.Problems = append(d.Problems, bulkRowView(t, r))
		}
	}
	d.MoreBind = p.Counts[auth.BulkBind] - len(d.Bind)
	d.MoreProblems = len(p.Rows) - p.Counts[auth.BulkBind] - len(d.Problems)
	h.render(c, status, views.BulkBindPreviewPage(h.page(c, "bulkbind.preview_title", "users"), d))
}

func (h *Handlers) renderBulkApplied(c *gin.Context, imp bulkImport) {
	var counts map[string]int
	_ = json.Unmarshal([]byte(imp.Summary), &counts)
	d := views.BulkBindPreviewData{ID: imp.ID, Filename: imp.Filename, Authenticator: imp.Authenticator.Title + " (" + imp.Authenticator.Name + ")",
		Counts: counts, Applied: true}
	for _, n := range counts {
		d.Total += n
	}
	h.render(c, http.StatusOK, views.BulkBindPreviewPage(h.page(c, "bulkbind.applied_title", "users"), d))
}

func bulkRowView(t views.Translator, r auth.BulkRow) views.BulkRowView {
	return views.BulkRowView{Line: r.Line, Key: r.Key, Username: r.Username, Subject: r.Subject, Result: r.Result, Reason: bulkReason(t, r)}
}

func bulkReason(t views.Translator, r auth.BulkRow) string {
	if r.Reason == "" {
		return ""
	}
	return t.T("bulkbind.reason."+r.Reason, "Other", r.Other)
}

// BulkBindApply binds the previewed rows in one transaction. When the plan is no longer the previewed
// one (the database changed meanwhile), nothing is bound and the admin sees the new preview.
func (h *Handlers) BulkBindApply(c *gin.Context) {
	imp, ok := h.loadBulkImport(c, c.PostForm("import"))
	if !ok {
		return
	}
	if imp.AppliedAt != nil {
		c.Redirect(http.StatusSeeOther, "/admin/bindings/import/"+imp.ID)
		return
	}
	t := h.T(c)
	ctx := c.Request.Context()
	var plan auth.BulkPlan
	err := h.Store.InTx(ctx, func(tx *models.Store) error {
		var err error
		if plan, err = auth.ApplyBulkBind(ctx, tx, imp.Authenticator, imp.File, c.PostForm("fingerprint")); err != nil {
			return err
		}
		return markApplied(ctx, tx, imp.ID, plan, func(r auth.BulkRow) string { return bulkReason(t, r) }, h.Now())
	})
	if errors.Is(err, auth.ErrBulkPlanChanged) || errors.Is(err, models.ErrConflict) {
		// Changed under us (another admin, a sign-in binding someone): show what would happen now.
		if plan, err = auth.PlanBulkBind(ctx, h.Store, imp.Authenticator.ID, imp.File); err != nil {
			h.fail(c, err)
			return
		}
		h.renderBulkPreview(c, http.StatusConflict, imp, plan, true)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: models.ActionBindingImport, Target: imp.Authenticator.Name, Detail: map[string]any{
		"authenticator_id": imp.Authenticator.ID, "corp_id": imp.Authenticator.Options.CorpID, "file_sha256": imp.SHA256, "rows": len(plan.Rows),
		"bound": plan.Counts[auth.BulkBind], "skipped": plan.Counts[auth.BulkSkip], "conflicts": plan.Counts[auth.BulkConflict], "invalid": plan.Counts[auth.BulkInvalid]}})
	h.flash(c, "ok", "flash.bulkbind_applied", "Count", strconv.Itoa(plan.Counts[auth.BulkBind]))
	c.Redirect(http.StatusSeeOther, "/admin/bindings/import/"+imp.ID)
}

// markApplied stores the result CSV and counts with the bindings, in the same transaction, so a double
// submit binds once: the second finds the import applied.
func markApplied(ctx context.Context, tx *models.Store, id string, p auth.BulkPlan, reason func(auth.BulkRow) string, at time.Time) error {
	var buf bytes.Buffer
	if err := auth.WriteBulkResultCSV(&buf, p, reason); err != nil {
		return fmt.Errorf("bulk import %s result: %w", id, err)
	}
	summary, _ := json.Marshal(p.Counts)
	return tx.MarkBulkImportApplied(ctx, id, buf.Bytes(), string(summary), at)
}

// BulkBindResult downloads the result of an applied import, or the current dry run, as CSV.
func (h *Handlers) BulkBindResult(c *gin.Context) {
	imp, ok := h.loadBulkImport(c, c.Param("id"))
	if !ok {
		return
	}
	c.Header("Content-Disposition", `attachment; filename="bulk-binding-`+imp.ID[:8]+`.csv"`)
	c.Header("Content-Type", "text/csv; charset=utf-8")
	if imp.AppliedAt != nil {
		c.Status(http.StatusOK)
		_, _ = c.Writer.Write(imp.Result)
		return
	}
	p, err := auth.PlanBulkBind(c.Request.Context(), h.Store, imp.Authenticator.ID, imp.File)
	if err != nil {
		h.fail(c, err)
		return
	}
	t := h.T(c)
	c.Status(http.StatusOK)
	if err := auth.WriteBulkResultCSV(c.Writer, p, func(r auth.BulkRow) string { return bulkReason(t, r) }); err != nil {
		h.Log.Warn("write bulk binding preview", "err", err)
	}
}
