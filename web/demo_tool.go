package web

import (
	"context"
	"errors"
	"fmt"

	"gatehouse/apps"
	"gatehouse/handlers"
	"gatehouse/models"
)

// seedDemoTool registers the demo's "internal tool" as an OpenID Connect app of Gatehouse, its
// redirect URIs on the demo's origin (which may change between runs).
func seedDemoTool(ctx context.Context, s *models.Store, cfg Config) error {
	o := demoOrigin(cfg)
	a, err := s.AppByClientID(ctx, handlers.DemoToolClientID)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	a.Name, a.Title, a.Type, a.Enabled, a.Access = handlers.DemoToolName, "Acme internal tool (demo)", models.AppTypeOIDC, true, models.AccessEveryone
	a.ClientID, a.SecretHash, a.Public = handlers.DemoToolClientID, apps.HashSecret(handlers.DemoToolSecret), false
	a.RedirectURIs = []string{o + handlers.DemoToolPath + "/callback"}
	a.PostLogoutRedirectURIs = []string{o + handlers.DemoToolPath + "/signedout"}
	if a.ID == 0 {
		err = s.CreateApp(ctx, &a)
	} else {
		err = s.SaveApp(ctx, &a)
	}
	if err != nil {
		return fmt.Errorf("seed the demo tool app: %w", err)
	}
	return nil
}

// retireDemoTool disables the demo tool's app when Gatehouse starts without demo mode: its secret is
// public and its redirect URI is served only in demo mode.
func retireDemoTool(ctx context.Context, s *models.Store) error {
	a, err := s.AppByClientID(ctx, handlers.DemoToolClientID)
	if errors.Is(err, models.ErrNotFound) || (err == nil && !a.Enabled) {
		return nil
	}
	if err != nil {
		return err
	}
	a.Enabled = false
	return s.SaveApp(ctx, &a)
}
