// SPDX-License-Identifier: Apache-2.0

// Command peers runs the `make bench` workload in other authorization engines, in one Go
// process, next to libmtlsauthz through its Go binding (`make bench-peers`; the method and
// the results are in docs/performance.md, "Peers").
//
//	peers [flags] DIR OUT.json
//
// DIR holds what `bench --dump DIR` writes (bench/bench.c). For each size in turn, every
// engine is built and its decisions must agree with libmtlsauthz's on a sample of allows and
// denies; any disagreement aborts (exit status 1) before that size is timed. Then the engines
// are timed in interleaved rounds, the engine order rotated every round, each measurement
// bounded by a time budget and a minimum number of decisions.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"
)

var sizes = []int{10, 1000, 100000}

var (
	flagRounds  = flag.Int("rounds", 7, "timed rounds")
	flagBudget  = flag.Duration("budget", 200*time.Millisecond, "time per measurement (engine, size, round)")
	flagMin     = flag.Int("min", 3, "decisions per measurement at least, whatever the budget")
	flagSample  = flag.Int("sample", 12, "allows and as many denies per size in the agreement check")
	flagEngines = flag.String("engines", "", "comma-separated engines to run (default: all)")
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: peers [flags] DIR OUT.json\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 || *flagRounds < 1 || *flagMin < 1 || *flagSample < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1)); err != nil {
		fmt.Fprintf(os.Stderr, "bench-peers: %v\n", err)
		os.Exit(1)
	}
}

// instance is one engine built for one size.
type instance struct {
	spec  engineSpec
	w     *workload
	e     engine
	setup time.Duration
	pos   int // next request of w.reqs
	// per round: decisions, wall and process CPU time
	n    []int
	wall []time.Duration
	cpu  []time.Duration
}

