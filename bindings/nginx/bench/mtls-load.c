/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mtls-load: a minimal closed-loop HTTPS load generator that presents a client certificate,
 * which wrk cannot (wg/wrk#240). Each connection is a thread that sends one keep-alive
 * HTTP/1.1 GET at a time and reads the whole response (Content-Length only). When the server
 * ends a keep-alive connection (nginx's keepalive_requests, 1000 by default), it reconnects
 * with a full handshake, so per-connection work is part of the measurement.
 *
 *   mtls-load HOST PORT PATH CERT KEY CA CONNECTIONS SECONDS
 *   mtls-load HOST PORT PATH CERT KEY CA CONNECTIONS 0 REQUESTS
 *
 * The second form sends exactly REQUESTS requests on each connection, with no warm-up, and
 * prints "requests R, non-200 E, connections C" (for instruction counts under callgrind).
 *
 * Prints "requests/s N (requests R, non-200 E, connections C, seconds S, total T)" after a
 * one-second warm-up (T counts the warm-up too, for per-request CPU accounting by the caller);
 * exits 1 if any response was not 200 or a connection failed.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct worker {
    pthread_t thread;
    SSL_CTX *ctx;
    const char *host;
    int port;
    char request[512];
    size_t request_len;
    atomic_ulong done;
    atomic_ulong non_200;
    atomic_ulong connects;
    unsigned long limit; /* requests to send, 0 = until stopped */
    int failed;
};

static atomic_int stop;

static int connect_tls(struct worker *w, SSL **out, int *fd_out)
{
    struct sockaddr_in sa;
    int fd, one = 1;
    SSL *ssl;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)w->port);
    if (inet_pton(AF_INET, w->host, &sa.sin_addr) != 1) {
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    ssl = SSL_new(w->ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
        ERR_print_errors_fp(stderr);
        SSL_free(ssl);
        close(fd);
        return -1;
    }
    *out = ssl;
    *fd_out = fd;
    return 0;
}

/* Reads one response; returns its status, or -1. *closing: the server ends the connection. */
static int read_response(SSL *ssl, char *buf, size_t cap, int *closing)
{
    size_t have = 0, body, need;
    char *end, *cl;
    int n, status;

    for (;;) {
        if (have == cap - 1) {
            return -1;
        }
        n = SSL_read(ssl, buf + have, (int)(cap - 1 - have));
        if (n <= 0) {
            return -1;
        }
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            break;
        }
    }
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1) {
        return -1;
    }
    cl = strstr(buf, "Content-Length: ");
    if (cl == NULL || cl > end) {
        return -1;
    }
    body = strtoul(cl + 16, NULL, 10);
    *closing = strstr(buf, "Connection: close") != NULL;
    need = (size_t)(end + 4 - buf) + body;
    while (have < need) {
        n = SSL_read(ssl, buf, (int)(cap - 1));
        if (n <= 0) {
            return -1;
        }
        have += (size_t)n;
    }
    return status;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    char buf[16384];
    SSL *ssl = NULL;
    int fd = -1, status, closing = 1;

    while (!atomic_load_explicit(&stop, memory_order_relaxed) &&
           (w->limit == 0 || atomic_load(&w->done) < w->limit)) {
        if (closing) {
            if (ssl != NULL) {
                SSL_free(ssl);
                close(fd);
            }
            if (connect_tls(w, &ssl, &fd) != 0) {
                w->failed = 1;
                return NULL;
            }
            atomic_fetch_add_explicit(&w->connects, 1, memory_order_relaxed);
        }
        if (SSL_write(ssl, w->request, (int)w->request_len) != (int)w->request_len) {
            w->failed = 1;
            break;
        }
        status = read_response(ssl, buf, sizeof(buf), &closing);
        if (status < 0) {
            w->failed = 1;
            break;
        }
        if (status != 200) {
            atomic_fetch_add_explicit(&w->non_200, 1, memory_order_relaxed);
        }
        atomic_fetch_add_explicit(&w->done, 1, memory_order_relaxed);
    }
    SSL_free(ssl);
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum counter { DONE, NON_200, CONNECTS };

static unsigned long total(struct worker *w, int n, enum counter which)
{
    unsigned long sum = 0;
    int i;

    for (i = 0; i < n; i++) {
        sum += atomic_load(which == DONE ? &w[i].done
                                         : which == NON_200 ? &w[i].non_200 : &w[i].connects);
    }
    return sum;
}

int main(int argc, char **argv)
{
    struct worker *w;
    SSL_CTX *ctx;
    unsigned long r0, r1, e0, e1, c0, c1;
    double t0, t1;
    unsigned long limit = 0;
    int i, n, seconds, failed = 0;

    if (argc != 9 && !(argc == 10 && atoi(argv[8]) == 0)) {
        fprintf(stderr, "usage: %s HOST PORT PATH CERT KEY CA CONNECTIONS SECONDS\n"
                        "       %s HOST PORT PATH CERT KEY CA CONNECTIONS 0 REQUESTS\n",
                argv[0], argv[0]);
        return 2;
    }
    n = atoi(argv[7]);
    seconds = atoi(argv[8]);
    if (argc == 10) {
        limit = strtoul(argv[9], NULL, 10);
    }
    if (n < 1 || n > 256 || (seconds < 1 && limit == 0)) {
        fprintf(stderr, "mtls-load: bad CONNECTIONS or SECONDS\n");
        return 2;
    }

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, argv[4]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[5], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, argv[6], NULL) != 1) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    w = calloc((size_t)n, sizeof(*w));
    if (w == NULL) {
        return 2;
    }
    for (i = 0; i < n; i++) {
        w[i].ctx = ctx;
        w[i].host = argv[1];
        w[i].port = atoi(argv[2]);
        w[i].limit = limit;
        w[i].request_len = (size_t)snprintf(w[i].request, sizeof(w[i].request),
                                            "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", argv[3],
                                            argv[1]);
        if (pthread_create(&w[i].thread, NULL, run, &w[i]) != 0) {
            return 2;
        }
    }

    if (limit > 0) {
        for (i = 0; i < n; i++) {
            pthread_join(w[i].thread, NULL);
            failed |= w[i].failed;
        }
        printf("requests %lu, non-200 %lu, connections %lu\n", total(w, n, DONE),
               total(w, n, NON_200), total(w, n, CONNECTS));
        return (failed || total(w, n, NON_200) != 0) ? 1 : 0;
    }

    sleep(1); /* warm-up: handshakes, identity extraction, caches */
    t0 = now();
    r0 = total(w, n, DONE);
    e0 = total(w, n, NON_200);
    c0 = total(w, n, CONNECTS);
    sleep((unsigned)seconds);
    t1 = now();
    r1 = total(w, n, DONE);
    e1 = total(w, n, NON_200);
    c1 = total(w, n, CONNECTS);
    atomic_store(&stop, 1);
    for (i = 0; i < n; i++) {
        pthread_join(w[i].thread, NULL);
        failed |= w[i].failed;
    }

    printf("requests/s %.0f (requests %lu, non-200 %lu, connections %lu, seconds %.2f, total %lu)\n",
           (double)(r1 - r0) / (t1 - t0), r1 - r0, e1 - e0, c1 - c0, t1 - t0,
           total(w, n, DONE));
    if (failed) {
        fprintf(stderr, "mtls-load: a connection failed\n");
    }
    free(w);
    SSL_CTX_free(ctx);
    return (failed || e1 != e0) ? 1 : 0;
}
