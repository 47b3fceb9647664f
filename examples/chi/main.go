// SPDX-License-Identifier: Apache-2.0

// Command chi is the container-escape story as a Chi service guarded by libmtlsauthz.
//
// A build service drives the Docker socket behind an mTLS API. Every client certificate is
// issued by the company CA, so "the certificate verified" says nothing about what the caller
// may do. The policy (examples/policy.yaml) does:
//
//   - GET /healthz                 any verified client
//   - POST /images/build           the CI builder only (its SPIFFE ID and clientAuth)
//   - GET /containers              ops (O=Example Corp, OU=ops or sre)
//   - POST /containers/{id}/exec   nobody, whatever else they may do
//
// Run it with the repository's test certificates (see README.md):
//
//	go run . -certs ../../build/example-certs -listen 127.0.0.1:8443
//
// SIGHUP reloads the policy file; a broken file keeps the last good policy.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"

	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
)

type config struct {
	certs  string // directory with ca.pem, server-chain.pem and server.key
	listen string
	policy string
	dryRun bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.certs, "certs", "certs", "directory made by tests/certs/gen-certs.sh (ca.pem, server-chain.pem, server.key)")
	flag.StringVar(&cfg.listen, "listen", "127.0.0.1:8443", "address to listen on")
	flag.StringVar(&cfg.policy, "policy", "../policy.yaml", "policy file (SIGHUP reloads it)")
	flag.BoolVar(&cfg.dryRun, "dry-run", false, "log decisions, block nothing")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	err := run(ctx, cfg, logger, func(addr net.Addr) {
		logger.Info("listening", "addr", "https://"+addr.String(), "policy", cfg.policy)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "chi example:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done; ready is called with the listening address.
func run(ctx context.Context, cfg config, logger *slog.Logger, ready func(net.Addr)) error {
	store, err := mtlsauthz.NewStore(cfg.policy)
	if err != nil {
		return err
	}
	defer store.Close()
	stopHUP := store.WatchSIGHUP(func(err error) {
		if err != nil {
			logger.Error("policy reload failed; keeping the last good policy", "err", err)
			return
		}
		logger.Info("policy reloaded", "policy", cfg.policy)
	})
	defer stopHUP()

	tlsConfig, err := serverTLS(cfg.certs)
	if err != nil {
		return err
	}
	opts := []mtlsauthz.Option{mtlsauthz.WithLogger(logger)}
	if cfg.dryRun {
		opts = append(opts, mtlsauthz.WithDryRun())
	}

	r := chi.NewRouter()
	// One line: every request is authorized by the policy before routing.
	r.Use(mtlsauthz.StoreMiddleware(store, opts...))
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, map[string]string{"status": "ok"})
	})
	r.Post("/images/build", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]string{"status": "building", "by": caller(r)})
	})
	r.Get("/containers", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, []string{"abc", "def"})
	})
	r.Post("/containers/{id}/exec", func(w http.ResponseWriter, r *http.Request) {
		// The Docker socket's escape hatch. The policy denies it to everyone, so this never
		// runs; if it did, it would be a container escape.
		reply(w, map[string]string{"status": "exec", "container": chi.URLParam(r, "id")})
	})

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           r,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	if ready != nil {
		ready(ln.Addr())
	}
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

// serverTLS verifies client certificates against the CA when a client sends one. A client
// without a certificate still connects, and the middleware answers it 401.
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
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// caller names the verified client, for the reply (the middleware has let only the builder
// through to this handler): its SPIFFE ID, else its subject DN as the policy's dn: patterns
// see it, from the identity the middleware put on the request's context.
func caller(r *http.Request) string {
	_, id, ok := mtlsauthz.FromContext(r.Context())
	if !ok || id == nil {
		return ""
	}
	if s := id.SPIFFEID(); s != "" {
		return s
	}
	return id.SubjectDN()
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
