package mtlsauthzenvoy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
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
)

// Config is the configuration of mtlsauthz-envoy, one field per flag (README.md, "Flags").
type Config struct {
	Policy string // --policy FILE
	Listen string // --listen unix:PATH | tcp:HOST:PORT
	// SocketMode is the Unix socket's mode (--socket-mode, DefaultSocketMode).
	SocketMode fs.FileMode
	// TLSCert, TLSKey and ClientCA (--tls-cert, --tls-key, --client-ca) make --listen tcp:
	// serve mutual TLS, and AllowClients (--allow-client KEY:PATTERN, repeated) select the Envoy
	// proxies that may ask.
	TLSCert, TLSKey, ClientCA string
	AllowClients              []string
	// InsecurePlaintextTCP (--insecure-allow-plaintext-tcp) lets --listen tcp: serve plain TCP
	// on an address that is not loopback.
	InsecurePlaintextTCP bool
	MetricsListen        string        // --metrics-listen HOST:PORT: /metrics and /healthz
	LogFormat            string        // --log-format json | text
	LogLevel             string        // --log-level debug | info | warn | error
	CacheSize            int           // --cache-size N: client certificates kept read
	ReloadInterval       time.Duration // --reload-interval D: 0 turns the file watch off
}

// DefaultConfig is the configuration without flags.
func DefaultConfig() Config {
	return Config{
		SocketMode:     DefaultSocketMode,
		LogFormat:      "json",
		LogLevel:       "info",
		CacheSize:      DefaultIdentityCacheSize,
		ReloadInterval: mtlsauthz.DefaultWatchInterval,
	}
}

// ParseFlags reads the command line (without the program name) into a Config. Usage and
// errors go to output.
func ParseFlags(args []string, output io.Writer) (*Config, error) {
	cfg := DefaultConfig()
	fl := flag.NewFlagSet("mtlsauthz-envoy", flag.ContinueOnError)
	fl.SetOutput(output)
	fl.Usage = func() {
		fmt.Fprintf(output, "usage: mtlsauthz-envoy --policy FILE --listen unix:PATH|tcp:HOST:PORT [flags]\n\n"+
			"An Envoy external authorization (ext_authz) gRPC server that decides with a libmtlsauthz\n"+
			"policy. See bindings/envoy/README.md.\n\n")
		fl.PrintDefaults()
	}
	fl.StringVar(&cfg.Policy, "policy", "", "the policy `FILE` (docs/policy.md); reloaded when it changes and on SIGHUP")
	fl.StringVar(&cfg.Listen, "listen", "", "where Envoy connects (`ADDRESS`): unix:PATH, or tcp:HOST:PORT")
	fl.Var((*modeFlag)(&cfg.SocketMode), "socket-mode", "the Unix socket's `MODE`, in octal; owner and group only")
	fl.StringVar(&cfg.TLSCert, "tls-cert", "", "the server's certificate chain (PEM `FILE`), for tcp: with mutual TLS")
	fl.StringVar(&cfg.TLSKey, "tls-key", "", "the server's private key (PEM `FILE`)")
	fl.StringVar(&cfg.ClientCA, "client-ca", "", "the CA certificates (PEM `FILE`) that verify the Envoy proxies' client certificates")
	fl.Var((*listFlag)(&cfg.AllowClients), "allow-client", "let in the Envoy proxies whose identity matches `KEY:PATTERN`, a principal "+
		"key of the policy language and a pattern (spiffe:spiffe://cluster.local/ns/edge/sa/envoy); repeat for more")
	fl.BoolVar(&cfg.InsecurePlaintextTCP, "insecure-allow-plaintext-tcp", false,
		"serve plain TCP on an address that is not loopback, so that anyone who can reach it may ask")
	fl.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve Prometheus metrics (/metrics) and /healthz over HTTP on `HOST:PORT`")
	fl.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "the log's `FORMAT`: json or text")
	fl.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "the lowest `LEVEL` logged: debug, info, warn or error (warn drops the records of allowed requests)")
	fl.IntVar(&cfg.CacheSize, "cache-size", cfg.CacheSize, "keep the identities of the last `N` client certificates seen")
	fl.DurationVar(&cfg.ReloadInterval, "reload-interval", cfg.ReloadInterval, "look at the policy file for a change every `DURATION`; 0 turns the watch off (SIGHUP still reloads)")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if fl.NArg() != 0 {
		return nil, fmt.Errorf("unexpected argument %q; every setting is a flag (--help lists them)", fl.Arg(0))
	}
	return &cfg, nil
}

