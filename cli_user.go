package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"gatehouse/auth"
	"gatehouse/models"
	"gatehouse/views"
)

// userCommand runs `gatehouse user create|set-password|make-admin USERNAME [flags]`.
func userCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return usageError{"user: expected create, set-password or make-admin"}
	}
	sub, args := args[0], args[1:]
	if sub != "create" && sub != "set-password" && sub != "make-admin" {
		return usageError{fmt.Sprintf("user: unknown subcommand %q (expected create, set-password or make-admin)", sub)}
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{"user " + sub + ": expected a USERNAME"}
	}
	username, args := args[0], args[1:]
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	var in auth.UserInput
	fs.StringVar(&in.Password, "password", "", "password (at least 8 characters)")
	if sub == "create" {
		fs.BoolVar(&in.IsAdmin, "admin", false, "make the user an administrator")
		fs.StringVar(&in.Nickname, "nickname", "", "display name")
		fs.StringVar(&in.Email, "email", "", "email address")
		fs.StringVar(&in.Mobile, "mobile", "", "mobile number (11 digits for +86, else with country code)")
	}
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if sub == "set-password" && in.Password == "" {
		return usageError{"user set-password: --password is required"}
	}
	_, store, err := open(ctx, getenv, false, log)
	if err != nil {
		return err
	}
	defer store.Close()
	accounts := auth.NewAccounts(store, func() time.Time { return time.Now().UTC() })
	var u models.User
	if sub == "create" {
		in.Username = username
		u, err = accounts.Create(ctx, in)
	} else {
		if u, err = store.UserByUsername(ctx, username); err != nil {
			if errors.Is(err, models.ErrNotFound) {
				return usageError{fmt.Sprintf("user %s: no user named %q", sub, username)}
			}
			return err
		}
		change := auth.UserInput{Nickname: u.Nickname, Email: u.Email, Mobile: u.MobileString(), IsAdmin: u.IsAdmin || sub == "make-admin", Disabled: u.Disabled, Password: in.Password}
		u, err = accounts.Update(ctx, u.ID, change)
	}
	var bad auth.Invalid
	if errors.As(err, &bad) {
		return usageError{"user " + sub + ": " + describeInvalid(bad)}
	}
	if err != nil {
		return err
	}
	if err := store.Audit(ctx, models.Event{Action: "user." + sub, Target: u.Username, Detail: map[string]any{"via": "cli"}}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "user %s: done for %q (admin: %v)\n", sub, u.Username, u.IsAdmin)
	return nil
}

// describeInvalid spells out validation errors in English for the terminal.
func describeInvalid(bad auth.Invalid) string {
	cat, err := views.NewCatalog()
	if err != nil {
		return bad.Error()
	}
	t := cat.Translator("en")
	var parts []string
	for field, code := range bad {
		parts = append(parts, "--"+field+": "+t.T("validation."+code))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}
