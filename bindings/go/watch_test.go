// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// configMap is a Kubernetes ConfigMap volume as the kubelet lays it out: each version in a
// timestamped directory, dir/..data a symlink to the current one, and dir/policy.yaml a
// symlink to ..data/policy.yaml. An update writes a new directory, points a temporary symlink
// at it and renames that over ..data: one atomic swap.
type configMap struct {
	t   testing.TB
	dir string
	n   int
}

func newConfigMap(t testing.TB, yaml string) *configMap {
	t.Helper()
	c := &configMap{t: t, dir: t.TempDir()}
	c.update(yaml)
	if err := os.Symlink("..data/policy.yaml", c.path()); err != nil {
		t.Fatal(err)
	}
	return c
}

// path is the file the application is configured with.
func (c *configMap) path() string { return filepath.Join(c.dir, "policy.yaml") }

func (c *configMap) update(yaml string) {
	c.t.Helper()
	c.n++
	version := fmt.Sprintf("..2026_12_04_17_00_%02d.%d", c.n, c.n)
	if err := os.Mkdir(filepath.Join(c.dir, version), 0o755); err != nil {
		c.t.Fatal(err)
	}
	writePolicy(c.t, filepath.Join(c.dir, version, "policy.yaml"), yaml)
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		c.t.Fatal(err)
	}
}

// The example policy, and the same with ops frozen out.
func freezeOps(example string) string {
	return example + "\n  - id: freeze-ops\n    effect: deny\n    principals: [ops]\n    operations: [\"* /**\"]\n"
}

// TestWatchFileConfigMapSwap: WatchFile sees an atomic ConfigMap swap and reloads; a bad
// policy keeps the last good one (counted, reported, not retried); and a request loop over
// mTLS sees no failure through all of it.
func TestWatchFileConfigMapSwap(t *testing.T) {
	example := string(readFileT(t, examplePolicy))
	cm := newConfigMap(t, example)
	s, err := NewStore(cm.path())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var observed []ReloadResult
	var obsMu sync.Mutex
	s.OnReload(func(r ReloadResult) { obsMu.Lock(); observed = append(observed, r); obsMu.Unlock() })
	results := make(chan error, 16)
	stop := s.WatchFile(10*time.Millisecond, func(err error) { results <- err })
	defer stop()
	reloaded := func() error {
		t.Helper()
		select {
		case err := <-results:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("no reload after the ConfigMap swap")
			return nil
		}
	}

	var next reached
	srv := newServer(t, StoreMiddleware(s)(next.handler()), tls.RequireAndVerifyClientCert)
	builder, ops := clientFor(t, "builder"), clientFor(t, "ops")
	probe := func() result { return do(t, ops, "GET", srv.URL+"/containers") }
	if got := probe(); got.status != 200 {
		t.Fatalf("before the swap: %+v", got)
	}

	// The request loop: the builder's build is allowed by every good version.
	var requests, failures atomic.Int64
	var firstFailure atomic.Pointer[string]
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-done:
					return
				default:
				}
				resp, err := builder.Post(srv.URL+"/images/build", "text/plain", nil)
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					msg := err.Error()
					firstFailure.CompareAndSwap(nil, &msg)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
					msg := fmt.Sprintf("%d %s", resp.StatusCode, b)
					firstFailure.CompareAndSwap(nil, &msg)
				}
			}
		}()
	}
	// Let the loop run before each change.
	waitRequests := func(n int64) {
		t.Helper()
		for want := requests.Load() + n; requests.Load() < want; {
			time.Sleep(time.Millisecond)
		}
	}

	waitRequests(20)
	cm.update(freezeOps(example))
	if err := reloaded(); err != nil {
		t.Fatalf("the swapped-in policy: %v", err)
	}
	if got := probe(); got.status != 403 || !strings.Contains(got.body, `"rule":"freeze-ops"`) {
		t.Fatalf("after the swap: %+v", got)
	}
	if st := s.Status(); st.Reloads != 1 || st.ReloadFailures != 0 || st.Rules != 6 || st.LastError != nil {
		t.Fatalf("status after the swap: %+v", st)
	}

	waitRequests(20)
	cm.update("version: 1\nrules: [\n")
	if err := reloaded(); !errors.Is(err, ErrPolicy) {
		t.Fatalf("a bad policy: %v, want ErrPolicy", err)
	}
	if got := probe(); got.status != 403 || !strings.Contains(got.body, `"rule":"freeze-ops"`) {
		t.Fatalf("the last good policy was not kept: %+v", got)
	}
	// Not tried again until the file changes again.
	time.Sleep(100 * time.Millisecond)
	if st := s.Status(); st.Reloads != 1 || st.ReloadFailures != 1 || st.Rules != 6 || !errors.Is(st.LastError, ErrPolicy) {
		t.Fatalf("status after the bad policy: %+v", st)
	}

	waitRequests(20)
	cm.update(example)
	if err := reloaded(); err != nil {
		t.Fatal(err)
	}
	if got := probe(); got.status != 200 {
		t.Fatalf("after the fix: %+v", got)
	}
	waitRequests(20)
	close(done)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed during the reloads; the first: %s", n, requests.Load(), *firstFailure.Load())
	}

	obsMu.Lock()
	defer obsMu.Unlock()
	if len(observed) != 3 || observed[0].Err != nil || observed[1].Err == nil || observed[2].Err != nil ||
		observed[2].Status.Reloads != 2 || observed[2].Status.ReloadFailures != 1 {
		t.Fatalf("OnReload saw %+v", observed)
	}
	stop()
	stop() // idempotent
	if len(results) != 0 {
		t.Fatalf("%d more reloads than changes", len(results))
	}
}

