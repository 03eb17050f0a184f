// Package peertest provides independent peers for tests of Gatehouse's apps (DESIGN.md §9): real
// programs that Gatehouse must interoperate with, built or found outside Gatehouse's own code.
package peertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// OAuth2ProxyVersion is the oauth2-proxy release the tests run against.
const OAuth2ProxyVersion = "v7.15.6"

// OAuth2Proxy returns the path of an oauth2-proxy binary: $OAUTH2_PROXY_BIN when set, else one built
// once with `go install github.com/oauth2-proxy/oauth2-proxy/v7@` OAuth2ProxyVersion into a cache
// directory under os.UserCacheDir() (never into go.mod), the build serialised between test processes
// by a lock file. It skips the test when the build fails, or fails it when CI=true.
func OAuth2Proxy(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("OAUTH2_PROXY_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			unavailable(t, fmt.Sprintf("OAUTH2_PROXY_BIN=%s: %v", p, err))
		}
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "gatehouse-peertest", "oauth2-proxy-"+OAuth2ProxyVersion)
	bin := filepath.Join(dir, "oauth2-proxy")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		unavailable(t, err.Error())
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		unavailable(t, err.Error())
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		unavailable(t, err.Error())
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin // another process built it while this one waited
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		unavailable(t, err.Error())
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/oauth2-proxy/oauth2-proxy/v7@"+OAuth2ProxyVersion)
	// Outside any module, so that the build never touches Gatehouse's go.mod.
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod", "GOWORK=off")
	t.Logf("building oauth2-proxy %s into %s (once)", OAuth2ProxyVersion, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		unavailable(t, fmt.Sprintf("go install oauth2-proxy %s: %v\n%s", OAuth2ProxyVersion, err, out))
	}
	if err := os.Rename(filepath.Join(tmp, "oauth2-proxy"), bin); err != nil {
		unavailable(t, err.Error())
	}
	return bin
}

// unavailable skips the test, or fails it under CI=true, where the peer must run.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal("oauth2-proxy unavailable: " + why)
	}
	t.Skip("oauth2-proxy unavailable: " + why)
}
