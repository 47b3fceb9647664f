// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
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
