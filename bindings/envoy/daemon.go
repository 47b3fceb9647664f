// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
	"github.com/libmtlsauthz/mtlsauthz/bindings/go/mtlsauthzprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

// healthService is the service name Envoy's gRPC health check can ask about; "" (the server
// as a whole) answers the same.
const healthService = "envoy.service.auth.v3.Authorization"

// Daemon is a running mtlsauthz-envoy: the gRPC server (Authorization and grpc.health.v1), the
// policy store and its file watch, and the metrics endpoint.
type Daemon struct {
	log        *slog.Logger
	store      *mtlsauthz.Store
	grpc       *grpc.Server
	health     *health.Server
	lis        net.Listener
	metrics    *http.Server
	metricsLis net.Listener
	stopWatch  func()
	served     chan error
}

// Start loads the policy, listens and serves in the background. Every problem with the
// configuration, the policy or the listener is an error here, before anything is served.
func Start(cfg *Config, logOut io.Writer) (*Daemon, error) {
	la, err := cfg.check()
	if err != nil {
		return nil, err
	}
	log := cfg.NewLogger(logOut)
	store, err := mtlsauthz.NewStore(cfg.Policy)
	if err != nil {
		return nil, fmt.Errorf("--policy %s: %w", cfg.Policy, err)
	}
	d := &Daemon{log: log, store: store, served: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			d.close()
		}
	}()

	// Envoy may keep its connection alive with HTTP/2 pings (connection_keepalive); allow them
	// down to every 10 s rather than answer with GOAWAY (gRPC's default minimum is 5 min).
	opts := []grpc.ServerOption{grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
		MinTime: 10 * time.Second, PermitWithoutStream: true})}
	if cfg.TLSCert != "" {
		clients, err := ClientPolicy(cfg.AllowClients)
		if err != nil {
			return nil, err
		}
		files := &tlsFiles{cert: cfg.TLSCert, key: cfg.TLSKey, ca: cfg.ClientCA,
			verify: verifyCaller(clients, func(err error) {
				log.LogAttrs(context.Background(), slog.LevelWarn, "mtlsauthz-envoy: caller refused",
					slog.String("err", err.Error()))
			}),
			onError: func(err error) {
				log.LogAttrs(context.Background(), slog.LevelError,
					"mtlsauthz-envoy: TLS files changed but did not load; keeping the last good ones",
					slog.String("err", err.Error()))
			}}
		if err := files.init(); err != nil {
			return nil, err
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(files.serverConfig())))
	}

	if la.network == "unix" {
		d.lis, err = listenUnix(la.address, cfg.SocketMode)
	} else {
		d.lis, err = net.Listen("tcp", la.address)
		if err != nil {
			err = fmt.Errorf("--listen %s: %v", cfg.Listen, err)
		}
	}
	if err != nil {
		return nil, err
	}

	var hooks []Option
	if cfg.MetricsListen != "" {
		collector := mtlsauthzprom.New(mtlsauthzprom.WithStore(store))
		reg := prometheus.NewRegistry()
		reg.MustRegister(collector, collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		hooks = append(hooks, WithDecisionHook(func(dec mtlsauthz.Decision) { collector.Observe(nil, dec) }))
		if d.metricsLis, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			return nil, fmt.Errorf("--metrics-listen %s: %v", cfg.MetricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "ok\n")
		})
		d.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	}

	srv := NewServer(store, append(hooks, WithLogger(log), WithIdentityCacheSize(cfg.CacheSize))...)
	d.grpc = grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(d.grpc, srv)
	d.health = health.NewServer()
	healthpb.RegisterHealthServer(d.grpc, d.health)
	d.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	d.health.SetServingStatus(healthService, healthpb.HealthCheckResponse_SERVING)

	d.checkProtocol(store.Policy())
	store.OnReload(func(r mtlsauthz.ReloadResult) {
		if r.Err != nil {
			log.LogAttrs(context.Background(), slog.LevelError,
				"mtlsauthz-envoy: policy reload failed; keeping the last good policy",
				slog.String("policy", cfg.Policy), slog.String("err", r.Err.Error()))
			return
		}
		log.LogAttrs(context.Background(), slog.LevelInfo, "mtlsauthz-envoy: policy reloaded",
			slog.String("policy", cfg.Policy), slog.Int("rules", r.Status.Rules))
		d.checkProtocol(store.Policy())
	})
	if cfg.ReloadInterval > 0 {
		// Every reload is logged by OnReload, whatever triggered it.
		d.stopWatch = store.WatchFile(cfg.ReloadInterval, func(error) {})
	}

	go func() { d.served <- d.grpc.Serve(d.lis) }()
	if d.metrics != nil {
		go d.metrics.Serve(d.metricsLis)
	}
	ok = true
	attrs := []slog.Attr{slog.String("listen", d.lis.Addr().Network()+":"+d.lis.Addr().String()),
		slog.String("policy", cfg.Policy), slog.Int("rules", store.Status().Rules),
		slog.String("libmtlsauthz", mtlsauthz.Version())}
	if d.metricsLis != nil {
		attrs = append(attrs, slog.String("metrics", d.metricsLis.Addr().String()))
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "mtlsauthz-envoy: serving", attrs...)
	if la.network == "tcp" && cfg.TLSCert == "" {
		log.LogAttrs(context.Background(), slog.LevelWarn,
			"mtlsauthz-envoy: serving plain TCP: any process that can reach the address may ask",
			slog.String("listen", cfg.Listen))
	}
	return d, nil
}

