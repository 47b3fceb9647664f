/* SPDX-License-Identifier: Apache-2.0 */
/* clang-format off */
/*
 * Static checks of a compiled policy (`mtlsauthz lint`). Each finding has a kind, a subject (a
 * rule, a principal or a `sensitive` entry), the position of the subject in the YAML (its
 * `id:`, `name:` or entry), and a message that starts with the subject. The checks collect
 * them; the writers at the end give the three forms of docs/policy.md, "Lint": lines of
 * "kind: message (line: N, column: M)" (mtlsauthz_policy_lint()), GNU-style lines
 * "FILE:LINE:COL: warning: kind: message", and one JSON document. The kinds:
 *
 *   sensitive-grant      an allow rule grants an operation that overlaps a `sensitive` pattern
 *                        to "*", or to a principal that every identity with the fields present
 *                        matches (each of its patterns is a bare wildcard); or, to anyone, an
 *                        operation whose wildcard covers a sensitive operation implicitly (the
 *                        pattern does not lie within the sensitive one), unless an enforce-mode
 *                        deny rule denies that operation to all of the rule's principals;
 *   unused-principal     no rule names the principal;
 *   shadowed-rule        every operation an allow rule grants is denied, to at least the same
 *                        principals, by an enforce-mode deny rule: the allow can never take
 *                        effect;
 *   path-without-method  an operation or sensitive pattern starts with '/' but is not a gRPC
 *                        method name: no HTTP request can match it (a load error under
 *                        `protocol: http`).
 *
 * The pattern relations are conservative in the direction that keeps findings true:
 * may_overlap says 1 when unsure (a sensitive-grant finding may be a near miss, which is what a
 * reviewer wants to look at), and covers says 0 when unsure (a shadowed-rule finding is always
 * real; a wildcard grant is reported unless a deny provably covers the sensitive operation, and
 * a grant is taken as explicit only when it provably lies within the sensitive pattern).
 */
/* clang-format on */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_pattern.h"
#include "policy_int.h"

/* The kinds, in the order the checks run. Their names are the stable strings of every form. */
#define LINT_KINDS(X)                                                                              \
    X(SENSITIVE_GRANT, "sensitive-grant")                                                          \
    X(UNUSED_PRINCIPAL, "unused-principal")                                                        \
    X(SHADOWED_RULE, "shadowed-rule")                                                              \
    X(PATH_WITHOUT_METHOD, "path-without-method")

typedef enum lint_kind {
#define LINT_KIND_ENUM(id, name) LINT_##id,
    LINT_KINDS(LINT_KIND_ENUM)
#undef LINT_KIND_ENUM
} lint_kind;

static const char *const lint_kind_names[] = {
#define LINT_KIND_NAME(id, name) name,
    LINT_KINDS(LINT_KIND_NAME)
#undef LINT_KIND_NAME
};

/* One finding; its message is bytes [start, end) of findings.msg. */
typedef struct finding {
    lint_kind kind;
    const char *rule;      /* the rule it is about, or NULL */
    const char *principal; /* the principal it is about, or NULL */
    mtlsauthz__pos pos;    /* of the subject; {0, 0}: unknown */
    size_t start, end;
    size_t seq; /* the order found, which breaks ties when sorting by position */
} finding;

typedef struct findings {
    mtlsauthz__buf msg; /* the messages, back to back */
    finding *v;
    size_t n, cap;
    int failed; /* an allocation failed: the findings are incomplete */
} findings;

/* Starts a finding: its message is what the caller appends to fs->msg before finding_end().
 * When the list cannot grow, the finding is dropped and fs->failed set (the whole report is
 * then ENOMEM). */
static void finding_begin(findings *fs, lint_kind kind, const char *rule, const char *principal,
                          mtlsauthz__pos pos)
{
    finding *f;
    if (fs->n == fs->cap) {
        size_t cap = fs->cap == 0 ? 16u : fs->cap * 2u;
        finding *grown = cap > SIZE_MAX / sizeof(*grown)
                             ? NULL
                             : mtlsauthz__realloc(fs->v, cap * sizeof(*grown));
        if (grown == NULL) {
            fs->failed = 1;
            return;
        }
        fs->v = grown;
        fs->cap = cap;
    }
    f = &fs->v[fs->n];
    f->kind = kind;
    f->rule = rule;
    f->principal = principal;
    f->pos = pos;
    f->start = fs->msg.len;
    f->end = fs->msg.len;
    f->seq = fs->n;
}

