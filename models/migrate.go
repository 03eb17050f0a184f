package models

import (
	"context"
	"fmt"
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migrations lists every schema change in order. Never edit a shipped one: add a new one. The first
// builds the schema from the models; later ones must change it explicitly (and check with Migrator()
// first, since a fresh database already has what the models describe).
func migrations() []*gormigrate.Migration {
	return []*gormigrate.Migration{
		{
			ID: "202611240001_initial",
			Migrate: func(tx *gorm.DB) error {
				if err := tx.AutoMigrate(&User{}, &Authenticator{}, &Binding{}, &Session{}, &WeComToken{}, &AuditEvent{}); err != nil {
					return err
				}
				// At most one enabled authenticator may have auto login; the form says so too.
				if err := tx.Exec(`CREATE UNIQUE INDEX IF NOT EXISTS uq_authenticators_auto_login ON authenticators (auto_login) WHERE auto_login AND enabled`).Error; err != nil {
					return err
				}
				return tx.Create(&Authenticator{
					Name: PasswordAuthenticatorName, Type: TypePassword, Title: "Password", Enabled: true, Sort: 0,
				}).Error
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable(&AuditEvent{}, &WeComToken{}, &Session{}, &Binding{}, &Authenticator{}, &User{})
			},
		},
		{
			// Databases made before WeComToken named its table had it as we_com_tokens.
			ID: "202611240002_wecom_tokens_name",
			Migrate: func(tx *gorm.DB) error {
				if tx.Migrator().HasTable("we_com_tokens") && !tx.Migrator().HasTable("wecom_tokens") {
					return tx.Migrator().RenameTable("we_com_tokens", "wecom_tokens")
				}
				return nil
			},
			Rollback: func(*gorm.DB) error { return nil },
		},
		{
			// Password attempts counted atomically (issue 12) and the cap on anonymous refusal rows.
			// The tables are described here as they were made, so later changes to the models cannot
			// change what this migration did.
			ID: "202612010201_signin_attempts_audit_budgets",
			Migrate: func(tx *gorm.DB) error {
				type SigninAttempt struct {
					ID       int64     `gorm:"primaryKey"`
					At       time.Time `gorm:"not null;index;index:idx_signin_attempts_account,priority:3;index:idx_signin_attempts_ip,priority:2"`
					Username string    `gorm:"size:64;not null;index:idx_signin_attempts_account,priority:1"`
					Bucket   string    `gorm:"size:80;not null;default:'';index:idx_signin_attempts_account,priority:2"`
					IP       string    `gorm:"size:64;not null;default:'';index:idx_signin_attempts_ip,priority:1"`
				}
				type AuditBudget struct {
					IP     string `gorm:"primaryKey;size:64"`
					Minute int64  `gorm:"primaryKey;autoIncrement:false;index"`
					N      int64  `gorm:"not null;default:0"`
				}
				return tx.Migrator().CreateTable(&SigninAttempt{}, &AuditBudget{})
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("signin_attempts", "audit_budgets")
			},
		},
		{
			// The hand-off QR code (issue 15), described as it was made.
			ID: "202612010701_handoffs",
			Migrate: func(tx *gorm.DB) error {
				type Handoff struct {
					ID              int64     `gorm:"primaryKey"`
					TokenHash       string    `gorm:"size:64;not null;uniqueIndex"`
					BrowserHash     string    `gorm:"size:64;not null"`
					AuthenticatorID int64     `gorm:"not null;index"`
					Subject         string    `gorm:"size:128;not null"`
					Redirect        string    `gorm:"size:2048;not null;default:''"`
					Status          string    `gorm:"size:16;not null"`
					UserID          int64     `gorm:"not null;default:0"`
					BindingID       int64     `gorm:"not null;default:0"`
					CreatedAt       time.Time `gorm:"not null"`
					ExpiresAt       time.Time `gorm:"not null;index"`
					EndedAt         *time.Time
				}
				return tx.Migrator().CreateTable(&Handoff{})
			},
			Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable("handoffs") },
		},
		{
			// Bulk binding (issue 16): an uploaded file waits here between its preview and its application.
			ID: "202612010901_bulk_imports",
			Migrate: func(tx *gorm.DB) error {
				type BulkImport struct {
					ID              string `gorm:"primaryKey;size:64"`
					ActorUserID     int64  `gorm:"not null"`
					AuthenticatorID int64  `gorm:"not null"`
					Filename        string `gorm:"size:256;not null;default:''"`
					SHA256          string `gorm:"size:64;not null"`
					Content         []byte `gorm:"not null"`
					Result          []byte
					Summary         string `gorm:"size:256;not null;default:''"`
					AppliedAt       *time.Time
					CreatedAt       time.Time
					ExpiresAt       time.Time `gorm:"not null;index"`
				}
				return tx.Migrator().CreateTable(&BulkImport{})
			},
			Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable("bulk_imports") },
		},
		{
			// The audit log filters by authenticator and outcome (issue 16): their own columns, filled
			// from the detail JSON for old rows, and indexes that end in id so keyset pages (id < ?,
			// newest first) read one index range.
			ID: "2026120101001_audit_columns",
			Migrate: func(tx *gorm.DB) error {
				for _, col := range []string{"authenticator", "outcome"} {
					if tx.Migrator().HasColumn("audit_events", col) {
						continue
					}
					if err := tx.Exec("ALTER TABLE audit_events ADD COLUMN " + col + " varchar(64) NOT NULL DEFAULT ''").Error; err != nil {
						return fmt.Errorf("add audit_events.%s: %w", col, err)
					}
				}
				if err := backfillAuditColumns(tx); err != nil {
					return err
				}
				for _, ix := range []string{
					"idx_audit_action_id ON audit_events (action, id)",
					"idx_audit_authenticator_id ON audit_events (authenticator, id)",
					"idx_audit_outcome_id ON audit_events (outcome, id)",
					"idx_audit_ip_id ON audit_events (ip, id)",
					"idx_audit_actor_id ON audit_events (actor_user_id, id)",
				} {
					if err := tx.Exec("CREATE INDEX IF NOT EXISTS " + ix).Error; err != nil {
						return fmt.Errorf("create index %s: %w", ix, err)
					}
				}
				return nil
			},
			Rollback: func(tx *gorm.DB) error { return nil },
		},
		{
			// Applications (§10), groups and what WeCom says about members (§11), and the mark on a user
			// the directory disabled, so that a member back again is re-enabled but never one an admin
			// disabled by hand.
			ID: "202612020001_apps_groups_directory",
			Migrate: func(tx *gorm.DB) error {
				type App struct {
					ID                     int64  `gorm:"primaryKey"`
					Name                   string `gorm:"size:64;not null;uniqueIndex"`
					Title                  string `gorm:"size:128;not null;default:''"`
					Type                   string `gorm:"size:16;not null"`
					Enabled                bool   `gorm:"not null;default:true"`
					Access                 string `gorm:"size:16;not null;default:'everyone'"`
					Groups                 string `gorm:"type:text;not null"`
					ClientID               string `gorm:"size:64;not null;uniqueIndex"`
					SecretHash             string `gorm:"size:255;not null;default:''"`
					Public                 bool   `gorm:"not null;default:false"`
					RedirectURIs           string `gorm:"type:text;not null"`
					PostLogoutRedirectURIs string `gorm:"type:text;not null"`
					Domains                string `gorm:"type:text;not null"`
					CreatedAt              time.Time
					UpdatedAt              time.Time
				}
				type Group struct {
					ID        int64  `gorm:"primaryKey"`
					Name      string `gorm:"size:64;not null;uniqueIndex"`
					Title     string `gorm:"size:128;not null;default:''"`
					Rules     string `gorm:"type:text;not null;default:''"`
					CreatedAt time.Time
					UpdatedAt time.Time
				}
				type DirectoryMember struct {
					BindingID       int64  `gorm:"primaryKey;autoIncrement:false"`
					AuthenticatorID int64  `gorm:"not null;index"`
					UserID          int64  `gorm:"not null;index"`
					Status          int    `gorm:"not null;default:0"`
					Departments     string `gorm:"type:text;not null"`
					Ancestry        string `gorm:"type:text;not null"`
					Tags            string `gorm:"type:text;not null"`
					SuspendedAt     *time.Time
					RefreshedAt     time.Time `gorm:"not null"`
				}
				type DirectoryDepartment struct {
					AuthenticatorID int64  `gorm:"primaryKey;autoIncrement:false"`
					DeptID          int64  `gorm:"primaryKey;autoIncrement:false"`
					ParentID        int64  `gorm:"not null;default:0"`
					Name            string `gorm:"size:128;not null;default:''"`
					RefreshedAt     time.Time
				}
				type DirectoryTag struct {
					AuthenticatorID int64  `gorm:"primaryKey;autoIncrement:false"`
					TagID           int64  `gorm:"primaryKey;autoIncrement:false"`
					Name            string `gorm:"size:128;not null;default:''"`
					RefreshedAt     time.Time
				}
				if err := tx.Migrator().CreateTable(&App{}, &Group{}, &DirectoryMember{}, &DirectoryDepartment{}, &DirectoryTag{}); err != nil {
					return fmt.Errorf("create apps, groups and directory tables: %w", err)
				}
				if !tx.Migrator().HasColumn("users", "disabled_by_directory") {
					if err := tx.Exec("ALTER TABLE users ADD COLUMN disabled_by_directory boolean NOT NULL DEFAULT false").Error; err != nil {
						return fmt.Errorf("add users.disabled_by_directory: %w", err)
					}
				}
				return nil
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("directory_tags", "directory_departments", "directory_members", "groups", "apps")
			},
		},
		{
			// The directory sweep (issue 13): its rounds, each authenticator's cursor in the current
			// round, and the lease that lets one instance of a fleet sweep at a time.
			ID: "2026120213d1_directory_sweep",
			Migrate: func(tx *gorm.DB) error {
				type DirectorySweepRound struct {
					ID             int64     `gorm:"primaryKey"`
					StartedAt      time.Time `gorm:"not null;index"`
					FinishedAt     *time.Time
					MembersChecked int64 `gorm:"not null;default:0"`
					MembersLeft    int64 `gorm:"not null;default:0"`
					MembersBack    int64 `gorm:"not null;default:0"`
					MembersFailed  int64 `gorm:"not null;default:0"`
				}
				type DirectorySweepCursor struct {
					AuthenticatorID int64 `gorm:"primaryKey;autoIncrement:false"`
					RoundID         int64 `gorm:"not null;default:0"`
					LastBindingID   int64 `gorm:"not null;default:0"`
					Done            bool  `gorm:"not null;default:false"`
					PausedUntil     *time.Time
					Backoffs        int `gorm:"not null;default:0"`
				}
				type DirectorySweepLease struct {
					Name      string    `gorm:"primaryKey;size:64"`
					Holder    string    `gorm:"size:64;not null;default:''"`
					ExpiresAt time.Time `gorm:"not null"`
				}
				if err := tx.Migrator().CreateTable(&DirectorySweepRound{}, &DirectorySweepCursor{}, &DirectorySweepLease{}); err != nil {
					return fmt.Errorf("create directory sweep tables: %w", err)
				}
				return nil
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("directory_sweep_leases", "directory_sweep_cursors", "directory_sweep_rounds")
			},
		},
		{
			// WeCom's event callback (DESIGN.md §11): the app's 接收消息 Token and EncodingAESKey, sealed
			// like the secret, and the events already applied, so that a replay changes nothing.
			ID: "2026120213c1_event_settings",
			Migrate: func(tx *gorm.DB) error {
				for _, col := range []string{"event_token_sealed", "event_aes_key_sealed"} {
					if tx.Migrator().HasColumn("authenticators", col) {
						continue
					}
					if err := tx.Exec("ALTER TABLE authenticators ADD COLUMN " + col + " text NOT NULL DEFAULT ''").Error; err != nil {
						return fmt.Errorf("add authenticators.%s: %w", col, err)
					}
				}
				type DirectoryEvent struct {
					AuthenticatorID int64     `gorm:"primaryKey;autoIncrement:false"`
					Member          string    `gorm:"primaryKey;size:128"`
					Event           string    `gorm:"primaryKey;size:64"`
					CreateTime      int64     `gorm:"primaryKey;autoIncrement:false"`
					SeenAt          time.Time `gorm:"not null;index"`
				}
				return tx.Migrator().CreateTable(&DirectoryEvent{})
			},
			Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable("directory_events") },
		},
		{
			// The OpenID Connect provider (DESIGN.md §10): authorize requests, tokens and signing keys.
			ID: "202612021401_oidc_provider",
			Migrate: func(tx *gorm.DB) error {
				type OIDCAuthRequest struct {
					ID        string `gorm:"primaryKey;size:64"`
					AppID     int64  `gorm:"not null;index"`
					ClientID  string `gorm:"size:64;not null"`
					Params    string `gorm:"type:text;not null"`
					CreatedAt time.Time
					ExpiresAt time.Time `gorm:"not null;index"`
					UserID    *int64
					SessionID string `gorm:"size:64;not null;default:''"`
					AuthTime  *time.Time
					Done      bool    `gorm:"not null;default:false"`
					CodeHash  *string `gorm:"size:64;uniqueIndex"`
					UsedAt    *time.Time
				}
				type OIDCToken struct {
					ID        int64  `gorm:"primaryKey"`
					Hash      string `gorm:"size:64;not null;uniqueIndex"`
					Kind      string `gorm:"size:16;not null"`
					GrantID   string `gorm:"size:64;not null;index"`
					AppID     int64  `gorm:"not null;index"`
					ClientID  string `gorm:"size:64;not null"`
					UserID    int64  `gorm:"not null;index"`
					SessionID string `gorm:"size:64;not null;index"`
					Scopes    string `gorm:"type:text;not null"`
					AuthTime  time.Time
					CreatedAt time.Time
					ExpiresAt time.Time `gorm:"not null;index"`
					RevokedAt *time.Time
				}
				type OIDCKey struct {
					ID            string `gorm:"primaryKey;size:64"`
					Active        *bool  `gorm:"uniqueIndex"`
					PrivateSealed string `gorm:"type:text;not null"`
					CreatedAt     time.Time
					RetiredAt     *time.Time
				}
				for _, t := range []struct {
					name  string
					model any
				}{{"oidc_auth_requests", &OIDCAuthRequest{}}, {"oidc_tokens", &OIDCToken{}}, {"oidc_keys", &OIDCKey{}}} {
					if err := tx.Table(t.name).Migrator().CreateTable(t.model); err != nil {
						return fmt.Errorf("create %s: %w", t.name, err)
					}
				}
				return nil
			},
			Rollback: func(tx *gorm.DB) error {
				return tx.Migrator().DropTable("oidc_keys", "oidc_tokens", "oidc_auth_requests")
			},
		},
	}
}

