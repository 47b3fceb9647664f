// SPDX-License-Identifier: Apache-2.0

// Package mtlsauthzprom exports the decisions and reloads of the mtlsauthz Go binding as
// Prometheus metrics, with the names and labels of docs/http.md ("Metrics"):
//
//	metrics := mtlsauthzprom.New(mtlsauthzprom.WithStore(store))
//	prometheus.MustRegister(metrics)
//	r.Use(mtlsauthz.StoreMiddleware(store, mtlsauthz.WithDecisionHook(metrics.Observe)))
//
// It is its own module, so that the binding itself depends on nothing outside the standard
// library: only a program that imports this package gets client_golang.
package mtlsauthzprom

import (
	"net/http"
	"sync"
	"sync/atomic"
	"unsafe"

	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
	"github.com/prometheus/client_golang/prometheus"
)

// The metrics of docs/http.md.
var (
	descDecisions = prometheus.NewDesc("mtlsauthz_decisions_total",
		"Requests decided by libmtlsauthz, by decision, reason and deciding rule (\"\" when none).",
		[]string{"decision", "reason", "rule"}, nil)
	descDryRun = prometheus.NewDesc("mtlsauthz_dry_run_matches_total",
		"Matches of dry-run rules, which are reported and not enforced.",
		[]string{"rule"}, nil)
	descReloads = prometheus.NewDesc("mtlsauthz_policy_reloads_total",
		"Policy reloads, by result (success, or failure: the last good policy was kept).",
		[]string{"result"}, nil)
	descRules = prometheus.NewDesc("mtlsauthz_policy_rules",
		"Rules in the policy in use.", nil, nil)
	descLoadSeconds = prometheus.NewDesc("mtlsauthz_policy_load_seconds",
		"How long the policy in use took to load.", nil, nil)
	descLastReload = prometheus.NewDesc("mtlsauthz_policy_last_reload_success_timestamp_seconds",
		"When the policy in use was loaded (Unix time).", nil, nil)
)

// Collector is a prometheus.Collector of libmtlsauthz's decisions (fed by Observe, a decision
// hook) and, with WithStore, of a Store's policy and reloads. Observe takes no lock and
// allocates only the first time it sees a (decision, reason, rule) combination, so it can sit
// on every request. It is safe for concurrent use.
type Collector struct {
	// recent caches the counters of recent decisions by the addresses of their strings (see
	// Observe); decisions has every counter.
	recent    [recentSize]atomic.Pointer[recentEntry]
	decisions counterMap[decisionKey]
	dryRun    counterMap[string]
	store     *mtlsauthz.Store
}

// recentSize is the number of recent-decision slots (a power of 2).
const recentSize = 256

type recentEntry struct {
	key decisionKey
	n   *atomic.Uint64
}

// Option configures a Collector.
type Option func(*Collector)

// WithStore adds the metrics of the store's policy and reloads (mtlsauthz_policy_*), read
// from Store.Status at each scrape. Without it, a Collector exports decisions only.
func WithStore(s *mtlsauthz.Store) Option {
	return func(c *Collector) { c.store = s }
}

// New returns a Collector; register it with a prometheus.Registerer.
func New(opts ...Option) *Collector {
	c := &Collector{}
	for _, o := range opts {
		o(c)
	}
	return c
}

// decisionKey is one series of mtlsauthz_decisions_total.
type decisionKey struct {
	allowed bool
	reason  string
	rule    string
}