static void finding_end(findings *fs)
{
    if (fs->n < fs->cap && !fs->failed) {
        fs->v[fs->n].end = fs->msg.len;
        fs->n++;
    }
}

/* A pattern that is one wildcard and nothing else: `*`, `**` or `{x}`. */
static int is_bare_wildcard(const mtlsauthz__pattern *pat)
{
    return pat->ntoks == 1 && pat->toks[0].kind != MTLSAUTHZ__TOK_LIT;
}

/* An `ip` entry that contains every address of its family. */
static int is_bare_cidr(const mtlsauthz__cidr *c)
{
    return c->prefix == 0;
}

/*
 * 1 when the principal narrows nothing: every entry of every key is a bare wildcard. `eku`
 * entries are exact names and do not count either way: every client certificate carries
 * clientAuth, so an EKU alone does not say who the client is.
 */
static int principal_is_wildcard(const mtlsauthz__principal *pr)
{
    unsigned k, i, entries = 0;
    for (k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        const mtlsauthz__ckey *key = mtlsauthz__principal_key(pr, k);
        if (mtlsauthz__key_kind_of((mtlsauthz__key)k) == MTLSAUTHZ__KIND_EKU) {
            continue;
        }
        for (i = 0; i < key->n; i++) {
            int bare =
                key->cidrs != NULL ? is_bare_cidr(&key->cidrs[i]) : is_bare_wildcard(&key->pats[i]);
            if (!bare) {
                return 0;
            }
            entries++;
        }
    }
    return entries > 0;
}

/* Who the rule grants to, for a sensitive-grant finding: NULL if nobody broad. */
static const char *broad_grantee(const mtlsauthz_policy *p, const mtlsauthz__rule *r, char *buf,
                                 size_t cap)
{
    unsigned i;
    if (r->any_principal) {
        return "\"*\" (any verified client)";
    }
    for (i = 0; i < r->nprincipals; i++) {
        const mtlsauthz__principal *pr = &p->principals[r->principals[i]];
        if (principal_is_wildcard(pr)) {
            snprintf(buf, cap, "principal '%s' (each of its patterns is a bare wildcard)",
                     pr->name);
            return buf;
        }
    }
    return NULL;
}

/* 1 if deny rule `d` applies to every identity that allow rule `a` applies to. */
static int covers_principals(const mtlsauthz__rule *d, const mtlsauthz__rule *a);

/* 1 if enforce-mode deny rule `d` denies every operation sensitive pattern `s` matches (to
 * its principals). A deny operation with captures matches only under bindings, so it proves
 * nothing here. */
static int deny_covers_sensitive(const mtlsauthz_policy *p, const mtlsauthz__rule *d, unsigned s)
{
    if (d->effect != MTLSAUTHZ__DENY || d->mode != MTLSAUTHZ__ENFORCE) {
        return 0;
    }
    for (unsigned j = 0; j < d->nops; j++) {
        if (d->ops[j].pat.ncaps == 0 &&
            mtlsauthz__pattern_covers(&d->ops[j].pat, &p->sensitive[s])) {
            return 1;
        }
    }
    return 0;
}

/*
 * For each sensitive pattern s, the deny rules that cover it: rule[first[s] .. first[s + 1]).
 * Found once, so that a policy with many wildcard grants is not checked against every rule for
 * each of them. Both NULL when there was no memory: then every rule is looked at.
 */
typedef struct deniers {
    unsigned *first;
    unsigned *rule;
} deniers;

