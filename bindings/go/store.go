// SPDX-License-Identifier: Apache-2.0

package mtlsauthz

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Store holds the current policy loaded from a file, for hot reload: Reload loads the file
// again and swaps the new policy in atomically, and keeps the last good policy when the new
// one fails to load. Decisions in flight finish on the policy they started with. A Store is
// safe for concurrent use.
type Store struct {
	path string
	cur  atomic.Pointer[Policy]
	// mu serializes Reload and Close, and guards reloaded, observers and status.
	mu     sync.Mutex
	closed atomic.Bool
	// reloaded are called, under mu, with the current policy when they are added and with
	// each policy a Reload swaps in (StoreMiddleware's "protocol: http" check).
	reloaded []func(*Policy)
	// observers are called, under mu, after every Reload (OnReload).
	observers []func(ReloadResult)
	status    StoreStatus
	// seen is the version of the file the last load read (WatchFile).
	seen fileVersion
}

// StoreStatus describes a Store's policy in use and its reloads, for metrics
// (mtlsauthzprom) and health checks.
type StoreStatus struct {
	// Rules is the number of rules in the policy in use (Policy.RuleCount).
	Rules int
	// LoadDuration is how long the policy in use took to load and compile.
	LoadDuration time.Duration
	// LoadedAt is when the policy in use finished loading (by NewStore or a Reload).
	LoadedAt time.Time
	// Reloads and ReloadFailures count the Reloads (by any trigger: a call, WatchSIGHUP,
	// WatchFile) that swapped a new policy in, and those that kept the last good one.
	Reloads, ReloadFailures uint64
	// LastError is the error of the last Reload, nil when it succeeded.
	LastError error
}

// ReloadResult is what OnReload's functions learn of one Reload.
type ReloadResult struct {
	// Err is nil when the new policy is in use, else the load error (the last good policy
	// stays).
	Err error
	// Status is the store's status after the reload.
	Status StoreStatus
}

// NewStore loads the policy file at path. The error is LoadPolicyFile's.
func NewStore(path string) (*Store, error) {
	seen := statVersion(path)
	start := time.Now()
	p, err := LoadPolicyFile(path)
	if err != nil {
		return nil, err
	}
	s := &Store{path: path, seen: seen}
	s.cur.Store(p)
	s.setLoaded(p, start)
	return s, nil
}

// setLoaded records p, loaded from start until now, as the policy in use. Under mu, or before
// the store is shared.
func (s *Store) setLoaded(p *Policy, start time.Time) {
	now := time.Now()
	s.status.Rules = p.RuleCount()
	s.status.LoadDuration = now.Sub(start)
	s.status.LoadedAt = now
}

// Path is the policy file the store loads.
func (s *Store) Path() string { return s.path }

// Policy is the current policy. It belongs to the Store: do not Close it. It may be replaced
// (and closed) by a Reload at any time; prefer s.Authorize, which retries on the new policy.
func (s *Store) Policy() *Policy { return s.cur.Load() }

// Status is the store's status: the policy in use and the reloads so far.
func (s *Store) Status() StoreStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Reload loads the policy file again. On success the new policy replaces the current one,
// which is closed; on failure the current policy stays, and the load error is returned.
// Either way the functions given to OnReload are called, and the store's Status counts it.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	// The version is taken before the load, so a change during it is seen by the next look.
	s.seen = statVersion(s.path)
	start := time.Now()
	p, err := LoadPolicyFile(s.path)
	if err != nil {
		s.status.ReloadFailures++
		s.status.LastError = err
		s.notify(err)
		return err
	}
	old := s.cur.Swap(p)
	s.setLoaded(p, start)
	s.status.Reloads++
	s.status.LastError = nil
	for _, f := range s.reloaded {
		f(p)
	}
	s.notify(nil)
	return old.Close()
}

func (s *Store) notify(err error) {
	for _, f := range s.observers {
		f(ReloadResult{Err: err, Status: s.status})
	}
}

// OnReload calls f after every Reload, successful or not, whatever triggered it. f runs with
// the store's reloads serialized: it must not call Reload or Close.
func (s *Store) OnReload(f func(ReloadResult)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observers = append(s.observers, f)
}

// onReload calls f with the current policy now and with each policy a later Reload swaps in.
// f runs under s.mu, so the policy it gets cannot be closed by a reload under it.
func (s *Store) onReload(f func(*Policy)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reloaded = append(s.reloaded, f)
	f(s.cur.Load())
}

// Close closes the current policy; later decisions deny with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	return s.cur.Load().Close()
}

// Authorize is Policy.Authorize with the current policy. A decision that meets a policy just
// replaced by Reload is made again on its successor, so a reload never denies by itself.
func (s *Store) Authorize(id *Identity, op string) Decision {
	var d Decision
	for i := 0; i < 16 && !s.closed.Load(); i++ {
		if s.cur.Load().authorize(&d, id, op) {
			return d
		}
	}
	return denyError(ErrClosed)
}

// WatchSIGHUP reloads the store on every SIGHUP until stop is called. onReload, if not nil,
// is called after each reload with its result (nil, or the error; the last good policy stays).
// stop waits for a reload in progress to finish.
func (s *Store) WatchSIGHUP(onReload func(error)) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ch:
				err := s.Reload()
				if onReload != nil {
					onReload(err)
				}
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			wg.Wait()
		})
	}
}

// DeniedError is the handshake error of VerifyConnection when the policy denies the peer.
type DeniedError struct {
	Op       string
	Decision Decision
}

func (e *DeniedError) Error() string {
	rule := e.Decision.Rule
	if rule == "" {
		rule = "none"
	}
	msg := fmt.Sprintf("mtlsauthz: %q denied (reason %s, rule %s)", e.Op, e.Decision.Reason, rule)
	if e.Decision.Err != nil {
		msg += ": " + e.Decision.Err.Error()
	}
	return msg
}

func (e *DeniedError) Unwrap() error { return e.Decision.Err }

// VerifyConnection returns a tls.Config.VerifyConnection callback for a server: it refuses
// the handshake unless the client's verified identity may perform op (for example
// "connect") under the policy current in s at that moment. crypto/tls calls VerifyConnection
// on every handshake, resumed ones included (unlike VerifyPeerCertificate), so a policy
// reload that revokes a client also refuses its resumed sessions. A handshake without a
// verified chain is decided with no identity (denied, no_identity). The returned error is a
// *DeniedError, or the identity's read error.
func VerifyConnection(s *Store, op string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		var id *Identity
		if chain := verifiedChain(&cs); chain != nil {
			var err error
			if id, err = IdentityFromChain(chain); err != nil {
				return err
			}
			defer id.Close()
		}
		d := s.Authorize(id, op)
		if !d.Allowed {
			return &DeniedError{Op: op, Decision: d}
		}
		return nil
	}
}
