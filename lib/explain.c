/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mtlsauthz_policy_explain(): a readable account of one decision, for `mtlsauthz check
 * --explain` and for people debugging a policy, as text or as one JSON document (docs/policy.md,
 * "Explain"). Not on the request path: it walks every principal and rule (no index), and
 * cross-checks the decision with the real engine.
 *
 * What the account shows comes from the identity and the policy, so it is written defensively:
 * in the text form every byte outside printable ASCII is a \xNN escape, so a certificate value
 * cannot add a line, move the cursor or hide text; and each list of values is cut to its first
 * few entries, each entry to its first bytes, with the rest counted.
 */
#include <string.h>

#include "identity_int.h"
#include "policy_int.h"

/* Values and patterns listed per failing key: the text form shows this many... */
#define EXPLAIN_TEXT_LIST_MAX 3u
/* ...of at most this many bytes each (the rest is counted)... */
#define EXPLAIN_TEXT_VALUE_MAX 128u
/* ...and the JSON form this many, whole (a certificate bounds their size). */
#define EXPLAIN_JSON_LIST_MAX 16u

/* Why a principal or rule did not match: the stable code of the JSON form and the words of the
 * text form, in one table. */
#define EXPLAIN_WHYS(X)                                                                            \
    X(KEY, "key", "key '%s' did not match")                                                        \
    X(NO_PRINCIPAL, "no_principal", "no principal of the rule matched")                            \
    X(NO_OPERATION, "no_operation", "no operation pattern matched")                                \
    X(CAPTURES, "captures",                                                                        \
      "the operation's captures do not agree with what the matched principals bind")               \
    X(BUDGET, "budget", "matching exceeded its work budget")

typedef enum explain_why {
#define WHY_ENUM(id, code, text) WHY_##id,
    EXPLAIN_WHYS(WHY_ENUM)
#undef WHY_ENUM
} explain_why;

static const struct {
    const char *code;
    const char *text;
} whys[] = {
#define WHY_ENTRY(id, code, text) {code, text},
    EXPLAIN_WHYS(WHY_ENTRY)
#undef WHY_ENTRY
};

/* Operations and bindings: bytes outside printable ASCII, and the backslash, as \xNN. */
static void put_printable(mtlsauthz__buf *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '\\') {
            mtlsauthz__buf_printf(b, "\\x%02x", ch);
        } else {
            mtlsauthz__buf_append(b, &s[i], 1);
        }
    }
}

/* A value in single quotes, escaped as put_printable() does and the quote too, cut at
 * EXPLAIN_TEXT_VALUE_MAX bytes: 'CN=a\x27b' or 'CN=aaaa' (+300 bytes). */
static void put_quoted(mtlsauthz__buf *b, const char *s, size_t len)
{
    size_t shown = len > EXPLAIN_TEXT_VALUE_MAX ? EXPLAIN_TEXT_VALUE_MAX : len;
    mtlsauthz__buf_puts(b, "'");
    for (size_t i = 0; i < shown; i++) {
        if (s[i] == '\'') {
            mtlsauthz__buf_puts(b, "\\x27");
        } else {
            put_printable(b, &s[i], 1);
        }
    }
    mtlsauthz__buf_puts(b, "'");
    if (shown < len) {
        mtlsauthz__buf_printf(b, " (+%zu bytes)", len - shown);
    }
}

static const char *effect_name(const mtlsauthz__rule *r)
{
    return r->effect == MTLSAUTHZ__DENY ? "deny" : "allow";
}

static const char *mode_name(const mtlsauthz__rule *r)
{
    return r->mode == MTLSAUTHZ__DRY_RUN ? "dry-run" : "enforce";
}

static void json_str(mtlsauthz__buf *b, const char *s)
{
    if (s == NULL) {
        mtlsauthz__buf_puts(b, "null");
    } else {
        mtlsauthz__buf_json_string(b, s, strlen(s));
    }
}

static void json_pos(mtlsauthz__buf *b, mtlsauthz__pos pos)
{
    if (pos.line != 0) {
        mtlsauthz__buf_printf(b, "\"line\": %u, \"column\": %u", (unsigned)pos.line,
                              (unsigned)pos.column);
    } else {
        mtlsauthz__buf_puts(b, "\"line\": null, \"column\": null");
    }
}