func selected() ([]engineSpec, error) {
	if *flagEngines == "" {
		return engines, nil
	}
	var out []engineSpec
	for _, name := range strings.Split(*flagEngines, ",") {
		found := false
		for _, s := range engines {
			if s.name == name {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown engine %q", name)
		}
	}
	if out[0].name != baseline {
		out = append([]engineSpec{engines[0]}, out...)
	}
	return out, nil
}

func run(dir, out string) error {
	specs, err := selected()
	if err != nil {
		return err
	}
	load0, busy0, self0, t0 := loadavg(), machineBusy(), processCPU(), time.Now()
	fmt.Printf("bench-peers: %s, GOMAXPROCS %d, %d CPUs, load average %.2f\n", runtime.Version(),
		runtime.GOMAXPROCS(0), runtime.NumCPU(), load0)
	for _, m := range modules() {
		fmt.Printf("  %s\n", m)
	}

	// One size at a time: build every engine, check that they agree, time them in interleaved
	// rounds, then free them all, so that one size's heap does not weigh on the next size's
	// garbage collections.
	fmt.Printf("%d interleaved rounds per size; each measurement: %v or %d decisions, whichever "+
		"is more, after a garbage collection outside it\n", *flagRounds, *flagBudget, *flagMin)
	insts := make([][]*instance, len(sizes)) // [size][engine]
	for si, n := range sizes {
		w, err := loadWorkload(dir, n)
		if err != nil {
			return err
		}
		for _, spec := range specs {
			start := time.Now()
			e, err := spec.build(w)
			if err != nil {
				return fmt.Errorf("%s, %d rules: %w", spec.name, n, err)
			}
			in := &instance{spec: spec, w: w, e: e, setup: time.Since(start)}
			insts[si] = append(insts[si], in)
			fmt.Printf("%-14s %6d rules: built in %v\n", spec.name, n, fmtDur(in.setup))
		}
		if err := agree(w, insts[si]); err != nil {
			return err
		}
		for r := 0; r < *flagRounds; r++ {
			for k := range insts[si] {
				in := insts[si][(k+r)%len(insts[si])]
				// Every engine starts a round at the same place in the sequence; the start
				// moves every round, so that engines that make few decisions at 100,000 rules
				// see different requests in each.
				in.pos = (r * 7919) % len(in.w.reqs)
				// Each window pays for the collections that its own garbage triggers, not for
				// what the engine before it left.
				runtime.GC()
				if err := measure(in); err != nil {
					return err
				}
			}
			fmt.Printf("  %d rules: round %d done (load average %.2f)\n", n, r+1, loadavg())
		}
		for _, in := range insts[si] {
			in.e.close()
			in.e = nil
		}
		runtime.GC()
	}

	load1 := loadavg()
	others := (machineBusy() - busy0 - (processCPU() - self0)).Seconds() / time.Since(t0).Seconds()
	rows := report(insts)
	fmt.Printf("\nother processes used %.2f of the %d CPUs on average during the run (load average "+
		"%.2f at the start, %.2f at the end)\n", others, runtime.NumCPU(), load0, load1)
	return writeJSON(out, rows, map[string]any{
		"name": "machine", "cpus": runtime.NumCPU(), "gomaxprocs": runtime.GOMAXPROCS(0),
		"go": runtime.Version(), "loadavg_start": load0, "loadavg_end": load1,
		"other_cpus": others, "rounds": *flagRounds, "budget_ms": flagBudget.Milliseconds(),
		"min_decisions": *flagMin, "modules": modules(),
	})
}

// agree checks every engine against libmtlsauthz on a sample of allows and denies of w, and
// libmtlsauthz itself against bench.c's reference (the dump's masks) on every pair.
func agree(w *workload, insts []*instance) error {
	base := insts[0].e.(*mtlsauthzEngine)
	for q, id := range w.ids {
		for o := range w.ops {
			got, err := base.decide(q, o)
			if err != nil {
				return fmt.Errorf("%s, %d rules: %s %q: %w", baseline, w.n, id.spiffeID, w.ops[o], err)
			}
			if got != (id.allowed>>o&1 == 1) {
				return fmt.Errorf("%s, %d rules: %s %q: %v, bench.c's reference says %v",
					baseline, w.n, id.spiffeID, w.ops[o], got, !got)
			}
		}
	}
	type pair struct{ q, o int }
	var allows, denies []pair
	rng := rand.New(rand.NewPCG(uint64(w.n), 0x70656572))
	byKind := map[string][]int{}
	for q, id := range w.ids {
		byKind[id.kind] = append(byKind[id.kind], q)
	}
	// Allows from every matching kind in turn; denies alternate between an identity that
	// matches asking for an operation it is not granted, and one that matches nothing.
	matching := []string{kindExact, kindGlob, kindTD}
	for i := 0; len(allows) < *flagSample; i++ {
		qs := byKind[matching[i%3]]
		q := qs[rng.IntN(len(qs))]
		ops := w.ids[q].allowed
		o := rng.IntN(32)
		for ops>>o&1 == 0 {
			o = rng.IntN(32)
		}
		allows = append(allows, pair{q, o})
	}
	for i := 0; len(denies) < *flagSample; i++ {
		kind := kindMiss
		if i%2 == 0 {
			kind = matching[(i/2)%3]
		}
		qs := byKind[kind]
		q := qs[rng.IntN(len(qs))]
		if w.ids[q].allowed == 1<<32-1 {
			continue
		}
		o := rng.IntN(32)
		for w.ids[q].allowed>>o&1 == 1 {
			o = rng.IntN(32)
		}
		denies = append(denies, pair{q, o})
	}
	for _, in := range insts[1:] {
		start := time.Now()
		for _, p := range append(allows, denies...) {
			want, _ := base.decide(p.q, p.o)
			got, err := in.e.decide(p.q, p.o)
			if err != nil {
				return fmt.Errorf("%s, %d rules: %s %q: %w", in.spec.name, w.n, w.ids[p.q].spiffeID,
					w.ops[p.o], err)
			}
			if got != want {
				return fmt.Errorf("DISAGREEMENT: %s, %d rules: %s %q: %s says %v, %s says %v (rule %q)",
					in.spec.name, w.n, w.ids[p.q].spiffeID, w.ops[p.o], in.spec.name, got, baseline,
					want, base.rule(p.q, p.o))
			}
			// Cedar names the policies that allowed: the rule that decided must be one of them.
			if c, ok := in.e.(*cedarEngine); ok && want {
				if r := base.rule(p.q, p.o); !contains(c.reasons(p.q, p.o), r) {
					return fmt.Errorf("DISAGREEMENT: cedar-go, %d rules: %s %q: allowed by %v, "+
						"libmtlsauthz's deciding rule is %s", w.n, w.ids[p.q].spiffeID, w.ops[p.o],
						c.reasons(p.q, p.o), r)
				}
			}
		}
		fmt.Printf("%-14s %6d rules: agrees with %s on %d allows and %d denies (%v)\n",
			in.spec.name, w.n, baseline, len(allows), len(denies),
			fmtDur(time.Since(start)))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// measure times in's decisions from in.pos on, for the budget and at least the minimum
// number of decisions, in batches that grow while they are short, and checks the number of
// allows against the workload's.
func measure(in *instance) error {
	reqs := in.w.reqs
	var n, allowed, want int
	batch := 1
	cpu0 := processCPU()
	start := time.Now()
	var elapsed time.Duration
	for {
		for i := 0; i < batch; i++ {
			rq := reqs[in.pos]
			ok, err := in.e.decide(rq.q, rq.o)
			if err != nil {
				return fmt.Errorf("%s, %d rules: %w", in.spec.name, in.w.n, err)
			}
			if ok {
				allowed++
			}
			if rq.allow {
				want++
			}
			if in.pos++; in.pos == len(reqs) {
				in.pos = 0
			}
		}
		n += batch
		elapsed = time.Since(start)
		if elapsed >= *flagBudget && n >= *flagMin {
			break
		}
		if elapsed < *flagBudget/16 {
			batch *= 2
		}
	}
	cpu := processCPU() - cpu0
	if allowed != want {
		return fmt.Errorf("%s, %d rules: %d allows in %d timed decisions, the workload says %d",
			in.spec.name, in.w.n, allowed, n, want)
	}
	in.n = append(in.n, n)
	in.wall = append(in.wall, elapsed)
	in.cpu = append(in.cpu, cpu)
	return nil
}

type row struct {
	Name      string  `json:"name"`
	Engine    string  `json:"engine"`
	Rules     int     `json:"rules"`
	NsPerOp   float64 `json:"ns_per_decision"`
	XSlower   float64 `json:"x_slower"`
	XSlowMin  float64 `json:"x_slower_min"`
	XSlowMax  float64 `json:"x_slower_max"`
	CPUNsOp   float64 `json:"cpu_ns_per_decision"`
	XSlowCPU  float64 `json:"x_slower_cpu"`
	Decisions int     `json:"decisions"`
	Rounds    int     `json:"rounds"`
	SetupMs   float64 `json:"setup_ms"`
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func perOp(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) }

// report prints the table and returns its rows. ns per decision is the median over the rounds
// of each round's mean; x slower is the median over the rounds of the ratio to libmtlsauthz's
// mean at the same size in the same round (with the lowest and highest round); the CPU columns
// are the same from the process's CPU time, which stops while the process waits for a CPU.
func report(insts [][]*instance) []row {
	var rows []row
	fmt.Printf("\n%-14s %7s %12s %10s %20s %12s %10s %10s %9s\n", "engine", "rules", "ns/decision",
		"x slower", "(rounds: min-max)", "CPU ns/dec", "x in CPU", "decisions", "setup")
	for si, n := range sizes {
		base := insts[si][0]
		for _, in := range insts[si] {
			var ns, ratio, cpu, cpuRatio []float64
			var decisions int
			for r := range in.n {
				ns = append(ns, perOp(in.wall[r], in.n[r]))
				ratio = append(ratio, ns[r]/perOp(base.wall[r], base.n[r]))
				cpu = append(cpu, perOp(in.cpu[r], in.n[r]))
				if b := perOp(base.cpu[r], base.n[r]); b > 0 {
					cpuRatio = append(cpuRatio, cpu[r]/b)
				}
				decisions += in.n[r]
			}
			sorted := append([]float64(nil), ratio...)
			sort.Float64s(sorted)
			rw := row{Name: "peer", Engine: in.spec.name, Rules: n, NsPerOp: median(ns),
				XSlower: median(ratio), XSlowMin: sorted[0], XSlowMax: sorted[len(sorted)-1],
				CPUNsOp: median(cpu), Decisions: decisions, Rounds: len(in.n),
				SetupMs: float64(in.setup.Microseconds()) / 1000}
			if len(cpuRatio) > 0 {
				rw.XSlowCPU = median(cpuRatio)
			}
			rows = append(rows, rw)
			fmt.Printf("%-14s %7d %12s %9sx %20s %12s %9sx %10d %9s\n", rw.Engine, n,
				fmtNs(rw.NsPerOp), fmtX(rw.XSlower),
				fmt.Sprintf("(%s-%s)", fmtX(rw.XSlowMin), fmtX(rw.XSlowMax)), fmtNs(rw.CPUNsOp),
				fmtX(rw.XSlowCPU), decisions, fmtDur(in.setup))
		}
	}
	fmt.Printf("\nns/decision: the median over the rounds of each round's wall-clock mean; x slower: " +
		"the median over the rounds of the ratio to libmtlsauthz in the same round; CPU: the same " +
		"from the process's CPU time (garbage collection included); decisions: all rounds'; " +
		"setup: building the engine from the workload\n")
	return rows
}

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e4:
		return fmt.Sprintf("%.1f us", ns/1e3)
	default:
		return fmt.Sprintf("%.1f ns", ns)
	}
}

func fmtDur(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func fmtX(x float64) string {
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

func writeJSON(path string, rows []row, machine map[string]any) error {
	var all []any
	for _, r := range rows {
		all = append(all, r)
	}
	all = append(all, machine)
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nwrote %s\n", path)
	return nil
}

// modules lists the peers' module versions as built into this binary (go.mod pins them).
func modules() []string {
	var out []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/open-policy-agent/opa", "github.com/cedar-policy/cedar-go",
				"github.com/casbin/casbin/v2":
				out = append(out, d.Path+" "+d.Version)
			}
		}
	}
	return out
}

// loadavg is the 1-minute load average, -1 when /proc/loadavg cannot be read.
func loadavg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var v float64
	if _, err := fmt.Sscan(string(b), &v); err != nil {
		return -1
	}
	return v
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy is the CPU time the whole machine spent busy (all but idle and iowait), from
// /proc/stat, in USER_HZ ticks of 10 ms.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var busy int64
	for _, idx := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		var v int64
		if idx < len(f) {
			fmt.Sscan(f[idx], &v)
		}
		busy += v
	}
	return time.Duration(busy) * 10 * time.Millisecond
}
