package sqlstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// The crash test re-executes the test binary as a writer process; these
// variables tell it so.
const (
	crashPathEnv = "AJWT_SQLSTORE_CRASH_DB"
	crashSyncEnv = "AJWT_SQLSTORE_CRASH_SYNC"
)

// TestCrashConsistency kills (SIGKILL) a process in the middle of
// committing transactions from several goroutines, then checks that every
// transaction it acknowledged is in the database and that the audit chain
// is intact: "nothing acknowledged is lost on crash".
func TestCrashConsistency(t *testing.T) {
	if path := os.Getenv(crashPathEnv); path != "" {
		crashWriter(path, os.Getenv(crashSyncEnv))
		return
	}
	for _, mode := range []string{"FULL", "NORMAL"} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "crash.db")
			acked := runAndKill(t, path, mode, 300)
			checkAcked(t, path, acked)
		})
	}
}

// crashWriter commits until killed, printing "<audit seq> <jti>" once
// each commit has returned.
func crashWriter(path, mode string) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, path, Options{Synchronous: mode})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; i < 1_000_000; i++ {
				jti := fmt.Sprintf("w%d-%d", w, i)
				e := &store.AuditEntry{Time: time.Now(), Event: "token_issued", Detail: jti}
				err := s.Update(ctx, func(tx store.Tx) error {
					now := time.Now()
					if err := tx.PutToken(ctx, &store.Token{JTI: jti, Kind: store.TokenLegacy, ClientID: "app", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
						return err
					}
					return tx.AppendAudit(ctx, e)
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				fmt.Printf("%d %s\n", e.Seq, jti) // one write(2): lines never interleave
			}
		})
	}
	wg.Wait()
	os.Exit(3) // not killed: the parent waited too long
}

// runAndKill starts a crashWriter, kills it after n acknowledgements and
// returns every acknowledgement it printed (audit seq → jti).
func runAndKill(t *testing.T, path, mode string, n int) map[int64]string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashConsistency$")
	cmd.Env = append(os.Environ(), crashPathEnv+"="+path, crashSyncEnv+"="+mode)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	acked := map[int64]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() { // after the kill, reads what was printed before it, then EOF
		seq, jti, ok := strings.Cut(sc.Text(), " ")
		num, err := strconv.ParseInt(seq, 10, 64)
		if !ok || err != nil {
			t.Fatalf("writer printed %q", sc.Text())
		}
		acked[num] = jti
		if len(acked) == n {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("writer ended with %v, want killed", err)
	}
	if len(acked) < n {
		t.Fatalf("writer acknowledged only %d transactions", len(acked))
	}
	return acked
}

func checkAcked(t *testing.T, path string, acked map[int64]string) {
	s, err := OpenSQLite(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var all []*store.AuditEntry
	err = s.View(t.Context(), func(tx store.Tx) (err error) {
		if all, err = tx.Audit(t.Context(), store.AuditFilter{Limit: 1 << 30}); err != nil {
			return err
		}
		for seq, jti := range acked {
			if _, err := tx.Token(t.Context(), jti); err != nil {
				return fmt.Errorf("acknowledged token %s: %w", jti, err)
			}
			if seq > int64(len(all)) || all[seq-1].Detail != jti {
				return fmt.Errorf("acknowledged audit entry %d (%s) missing", seq, jti)
			}
		}
		head, hash, err := tx.AuditHead(t.Context())
		if err != nil || head != int64(len(all)) || (head > 0 && hash != all[head-1].Hash) {
			return fmt.Errorf("audit head %d %s %v, log has %d entries", head, hash, err, len(all))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seq, why := store.VerifyAuditChain(all); seq != 0 {
		t.Fatalf("audit chain broken at %d after crash: %s", seq, why)
	}
	t.Logf("%d acknowledged, %d in the log after the crash", len(acked), len(all))
}