// migrateLockID is the PostgreSQL advisory lock that serialises instances starting together.
const migrateLockID = 7230418851

// Migrate brings the schema up to date, then runs seed (such as creating the first admin) in the same
// critical section, so that instances starting together on an empty database migrate and seed once.
func (s *Store) Migrate(ctx context.Context, seed func(ctx context.Context, s *Store) error) error {
	run := func(db *gorm.DB) error {
		m := gormigrate.New(db, &gormigrate.Options{TableName: "schema_migrations", IDColumnSize: 128, UseTransaction: true}, migrations())
		if err := m.Migrate(); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if seed == nil {
			return nil
		}
		return seed(ctx, &Store{db: db, dialect: s.dialect, auths: s.auths, tokenGen: s.tokenGen, inTx: true})
	}
	if s.dialect != "postgres" {
		return run(s.db.WithContext(ctx))
	}
	// An advisory lock belongs to one connection: pin one for lock, work and unlock.
	return s.db.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		if err := conn.Exec("SELECT pg_advisory_lock(?)", migrateLockID).Error; err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		defer conn.Exec("SELECT pg_advisory_unlock(?)", migrateLockID)
		return run(conn)
	})
}

// backfillAuditColumns copies the detail's "authenticator" and "outcome" keys into their columns for
// rows written before the columns existed: one UPDATE per column, cut to the column's 64 characters.
func backfillAuditColumns(tx *gorm.DB) error {
	for _, col := range []string{"authenticator", "outcome"} {
		get := "json_extract(detail, '$." + col + "')"
		cut := "substr(" + get + ", 1, 64)"
		if tx.Dialector.Name() == "postgres" {
			get = "(detail::jsonb ->> '" + col + "')"
			cut = "left(" + get + ", 64)"
		}
		q := "UPDATE audit_events SET " + col + " = " + cut + " WHERE " + col + " = '' AND " + get + " IS NOT NULL AND detail LIKE '%\"" + col + "\"%'"
		if err := tx.Exec(q).Error; err != nil {
			return fmt.Errorf("backfill audit_events.%s: %w", col, err)
		}
	}
	return nil
}
