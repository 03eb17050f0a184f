package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"gatehouse/directory"
	"gatehouse/models"
	"gatehouse/views"
)

// membersPerPage is how many members a group's page lists at once.
const membersPerPage = 50

// GroupList lists the groups with their numbers of rules and members.
func (h *Handlers) GroupList(c *gin.Context) {
	list, err := directory.GroupSummaries(c.Request.Context(), h.Store)
	if err != nil {
		h.fail(c, err)
		return
	}
	d := views.GroupListData{}
	for _, g := range list {
		d.Groups = append(d.Groups, views.GroupRow{ID: g.ID, Name: g.Name, Title: g.Title, Rules: g.Rules, Members: g.Members})
	}
	h.render(c, http.StatusOK, views.GroupListPage(h.page(c, "groups.title", "groups"), d))
}

// GroupNew shows the form to create a group.
func (h *Handlers) GroupNew(c *gin.Context) {
	h.renderGroupForm(c, http.StatusOK, "groups.new", views.GroupFormData{})
}

func groupInput(c *gin.Context) directory.GroupInput {
	return directory.GroupInput{Name: c.PostForm("name"), Title: c.PostForm("title"), Rules: c.PostForm("rules")}
}

func groupForm(in directory.GroupInput) views.GroupForm {
	return views.GroupForm{Name: in.Name, Title: in.Title, Rules: in.Rules}
}

// GroupCreate creates a group; on bad input the form comes back with the input kept and the errors
// beside the fields.
func (h *Handlers) GroupCreate(c *gin.Context) {
	in := groupInput(c)
	g, err := directory.CreateGroup(c.Request.Context(), h.Store, in)
	if bad, ok := errors.AsType[directory.InvalidGroup](err); ok {
		h.renderGroupForm(c, http.StatusUnprocessableEntity, "groups.new", h.groupErrors(c, views.GroupFormData{Form: groupForm(in)}, bad))
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: models.ActionGroupCreate, Target: g.Name, Detail: map[string]any{"title": g.Title, "rules": ruleLines(g.Rules)}})
	h.flash(c, "ok", "flash.groups_created", "Name", g.Name)
	c.Redirect(http.StatusSeeOther, "/admin/groups/"+strconv.FormatInt(g.ID, 10))
}

// GroupEdit shows a group's form, the applications naming it and its members.
func (h *Handlers) GroupEdit(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		h.NotFound(c)
		return
	}
	g, err := h.Store.Group(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.renderGroupForm(c, http.StatusOK, "groups.edit", views.GroupFormData{ID: g.ID, Form: views.GroupForm{Name: g.Name, Title: g.Title, Rules: g.Rules}})
}

// GroupUpdate saves a group; a rename is written into the applications naming it.
func (h *Handlers) GroupUpdate(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		h.NotFound(c)
		return
	}
	in := groupInput(c)
	ch, err := directory.UpdateGroup(c.Request.Context(), h.Store, id, in)
	if bad, ok := errors.AsType[directory.InvalidGroup](err); ok {
		h.renderGroupForm(c, http.StatusUnprocessableEntity, "groups.edit", h.groupErrors(c, views.GroupFormData{ID: id, Form: groupForm(in)}, bad))
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	g := ch.Group
	detail := map[string]any{"title": g.Title, "rules": ruleLines(g.Rules)}
	if ch.OldName != g.Name {
		detail["renamed_from"] = ch.OldName
		detail["apps"] = ch.Apps
	}
	h.audit(c, models.Event{Action: models.ActionGroupUpdate, Target: g.Name, Detail: detail})
	if ch.OldName != g.Name && len(ch.Apps) > 0 {
		h.flash(c, "ok", "flash.groups_renamed", "Name", g.Name, "Apps", strings.Join(ch.Apps, ", "))
	} else {
		h.flash(c, "ok", "flash.groups_saved", "Name", g.Name)
	}
	c.Redirect(http.StatusSeeOther, "/admin/groups/"+strconv.FormatInt(g.ID, 10))
}