// Observe counts one decision: its signature is that of mtlsauthz.WithDecisionHook. Dry-run
// matches are counted by rule for the rules the decision names (Decision.DryRun; the library
// names at most 8 per decision).
func (c *Collector) Observe(_ *http.Request, d mtlsauthz.Decision) {
	// The binding hands out the same string for a rule id (interned per policy) and for a
	// reason every time, so the strings' addresses pick a slot, and the comparison below
	// (Go compares strings by address first) is a few instructions. Any other string still
	// counts right: it misses, and takes the map.
	h := uintptr(unsafe.Pointer(unsafe.StringData(d.Rule)))>>3 ^
		uintptr(unsafe.Pointer(unsafe.StringData(d.Reason)))>>4
	slot := &c.recent[(h^h>>8)&(recentSize-1)]
	k := decisionKey{d.Allowed, d.Reason, d.Rule}
	if e := slot.Load(); e != nil && e.key == k {
		e.n.Add(1)
	} else {
		n := c.decisions.get(k)
		n.Add(1)
		slot.Store(&recentEntry{key: k, n: n})
	}
	for _, rule := range d.DryRun {
		c.dryRun.get(rule).Add(1)
	}
}

// Describe sends the descriptors of every metric the Collector may export.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDecisions
	ch <- descDryRun
	if c.store != nil {
		ch <- descReloads
		ch <- descRules
		ch <- descLoadSeconds
		ch <- descLastReload
	}
}

// Collect sends the current values.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.decisions.each(func(k decisionKey, n uint64) {
		decision := "deny"
		if k.allowed {
			decision = "allow"
		}
		ch <- prometheus.MustNewConstMetric(descDecisions, prometheus.CounterValue, float64(n),
			decision, k.reason, k.rule)
	})
	c.dryRun.each(func(rule string, n uint64) {
		ch <- prometheus.MustNewConstMetric(descDryRun, prometheus.CounterValue, float64(n), rule)
	})
	if c.store == nil {
		return
	}
	st := c.store.Status()
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(st.Reloads), "success")
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(st.ReloadFailures), "failure")
	ch <- prometheus.MustNewConstMetric(descRules, prometheus.GaugeValue, float64(st.Rules))
	ch <- prometheus.MustNewConstMetric(descLoadSeconds, prometheus.GaugeValue, st.LoadDuration.Seconds())
	ch <- prometheus.MustNewConstMetric(descLastReload, prometheus.GaugeValue,
		float64(st.LoadedAt.UnixNano())/1e9)
}

// counterMap is a set of counters that the common case reads without a lock: read is an
// immutable map from key to counter; a key that is not there yet goes into dirty, under mu,
// and dirty is merged into a new read map once the slow path has been taken as many times as
// read has keys (as sync.Map does), so the copies cost O(1) per new key, amortized. The keys
// are bounded by the policies' rule ids and the handful of reasons.
type counterMap[K comparable] struct {
	read atomic.Pointer[map[K]*atomic.Uint64]
	// mu guards dirty and misses.
	mu     sync.Mutex
	dirty  map[K]*atomic.Uint64
	misses int
}

// get is the counter of k, made at zero on first use.
func (c *counterMap[K]) get(k K) *atomic.Uint64 {
	if m := c.read.Load(); m != nil {
		if n, ok := (*m)[k]; ok {
			return n
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	read := c.read.Load()
	if read != nil {
		if n, ok := (*read)[k]; ok {
			return n
		}
	}
	n, ok := c.dirty[k]
	if !ok {
		if c.dirty == nil {
			c.dirty = map[K]*atomic.Uint64{}
		}
		n = new(atomic.Uint64)
		c.dirty[k] = n
	}
	if c.misses++; c.misses > lenOf(read) {
		m := make(map[K]*atomic.Uint64, lenOf(read)+len(c.dirty))
		if read != nil {
			for k2, v := range *read {
				m[k2] = v
			}
		}
		for k2, v := range c.dirty {
			m[k2] = v
		}
		c.read.Store(&m)
		c.dirty, c.misses = nil, 0
	}
	return n
}

func (c *counterMap[K]) each(f func(K, uint64)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.read.Load(); m != nil {
		for k, n := range *m {
			f(k, n.Load())
		}
	}
	for k, n := range c.dirty {
		f(k, n.Load())
	}
}

func lenOf[K comparable](m *map[K]*atomic.Uint64) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
