// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

// DefaultSocketMode is the mode of the Unix socket: its owner and group may connect (run Envoy
// in the socket's group), nobody else.
const DefaultSocketMode fs.FileMode = 0o660

// listenAddress is a parsed --listen: unix:PATH or tcp:HOST:PORT.
type listenAddress struct {
	network string // "unix" or "tcp"
	address string
}

func parseListen(s string) (listenAddress, error) {
	network, addr, ok := strings.Cut(s, ":")
	if ok && network == "unix" && addr != "" {
		return listenAddress{"unix", addr}, nil
	}
	if ok && network == "tcp" {
		if _, _, err := net.SplitHostPort(addr); err == nil {
			return listenAddress{"tcp", addr}, nil
		}
	}
	return listenAddress{}, fmt.Errorf("--listen %q: expected unix:PATH or tcp:HOST:PORT "+
		"(unix:/run/mtlsauthz/envoy.sock, tcp:127.0.0.1:9191)", s)
}

// isLoopback reports whether host is a literal loopback address (127.0.0.0/8, ::1). A name,
// even "localhost", is not: what it resolves to is not the server's to know. An empty host is
// every interface.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkSocketMode refuses a mode that would let anyone but the owner and the group connect.
func checkSocketMode(mode fs.FileMode) error {
	if mode&^0o770 != 0 {
		return fmt.Errorf("--socket-mode %04o: lets users other than the socket's owner and group "+
			"connect, and only Envoy may ask; use 0660 or 0600 and run Envoy in the socket's group",
			mode)
	}
	return nil
}

// listenUnix listens on a Unix socket at path with the given mode. The socket is created with
// that mode (the umask is narrowed around the bind, so it is never more open), then chmod'ed
// to exactly it. A stale socket left by a previous run is replaced; a path that is not a
// socket, or a socket another server answers on, is refused.
func listenUnix(path string, mode fs.FileMode) (net.Listener, error) {
	if err := checkSocketMode(mode); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("--listen unix:%s: the path exists and is not a socket; "+
				"remove it or choose another path", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("--listen unix:%s: another server is listening on it", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("--listen unix:%s: cannot tell whether the existing socket is "+
				"in use: %v", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("--listen unix:%s: removing the stale socket: %v", path, err)
		}
	}
	// The umask is the process's: this runs at start-up, before anything else creates files.
	old := syscall.Umask(int(0o777 &^ mode.Perm()))
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("--listen unix:%s: %v", path, err)
	}
	if err := os.Chmod(path, mode.Perm()); err != nil {
		l.Close()
		return nil, fmt.Errorf("--listen unix:%s: %v", path, err)
	}
	return l, nil
}