static void deniers_build(deniers *dn, const mtlsauthz_policy *p)
{
    size_t n = 0;
    dn->first = NULL;
    dn->rule = NULL;
    for (unsigned pass = 0; pass < 2; pass++) {
        n = 0;
        for (unsigned s = 0; s < p->nsensitive; s++) {
            if (pass == 1) {
                dn->first[s] = (unsigned)n;
            }
            for (unsigned d = 0; d < p->nrules; d++) {
                if (deny_covers_sensitive(p, &p->rules[d], s)) {
                    if (pass == 1) {
                        dn->rule[n] = d;
                    }
                    n++;
                }
            }
        }
        if (pass == 0) {
            if (n >= UINT_MAX) {
                return; /* offsets would not fit: scan instead */
            }
            dn->first = mtlsauthz__malloc((p->nsensitive + 1u) * sizeof(unsigned));
            dn->rule = mtlsauthz__malloc((n > 0 ? n : 1u) * sizeof(unsigned));
            if (dn->first == NULL || dn->rule == NULL) {
                mtlsauthz__free(dn->first);
                mtlsauthz__free(dn->rule);
                dn->first = NULL;
                dn->rule = NULL;
                return;
            }
        }
    }
    dn->first[p->nsensitive] = (unsigned)n;
}

static void deniers_free(deniers *dn)
{
    mtlsauthz__free(dn->first);
    mtlsauthz__free(dn->rule);
}

/* 1 if some enforce-mode deny rule denies every operation sensitive pattern `s` matches to
 * every identity rule `a` applies to. */
static int sensitive_denied(const mtlsauthz_policy *p, const deniers *dn, const mtlsauthz__rule *a,
                            unsigned s)
{
    if (dn->first == NULL) {
        for (unsigned d = 0; d < p->nrules; d++) {
            if (covers_principals(&p->rules[d], a) && deny_covers_sensitive(p, &p->rules[d], s)) {
                return 1;
            }
        }
        return 0;
    }
    for (unsigned i = dn->first[s]; i < dn->first[s + 1]; i++) {
        if (covers_principals(&p->rules[dn->rule[i]], a)) {
            return 1;
        }
    }
    return 0;
}

static void sensitive_finding(findings *fs, const mtlsauthz_policy *p, const mtlsauthz__rule *rule,
                              unsigned o, unsigned s, const char *who)
{
    mtlsauthz__buf *out = &fs->msg;
    finding_begin(fs, LINT_SENSITIVE_GRANT, rule->id, NULL, rule->pos);
    mtlsauthz__buf_puts(out, "rule '");
    mtlsauthz__buf_puts(out, rule->id);
    mtlsauthz__buf_puts(out, "': allows ");
    mtlsauthz__buf_json_string(out, rule->ops[o].src, strlen(rule->ops[o].src));
    if (who != NULL) {
        mtlsauthz__buf_printf(out, " to %s, overlapping sensitive ", who);
        mtlsauthz__buf_json_string(out, p->sensitive_src[s], strlen(p->sensitive_src[s]));
    } else {
        mtlsauthz__buf_puts(out, ", whose wildcard covers sensitive ");
        mtlsauthz__buf_json_string(out, p->sensitive_src[s], strlen(p->sensitive_src[s]));
        mtlsauthz__buf_puts(out, " without naming it, and no enforce-mode deny rule denies it to "
                                 "all of the rule's principals");
    }
    finding_end(fs);
}

/*
 * Two ways to grant a sensitive operation by accident: to everyone (a broad grantee), or
 * through a wildcard (a grant of every method on every container path covers exec). A grant
 * whose pattern lies within the sensitive pattern names the operation, so it is deliberate; and a
 * wildcard grant is harmless when a deny rule takes the sensitive operation back from all of
 * the rule's principals. One finding per operation is enough to act on.
 */
static void lint_sensitive(findings *fs, const mtlsauthz_policy *p)
{
    unsigned r, o, s;
    char who_buf[MTLSAUTHZ__NAME_MAX_LEN + 64];
    deniers dn;
    if (p->nsensitive == 0) {
        return;
    }
    deniers_build(&dn, p);
    for (r = 0; r < p->nrules; r++) {
        const mtlsauthz__rule *rule = &p->rules[r];
        const char *who;
        if (rule->effect != MTLSAUTHZ__ALLOW) {
            continue;
        }
        who = broad_grantee(p, rule, who_buf, sizeof(who_buf));
        for (o = 0; o < rule->nops; o++) {
            const mtlsauthz__pattern *op = &rule->ops[o].pat;
            for (s = 0; s < p->nsensitive; s++) {
                if (!mtlsauthz__pattern_may_overlap(op, &p->sensitive[s])) {
                    continue;
                }
                if (who != NULL) {
                    sensitive_finding(fs, p, rule, o, s, who);
                    break;
                }
                if (!mtlsauthz__pattern_covers(&p->sensitive[s], op) &&
                    !sensitive_denied(p, &dn, rule, s)) {
                    sensitive_finding(fs, p, rule, o, s, NULL);
                    break;
                }
            }
        }
    }
    deniers_free(&dn);
}

