package wecomtest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Directory reads of a self-built app (shared/wecom-directory.md §1–§4), limited to the app's visible
// range, the knobs for WeCom's rate limits, and the setters tests use to change the directory.
//
//	GET  /cgi-bin/department/simplelist?access_token=&id=   visible departments: id, parentid, order
//	GET  /cgi-bin/department/list?access_token=&id=         the same with names
//	GET  /cgi-bin/department/get?access_token=&id=          one visible department (60011 outside the range)
//	GET  /cgi-bin/tag/list?access_token=                    every tag (a self-built app sees all)
//	GET  /cgi-bin/tag/get?access_token=&tagid=              a tag's members and departments in the range
//	POST /cgi-bin/user/list_id?access_token=                refused (48002): contacts-sync secret only
//
// A department is visible to an app when it or one of its ancestors is in App.VisibleDepartments (nil:
// the whole corp). A visible department whose parent is not visible keeps that parentid, so a walk up
// the tree stops there, as the facts file infers WeCom does.

// Department is a department of a simulated corp.
type Department struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	NameEN   string `json:"name_en"`
	ParentID int    `json:"parentid"`
	Order    int    `json:"order"`
}

// Tag is a tag of a simulated corp: its members and its departments.
type Tag struct {
	ID      int      `json:"tagid"`
	Name    string   `json:"tagname"`
	Users   []string `json:"users"`
	Parties []int    `json:"parties"`
}

// MemberSnapshot is a member as seen before or after a change; Exists is false for a member added or
// removed by it.
type MemberSnapshot struct {
	Exists      bool
	Status      int
	VisibleTo   []int64 // nil: every app
	Departments []int
	Tags        []int
}

// VisibleToApp tells whether the member was in the visible range of the app with agentID.
func (m MemberSnapshot) VisibleToApp(agentID int64) bool {
	return m.Exists && (m.VisibleTo == nil || slices.Contains(m.VisibleTo, agentID))
}

// MemberChange tells a hook what a setter changed of a member: What is "status", "visibility",
// "departments", "tags" or "removed".
type MemberChange struct {
	CorpID, UserID, What string
	Before, After        MemberSnapshot
}

// OnMemberChange registers f to be told, after the fact and outside the simulator's lock, of every
// change a setter makes to a member (SetMemberStatus, SetMemberVisibleTo, SetMemberDepartments,
// SetMemberTags, RemoveMember): the hook for event pushes.
func (s *Sim) OnMemberChange(f func(MemberChange)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, f)
}

// changeMember applies f to a member under the lock, then tells the hooks.
func (s *Sim) changeMember(corpID, userID, what string, f func(*corpState, *Member) error) error {
	s.mu.Lock()
	c, ok := s.corps[corpID]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("wecomtest: no corp %s", corpID)
	}
	m, ok := c.members[userID]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("wecomtest: corp %s: no member %s", corpID, userID)
	}
	before, beforeEvents := c.snapshot(userID), memberSnapshot(c, m)
	if err := f(c, m); err != nil {
		s.mu.Unlock()
		return err
	}
	s.queueMemberEvents(c, m, beforeEvents) // subscribe / unsubscribe / change_contact pushes (events.go)
	ch := MemberChange{CorpID: corpID, UserID: userID, What: what, Before: before, After: c.snapshot(userID)}
	hooks := slices.Clone(s.hooks)
	s.mu.Unlock()
	for _, h := range hooks {
		h(ch)
	}
	return nil
}

func (c *corpState) snapshot(userID string) MemberSnapshot {
	m, ok := c.members[userID]
	if !ok {
		return MemberSnapshot{}
	}
	return MemberSnapshot{Exists: true, Status: m.Status, VisibleTo: slices.Clone(m.VisibleTo),
		Departments: slices.Clone(m.Department), Tags: c.memberTags(userID)}
}

