package models

import (
	"context"
	"fmt"
)

// appDomainsLock is the PostgreSQL advisory lock that makes "a host belongs to one app" hold when two
// admins save proxy apps at once: each checks the other apps' domains and saves while holding it.
// (SQLite's immediate transactions already run one writer at a time.)
const appDomainsLock = 0x6761746568_0a // "gateh" + 10, any constant unique to this purpose

// LockAppDomains holds, until the transaction ends, the lock under which proxy apps' domains are
// checked and saved. Call it inside InTx.
func (s *Store) LockAppDomains(ctx context.Context) error {
	if s.dialect != "postgres" {
		return nil
	}
	err := s.q(ctx).Exec("SELECT pg_advisory_xact_lock(?)", int64(appDomainsLock)).Error
	return notFound(err, "lock app domains")
}

// AppByName loads an application by its name.
func (s *Store) AppByName(ctx context.Context, name string) (App, error) {
	var a App
	err := s.q(ctx).Where("name = ?", name).First(&a).Error
	return a, notFound(err, fmt.Sprintf("app %q", name))
}