static void lint_unused(findings *fs, const mtlsauthz_policy *p)
{
    unsigned i;
    for (i = 0; i < p->nprincipals; i++) {
        const mtlsauthz__principal *pr = &p->principals[i];
        if (pr->nrules == 0) {
            finding_begin(fs, LINT_UNUSED_PRINCIPAL, NULL, pr->name, pr->pos);
            mtlsauthz__buf_printf(&fs->msg, "principal '%s': no rule names it", pr->name);
            finding_end(fs);
        }
    }
}

/* 1 if deny rule `d` applies to every identity that allow rule `a` applies to. */
static int covers_principals(const mtlsauthz__rule *d, const mtlsauthz__rule *a)
{
    unsigned i, j;
    if (d->any_principal) {
        return 1;
    }
    if (a->any_principal) {
        return 0;
    }
    for (i = 0; i < a->nprincipals; i++) {
        int found = 0;
        for (j = 0; j < d->nprincipals && !found; j++) {
            found = d->principals[j] == a->principals[i];
        }
        if (!found) {
            return 0;
        }
    }
    return 1;
}

/* 1 if every operation of `a` is covered by some capture-free operation of `d`. A deny
 * operation with captures matches only under bindings, so it proves nothing here. */
static int covers_operations(const mtlsauthz__rule *d, const mtlsauthz__rule *a)
{
    unsigned i, j;
    for (i = 0; i < a->nops; i++) {
        int covered = 0;
        for (j = 0; j < d->nops && !covered; j++) {
            if (d->ops[j].pat.ncaps == 0 &&
                mtlsauthz__pattern_covers(&d->ops[j].pat, &a->ops[i].pat)) {
                covered = 1;
            }
        }
        if (!covered) {
            return 0;
        }
    }
    return 1;
}

static void lint_shadowed(findings *fs, const mtlsauthz_policy *p)
{
    unsigned a, d;
    for (a = 0; a < p->nrules; a++) {
        const mtlsauthz__rule *allow = &p->rules[a];
        if (allow->effect != MTLSAUTHZ__ALLOW || allow->mode != MTLSAUTHZ__ENFORCE) {
            continue;
        }
        for (d = 0; d < p->nrules; d++) {
            const mtlsauthz__rule *deny = &p->rules[d];
            if (deny->effect != MTLSAUTHZ__DENY || deny->mode != MTLSAUTHZ__ENFORCE) {
                continue;
            }
            if (covers_principals(deny, allow) && covers_operations(deny, allow)) {
                finding_begin(fs, LINT_SHADOWED_RULE, allow->id, NULL, allow->pos);
                mtlsauthz__buf_printf(&fs->msg,
                                      "rule '%s': every operation it allows is denied to the "
                                      "same principals by rule '%s'",
                                      allow->id, deny->id);
                finding_end(fs);
                break;
            }
        }
    }
}

static void path_finding(findings *fs, const char *id, mtlsauthz__pos pos, const char *src)
{
    mtlsauthz__buf *out = &fs->msg;
    finding_begin(fs, LINT_PATH_WITHOUT_METHOD, id, NULL, pos);
    if (id != NULL) {
        mtlsauthz__buf_printf(out, "rule '%s', operation", id);
    } else {
        mtlsauthz__buf_puts(out, "sensitive");
    }
    mtlsauthz__buf_puts(out, " ");
    mtlsauthz__buf_json_string(out, src, strlen(src));
    mtlsauthz__buf_puts(out, ": starts with '/' but has no method, so no HTTP request matches "
                             "it (the canonical operation is 'METHOD /path'); write \"* ");
    mtlsauthz__buf_json_body(out, src, strlen(src));
    mtlsauthz__buf_puts(out, "\" for every method");
    finding_end(fs);
}