// SetMemberVisibleTo puts a member in the visible range of exactly these apps (nil: every app).
// Outside it, user/get answers 60011 and tag/get leaves the member out.
func (s *Sim) SetMemberVisibleTo(corpID, userID string, agentIDs []int64) error {
	return s.changeMember(corpID, userID, "visibility", func(_ *corpState, m *Member) error {
		m.VisibleTo = slices.Clone(agentIDs)
		return nil
	})
}

// SetMemberDepartments moves a member to these departments (created under the root when unknown).
func (s *Sim) SetMemberDepartments(corpID, userID string, departments []int) error {
	return s.changeMember(corpID, userID, "departments", func(c *corpState, m *Member) error {
		for _, d := range departments {
			c.ensureDept(d)
		}
		m.Department = slices.Clone(departments)
		return nil
	})
}

// SetMemberTags makes these tags (which must exist) exactly the member's tags.
func (s *Sim) SetMemberTags(corpID, userID string, tagIDs []int) error {
	return s.changeMember(corpID, userID, "tags", func(c *corpState, m *Member) error {
		for _, id := range tagIDs {
			if c.tags[id] == nil {
				return fmt.Errorf("wecomtest: corp %s: no tag %d", c.ID, id)
			}
		}
		for id, t := range c.tags {
			t.Users = slices.DeleteFunc(t.Users, func(u string) bool { return u == m.UserID })
			if slices.Contains(tagIDs, id) {
				t.Users = append(t.Users, m.UserID)
			}
		}
		return nil
	})
}

// RemoveMember deletes a member, as an admin deleting them after they left: user/get then answers
// 60111 and codes are no longer issued for them.
func (s *Sim) RemoveMember(corpID, userID string) error {
	return s.changeMember(corpID, userID, "removed", func(c *corpState, m *Member) error {
		delete(c.members, userID)
		m.Status = 5 // gone from every app: the event pushes see it leave
		c.order = slices.DeleteFunc(c.order, func(u string) bool { return u == userID })
		for _, t := range c.tags {
			t.Users = slices.DeleteFunc(t.Users, func(u string) bool { return u == userID })
		}
		return nil
	})
}

// AddDepartment adds or replaces a department of a corp.
func (s *Sim) AddDepartment(corpID string, d Department) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.corps[corpID]
	if !ok {
		return fmt.Errorf("wecomtest: no corp %s", corpID)
	}
	if d.ID <= 0 {
		return fmt.Errorf("wecomtest: corp %s: department id %d", corpID, d.ID)
	}
	c.depts[d.ID] = &d
	return nil
}

// RenameDepartment changes a department's name, as the admin console would.
func (s *Sim) RenameDepartment(corpID string, id int, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.corps[corpID]
	if !ok || c.depts[id] == nil {
		return fmt.Errorf("wecomtest: corp %s: no department %d", corpID, id)
	}
	c.depts[id].Name = name
	return nil
}

// AddTag adds or replaces a tag of a corp.
func (s *Sim) AddTag(corpID string, t Tag) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.corps[corpID]
	if !ok {
		return fmt.Errorf("wecomtest: no corp %s", corpID)
	}
	if t.ID <= 0 {
		return fmt.Errorf("wecomtest: corp %s: tag id %d", corpID, t.ID)
	}
	t.Users, t.Parties = slices.Clone(t.Users), slices.Clone(t.Parties)
	c.tags[t.ID] = &t
	return nil
}

// SetVisibleRange sets the departments in an app's visible range (each with every department under
// it; nil: the whole corp).
func (s *Sim) SetVisibleRange(corpID string, agentID int64, departments []int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.corps[corpID]
	if !ok {
		return fmt.Errorf("wecomtest: no corp %s", corpID)
	}
	for i := range c.Apps {
		if c.Apps[i].AgentID == agentID {
			c.Apps[i].VisibleDepartments = slices.Clone(departments)
			return nil
		}
	}
	return fmt.Errorf("wecomtest: corp %s has no app %d", corpID, agentID)
}