static size_t dry_run_shown(const mtlsauthz_decision *d)
{
    return d->dry_run_count < MTLSAUTHZ_DECISION_DRY_RUN_MAX ? d->dry_run_count
                                                             : MTLSAUTHZ_DECISION_DRY_RUN_MAX;
}

static void explain_decision(mtlsauthz__buf *b, const mtlsauthz_decision *d)
{
    mtlsauthz__buf_printf(b, "decision: %s (rule %s, reason %s)\n", d->allowed ? "allow" : "deny",
                          d->rule != NULL ? d->rule : "none", mtlsauthz_reason_string(d->reason));
    for (size_t i = 0; i < dry_run_shown(d); i++) {
        mtlsauthz__buf_printf(b, "dry-run: matched %s\n", d->dry_run[i]);
    }
    if (d->dry_run_count > MTLSAUTHZ_DECISION_DRY_RUN_MAX) {
        mtlsauthz__buf_printf(b, "dry-run: ... %zu matched in all\n", d->dry_run_count);
    }
}

/* The decision's members, the same as `mtlsauthz check --format json` prints. */
static void json_decision(mtlsauthz__buf *b, const mtlsauthz_decision *d)
{
    mtlsauthz__buf_printf(b, "\"decision\": \"%s\", \"rule\": ", d->allowed ? "allow" : "deny");
    json_str(b, d->rule);
    mtlsauthz__buf_printf(b, ", \"reason\": \"%s\", \"dry_run\": [",
                          mtlsauthz_reason_string(d->reason));
    for (size_t i = 0; i < dry_run_shown(d); i++) {
        mtlsauthz__buf_puts(b, i > 0 ? ", " : "");
        json_str(b, d->dry_run[i]);
    }
    mtlsauthz__buf_printf(b, "], \"dry_run_count\": %zu", d->dry_run_count);
}

