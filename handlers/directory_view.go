package handlers

import (
	"context"
	"strconv"

	"gatehouse/directory"
	"gatehouse/models"
	"gatehouse/views"
)

// directoryViews describes what WeCom said last about each of a user's bound members, with the
// department and tag names recorded for their authenticators. Bindings whose member was never
// refreshed are shown too (status unknown), so an admin sees that nothing is known yet.
func (h *Handlers) directoryViews(ctx context.Context, userID int64, bindings []models.BindingWithAuthenticator) ([]views.DirectoryView, error) {
	members, err := h.Store.UserDirectoryMembers(ctx, userID)
	if err != nil {
		return nil, err
	}
	byBinding := make(map[int64]models.DirectoryMember, len(members))
	for _, m := range members {
		byBinding[m.BindingID] = m
	}
	depts := map[int64]map[int64]models.DirectoryDepartment{}
	tags := map[int64]map[int64]string{}
	var out []views.DirectoryView
	for _, b := range bindings {
		m := byBinding[b.ID]
		v := views.DirectoryView{BindingID: b.ID, Subject: b.Subject, AuthenticatorTitle: b.AuthenticatorTitle,
			Status: m.Status, SuspendedAt: m.SuspendedAt, RefreshedAt: m.RefreshedAt}
		if len(m.Departments) > 0 || len(m.Tags) > 0 {
			if _, ok := depts[b.AuthenticatorID]; !ok {
				if depts[b.AuthenticatorID], tags[b.AuthenticatorID], err = h.directoryNames(ctx, b.AuthenticatorID); err != nil {
					return nil, err
				}
			}
		}
		for _, id := range m.Departments {
			v.Departments = append(v.Departments, departmentView(depts[b.AuthenticatorID], id))
		}
		for _, id := range m.Tags {
			name := tags[b.AuthenticatorID][id]
			if name == "" {
				name = "#" + strconv.FormatInt(id, 10)
			}
			v.Tags = append(v.Tags, name)
		}
		out = append(out, v)
	}
	return out, nil
}

// directoryNames loads an authenticator's recorded departments (by id) and tag names (by id).
func (h *Handlers) directoryNames(ctx context.Context, authenticatorID int64) (map[int64]models.DirectoryDepartment, map[int64]string, error) {
	dl, err := h.Store.DirectoryDepartments(ctx, authenticatorID)
	if err != nil {
		return nil, nil, err
	}
	tl, err := h.Store.DirectoryTags(ctx, authenticatorID)
	if err != nil {
		return nil, nil, err
	}
	depts := make(map[int64]models.DirectoryDepartment, len(dl))
	for _, d := range dl {
		depts[d.DeptID] = d
	}
	tags := make(map[int64]string, len(tl))
	for _, t := range tl {
		tags[t.TagID] = t.Name
	}
	return depts, tags, nil
}

// departmentView is a department with the names from the top of the visible tree down to it; a
// department outside the visible range (or not recorded) shows its id, and a path whose top has an
// invisible parent is marked cut.
func departmentView(known map[int64]models.DirectoryDepartment, id int64) views.DepartmentView {
	path, cut := directory.DepartmentNames(known, id)
	return views.DepartmentView{ID: id, Path: path, Cut: cut}
}
