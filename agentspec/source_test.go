package agentspec

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestHashSource(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("pkg/a.go", "package a\n")
	write("pkg/sub/b.go", "package sub\n")
	got, err := HashSourceDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// printf 'pkg/a.go\0''10\0''package a\npkg/sub/b.go\0''12\0''package sub\n' | sha256sum
	const want = "768d314fe69d875a8ae4366c0baa39b0f2d821085a5cee327510b777063835ac"
	if got != want {
		t.Fatalf("HashSource = %s, want %s", got, want)
	}
	changes := map[string]func(){
		"content changed":   func() { write("pkg/a.go", "package a // changed\n") },
		"bytes moved":       func() { write("pkg/a.go", "package a\npackage sub\n"); write("pkg/sub/b.go", "") },
		"file added":        func() { write("pkg/c.go", "") },
		"file renamed":      func() { os.Rename(filepath.Join(dir, "pkg/a.go"), filepath.Join(dir, "pkg/a2.go")) },
		"empty file framed": func() { write("pkg/sub/z", "") },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			write("pkg/a.go", "package a\n")
			write("pkg/sub/b.go", "package sub\n")
			os.Remove(filepath.Join(dir, "pkg/c.go"))
			os.Remove(filepath.Join(dir, "pkg/a2.go"))
			os.Remove(filepath.Join(dir, "pkg/sub/z"))
			change()
			if h, err := HashSourceDir(dir); err != nil || h == want {
				t.Fatalf("hash %s (%v) did not change", h, err)
			}
		})
	}
}

func TestHashSourceConstruction(t *testing.T) {
	fsys := fstest.MapFS{"b/x": {Data: []byte("1")}, "a": {Data: []byte("")}, "b/y": {Data: []byte("22")}}
	sum := sha256.Sum256([]byte("a\x000\x00" + "b/x\x001\x001" + "b/y\x002\x0022"))
	for name, paths := range map[string][]string{"root": {"."}, "listed": {"b", "a"}, "overlapping": {"b/y", ".", "a"}} {
		got, err := HashSource(fsys, paths...)
		if err != nil || got != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: %s, %v", name, got, err)
		}
	}
	if got, _ := HashSource(fsys, "b"); got == hex.EncodeToString(sum[:]) {
		t.Error("a subset hashed like the whole")
	}
}

func TestHashSourceRefuses(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.go"), []byte("x"), 0o644)
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "b.go")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	empty := t.TempDir()
	tests := map[string]func() (string, error){
		"symlink":       func() (string, error) { return HashSourceDir(dir) },
		"empty dir":     func() (string, error) { return HashSourceDir(empty) },
		"no paths":      func() (string, error) { return HashSource(os.DirFS(dir)) },
		"missing path":  func() (string, error) { return HashSource(os.DirFS(dir), "nope") },
		"invalid path":  func() (string, error) { return HashSource(os.DirFS(dir), "../x") },
		"missing dir":   func() (string, error) { return HashSourceDir(filepath.Join(empty, "nope")) },
		"absolute path": func() (string, error) { return HashSource(os.DirFS(dir), "/a.go") },
	}
	for name, call := range tests {
		if h, err := call(); err == nil {
			t.Errorf("%s: hashed as %s", name, h)
		}
	}
}
