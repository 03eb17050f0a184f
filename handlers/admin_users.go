package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/views"
)

const usersPerPage = 25

// UserList lists users with search, filters and paging.
func (h *Handlers) UserList(c *gin.Context) {
	f, page := userFilter(c), pageNumber(c)
	ctx := c.Request.Context()
	res, err := h.Store.FilterUsers(ctx, f, (page-1)*usersPerPage, usersPerPage)
	if err != nil {
		h.fail(c, err)
		return
	}
	all, err := h.Store.Authenticators(ctx)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := views.UserListData{Query: f.Query, Bound: f.Bound, Disabled: f.Disabled, Authenticator: f.AuthenticatorID, Users: res.Users,
		ExportURL: views.PageURL("/admin/users/export", c.Request.URL.Query())(1),
		Pager:     views.Pager{Page: page, PerPage: usersPerPage, Total: res.Total, More: res.More, URL: views.PageURL("/admin/users", c.Request.URL.Query())}}
	for _, a := range all {
		if a.IsWeCom() {
			d.Authenticators = append(d.Authenticators, a)
		}
	}
	h.render(c, http.StatusOK, views.UserListPage(h.page(c, "users.title", "users"), d))
}

// userFilter reads the listing's filters; unknown values filter nothing.
func userFilter(c *gin.Context) models.UserFilter {
	f := models.UserFilter{Query: c.Query("q"), Bound: yesNo(c.Query("bound")), Disabled: yesNo(c.Query("disabled"))}
	if id, err := strconv.ParseInt(c.Query("authenticator"), 10, 64); err == nil && id > 0 {
		f.AuthenticatorID = id
	}
	return f
}

func yesNo(s string) string {
	if s == "yes" || s == "no" {
		return s
	}
	return ""
}

