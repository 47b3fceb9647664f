/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the fuzz targets tests/fuzz/fuzz_{der,pem,xfcc,policy,op}.c: a fixed identity and
 * policy built in-process (no files, so a target runs the same under libFuzzer and the replay
 * driver), and the invariants every decision must keep. A broken invariant aborts, which both
 * libFuzzer and the replay driver report as a crash.
 */
#ifndef MTLSAUTHZ_FUZZ_UTIL_H
#define MTLSAUTHZ_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity_build.h"
#include "mtlsauthz/mtlsauthz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A policy using captures, every selector kind, deny, dry-run and "*". */
static const char fz_policy_yaml[] =
    "version: 1\n"
    "sensitive: [\"POST /admin/**\"]\n"
    "principals:\n"
    "  - name: tenant\n"
    "    spiffe: [\"spiffe://prod.example.com/tenant/{tenant}/{svc}\"]\n"
    "  - name: ops\n"
    "    o: [Example Corp]\n"
    "    ou: [ops, sre]\n"
    "    eku: [clientAuth]\n"
    "  - name: web\n"
    "    dns: [\"{host}.example.com\"]\n"
    "    ip: [\"192.0.2.0/24\"]\n"
    "  - name: mail\n"
    "    email: [\"{user}@example.com\"]\n"
    "    cn: [\"{user}\"]\n"
    "rules:\n"
    "  - {id: tenant-data, effect: allow, principals: [tenant],"
    " operations: [\"GET /tenants/{tenant}/**\", \"PUT /tenants/{tenant}/{svc}/*\"]}\n"
    "  - {id: ops-read, effect: allow, principals: [ops], operations: [\"GET /containers/**\"]}\n"
    "  - {id: web-host, effect: allow, principals: [web], operations: [\"* /hosts/{host}\"]}\n"
    "  - {id: mailbox, effect: allow, principals: [mail],"
    " operations: [\"GET /mail/{user}/**\"]}\n"
    "  - {id: health, effect: allow, principals: [\"*\"], operations: [\"GET /healthz\"]}\n"
    "  - {id: no-exec, effect: deny, principals: [\"*\"],"
    " operations: [\"POST /containers/*/exec\", \"* /host/**\"]}\n"
    "  - {id: watch, effect: deny, mode: dry-run, principals: [ops],"
    " operations: [\"GET /containers/*/logs\"]}\n";

/* Builds the fixed identity: spiffe://prod.example.com/tenant/acme/api, CN alice,
 * O Example Corp, OU ops, DNS web.example.com, email alice@Example.COM, IP 192.0.2.10,
 * EKU clientAuth. Aborts on failure (it cannot fail but for memory). */
static inline mtlsauthz_identity *fz_identity(void)
{
    static const unsigned char serial[] = {0x01, 0x02};
    static const unsigned char ip[] = {192, 0, 2, 10};
    unsigned char digest[32] = {0};
    mtlsauthz__idb b;
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err;
    int rc = 0;
    mtlsauthz__idb_init(&b);
#define FZ_ADD(f, s) (rc = rc ? rc : mtlsauthz__idb_add(&b, f, s, strlen(s), &err))
    FZ_ADD(MTLSAUTHZ_FIELD_SUBJECT_DN, "CN=alice,OU=ops,O=Example Corp");
    FZ_ADD(MTLSAUTHZ_FIELD_CN, "alice");
    FZ_ADD(MTLSAUTHZ_FIELD_O, "Example Corp");
    FZ_ADD(MTLSAUTHZ_FIELD_OU, "ops");
    FZ_ADD(MTLSAUTHZ_FIELD_ISSUER_DN, "CN=fuzz issuer");
    FZ_ADD(MTLSAUTHZ_FIELD_SAN_DNS, "web.example.com");
    FZ_ADD(MTLSAUTHZ_FIELD_SAN_URI, "spiffe://prod.example.com/tenant/acme/api");
    FZ_ADD(MTLSAUTHZ_FIELD_SAN_EMAIL, "alice@Example.COM");
#undef FZ_ADD
    rc = rc ? rc : mtlsauthz__idb_add_ip(&b, ip, sizeof(ip), &err);
    rc = rc ? rc : mtlsauthz__idb_add_eku(&b, "1.3.6.1.5.5.7.3.2", 17, &err);
    rc = rc ? rc : mtlsauthz__idb_set_serial(&b, serial, sizeof(serial), 0, &err);
    rc = rc ? rc : mtlsauthz__idb_set_sha256(&b, digest, &err);
    rc = rc ? rc
            : mtlsauthz__idb_set_time(&b, MTLSAUTHZ_FIELD_NOT_BEFORE, 2020, 1, 1, 0, 0, 0, &err);
    rc =
        rc ? rc : mtlsauthz__idb_set_time(&b, MTLSAUTHZ_FIELD_NOT_AFTER, 2051, 1, 2, 3, 4, 5, &err);
    rc = rc ? rc : mtlsauthz__idb_finish(&id, &b, 1, &err);
    if (rc != 0) {
        mtlsauthz__idb_free(&b);
        fprintf(stderr, "fuzz identity: %s\n", err.message);
        abort();
    }
    return id;
}