// TestWatchFileInPlaceAndDefaultLog: a plain file edited in place and one replaced by rename
// are both seen; without an onReload function, failures are logged to slog.Default() at
// Error and successes at Info.
func TestWatchFileInPlaceAndDefaultLog(t *testing.T) {
	var logs logCapture
	old := slog.Default()
	slog.SetDefault(logs.logger())
	defer slog.SetDefault(old)

	s, path := tempStore(t, connectPolicy)
	stop := s.WatchFile(10*time.Millisecond, nil)
	defer stop()
	id := identityOf(t, "builder")
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen\n%s", what, logs.buf.String())
			}
		}
	}
	// count is the number of records at level with msg that name the file.
	count := func(level, msg string) int {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		n := 0
		for _, line := range strings.Split(logs.buf.String(), "\n") {
			if strings.Contains(line, `"level":"`+level+`"`) && strings.Contains(line, `"msg":"`+msg+`"`) &&
				strings.Contains(line, `"policy":"`+path+`"`) {
				n++
			}
		}
		return n
	}
	const failed, succeeded = "mtlsauthz: policy reload failed; keeping the last good policy", "mtlsauthz: policy reloaded"

	// In place: the same inode, a new size and modification time. (os.WriteFile truncates
	// first, so the watcher may also see, and fail on, an empty file in between.)
	writePolicy(t, path, revokedPolicy)
	waitFor("an edit in place", func() bool { return !s.Authorize(id, "connect").Allowed })
	waitFor("the success logged", func() bool { return count("INFO", succeeded) == 1 })

	failures := count("ERROR", failed)
	writePolicy(t, path+".new", "version: 1\nrules: [\n")
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	waitFor("the failure logged", func() bool { return count("ERROR", failed) == failures+1 })
	if d := s.Authorize(id, "connect"); d.Allowed || d.Rule != "revoke-builder" {
		t.Fatalf("the last good policy was not kept: %+v", d)
	}

	writePolicy(t, path+".new", connectPolicy) // replaced by rename: a new inode
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	waitFor("a file replaced by rename", func() bool { return s.Authorize(id, "connect").Allowed })
	waitFor("the second success logged", func() bool { return count("INFO", succeeded) == 2 })
	if st := s.Status(); st.Reloads != 2 || st.ReloadFailures != uint64(failures)+1 {
		t.Fatalf("status %+v", st)
	}
}
