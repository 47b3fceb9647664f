// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"
)

// tlsFiles is the server's TLS material for --listen tcp:, read from --tls-cert, --tls-key and
// --client-ca, and read again when one of the files changes (a renewed certificate, a rotated
// CA bundle), at the next handshake. A set of files that fails to load is logged and the last
// good one is kept.
type tlsFiles struct {
	cert, key, ca string
	// verify refuses callers that no --allow-client selector matches.
	verify  func(tls.ConnectionState) error
	onError func(error)

	mu      sync.Mutex
	seen    [3]fileStamp
	current *tls.Config
}

// fileStamp identifies a version of a file: its modification time and size.
type fileStamp struct {
	mtime time.Time
	size  int64
}

func stamp(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

func (f *tlsFiles) stamps() [3]fileStamp {
	return [3]fileStamp{stamp(f.cert), stamp(f.key), stamp(f.ca)}
}

// load reads the three files into a server tls.Config that requires a client certificate
// verified against the CA bundle, and lets in only callers that verify accepts.
func (f *tlsFiles) load() (*tls.Config, error) {
	kp, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %v", f.cert, f.key, err)
	}
	caPEM, err := os.ReadFile(f.ca)
	if err != nil {
		return nil, fmt.Errorf("--client-ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("--client-ca %s: no PEM certificate in the file", f.ca)
	}
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		Certificates:     []tls.Certificate{kp},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        pool,
		VerifyConnection: f.verify,
		// gRPC needs HTTP/2, negotiated by ALPN (Envoy: alpn_protocols: [h2]).
		NextProtos: []string{"h2"},
	}, nil
}

// init loads the files for the first time; an error stops the server from starting.
func (f *tlsFiles) init() error {
	st := f.stamps()
	c, err := f.load()
	if err != nil {
		return err
	}
	f.seen, f.current = st, c
	return nil
}

// config is the tls.Config for one handshake (tls.Config.GetConfigForClient).
func (f *tlsFiles) config(*tls.ClientHelloInfo) (*tls.Config, error) {
	st := f.stamps()
	f.mu.Lock()
	defer f.mu.Unlock()
	if st != f.seen {
		f.seen = st
		if c, err := f.load(); err != nil {
			if f.onError != nil {
				f.onError(err)
			}
		} else {
			f.current = c
		}
	}
	return f.current, nil
}

// serverConfig is the tls.Config given to gRPC: every handshake takes the current files'.
func (f *tlsFiles) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ClientAuth:         tls.RequireAndVerifyClientCert,
		GetConfigForClient: f.config,
		NextProtos:         []string{"h2"},
	}
}
