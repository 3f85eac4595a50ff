package authz_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/internal/authz"
)

func TestLoadSecret(t *testing.T) {
	s32 := strings.Repeat("s", 32)
	tests := []struct {
		name, content, want string
		ok                  bool
	}{
		{"32 characters", s32, s32, true},
		{"one trailing newline ignored", s32 + "\n", s32, true},
		{"non-ASCII characters counted as characters", strings.Repeat("é", 32), strings.Repeat("é", 32), true},
		{"31 characters", s32[:31], "", false},
		{"31 characters and a newline", s32[:31] + "\n", "", false},
		{"two trailing newlines", s32 + "\n\n", "", false},
		{"CRLF", s32 + "\r\n", "", false},
		{"two lines", s32 + "\n" + s32, "", false},
		{"leading space", " " + s32, "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secret")
			os.WriteFile(path, []byte(tt.content), 0o600)
			got, err := authz.LoadSecret(path)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
	if _, err := authz.LoadSecret(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Fatal("a missing file was accepted")
	}
}

func TestCheckListenAddr(t *testing.T) {
	tests := []struct {
		addr     string
		secret   bool
		loopback bool
	}{
		{"127.0.0.1:9001", false, true},
		{"127.0.0.2:9001", false, true},
		{"[::1]:9001", false, true},
		{"localhost:9001", false, true}, // judged again once bound
		{"0.0.0.0:9001", false, false},
		{"[::]:9001", false, false},
		{":9001", false, false},
		{"10.1.2.3:9001", false, false},
		{"0.0.0.0:9001", true, true},
		{":9001", true, true},
	}
	for _, tt := range tests {
		err := authz.CheckListenAddr(tt.addr, tt.secret)
		if (err == nil) != tt.loopback || (err != nil && !errors.Is(err, authz.ErrNotLoopback)) {
			t.Fatalf("%s (secret %v): %v", tt.addr, tt.secret, err)
		}
	}
}