/* In a policy without `protocol: http` a pattern that starts with '/' is a legal named
 * operation (a gRPC method is "/pkg.Service/Method"), but one that is not shaped like a gRPC
 * method is most likely an HTTP path written without its method. */
static void lint_paths(findings *fs, const mtlsauthz_policy *p)
{
    if (p->protocol == MTLSAUTHZ__PROTOCOL_HTTP) {
        return; /* refused at load */
    }
    for (unsigned r = 0; r < p->nrules; r++) {
        const mtlsauthz__rule *rule = &p->rules[r];
        for (unsigned o = 0; o < rule->nops; o++) {
            if (mtlsauthz__op_pattern_is_bare_path(&rule->ops[o].pat)) {
                path_finding(fs, rule->id, rule->pos, rule->ops[o].src);
            }
        }
    }
    for (unsigned s = 0; s < p->nsensitive; s++) {
        if (mtlsauthz__op_pattern_is_bare_path(&p->sensitive[s])) {
            path_finding(fs, NULL, p->sensitive_pos[s], p->sensitive_src[s]);
        }
    }
}

static void findings_free(findings *fs)
{
    mtlsauthz__buf_free(&fs->msg);
    mtlsauthz__free(fs->v);
}

/* File order: by line and column, findings without a position last, ties in the order found
 * (the order of the checks, then of the rules). */