// SetRateLimit makes calls to endpoint beyond perMinute in one minute of the simulator's clock answer
// 45009 until the minute is over (0 lifts the limit).
func (s *Sim) SetRateLimit(endpoint string, perMinute int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perMinute[endpoint] = perMinute
	delete(s.window, endpoint)
}

// SetConcurrencyLimit makes an API call answer 45033 while more than n calls are under way at once
// (0 lifts the limit). Combine with SetLatency to make calls overlap.
func (s *Sim) SetConcurrencyLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxConcurrent = n
}

type rateWindow struct {
	start time.Time
	n     int
}

// admit counts a call against the rate-limit knobs; s.mu must be held. It returns the errcode to
// answer (45009, 45033) or 0, and whether the call holds a concurrency slot to give back with leave.
func (s *Sim) admit(endpoint string) (code int, slot bool) {
	if limit := s.perMinute[endpoint]; limit > 0 {
		now := s.now()
		w := s.window[endpoint]
		if w == nil || now.Sub(w.start) >= time.Minute {
			w = &rateWindow{start: now}
			s.window[endpoint] = w
		}
		w.n++
		if w.n > limit {
			return 45009, false
		}
	}
	if s.maxConcurrent > 0 {
		if s.inFlight >= s.maxConcurrent {
			return 45033, false
		}
		s.inFlight++
		return 0, true
	}
	return 0, false
}

func (s *Sim) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
}

// initDirectory indexes a new corp's departments and tags, adding the root department when missing.
func (c *corpState) initDirectory() error {
	c.depts = make(map[int]*Department)
	c.tags = make(map[int]*Tag)
	for _, d := range c.Departments {
		if d.ID <= 0 || c.depts[d.ID] != nil {
			return fmt.Errorf("wecomtest: corp %s: department id %d is not positive or twice", c.ID, d.ID)
		}
		c.depts[d.ID] = &d
	}
	if c.depts[1] == nil {
		c.depts[1] = &Department{ID: 1, Name: c.Name}
	}
	for _, t := range c.Tags {
		if t.ID <= 0 || c.tags[t.ID] != nil {
			return fmt.Errorf("wecomtest: corp %s: tag id %d is not positive or twice", c.ID, t.ID)
		}
		t.Users, t.Parties = slices.Clone(t.Users), slices.Clone(t.Parties)
		c.tags[t.ID] = &t
	}
	c.Departments, c.Tags = nil, nil
	return nil
}

// ensureDept creates an unknown department under the root, so a member is never in a department the
// directory does not have.
func (c *corpState) ensureDept(id int) {
	if c.depts[id] == nil && id > 0 {
		c.depts[id] = &Department{ID: id, Name: "Department " + strconv.Itoa(id), ParentID: 1}
	}
}

// deptVisible tells whether department id is in app's visible range: it or an ancestor is listed.
func (c *corpState) deptVisible(app App, id int) bool {
	if c.depts[id] == nil {
		return false
	}
	if app.VisibleDepartments == nil {
		return true
	}
	for seen := 0; id != 0 && seen < 64; seen++ {
		if slices.Contains(app.VisibleDepartments, id) {
			return true
		}
		d := c.depts[id]
		if d == nil {
			return false
		}
		id = d.ParentID
	}
	return false
}

// visibleDepts lists the departments the app sees under root (0: all), root included, by id.
func (c *corpState) visibleDepts(app App, root int) []*Department {
	var out []*Department
	for id, d := range c.depts {
		if c.deptVisible(app, id) && (root == 0 || c.under(id, root)) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *Department) int { return a.ID - b.ID })
	return out
}

// under tells whether department id is root or below it.
func (c *corpState) under(id, root int) bool {
	for seen := 0; id != 0 && seen < 64; seen++ {
		if id == root {
			return true
		}
		d := c.depts[id]
		if d == nil {
			return false
		}
		id = d.ParentID
	}
	return false
}