// UserExport streams the filtered users as CSV: a BOM so Excel reads UTF-8 (Chinese names), and cells
// that a spreadsheet would run as a formula escaped.
func (h *Handlers) UserExport(c *gin.Context) {
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="users.csv"`)
	c.Status(http.StatusOK)
	w := auth.NewCSVWriter(c.Writer)
	_ = w.Write("id", "username", "nickname", "email", "mobile", "admin", "disabled", "created_at", "last_signin_at", "wecom_bindings")
	err := h.Store.EachFilteredUser(c.Request.Context(), userFilter(c), func(u models.UserExportRow) error {
		last := ""
		if u.LastSigninAt != nil {
			last = u.LastSigninAt.UTC().Format(time.RFC3339)
		}
		return w.Write(strconv.FormatInt(u.ID, 10), u.Username, u.Nickname, u.Email, u.MobileString(),
			strconv.FormatBool(u.IsAdmin), strconv.FormatBool(u.Disabled), u.CreatedAt.UTC().Format(time.RFC3339), last, strings.Join(u.Bindings, " "))
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		// Headers are gone: the download ends short, and the log says why.
		h.Log.Error("export users", "err", err)
	}
}

// UserNew shows the form to create a user.
func (h *Handlers) UserNew(c *gin.Context) {
	h.render(c, http.StatusOK, views.UserNewPage(h.page(c, "users.new", "users"), views.UserNewData{}))
}

func userInput(c *gin.Context) auth.UserInput {
	return auth.UserInput{
		Username: c.PostForm("username"), Nickname: c.PostForm("nickname"), Email: c.PostForm("email"),
		Mobile: c.PostForm("mobile"), Password: c.PostForm("password"),
		IsAdmin: c.PostForm("is_admin") == "on", Disabled: c.PostForm("disabled") == "on",
	}
}

func userForm(in auth.UserInput) views.UserForm {
	return views.UserForm{Username: in.Username, Nickname: in.Nickname, Email: in.Email, Mobile: in.Mobile, IsAdmin: in.IsAdmin, Disabled: in.Disabled}
}

// fieldErrors translates validation codes; ok is false when err is not a validation error.
func (h *Handlers) fieldErrors(c *gin.Context, err error) (views.FieldErrors, bool) {
	var bad auth.Invalid
	if !errors.As(err, &bad) {
		return nil, false
	}
	t := h.T(c)
	out := views.FieldErrors{}
	for field, code := range bad {
		out[field] = t.T("validation." + code)
	}
	return out, true
}

// UserCreate creates a user; on bad input the form comes back with the input kept (never the password).
func (h *Handlers) UserCreate(c *gin.Context) {
	in := userInput(c)
	u, err := h.Accounts.Create(c.Request.Context(), in)
	if errs, ok := h.fieldErrors(c, err); ok {
		h.render(c, http.StatusUnprocessableEntity, views.UserNewPage(h.page(c, "users.new", "users"), views.UserNewData{Form: userForm(in), Errors: errs}))
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: models.ActionUserCreate, Target: u.Username, Detail: map[string]any{"is_admin": u.IsAdmin, "password": u.HasPassword()}})
	h.flash(c, "ok", "flash.user_created", "Username", u.Username)
	c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(u.ID, 10))
}

// UserEdit shows a user's edit page.
func (h *Handlers) UserEdit(c *gin.Context) {
	u, ok := h.loadUser(c)
	if !ok {
		return
	}
	in := auth.UserInput{Username: u.Username, Nickname: u.Nickname, Email: u.Email, Mobile: u.MobileString(), IsAdmin: u.IsAdmin, Disabled: u.Disabled}
	h.renderUserEdit(c, http.StatusOK, u, userForm(in), nil)
}

func (h *Handlers) renderUserEdit(c *gin.Context, status int, u models.User, form views.UserForm, errs views.FieldErrors) {
	h.renderUserPage(c, status, u, views.UserEditData{Form: form, Errors: errs})
}

// renderUserPage fills the user page's bindings (with what WeCom says of each member now), sessions
// and bind form around d, and renders it.
func (h *Handlers) renderUserPage(c *gin.Context, status int, u models.User, d views.UserEditData) {
	bindings, sessions, err := h.bindingsAndSessions(c, u.ID)
	if err != nil {
		h.fail(c, err)
		return
	}
	enabled, err := h.Store.EnabledAuthenticators(c.Request.Context())
	if err != nil {
		h.fail(c, err)
		return
	}
	for _, a := range enabled {
		if a.IsWeCom() {
			d.WeCom = append(d.WeCom, a)
		}
	}
	if d.Form == (views.UserForm{}) {
		d.Form = userForm(auth.UserInput{Username: u.Username, Nickname: u.Nickname, Email: u.Email, Mobile: u.MobileString(), IsAdmin: u.IsAdmin, Disabled: u.Disabled})
	}
	d.User, d.Bindings, d.Sessions, d.CurrentSession = u, bindings, sessions, currentSession(c).ID
	d.Members = h.memberViews(c, h.bindingsService().CheckAll(c.Request.Context(), bindings))
	if d.Groups, err = h.userGroups(c, u); err != nil {
		h.fail(c, err)
		return
	}
	if d.Directory, err = h.directoryViews(c.Request.Context(), u.ID, bindings); err != nil {
		h.fail(c, err)
		return
	}
	p := h.page(c, "users.title", "users")
	p.Title = u.Username
	h.render(c, status, views.UserEditPage(p, d))
}

func (h *Handlers) bindingsService() *auth.Bindings { return auth.NewBindings(h.Store, h.WeCom, h.Now) }

// memberViews translates what WeCom said of each binding's member.
func (h *Handlers) memberViews(c *gin.Context, checks map[int64]auth.MemberCheck) map[int64]views.MemberView {
	out := make(map[int64]views.MemberView, len(checks))
	for id, m := range checks {
		out[id] = h.memberView(c, m)
	}
	return out
}

func (h *Handlers) memberView(c *gin.Context, m auth.MemberCheck) views.MemberView {
	t := h.T(c)
	if m.Code != 0 {
		return views.MemberView{Name: m.Name, Status: codeText(t, m.Code, "meaning"), Code: m.Code, Kind: "danger"}
	}
	v := views.MemberView{Name: m.Name, Status: t.T("member.status_" + strconv.Itoa(m.Status)), Kind: "ok"}
	switch m.Status {
	case auth.MemberActive:
	case auth.MemberNotActivated:
		v.Kind = "warn"
	default:
		v.Kind = "danger"
	}
	return v
}

// UserUpdate saves a user's profile, roles, status and (when given) a new password.
func (h *Handlers) UserUpdate(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		h.NotFound(c)
		return
	}
	in := userInput(c)
	u, err := h.Accounts.Update(c.Request.Context(), id, in)
	if errs, ok := h.fieldErrors(c, err); ok {
		current, lerr := h.Store.UserByID(c.Request.Context(), id)
		if lerr != nil {
			h.fail(c, lerr)
			return
		}
		h.renderUserEdit(c, http.StatusUnprocessableEntity, current, userForm(in), errs)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: models.ActionUserUpdate, Target: u.Username, Detail: map[string]any{"is_admin": u.IsAdmin, "disabled": u.Disabled, "password_changed": in.Password != ""}})
	if in.Password != "" {
		// A new password ends the user's other sessions: someone who knew the old one is signed out.
		// An admin setting their own keeps the session they are using.
		keep := ""
		if me, ok := CurrentUser(c); ok && me.ID == u.ID {
			keep = currentSession(c).ID
		}
		n, err := h.Store.RevokeUserSessions(c.Request.Context(), u.ID, keep, h.Now())
		if err != nil {
			h.fail(c, err)
			return
		}
		h.audit(c, h.revokeEvent(u.Username, n, "password_set"))
	}
	h.flash(c, "ok", "flash.user_saved", "Username", u.Username)
	c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(u.ID, 10))
}

// UserRevokeSessions signs a user out everywhere.
func (h *Handlers) UserRevokeSessions(c *gin.Context) {
	u, ok := h.loadUser(c)
	if !ok {
		return
	}
	n, err := h.Store.RevokeUserSessions(c.Request.Context(), u.ID, "", h.Now())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, h.revokeEvent(u.Username, n, "all"))
	h.flash(c, "ok", "flash.user_sessions_revoked", "Username", u.Username, "Count", strconv.FormatInt(n, 10))
	c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(u.ID, 10))
}

// loadUser loads the user named by the :id path parameter, or answers 404.
func (h *Handlers) loadUser(c *gin.Context) (models.User, bool) {
	id, ok := pathID(c, "id")
	if !ok {
		h.NotFound(c)
		return models.User{}, false
	}
	u, err := h.Store.UserByID(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return u, false
	}
	return u, true
}

func (h *Handlers) revokeEvent(username string, n int64, scope string) models.Event {
	return models.Event{Action: models.ActionSessionRevoke, Target: username, Detail: map[string]any{"count": n, "scope": scope}}
}

// BindingCreate binds a user to a WeCom member by userid, once WeCom confirms the member (DESIGN.md §5).
func (h *Handlers) BindingCreate(c *gin.Context) {
	u, ok := h.loadUser(c)
	if !ok {
		return
	}
	bind := views.BindForm{Authenticator: c.PostForm("authenticator"), UserID: c.PostForm("userid")}
	b, a, check, err := h.bindingsService().Bind(c.Request.Context(), u.ID, bind.Authenticator, bind.UserID)
	if errs, ok := h.fieldErrors(c, err); ok {
		if check.Code != 0 && errs["userid"] != "" {
			errs["userid"] += " " + h.wecomSaid(c, err, check.Code)
		}
		d := views.UserEditData{Bind: bind, BindErrors: errs}
		if check.Code == 0 && check.Name != "" {
			mv := h.memberView(c, check)
			d.Checked = &mv
		}
		h.renderUserPage(c, http.StatusUnprocessableEntity, u, d)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: models.ActionBindingCreate, Target: b.Subject, Detail: map[string]any{
		"authenticator": a.Name, "user": u.Username, "user_id": u.ID, "corp_id": b.CorpID, "by": "admin", "member_status": check.Status}})
	h.flash(c, "ok", "flash.binding_created", "Subject", b.Subject, "Name", check.Name)
	c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(u.ID, 10))
}

// wecomSaid says which errcode WeCom answered; when the refusal is not one the form explains (the
// app's settings, the network), also what it means and how to fix it.
func (h *Handlers) wecomSaid(c *gin.Context, err error, code int) string {
	t := h.T(c)
	var bad auth.Invalid
	if errors.As(err, &bad) && bad["userid"] == "binding_wecom_error" {
		if code < 0 { // no errcode: WeCom was not reached, or did not answer in JSON
			return codeText(t, code, "meaning") + " " + codeText(t, code, "fix")
		}
		return t.T("binding.wecom_said", "Code", strconv.Itoa(code), "Meaning", codeText(t, code, "meaning")) + " " + codeText(t, code, "fix")
	}
	return t.T("binding.errcode", "Code", strconv.Itoa(code))
}

// BindingDelete unbinds a WeCom identity from a user; the sessions made through it end. Without
// confirm=yes it shows what would be unbound and asks first.
func (h *Handlers) BindingDelete(c *gin.Context) {
	id, ok1 := pathID(c, "id")
	bid, ok2 := pathID(c, "bid")
	if !ok1 || !ok2 {
		h.NotFound(c)
		return
	}
	if c.PostForm("confirm") != "yes" {
		h.confirmUnbind(c, id, bid, "/admin/users/"+strconv.FormatInt(id, 10))
		return
	}
	b, ended, err := h.Store.UnbindUser(c.Request.Context(), id, bid, h.Now())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: models.ActionBindingDelete, Target: b.Subject, Detail: map[string]any{"user_id": id, "authenticator_id": b.AuthenticatorID, "corp_id": b.CorpID, "sessions_ended": ended, "by": "admin"}})
	h.flash(c, "ok", "flash.binding_deleted", "Subject", b.Subject)
	c.Redirect(http.StatusSeeOther, "/admin/users/"+strconv.FormatInt(id, 10))
}

// confirmUnbind shows the binding about to be removed with a form that confirms it.
func (h *Handlers) confirmUnbind(c *gin.Context, userID, bindingID int64, back string) {
	list, err := h.Store.UserBindings(c.Request.Context(), userID)
	if err != nil {
		h.fail(c, err)
		return
	}
	for _, b := range list {
		if b.ID == bindingID {
			u, err := h.Store.UserByID(c.Request.Context(), userID)
			if err != nil {
				h.fail(c, err)
				return
			}
			p := h.page(c, "binding.confirm_title", "")
			if strings.HasPrefix(back, "/admin/") {
				p.Nav = "users"
			}
			h.render(c, http.StatusOK, views.UnbindConfirmPage(p, views.UnbindConfirmData{User: u, Binding: b, Action: c.Request.URL.Path, Back: back}))
			return
		}
	}
	h.NotFound(c)
}