static int finding_cmp(const void *a, const void *b)
{
    const finding *x = a, *y = b;
    uint32_t xl = x->pos.line != 0 ? x->pos.line : UINT32_MAX;
    uint32_t yl = y->pos.line != 0 ? y->pos.line : UINT32_MAX;
    if (xl != yl) {
        return xl < yl ? -1 : 1;
    }
    if (x->pos.column != y->pos.column) {
        return x->pos.column < y->pos.column ? -1 : 1;
    }
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Runs every check into *fs. 0, or ENOMEM with *fs freed. */
static int findings_collect(findings *fs, const mtlsauthz_policy *p, mtlsauthz_error *err)
{
    memset(fs, 0, sizeof(*fs));
    mtlsauthz__buf_init(&fs->msg);
    lint_sensitive(fs, p);
    lint_unused(fs, p);
    lint_shadowed(fs, p);
    lint_paths(fs, p);
    if (fs->failed || fs->msg.failed) {
        findings_free(fs);
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    if (fs->n > 1) {
        qsort(fs->v, fs->n, sizeof(*fs->v), finding_cmp);
    }
    return 0;
}

static void put_message(mtlsauthz__buf *b, const findings *fs, const finding *f)
{
    mtlsauthz__buf_append(b, fs->msg.ptr + f->start, f->end - f->start);
}

/* "kind: message (line: N, column: M)", the position suffix of the library's load errors. */
static void write_lines(mtlsauthz__buf *b, const findings *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        const finding *f = &fs->v[i];
        mtlsauthz__buf_printf(b, "%s: ", lint_kind_names[f->kind]);
        put_message(b, fs, f);
        if (f->pos.line != 0) {
            mtlsauthz__buf_printf(b, " (line: %u, column: %u)", (unsigned)f->pos.line,
                                  (unsigned)f->pos.column);
        }
        mtlsauthz__buf_puts(b, "\n");
    }
}

/* "FILE:LINE:COL: warning: kind: message", as compilers write diagnostics; the parts that are
 * not known are left out. */
static void write_gnu(mtlsauthz__buf *b, const findings *fs, const char *file)
{
    for (size_t i = 0; i < fs->n; i++) {
        const finding *f = &fs->v[i];
        int any = 0;
        if (file != NULL) {
            mtlsauthz__buf_puts(b, file);
            any = 1;
        }
        if (f->pos.line != 0) {
            mtlsauthz__buf_printf(b, "%s%u:%u", any ? ":" : "", (unsigned)f->pos.line,
                                  (unsigned)f->pos.column);
            any = 1;
        }
        mtlsauthz__buf_printf(b, "%swarning: %s: ", any ? ": " : "", lint_kind_names[f->kind]);
        put_message(b, fs, f);
        mtlsauthz__buf_puts(b, "\n");
    }
}

static void json_string_or_null(mtlsauthz__buf *b, const char *s)
{
    if (s == NULL) {
        mtlsauthz__buf_puts(b, "null");
    } else {
        mtlsauthz__buf_json_string(b, s, strlen(s));
    }
}

/* {"file": F, "count": N, "findings": [{"kind", "rule", "principal", "line", "column",
 * "message"}, ...]}, one finding a line. */
static void write_json(mtlsauthz__buf *b, const findings *fs, const char *file)
{
    mtlsauthz__buf_puts(b, "{\"file\": ");
    json_string_or_null(b, file);
    mtlsauthz__buf_printf(b, ", \"count\": %zu, \"findings\": [", fs->n);
    for (size_t i = 0; i < fs->n; i++) {
        const finding *f = &fs->v[i];
        mtlsauthz__buf_printf(b, "%s\n  {\"kind\": \"%s\", \"rule\": ", i > 0 ? "," : "",
                              lint_kind_names[f->kind]);
        json_string_or_null(b, f->rule);
        mtlsauthz__buf_puts(b, ", \"principal\": ");
        json_string_or_null(b, f->principal);
        if (f->pos.line != 0) {
            mtlsauthz__buf_printf(b, ", \"line\": %u, \"column\": %u", (unsigned)f->pos.line,
                                  (unsigned)f->pos.column);
        } else {
            mtlsauthz__buf_puts(b, ", \"line\": null, \"column\": null");
        }
        mtlsauthz__buf_puts(b, ", \"message\": ");
        mtlsauthz__buf_json_string(b, fs->msg.ptr + f->start, f->end - f->start);
        mtlsauthz__buf_puts(b, "}");
    }
    mtlsauthz__buf_puts(b, fs->n > 0 ? "\n]}\n" : "]}\n");
}

/* The form of mtlsauthz_policy_lint(); the others are mtlsauthz_format values. */
#define FORM_LINES (-1)

static int lint_write(char **out, size_t *count, const mtlsauthz_policy *policy, const char *file,
                      int form, mtlsauthz_error *err)
{
    findings fs;
    mtlsauthz__buf b;
    int rc;
    if (out != NULL) {
        *out = NULL;
    }
    if (count != NULL) {
        *count = 0;
    }
    if (out == NULL || count == NULL || policy == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "lint: NULL argument");
    }
    if (form != FORM_LINES && form != MTLSAUTHZ_FORMAT_TEXT && form != MTLSAUTHZ_FORMAT_JSON) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL,
                                    "lint: unknown format %d (MTLSAUTHZ_FORMAT_TEXT or "
                                    "MTLSAUTHZ_FORMAT_JSON)",
                                    form);
    }
    rc = findings_collect(&fs, policy, err);
    if (rc < 0) {
        return rc;
    }
    mtlsauthz__buf_init(&b);
    if (form == FORM_LINES) {
        write_lines(&b, &fs);
    } else if (form == MTLSAUTHZ_FORMAT_TEXT) {
        write_gnu(&b, &fs, file);
    } else {
        write_json(&b, &fs, file);
    }
    rc = mtlsauthz__buf_take(out, NULL, &b, err);
    if (rc == 0) {
        *count = fs.n;
    }
    findings_free(&fs);
    return rc;
}

int mtlsauthz_policy_lint(char **out, size_t *count, const mtlsauthz_policy *policy,
                          mtlsauthz_error *err)
{
    return lint_write(out, count, policy, NULL, FORM_LINES, err);
}

int mtlsauthz_policy_lint_report(char **out, size_t *count, const mtlsauthz_policy *policy,
                                 const char *file, mtlsauthz_format format, mtlsauthz_error *err)
{
    /* Only the public formats: FORM_LINES is this file's own, so a caller's (mtlsauthz_format)-1
     * is refused like any other value that is not a format. */
    if (format != MTLSAUTHZ_FORMAT_TEXT && format != MTLSAUTHZ_FORMAT_JSON) {
        if (out != NULL) {
            *out = NULL;
        }
        if (count != NULL) {
            *count = 0;
        }
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL,
                                    "lint: unknown format %d (MTLSAUTHZ_FORMAT_TEXT or "
                                    "MTLSAUTHZ_FORMAT_JSON)",
                                    (int)format);
    }
    return lint_write(out, count, policy, file, (int)format, err);
}