type modeFlag fs.FileMode

func (m *modeFlag) String() string { return fmt.Sprintf("%04o", fs.FileMode(*m)) }
func (m *modeFlag) Set(s string) error {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return fmt.Errorf("%q is not an octal file mode such as 0660", s)
	}
	*m = modeFlag(v)
	return nil
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// check refuses a configuration that would let anyone but Envoy ask, or that says something
// the server would not do.
func (c *Config) check() (listenAddress, error) {
	if c.Policy == "" {
		return listenAddress{}, errors.New("--policy FILE is required")
	}
	if c.Listen == "" {
		return listenAddress{}, errors.New("--listen unix:PATH or --listen tcp:HOST:PORT is required")
	}
	la, err := parseListen(c.Listen)
	if err != nil {
		return la, err
	}
	tlsSet := c.TLSCert != "" || c.TLSKey != "" || c.ClientCA != ""
	switch {
	case la.network == "unix" && (tlsSet || len(c.AllowClients) > 0 || c.InsecurePlaintextTCP):
		return la, errors.New("--tls-cert, --tls-key, --client-ca, --allow-client and " +
			"--insecure-allow-plaintext-tcp apply to --listen tcp: only; a Unix socket is guarded by " +
			"its mode (--socket-mode)")
	case la.network == "unix":
		if err := checkSocketMode(c.SocketMode); err != nil {
			return la, err
		}
	case tlsSet:
		if c.TLSCert == "" || c.TLSKey == "" || c.ClientCA == "" {
			return la, errors.New("mutual TLS needs all of --tls-cert, --tls-key and --client-ca")
		}
		if len(c.AllowClients) == 0 {
			return la, errors.New("mutual TLS needs at least one --allow-client KEY:PATTERN that selects " +
				"the Envoy proxies (spiffe:spiffe://cluster.local/ns/edge/sa/envoy): a certificate from " +
				"--client-ca alone does not make a caller Envoy")
		}
		if c.InsecurePlaintextTCP {
			return la, errors.New("--insecure-allow-plaintext-tcp has no effect with --tls-cert; leave it out")
		}
	default:
		if len(c.AllowClients) > 0 {
			return la, errors.New("--allow-client needs mutual TLS (--tls-cert, --tls-key, --client-ca): " +
				"over plain TCP the caller has no identity to select")
		}
		host, _, _ := net.SplitHostPort(la.address)
		if !isLoopback(host) && !c.InsecurePlaintextTCP {
			return la, fmt.Errorf("--listen %s: plain TCP on an address that is not loopback lets anyone "+
				"who can reach it ask; serve mutual TLS (--tls-cert, --tls-key, --client-ca, "+
				"--allow-client), listen on 127.0.0.1 or [::1], or say "+
				"--insecure-allow-plaintext-tcp", c.Listen)
		}
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		return la, fmt.Errorf("--log-format %q: json or text", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return la, err
	}
	if c.CacheSize < 1 {
		return la, fmt.Errorf("--cache-size %d: at least 1", c.CacheSize)
	}
	if c.ReloadInterval < 0 {
		return la, fmt.Errorf("--reload-interval %v: 0 (off) or more", c.ReloadInterval)
	}
	return la, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger is the logger of a Config: JSON or text on w, at its level.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

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

	var opts []grpc.ServerOption
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
