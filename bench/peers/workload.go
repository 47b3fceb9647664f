// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The rule kinds of the generated workload (docs/performance.md, "The workload").
const (
	kindExact = "exact"        // spiffe://td3/ns/ns17/svc42
	kindGlob  = "glob"         // spiffe://td0/ns/ns3/* : one segment
	kindTD    = "trust-domain" // spiffe://td5/**       : the whole trust domain
	kindMiss  = "miss"         // identities only: no rule matches
)

type rule struct {
	id      string
	kind    string
	pattern string
	ops     uint32 // bit o = operation o
}

type identity struct {
	kind     string
	allowed  uint32 // what bench.c's reference evaluator allows, bit o = operation o
	spiffeID string // from the certificate's URI SAN, as a Go server reads it
	cert     *x509.Certificate
}

type request struct {
	q, o  int
	allow bool
}

// workload is one size of `bench --dump DIR` (bench/bench.c, run_dump()).
type workload struct {
	n          int
	policyPath string
	ops        []string
	rules      []rule
	ids        []identity
	reqs       []request
	allowed    int // allows in reqs
}

func loadWorkload(dir string, n int) (*workload, error) {
	path := fmt.Sprintf("%s/bench-workload-%d.txt", dir, n)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := &workload{n: n, policyPath: fmt.Sprintf("%s/bench-policy-%d.yaml", dir, n)}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, a...))
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" || text[0] == '#' {
			continue
		}
		f := strings.Split(text, " ")
		switch {
		case f[0] == "op" && len(f) >= 3:
			if o, err := strconv.Atoi(f[1]); err != nil || o != len(w.ops) {
				return nil, bad("operation %q out of order", f[1])
			}
			w.ops = append(w.ops, strings.Join(f[2:], " "))
		case f[0] == "rule" && len(f) == 5:
			mask, err := strconv.ParseUint(f[4], 16, 32)
			if err != nil || f[1] != "r"+strconv.Itoa(len(w.rules)) {
				return nil, bad("bad rule")
			}
			w.rules = append(w.rules, rule{id: f[1], kind: f[2], pattern: f[3], ops: uint32(mask)})
		case f[0] == "identity" && len(f) == 6:
			mask, err1 := strconv.ParseUint(f[3], 16, 32)
			der, err2 := base64.StdEncoding.DecodeString(f[5])
			if err1 != nil || err2 != nil || f[1] != strconv.Itoa(len(w.ids)) {
				return nil, bad("bad identity")
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, bad("certificate: %v", err)
			}
			if len(cert.URIs) != 1 || cert.URIs[0].String() != f[4] {
				return nil, bad("certificate of %s: URI SANs %v", f[4], cert.URIs)
			}
			w.ids = append(w.ids, identity{kind: f[2], allowed: uint32(mask),
				spiffeID: cert.URIs[0].String(), cert: cert})
		case f[0] == "request" && len(f) == 4:
			q, err1 := strconv.Atoi(f[1])
			o, err2 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil || q < 0 || q >= len(w.ids) || o < 0 ||
				o >= len(w.ops) || (f[3] != "0" && f[3] != "1") {
				return nil, bad("bad request")
			}
			allow := f[3] == "1"
			if allow != (w.ids[q].allowed>>o&1 == 1) {
				return nil, bad("request disagrees with its identity's mask")
			}
			w.reqs = append(w.reqs, request{q: q, o: o, allow: allow})
			if allow {
				w.allowed++
			}
		default:
			return nil, bad("unknown record %q", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(w.rules) != n || len(w.ops) != 32 || len(w.ids) == 0 || len(w.reqs) == 0 {
		return nil, fmt.Errorf("%s: %d rules, %d operations, %d identities, %d requests: "+
			"not a complete dump of %d rules", path, len(w.rules), len(w.ops), len(w.ids),
			len(w.reqs), n)
	}
	return w, nil
}

// opsOf lists the operations of mask, in operation order.
func (w *workload) opsOf(mask uint32) []string {
	var out []string
	for o, op := range w.ops {
		if mask>>o&1 == 1 {
			out = append(out, op)
		}
	}
	return out
}
