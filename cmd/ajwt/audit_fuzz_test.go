package main

import (
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// FuzzAuditExport: an export file from anywhere, checked offline against
// a checkpoint, is judged or refused, never a panic or a hang.
func FuzzAuditExport(f *testing.F) {
	f.Add(`{"seq":1,"time_ns":1,"event":"grant","client_id":"a","agent_id":"","run_id":"","step":"","outcome":"ok","detail":"","prev":"sha256:00","hash":"sha256:11"}`)
	f.Add("{}\n{\"seq\":-1}\nnot json\n")
	f.Add(strings.Repeat("[", 100))
	f.Fuzz(func(t *testing.T, export string) {
		for _, line := range strings.Split(export, "\n") {
			_, _ = decodeExportLine([]byte(line))
		}
		_, _ = verifyExport(strings.NewReader(export), "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", &jose.JSONWebKeySet{}, "")
	})
}