static inline mtlsauthz_policy *fz_policy(void)
{
    mtlsauthz_policy *p = NULL;
    mtlsauthz_error err;
    if (mtlsauthz_policy_load(&p, fz_policy_yaml, strlen(fz_policy_yaml), &err) != 0) {
        fprintf(stderr, "fuzz policy: %s\n", err.message);
        abort();
    }
    return p;
}

/* The invariants of any decision (include/mtlsauthz/policy.h): an error is a deny with
 * reason error; only allowed carries allow; allow and deny name their rule; dry-run ids are
 * listed up to the array size. */
static inline void fz_check_decision(const mtlsauthz_decision *d, int rc)
{
    size_t i;
    FZ_CHECK(d->allowed == 0 || d->allowed == 1);
    if (rc != 0) {
        FZ_CHECK(rc < 0);
        FZ_CHECK(!d->allowed);
        FZ_CHECK(d->reason == MTLSAUTHZ_REASON_ERROR);
        FZ_CHECK(d->rule == NULL);
        return;
    }
    FZ_CHECK(d->allowed == (d->reason == MTLSAUTHZ_REASON_ALLOWED));
    switch (d->reason) {
    case MTLSAUTHZ_REASON_ALLOWED:
    case MTLSAUTHZ_REASON_DENIED:
        FZ_CHECK(d->rule != NULL && d->rule[0] != '\0');
        break;
    case MTLSAUTHZ_REASON_NO_MATCH:
    case MTLSAUTHZ_REASON_NO_IDENTITY:
    case MTLSAUTHZ_REASON_IDENTITY_REJECTED:
        FZ_CHECK(d->rule == NULL);
        break;
    default:
        /* ERROR only comes with a nonzero return. */
        FZ_CHECK(0);
    }
    for (i = 0; i < d->dry_run_count && i < MTLSAUTHZ_DECISION_DRY_RUN_MAX; i++) {
        FZ_CHECK(d->dry_run[i] != NULL);
    }
}

