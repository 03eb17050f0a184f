package models_test

import (
	"context"
	"testing"

	"gatehouse/models"
	"gatehouse/models/modelstest"
)

// A database created before WeComToken named its table has "we_com_tokens" and the first migration
// recorded as done; migrating renames the table and keeps its rows.
func TestMigrateRenamesWeComTokens(t *testing.T) {
	modelstest.EachEmpty(t, func(t *testing.T, s *models.Store) {
		db := s.DB()
		if err := db.Table("we_com_tokens").AutoMigrate(&models.WeComToken{}); err != nil {
			t.Fatal(err)
		}
		if err := db.Table("we_com_tokens").Create(&models.WeComToken{CacheKey: "corp:1:abc"}).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.AutoMigrate(&models.User{}, &models.Authenticator{}, &models.Binding{}, &models.Session{}, &models.AuditEvent{}); err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("CREATE TABLE schema_migrations (id VARCHAR(128) PRIMARY KEY)").Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("INSERT INTO schema_migrations (id) VALUES ('202611240001_initial')").Error; err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		if db.Migrator().HasTable("we_com_tokens") || !db.Migrator().HasTable("wecom_tokens") {
			t.Fatal("we_com_tokens was not renamed to wecom_tokens")
		}
		var n int64
		if err := db.Table("wecom_tokens").Count(&n).Error; err != nil || n != 1 {
			t.Fatalf("rows after the rename: %d %v", n, err)
		}
	})
}