// checkProtocol warns when the policy does not declare `protocol: http`: every operation here
// is an HTTP one, and only under that key is a pattern no HTTP request can match a load error.
func (d *Daemon) checkProtocol(p *mtlsauthz.Policy) {
	if p.Protocol() == mtlsauthz.ProtocolHTTP {
		return
	}
	d.log.LogAttrs(context.Background(), slog.LevelWarn,
		"mtlsauthz-envoy: the policy does not declare `protocol: http`; add it at the top level, "+
			"so that an operation pattern no HTTP request can match is a load error (docs/policy.md)",
		slog.String("policy", d.store.Path()))
}

// Addr is the address the gRPC server listens on.
func (d *Daemon) Addr() net.Addr { return d.lis.Addr() }

// MetricsAddr is the address of the metrics endpoint, or nil without --metrics-listen.
func (d *Daemon) MetricsAddr() net.Addr {
	if d.metricsLis == nil {
		return nil
	}
	return d.metricsLis.Addr()
}

// Store is the policy store; Store().Reload() reloads the policy as SIGHUP does.
func (d *Daemon) Store() *mtlsauthz.Store { return d.store }

// Served receives the gRPC server's error when it stops by itself (not after Shutdown).
func (d *Daemon) Served() <-chan error { return d.served }

// Shutdown reports NOT_SERVING to health checks, stops taking calls and waits for those in
// flight until ctx is done, then closes everything.
func (d *Daemon) Shutdown(ctx context.Context) {
	d.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		d.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		d.grpc.Stop()
		<-stopped
	}
	if d.metrics != nil {
		d.metrics.Shutdown(ctx)
	}
	d.close()
	d.log.LogAttrs(context.Background(), slog.LevelInfo, "mtlsauthz-envoy: stopped")
}

func (d *Daemon) close() {
	if d.stopWatch != nil {
		d.stopWatch()
	}
	if d.lis != nil {
		d.lis.Close()
	}
	if d.metricsLis != nil {
		d.metricsLis.Close()
	}
	d.store.Close()
}

// Main runs mtlsauthz-envoy with args (without the program name) until SIGTERM or SIGINT, and
// reloads the policy on SIGHUP. It returns the exit status: 0 after a clean stop, 1 when the
// server could not start or stopped by itself, 2 for a usage error.
func Main(args []string, stderr io.Writer) int {
	cfg, err := ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mtlsauthz-envoy: %v\n", err)
		return 2
	}
	d, err := Start(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mtlsauthz-envoy: %v\n", err)
		return 1
	}
	stopHUP := d.store.WatchSIGHUP(nil) // logged by the store's OnReload
	defer stopHUP()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(sctx)
		return 0
	case err := <-d.served:
		fmt.Fprintf(stderr, "mtlsauthz-envoy: the gRPC server stopped: %v\n", err)
		return 1
	}
}
