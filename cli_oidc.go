package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"gatehouse/apps"
	"gatehouse/models"
)

// oidcCommand runs `gatehouse oidc rotate-keys`.
func oidcCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, log *slog.Logger) error {
	if len(args) != 1 || args[0] != "rotate-keys" {
		return usageError{"usage: gatehouse oidc rotate-keys"}
	}
	cfg, store, err := open(ctx, getenv, false, log)
	if err != nil {
		return err
	}
	defer store.Close()
	sealer, err := models.NewSealer(cfg.SecretKey, cfg.PreviousKeys...)
	if err != nil {
		return err
	}
	if err := apps.RotateSigningKey(ctx, store, sealer); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "A new OpenID Connect signing key is current; the previous one stays in the key set for a day. Every instance signs with the new key within a minute.")
	return nil
}