// GroupDelete asks first (listing the applications that name the group), then, with confirm=yes,
// deletes the group and its name from those applications in one transaction.
func (h *Handlers) GroupDelete(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		h.NotFound(c)
		return
	}
	ctx := c.Request.Context()
	if c.PostForm("confirm") != "yes" {
		g, err := h.Store.Group(ctx, id)
		if err != nil {
			h.fail(c, err)
			return
		}
		apps, err := h.Store.AppsNamingGroup(ctx, g.Name)
		if err != nil {
			h.fail(c, err)
			return
		}
		m, err := directory.Match(ctx, h.Store, g)
		if err != nil {
			h.fail(c, err)
			return
		}
		n, err := h.Store.CountGroupMembers(ctx, m)
		if err != nil {
			h.fail(c, err)
			return
		}
		h.render(c, http.StatusOK, views.GroupDeletePage(h.page(c, "groups.delete_title", "groups"), views.GroupDeleteData{Group: g, Members: n, Apps: appNames(apps)}))
		return
	}
	g, apps, err := h.Store.DeleteGroupEverywhere(ctx, id)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.audit(c, models.Event{Action: models.ActionGroupDelete, Target: g.Name, Detail: map[string]any{"title": g.Title, "rules": ruleLines(g.Rules), "apps": apps}})
	h.flash(c, "ok", "flash.groups_deleted", "Name", g.Name)
	c.Redirect(http.StatusSeeOther, "/admin/groups")
}

// renderGroupForm fills the pickers, and for a saved group its applications and one page of its
// members, around d, and renders the form.
func (h *Handlers) renderGroupForm(c *gin.Context, status int, titleID string, d views.GroupFormData) {
	ctx := c.Request.Context()
	pickers, err := directory.Pickers(ctx, h.Store)
	if err != nil {
		h.fail(c, err)
		return
	}
	for _, pk := range pickers {
		d.Pickers = append(d.Pickers, views.GroupPicker{AuthName: pk.Authenticator.Name, AuthTitle: pk.Authenticator.Title,
			Departments: pickerEntries(pk.Departments), Tags: pickerEntries(pk.Tags)})
	}
	if d.ID != 0 {
		// The members and applications are those of the group as saved, also when the form was refused.
		g, err := h.Store.Group(ctx, d.ID)
		if err != nil {
			h.fail(c, err)
			return
		}
		apps, err := h.Store.AppsNamingGroup(ctx, g.Name)
		if err != nil {
			h.fail(c, err)
			return
		}
		d.Apps, d.Saved = appNames(apps), g.Name
		page := pageNumber(c)
		d.Members, d.MembersTotal, err = directory.GroupMembers(ctx, h.Store, g, (page-1)*membersPerPage, membersPerPage)
		if err != nil {
			h.fail(c, err)
			return
		}
		d.MembersPager = views.Pager{Page: page, PerPage: membersPerPage, Total: d.MembersTotal,
			URL: views.PageURL("/admin/groups/"+strconv.FormatInt(g.ID, 10), c.Request.URL.Query())}
	}
	p := h.page(c, titleID, "groups")
	if d.Saved != "" {
		p.Title = d.Saved // also when a refused form holds another name, or none
	}
	h.render(c, status, views.GroupFormPage(p, d))
}

// groupErrors translates a refused form's problems into d.
func (h *Handlers) groupErrors(c *gin.Context, d views.GroupFormData, bad directory.InvalidGroup) views.GroupFormData {
	t := h.T(c)
	d.Errors = views.FieldErrors{}
	for field, code := range bad.Fields {
		d.Errors[field] = t.T("groups.error_" + code)
	}
	for _, p := range bad.Rules {
		d.RuleErrors = append(d.RuleErrors, t.T("groups.rule_"+p.Code, "Line", p.Line, "Rule", p.Rule, "Other", p.Other))
	}
	return d
}

// userGroups lists the groups a user is in, for the admin user page.
func (h *Handlers) userGroups(c *gin.Context, u models.User) ([]models.Group, error) {
	return directory.UserGroupList(c.Request.Context(), h.Store, u)
}

func pickerEntries(list []directory.PickerEntry) []views.GroupPickerEntry {
	out := make([]views.GroupPickerEntry, len(list))
	for i, e := range list {
		out[i] = views.GroupPickerEntry{ID: e.ID, Name: e.Name, Path: e.Path, Rule: e.Rule}
	}
	return out
}

func appNames(apps []models.App) []string {
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	return names
}

// ruleLines is a group's stored rules as a list, for the audit detail.
func ruleLines(rules string) []string {
	return strings.Fields(rules)
}
