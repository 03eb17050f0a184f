package wecomtest

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// The demo corp's identifiers (DemoSeed).
const (
	DemoCorpID  = "wwdemo1234567890ab"
	DemoAgentID = int64(1000002)
	DemoSecret  = "demo-secret-0123456789abcdef0123456789abcdef"
)

// Seed is a simulator's starting data; it can be read from JSON with LoadSeed.
type Seed struct {
	Corps   []Corp              `json:"corps"`
	Members map[string][]Member `json:"members"` // by corp id
}

// LoadSeed reads a Seed from a JSON file.
func LoadSeed(path string) (Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Seed{}, fmt.Errorf("wecomtest: read seed: %w", err)
	}
	var seed Seed
	if err := json.Unmarshal(data, &seed); err != nil {
		return Seed{}, fmt.Errorf("wecomtest: parse seed %s: %w", path, err)
	}
	return seed, nil
}

// Apply adds the seed's corps, then their members (in the seed's order within each corp).
func (s *Sim) Apply(seed Seed) error {
	for _, c := range seed.Corps {
		if err := s.AddCorp(c); err != nil {
			return err
		}
	}
	corpIDs := make([]string, 0, len(seed.Members))
	for id := range seed.Members {
		corpIDs = append(corpIDs, id)
	}
	slices.Sort(corpIDs)
	for _, id := range corpIDs {
		for _, m := range seed.Members[id] {
			if err := s.AddMember(id, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// Departments and tags of the demo corp (DemoSeed), for the demo's group and tests.
const (
	DemoDeptRD       = 2 // 研发部 R&D, with two teams under it
	DemoDeptBackend  = 3 // 后端组 Backend team, under R&D
	DemoDeptFrontend = 4 // 前端组 Frontend team, under R&D
	DemoDeptSales    = 5 // 市场部 Marketing
	DemoDeptFinance  = 6 // 财务部 Finance
	DemoTagManagers  = 1 // 管理层 Managers
	DemoTagOnCall    = 2 // 值班 On call
)

// DemoSeed is the demo corp: one app, Gatehouse, five members, each telling one story of the
// sign-in rules, a small tree of departments with Chinese names, and two tags.
func DemoSeed() Seed {
	return Seed{
		Corps: []Corp{{
			ID:             DemoCorpID,
			Name:           "Gatehouse Demo Corp",
			TrustedDomains: []string{"localhost:8080", "127.0.0.1:8080"},
			Apps:           []App{{AgentID: DemoAgentID, Secret: DemoSecret, Name: "Gatehouse"}},
			Departments: []Department{
				{ID: 1, Name: "Gatehouse 演示公司", NameEN: "Gatehouse Demo Corp"},
				{ID: DemoDeptRD, Name: "研发部", NameEN: "R&D", ParentID: 1, Order: 300},
				{ID: DemoDeptBackend, Name: "后端组", NameEN: "Backend", ParentID: DemoDeptRD, Order: 200},
				{ID: DemoDeptFrontend, Name: "前端组", NameEN: "Frontend", ParentID: DemoDeptRD, Order: 100},
				{ID: DemoDeptSales, Name: "市场部", NameEN: "Marketing", ParentID: 1, Order: 200},
				{ID: DemoDeptFinance, Name: "财务部", NameEN: "Finance", ParentID: 1, Order: 100},
			},
			Tags: []Tag{
				{ID: DemoTagManagers, Name: "管理层", Users: []string{"zhangsan"}},
				{ID: DemoTagOnCall, Name: "值班", Users: []string{"zhangsan", "lisi"}},
			},
		}},
		Members: map[string][]Member{DemoCorpID: {
			// A Gatehouse user with this mobile exists: the first sign-in binds by mobile.
			{UserID: "zhangsan", Name: "张三", Mobile: "13800000001", Email: "zhangsan@demo.example", Position: "工程师 Engineer", Department: []int{DemoDeptBackend}, Gender: "1"},
			// Nobody has this mobile yet: auto-signup creates the user.
			{UserID: "lisi", Name: "李四", Mobile: "13800000002", Email: "lisi@demo.example", Position: "设计师 Designer", Department: []int{DemoDeptFrontend}, Gender: "2"},
			// Outside Gatehouse's visible range: no user_ticket, and user/get answers 60011.
			{UserID: "wangwu", Name: "王五", Mobile: "13800000003", Department: []int{DemoDeptSales}, Gender: "1", VisibleTo: []int64{1000003}},
			// Disabled in WeCom: cannot finish a sign-in.
			{UserID: "zhaoliu", Name: "赵六", Mobile: "13800000004", Department: []int{DemoDeptFinance}, Status: 2},
			// Refuses the consent sheet: the callback has no code.
			{UserID: "sunqi", Name: "孙七", Mobile: "13800000005", Department: []int{DemoDeptSales}, RefuseConsent: true},
		}},
	}
}
