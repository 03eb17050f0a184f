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

// DemoSeed is the demo corp: one app, Gatehouse, and five members, each telling one story of
// the sign-in rules.
func DemoSeed() Seed {
	return Seed{
		Corps: []Corp{{
			ID:             DemoCorpID,
			Name:           "Gatehouse Demo Corp",
			TrustedDomains: []string{"localhost:8080", "127.0.0.1:8080"},
			Apps:           []App{{AgentID: DemoAgentID, Secret: DemoSecret, Name: "Gatehouse"}},
		}},
		Members: map[string][]Member{DemoCorpID: {
			// A Gatehouse user with this mobile exists: the first sign-in binds by mobile.
			{UserID: "zhangsan", Name: "张三", Mobile: "13800000001", Email: "zhangsan@demo.example", Position: "工程师 Engineer", Department: []int{1}, Gender: "1"},
			// Nobody has this mobile yet: auto-signup creates the user.
			{UserID: "lisi", Name: "李四", Mobile: "13800000002", Email: "lisi@demo.example", Position: "设计师 Designer", Department: []int{1}, Gender: "2"},
			// Outside Gatehouse's visible range: no user_ticket, and user/get answers 60011.
			{UserID: "wangwu", Name: "王五", Mobile: "13800000003", Department: []int{2}, Gender: "1", VisibleTo: []int64{1000003}},
			// Disabled in WeCom: cannot finish a sign-in.
			{UserID: "zhaoliu", Name: "赵六", Mobile: "13800000004", Department: []int{1}, Status: 2},
			// Refuses the consent sheet: the callback has no code.
			{UserID: "sunqi", Name: "孙七", Mobile: "13800000005", Department: []int{1}, RefuseConsent: true},
		}},
	}
}