static inline int fz_same_decision(const mtlsauthz_decision *a, const mtlsauthz_decision *b)
{
    size_t i;
    if (a->allowed != b->allowed || a->reason != b->reason ||
        a->dry_run_count != b->dry_run_count || (a->rule == NULL) != (b->rule == NULL) ||
        (a->rule && strcmp(a->rule, b->rule) != 0)) {
        return 0;
    }
    for (i = 0; i < a->dry_run_count && i < MTLSAUTHZ_DECISION_DRY_RUN_MAX; i++) {
        if (strcmp(a->dry_run[i], b->dry_run[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

/* Every getter of an identity, and its documented invariants; then JSON. */
static inline void fz_check_identity(const mtlsauthz_identity *id)
{
    size_t f, i, n, jlen = 0;
    char *json = NULL;
    mtlsauthz_error err;
    int rc;
    const char *rej = mtlsauthz_identity_rejected(id);
    for (f = 0; f < MTLSAUTHZ_FIELD_COUNT_; f++) {
        const char *v;
        size_t len;
        n = mtlsauthz_identity_count(id, (mtlsauthz_field)f);
        for (i = 0; i < n; i++) {
            FZ_CHECK(mtlsauthz_identity_get(&v, &len, id, (mtlsauthz_field)f, i) == 0);
            FZ_CHECK(v != NULL && v[len] == '\0');
            /* A NUL inside a value is only allowed in a rejected identity. */
            FZ_CHECK(rej != NULL || memchr(v, '\0', len) == NULL);
            /* So is a byte from 0x80 up in an IA5String SAN (RFC 5280 §4.2.1.6). */
            if (rej == NULL && (f == MTLSAUTHZ_FIELD_SAN_DNS || f == MTLSAUTHZ_FIELD_SAN_URI ||
                                f == MTLSAUTHZ_FIELD_SAN_EMAIL)) {
                size_t k;
                for (k = 0; k < len; k++) {
                    FZ_CHECK((unsigned char)v[k] < 0x80);
                }
            }
        }
        FZ_CHECK(mtlsauthz_identity_get(&v, &len, id, (mtlsauthz_field)f, n) == MTLSAUTHZ_EINVAL);
        FZ_CHECK(v == NULL && len == 0);
    }
    FZ_CHECK(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_SPIFFE_ID) <= 1);
    if (mtlsauthz_identity_partial(id)) {
        /* From X-Forwarded-Client-Cert without a certificate: only what the header carries. */
        static const mtlsauthz_field absent[] = {
            MTLSAUTHZ_FIELD_ISSUER_DN, MTLSAUTHZ_FIELD_SERIAL, MTLSAUTHZ_FIELD_SAN_EMAIL,
            MTLSAUTHZ_FIELD_SAN_IP,    MTLSAUTHZ_FIELD_EKU,    MTLSAUTHZ_FIELD_NOT_BEFORE,
            MTLSAUTHZ_FIELD_NOT_AFTER,
        };
        FZ_CHECK(mtlsauthz_identity_chain_length(id) == 0);
        FZ_CHECK(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_SUBJECT_DN) <= 1);
        FZ_CHECK(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_SHA256) <= 1);
        for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
            FZ_CHECK(mtlsauthz_identity_count(id, absent[i]) == 0);
        }
    } else {
        FZ_CHECK(mtlsauthz_identity_chain_length(id) >= 1);
        FZ_CHECK(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_SUBJECT_DN) == 1);
        FZ_CHECK(mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_SHA256) == 1);
    }
    rc = mtlsauthz_identity_to_json(&json, &jlen, id, &err);
    if (rc == 0) {
        FZ_CHECK(json != NULL && jlen >= 2 && json[0] == '{' && json[jlen - 1] == '}');
        FZ_CHECK(strlen(json) == jlen);
        mtlsauthz_string_free(json);
    } else {
        FZ_CHECK(rc == MTLSAUTHZ_ENOMEM && json == NULL);
    }
}

/* Resolves `id` against `p` and decides a few operations both ways; they must agree. */
static inline void fz_decide_some(mtlsauthz_policy *p, const mtlsauthz_identity *id)
{
    static const char *const ops[] = {"GET /tenants/acme/x",     "GET /healthz",
                                      "POST /containers/a/exec", "GET /containers/a/logs",
                                      "GET /hosts/web",          "GET /mail/alice/inbox"};
    mtlsauthz_peer *peer = NULL;
    mtlsauthz_error err;
    size_t i;
    int rc = mtlsauthz_peer_new(&peer, p, id, &err);
    if (rc != 0) {
        FZ_CHECK(rc < 0 && peer == NULL);
    }
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        mtlsauthz_decision a, b;
        int ra = mtlsauthz_policy_decide(&a, p, id, ops[i], strlen(ops[i]), &err);
        fz_check_decision(&a, ra);
        if (peer != NULL) {
            int rb = mtlsauthz_peer_decide(&b, peer, ops[i], strlen(ops[i]), &err);
            fz_check_decision(&b, rb);
            FZ_CHECK(ra == rb);
            FZ_CHECK(fz_same_decision(&a, &b));
        }
        if (mtlsauthz_identity_rejected(id) != NULL) {
            FZ_CHECK(!a.allowed);
        }
    }
    mtlsauthz_peer_free(peer);
}

#endif
