// SPDX-License-Identifier: Apache-2.0

package mtlsauthzenvoy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	mtlsauthz "github.com/libmtlsauthz/mtlsauthz/bindings/go"
	"github.com/libmtlsauthz/mtlsauthz/bindings/go/mtlsauthzprom"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// noopServer answers every Check with an allow and does nothing else: the floor of a Check
// over gRPC.
type noopServer struct {
	authv3.UnimplementedAuthorizationServer
}

func (noopServer) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{Status: &rpcstatus.Status{},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}, nil
}

// serveLoopback serves srv on 127.0.0.1 and returns a client of it.
func serveLoopback(b *testing.B, srv authv3.AuthorizationServer) authv3.AuthorizationClient {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	g := grpc.NewServer()
	authv3.RegisterAuthorizationServer(g, srv)
	go g.Serve(lis)
	b.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

// BenchmarkCheckLatency measures Check over loopback gRPC (TCP, one call at a time) on the
// server as mtlsauthz-envoy runs it (the example policy, the decision log as JSON at info,
// counted by mtlsauthzprom) against the no-op server, in the same run. The two are called in
// turn, call by call, so that whatever else the machine does falls on both alike. It reports
// the p50 and p99 of each, in microseconds, and the ratio of the p50s (the target is at most
// 1.3). make bench-envoy runs it.
func BenchmarkCheckLatency(b *testing.B) {
	for _, c := range []struct{ name, method, path string }{
		{"allow", "POST", "/images/build"},
		{"deny", "POST", "/containers/abc/exec"},
	} {
		b.Run(c.name, func(b *testing.B) {
			store, err := mtlsauthz.NewStore(examplePolicy)
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			metrics := mtlsauthzprom.New(mtlsauthzprom.WithStore(store))
			srv := NewServer(store, WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))),
				WithDecisionHook(func(d mtlsauthz.Decision) { metrics.Observe(nil, d) }))
			clients := []authv3.AuthorizationClient{serveLoopback(b, noopServer{}), serveLoopback(b, srv)}
			req := checkRequest(downstreamOf(b, "builder"), c.method, c.path)
			ctx := context.Background()
			call := func(i int) time.Duration {
				start := time.Now()
				if _, err := clients[i].Check(ctx, req); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			for i := 0; i < 200; i++ { // connections up, identity cached
				call(0)
				call(1)
			}
			lat := [2][]time.Duration{make([]time.Duration, 0, b.N), make([]time.Duration, 0, b.N)}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				first := i % 2 // alternate which goes first
				lat[first] = append(lat[first], call(first))
				lat[1-first] = append(lat[1-first], call(1-first))
			}
			b.StopTimer()
			var p50, p99 [2]float64
			for i := range lat {
				slices.Sort(lat[i])
				p50[i] = float64(lat[i][len(lat[i])/2]) / 1e3
				p99[i] = float64(lat[i][len(lat[i])*99/100]) / 1e3
			}
			b.ReportMetric(p50[0], "noop-p50-µs")
			b.ReportMetric(p99[0], "noop-p99-µs")
			b.ReportMetric(p50[1], "mtlsauthz-p50-µs")
			b.ReportMetric(p99[1], "mtlsauthz-p99-µs")
			b.ReportMetric(p50[1]/p50[0], "p50-ratio")
		})
	}
}

// BenchmarkServerCheck is the server's own work per Check, without gRPC: the identity cache,
// the operation, the decision, the decision log (JSON, to io.Discard) and the response.
func BenchmarkServerCheck(b *testing.B) {
	store, err := mtlsauthz.NewStore(examplePolicy)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	for _, c := range []struct {
		name string
		log  bool
	}{{"log", true}, {"nolog", false}} {
		b.Run(c.name, func(b *testing.B) {
			var opts []Option
			if c.log {
				opts = append(opts, WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))))
			}
			srv := NewServer(store, opts...)
			req := checkRequest(downstreamOf(b, "builder"), "POST", "/images/build")
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := srv.Check(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
