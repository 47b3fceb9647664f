// SPDX-License-Identifier: Apache-2.0

// Command bench-http-go is the Go server of `make bench-http` (docs/performance.md, "Whole
// requests"): net/http with a Chi router and one tiny handler, over TLS that requires and
// verifies a client certificate, with the mtlsauthz middleware on or off (-middleware).
// Everything else is the same in both modes, so the difference between them is the
// middleware's cost per request.
//
//	bench-http-go -certs DIR -policy examples/policy.yaml -middleware=true -listen 127.0.0.1:0
//
// It prints "listening on ADDR" on stdout once it accepts connections, and serves until
// SIGTERM or SIGINT. -cpuprofile FILE writes a CPU profile of the whole run, for
// `go tool pprof` (docs/performance.md, "Whole requests").
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"

	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
)

func main() {
	certs := flag.String("certs", "", "directory made by tests/certs/gen-certs.sh (ca.pem, server-chain.pem, server.key)")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	policy := flag.String("policy", "", "policy file (with -middleware)")
	on := flag.Bool("middleware", true, "authorize every request with the mtlsauthz middleware")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile (runtime/pprof) to this file until the server stops")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-http-go:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench-http-go:", err)
			os.Exit(1)
		}
	}
	err := run(*certs, *listen, *policy, *on)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-http-go:", err)
		os.Exit(1)
	}
}

func run(certs, listen, policy string, on bool) error {
	tlsConfig, err := serverTLS(certs)
	if err != nil {
		return err
	}
	r := chi.NewRouter()
	if on {
		p, err := mtlsauthz.LoadPolicyFile(policy)
		if err != nil {
			return err
		}
		defer p.Close()
		r.Use(mtlsauthz.Middleware(p))
	}
	body := []byte("ok\n")
	ok := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	}
	// The load goes to /healthz, which the policy allows to any verified client. The policy
	// lets only ops GET /containers, so bench/http/run.sh checks that the middleware is
	// really on (403 for the builder) or off (200) before it measures.
	r.Get("/healthz", ok)
	r.Get("/containers", ok)

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           r,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(os.Stderr, "bench-http-go: ", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	fmt.Printf("listening on %s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serverTLS requires a client certificate that chains to ca.pem: a connection without one
// fails the handshake, in both modes.
func serverTLS(dir string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server-chain.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s: no CA certificate", filepath.Join(dir, "ca.pem"))
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
