package authz

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"unicode/utf8"
)

// LoadSecret reads a gateway secret file (§13.3): one secret of at least
// MinSecretLen characters; one trailing newline is not part of it. A
// secret a header cannot carry as it is (control characters, other line
// breaks, spaces at either end) is refused rather than changed.
func LoadSecret(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--gateway-secret-file: %w", err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	switch {
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "", fmt.Errorf("--gateway-secret-file %s: the secret holds a control character or more than one line", path)
	case strings.TrimSpace(s) != s:
		return "", fmt.Errorf("--gateway-secret-file %s: the secret starts or ends with a space", path)
	case utf8.RuneCountInString(s) < MinSecretLen:
		return "", fmt.Errorf("--gateway-secret-file %s: the secret has %d characters; at least %d are needed", path, utf8.RuneCountInString(s), MinSecretLen)
	}
	return s, nil
}

// ErrNotLoopback refuses a listen address beyond loopback without a
// gateway secret.
var ErrNotLoopback = errors.New("not a loopback address; without --gateway-secret-file the authorizer listens on loopback only (127.0.0.1, [::1], localhost)")

// CheckListenAddr refuses, before listening, an address that is not
// loopback when no secret protects the authorizer: a wildcard such as
// 0.0.0.0:P, [::]:P or :P, or any other IP. A host name other than
// localhost is judged by the address it binds (CheckListener).
func CheckListenAddr(addr string, secret bool) error {
	if secret {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("%s: %w", addr, ErrNotLoopback)
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsLoopback() {
		return fmt.Errorf("%s: %w", addr, ErrNotLoopback)
	}
	return nil
}

// CheckListener refuses a bound listener that is not on loopback when no
// secret protects the authorizer.
func CheckListener(ln net.Listener, secret bool) error {
	if secret {
		return nil
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() {
		return fmt.Errorf("%s: %w", ln.Addr(), ErrNotLoopback)
	}
	return nil
}