static const mtlsauthz__cand *find_cand(const mtlsauthz_peer *peer, unsigned rule)
{
    size_t lo = 0, hi = peer->ncands;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (peer->cands[mid].rule == rule) {
            return &peer->cands[mid];
        }
        if (peer->cands[mid].rule < rule) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* The capture values a matched principal binds for the rules that use them: text
 * " (binds a=x, b=y or a=z)", JSON "bindings": null (it binds nothing a rule uses), [] (no
 * consistent bindings) or [{"a": "x", "b": "y"}, ...]. */
static void explain_bindings(mtlsauthz__buf *b, const mtlsauthz_policy *p,
                             const mtlsauthz_peer *peer, unsigned pi, int json)
{
    const mtlsauthz__principal *pr = &p->principals[pi];
    const mtlsauthz__mprin *m = NULL;
    for (unsigned i = 0; i < peer->nmp; i++) {
        if (peer->mp[i].principal == pi) {
            m = &peer->mp[i];
            break;
        }
    }
    if (json) {
        mtlsauthz__buf_puts(b, ", \"bindings\": ");
    }
    if (m == NULL || pr->needed_caps == 0) {
        mtlsauthz__buf_puts(b, json ? "null" : "");
        return;
    }
    if (m->ntuples == 0) {
        mtlsauthz__buf_puts(b, json ? "[]" : " (no consistent capture bindings)");
        return;
    }
    for (unsigned t = 0; t < m->ntuples; t++) {
        const mtlsauthz__str *row = &m->tuples[(size_t)t * pr->ncaps];
        int first = 1;
        if (json) {
            mtlsauthz__buf_puts(b, t == 0 ? "[{" : ", {");
        } else {
            mtlsauthz__buf_puts(b, t == 0 ? " (binds " : " or ");
        }
        for (unsigned c = 0; c < pr->ncaps; c++) {
            const char *name = p->cap_names[pr->cap_ids[c]];
            if (row[c].ptr == NULL) {
                continue;
            }
            mtlsauthz__buf_puts(b, first ? "" : ", ");
            if (json) {
                json_str(b, name);
                mtlsauthz__buf_puts(b, ": ");
                mtlsauthz__buf_json_string(b, row[c].ptr, row[c].len);
            } else {
                mtlsauthz__buf_printf(b, "%s=", name);
                put_printable(b, row[c].ptr, row[c].len);
            }
            first = 0;
        }
        mtlsauthz__buf_puts(b, json ? "}" : "");
    }
    mtlsauthz__buf_puts(b, json ? "]" : ")");
}

/*
 * What a key that did not match compared: the identity's values for its field (as matched:
 * DNS names and email domains lowercased) and the key's patterns as written. Text:
 *         ou is 'dev'                      (or: ou has 'a', 'b', 'c' and 2 more;
 *         patterns: 'ops', 'sre'                ou: the identity has none)
 * JSON: "key", "values", "values_total", "patterns", "patterns_total".
 */
static void explain_compared(mtlsauthz__buf *b, const mtlsauthz__principal *pr, unsigned k,
                             const mtlsauthz__folded *f, int json)
{
    const char *kname = mtlsauthz__key_names[k];
    const mtlsauthz__ckey *key = mtlsauthz__principal_key(pr, k);
    mtlsauthz_field fld = mtlsauthz__key_field((mtlsauthz__key)k);
    const mtlsauthz__str *vals = f->vals[fld];
    size_t nvals = vals != NULL ? f->counts[fld] : 0;
    size_t max = json ? EXPLAIN_JSON_LIST_MAX : EXPLAIN_TEXT_LIST_MAX;
    size_t i;

    if (json) {
        mtlsauthz__buf_printf(b, ", \"key\": \"%s\", \"values\": [", kname);
        for (i = 0; i < nvals && i < max; i++) {
            mtlsauthz__buf_puts(b, i > 0 ? ", " : "");
            mtlsauthz__buf_json_string(b, vals[i].ptr, vals[i].len);
        }
        mtlsauthz__buf_printf(b, "], \"values_total\": %zu, \"patterns\": [", nvals);
        for (i = 0; i < key->n && i < max; i++) {
            mtlsauthz__buf_puts(b, i > 0 ? ", " : "");
            json_str(b, key->src[i]);
        }
        mtlsauthz__buf_printf(b, "], \"patterns_total\": %u", key->n);
        return;
    }
    if (nvals == 0) {
        mtlsauthz__buf_printf(b, "        %s: the identity has none\n", kname);
    } else {
        mtlsauthz__buf_printf(b, "        %s %s ", kname, nvals == 1 ? "is" : "has");
        for (i = 0; i < nvals && i < max; i++) {
            mtlsauthz__buf_puts(b, i > 0 ? ", " : "");
            put_quoted(b, vals[i].ptr, vals[i].len);
        }
        if (nvals > max) {
            mtlsauthz__buf_printf(b, " and %zu more", nvals - max);
        }
        mtlsauthz__buf_puts(b, "\n");
    }
    mtlsauthz__buf_puts(b, "        patterns: ");
    for (i = 0; i < key->n && i < max; i++) {
        mtlsauthz__buf_puts(b, i > 0 ? ", " : "");
        put_quoted(b, key->src[i], strlen(key->src[i]));
    }
    if (key->n > max) {
        mtlsauthz__buf_printf(b, " and %zu more", key->n - max);
    }
    mtlsauthz__buf_puts(b, "\n");
}

static void explain_principal(mtlsauthz__buf *b, const mtlsauthz_policy *p,
                              const mtlsauthz_peer *peer, unsigned i, const mtlsauthz__folded *f,
                              int json)
{
    const mtlsauthz__principal *pr = &p->principals[i];
    int k = mtlsauthz__principal_failing_key(p, i, f);
    if (json) {
        mtlsauthz__buf_puts(b, i > 0 ? ",\n    {\"name\": " : "\n    {\"name\": ");
        json_str(b, pr->name);
        mtlsauthz__buf_puts(b, ", ");
        json_pos(b, pr->pos);
        if (k == MTLSAUTHZ__KEY_COUNT) {
            mtlsauthz__buf_puts(b, ", \"matched\": true, \"why\": null");
            explain_bindings(b, p, peer, i, 1);
        } else {
            mtlsauthz__buf_printf(b, ", \"matched\": false, \"why\": \"%s\"",
                                  whys[k < 0 ? WHY_BUDGET : WHY_KEY].code);
            if (k >= 0) {
                explain_compared(b, pr, (unsigned)k, f, 1);
            }
        }
        mtlsauthz__buf_puts(b, "}");
        return;
    }
    if (k < 0) {
        mtlsauthz__buf_printf(b, "  ?     %s: %s\n", pr->name, whys[WHY_BUDGET].text);
    } else if (k == MTLSAUTHZ__KEY_COUNT) {
        mtlsauthz__buf_printf(b, "  match %s", pr->name);
        explain_bindings(b, p, peer, i, 0);
        mtlsauthz__buf_puts(b, "\n");
    } else {
        mtlsauthz__buf_printf(b, "  no    %s: ", pr->name);
        mtlsauthz__buf_printf(b, whys[WHY_KEY].text, mtlsauthz__key_names[k]);
        mtlsauthz__buf_puts(b, "\n");
        explain_compared(b, pr, (unsigned)k, f, 0);
    }
}

static void explain_rule(mtlsauthz__buf *b, const mtlsauthz_policy *p, const mtlsauthz_peer *peer,
                         unsigned i, const char *op, size_t op_len, int json)
{
    const mtlsauthz__rule *r = &p->rules[i];
    const mtlsauthz__cand *c = peer->state == MTLSAUTHZ_REASON_ALLOWED ? find_cand(peer, i) : NULL;
    unsigned long budget = MTLSAUTHZ__DECIDE_MATCH_BUDGET;
    int rc = c != NULL ? mtlsauthz__cand_match(peer, c, op, op_len, &budget, 1) : 0;
    int matched = c != NULL && rc == MTLSAUTHZ__RULE_MATCH;
    explain_why why = c == NULL                          ? WHY_NO_PRINCIPAL
                      : rc == MTLSAUTHZ__RULE_NO_OP      ? WHY_NO_OPERATION
                      : rc == MTLSAUTHZ__RULE_NO_CAPTURE ? WHY_CAPTURES
                                                         : WHY_BUDGET;
    if (json) {
        mtlsauthz__buf_puts(b, i > 0 ? ",\n    {\"id\": " : "\n    {\"id\": ");
        json_str(b, r->id);
        mtlsauthz__buf_puts(b, ", ");
        json_pos(b, r->pos);
        mtlsauthz__buf_printf(b, ", \"effect\": \"%s\", \"mode\": \"%s\", \"matched\": %s",
                              effect_name(r), mode_name(r), matched ? "true" : "false");
        if (matched) {
            mtlsauthz__buf_puts(b, ", \"why\": null}");
        } else {
            mtlsauthz__buf_printf(b, ", \"why\": \"%s\"}", whys[why].code);
        }
        return;
    }
    if (matched) {
        mtlsauthz__buf_printf(
            b, "  match %s (%s%s)%s\n", r->id, effect_name(r),
            r->mode == MTLSAUTHZ__DRY_RUN ? ", dry-run" : "",
            r->mode == MTLSAUTHZ__DRY_RUN
                ? (r->effect == MTLSAUTHZ__DENY ? ": would have denied" : ": would have allowed")
                : "");
    } else if (why == WHY_BUDGET) {
        mtlsauthz__buf_printf(b, "  ?     %s: %s\n", r->id, whys[why].text);
    } else {
        mtlsauthz__buf_printf(b, "  no    %s (%s%s): %s\n", r->id, effect_name(r),
                              r->mode == MTLSAUTHZ__DRY_RUN ? ", dry-run" : "", whys[why].text);
    }
}

static int explain_body(mtlsauthz__buf *b, const mtlsauthz_policy *p, const mtlsauthz_peer *peer,
                        const mtlsauthz_identity *id, const char *op, size_t op_len, int json)
{
    mtlsauthz__folded f;
    int rc;

    rc = mtlsauthz__fold_identity(&f, id);
    if (rc < 0) {
        return rc;
    }
    mtlsauthz__buf_puts(b, json ? ",\n  \"principals\": [" : "principals:\n");
    for (unsigned i = 0; i < p->nprincipals; i++) {
        explain_principal(b, p, peer, i, &f, json);
    }
    mtlsauthz__folded_free(&f);
    if (json) {
        mtlsauthz__buf_puts(b, p->nprincipals > 0 ? "\n  ]" : "]");
    }
    mtlsauthz__buf_puts(b, json ? ",\n  \"rules\": [" : "rules:\n");
    for (unsigned i = 0; i < p->nrules; i++) {
        explain_rule(b, p, peer, i, op, op_len, json);
    }
    if (json) {
        mtlsauthz__buf_puts(b, p->nrules > 0 ? "\n  ]" : "]");
    }
    return 0;
}

/* The account, after the decision `d` was reached for `peer`. */
static int explain_write(mtlsauthz__buf *b, const mtlsauthz_policy *p, const mtlsauthz_peer *peer,
                         const mtlsauthz_identity *id, const char *op, size_t op_len,
                         const mtlsauthz_decision *d, int json)
{
    const char *state = id == NULL ? "none" : id->rejected != NULL ? "rejected" : "accepted";
    int rc = 0;
    if (json) {
        mtlsauthz__buf_puts(b, "{");
        json_decision(b, d);
        mtlsauthz__buf_puts(b, ",\n  \"operation\": ");
        mtlsauthz__buf_json_string(b, op != NULL ? op : "", op_len);
        mtlsauthz__buf_printf(b, ", \"identity\": \"%s\", \"rejected\": ", state);
        json_str(b, id != NULL ? id->rejected : NULL);
        if (id != NULL && id->rejected == NULL) {
            rc = explain_body(b, p, peer, id, op, op_len, 1);
        } else {
            mtlsauthz__buf_puts(b, ",\n  \"principals\": [],\n  \"rules\": []");
        }
        mtlsauthz__buf_puts(b, "\n}\n");
        return rc;
    }
    mtlsauthz__buf_puts(b, "operation: ");
    put_printable(b, op != NULL ? op : "", op_len);
    mtlsauthz__buf_puts(b, "\n");
    if (id == NULL) {
        mtlsauthz__buf_puts(b, "identity: none (no client certificate)\n");
    } else if (id->rejected != NULL) {
        mtlsauthz__buf_printf(b, "identity: rejected (%s); every operation is denied\n",
                              id->rejected);
    } else {
        mtlsauthz__buf_puts(b, "identity: accepted\n");
        rc = explain_body(b, p, peer, id, op, op_len, 0);
    }
    explain_decision(b, d);
    return rc;
}

int mtlsauthz_policy_explain_report(char **out, mtlsauthz_decision *decision,
                                    mtlsauthz_policy *policy, const mtlsauthz_identity *id,
                                    const char *op, size_t op_len, mtlsauthz_format format,
                                    mtlsauthz_error *err)
{
    mtlsauthz_decision local;
    mtlsauthz_decision *d = decision != NULL ? decision : &local;
    mtlsauthz_peer *peer = NULL;
    mtlsauthz__buf b;
    int rc;

    memset(&local, 0, sizeof(local));
    if (decision != NULL) {
        memset(decision, 0, sizeof(*decision));
        decision->reason = MTLSAUTHZ_REASON_ERROR;
    }
    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "explain: out is NULL");
    }
    *out = NULL;
    if (policy == NULL || (op == NULL && op_len > 0)) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "explain: policy or operation is NULL");
    }
    if (format != MTLSAUTHZ_FORMAT_TEXT && format != MTLSAUTHZ_FORMAT_JSON) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL,
                                    "explain: unknown format %d (MTLSAUTHZ_FORMAT_TEXT or "
                                    "MTLSAUTHZ_FORMAT_JSON)",
                                    (int)format);
    }
    mtlsauthz__buf_init(&b);
    rc = mtlsauthz_peer_new(&peer, policy, id, err);
    if (rc < 0) {
        goto fail;
    }
    rc = mtlsauthz_peer_decide(d, peer, op, op_len, err);
    if (rc < 0) {
        goto fail;
    }
    rc = explain_write(&b, policy, peer, id, op, op_len, d, format == MTLSAUTHZ_FORMAT_JSON);
    if (rc < 0) {
        rc = mtlsauthz__error_set(err, rc, "out of memory");
        goto fail;
    }
    rc = mtlsauthz__buf_take(out, NULL, &b, err);
    if (rc < 0) {
        goto fail;
    }
    mtlsauthz_peer_free(peer);
    return 0;
fail:
    if (decision != NULL) {
        memset(decision, 0, sizeof(*decision));
        decision->reason = MTLSAUTHZ_REASON_ERROR;
    }
    mtlsauthz__buf_free(&b);
    mtlsauthz_peer_free(peer);
    return rc;
}

int mtlsauthz_policy_explain(char **out, mtlsauthz_decision *decision, mtlsauthz_policy *policy,
                             const mtlsauthz_identity *id, const char *op, size_t op_len,
                             mtlsauthz_error *err)
{
    return mtlsauthz_policy_explain_report(out, decision, policy, id, op, op_len,
                                           MTLSAUTHZ_FORMAT_TEXT, err);
}