// memberTags lists the ids of the tags that name the member, in order.
func (c *corpState) memberTags(userID string) []int {
	var out []int
	for id, t := range c.tags {
		if slices.Contains(t.Users, userID) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// deptQuery reads the id parameter: 0 when absent, ok false when it is not a positive number.
func deptQuery(r *http.Request, name string) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, true
	}
	id, err := strconv.Atoi(v)
	return id, err == nil && id > 0
}

func (s *Sim) departmentSimpleList(r *http.Request) (reply, int) {
	return s.departmentList(r, false)
}

func (s *Sim) departmentFullList(r *http.Request) (reply, int) {
	return s.departmentList(r, true)
}

func (s *Sim) departmentList(r *http.Request, names bool) (reply, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, app, errcode := s.caller(r)
	if errcode != 0 {
		return nil, errcode
	}
	root, ok := deptQuery(r, "id")
	switch {
	case !ok:
		return nil, 60123
	case root != 0 && c.depts[root] == nil:
		return nil, 60003
	case root != 0 && !c.deptVisible(app, root):
		return nil, 60011
	}
	list := []map[string]any{}
	for _, d := range c.visibleDepts(app, root) {
		row := map[string]any{"id": d.ID, "parentid": d.ParentID, "order": d.Order}
		if names {
			row["name"], row["name_en"], row["department_leader"] = d.Name, d.NameEN, []string{}
		}
		list = append(list, row)
	}
	if names {
		return reply{"department": list}, 0
	}
	return reply{"department_id": list}, 0
}

func (s *Sim) departmentGet(r *http.Request) (reply, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, app, errcode := s.caller(r)
	if errcode != 0 {
		return nil, errcode
	}
	id, ok := deptQuery(r, "id")
	switch {
	case !ok || id == 0:
		return nil, 60123
	case c.depts[id] == nil:
		return nil, 60003
	case !c.deptVisible(app, id):
		return nil, 60011
	}
	d := c.depts[id]
	return reply{"department": map[string]any{"id": d.ID, "name": d.Name, "name_en": d.NameEN,
		"department_leader": []string{}, "parentid": d.ParentID, "order": d.Order}}, 0
}

func (s *Sim) tagList(r *http.Request) (reply, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _, errcode := s.caller(r)
	if errcode != 0 {
		return nil, errcode
	}
	ids := make([]int, 0, len(c.tags))
	for id := range c.tags {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	list := []map[string]any{}
	for _, id := range ids {
		list = append(list, map[string]any{"tagid": id, "tagname": c.tags[id].Name})
	}
	return reply{"taglist": list}, 0
}

func (s *Sim) tagGet(r *http.Request) (reply, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, app, errcode := s.caller(r)
	if errcode != 0 {
		return nil, errcode
	}
	id, ok := deptQuery(r, "tagid")
	t := c.tags[id]
	if !ok || t == nil {
		return nil, 40068
	}
	users := []map[string]any{}
	for _, u := range t.Users {
		if m := c.members[u]; m != nil && m.visibleTo(app.AgentID) {
			users = append(users, map[string]any{"userid": m.UserID, "name": m.Name})
		}
	}
	parties := []int{}
	for _, p := range t.Parties {
		if c.deptVisible(app, p) {
			parties = append(parties, p)
		}
	}
	return reply{"tagname": t.Name, "userlist": users, "partylist": parties}, 0
}

// userListID refuses an app's token: the call is for the contacts-sync secret only (48002 is the
// likely errcode; the facts file marks it unverified).
func (s *Sim) userListID(r *http.Request) (reply, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, _, errcode := s.caller(r); errcode != 0 {
		return nil, errcode
	}
	return nil, 48002
}

// visibleMemberDepts is the member's departments the app may see (user/get's "department").
func (c *corpState) visibleMemberDepts(app App, m *Member) []int {
	out := []int{}
	for _, d := range m.Department {
		if c.deptVisible(app, d) {
			out = append(out, d)
		}
	}
	return out
}
