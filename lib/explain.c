/*
 * mtlsauthz_policy_explain(): a readable account of one decision, for `mtlsauthz check
 * --explain` and for people debugging a policy. Not on the request path: it walks every
 * principal and rule (no index), and cross-checks the decision with the real engine.
 */
#include <string.h>

#include "identity_int.h"
#include "policy_int.h"

static void put_printable(mtlsauthz__buf *b, const char *s, size_t len)
{
    /* Operations are bytes; keep the account one line per item and free of control bytes. */
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f || ch == '\\') {
            mtlsauthz__buf_printf(b, "\\x%02x", ch);
        } else {
            mtlsauthz__buf_append(b, &s[i], 1);
        }
    }
}

static const char *effect_name(const mtlsauthz__rule *r)
{
    return r->effect == MTLSAUTHZ__DENY ? "deny" : "allow";
}

static void explain_decision(mtlsauthz__buf *b, const mtlsauthz_decision *d)
{
    mtlsauthz__buf_printf(b, "decision: %s (rule %s, reason %s)\n", d->allowed ? "allow" : "deny",
                          d->rule != NULL ? d->rule : "none", mtlsauthz_reason_string(d->reason));
    for (size_t i = 0; i < d->dry_run_count && i < MTLSAUTHZ_DECISION_DRY_RUN_MAX; i++) {
        mtlsauthz__buf_printf(b, "dry-run: matched %s\n", d->dry_run[i]);
    }
    if (d->dry_run_count > MTLSAUTHZ_DECISION_DRY_RUN_MAX) {
        mtlsauthz__buf_printf(b, "dry-run: ... %zu matched in all\n", d->dry_run_count);
    }
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

/* The capture values a matched principal binds for the rules that use them. */
static void explain_bindings(mtlsauthz__buf *b, const mtlsauthz_policy *p,
                             const mtlsauthz_peer *peer, unsigned pi)
{
    const mtlsauthz__principal *pr = &p->principals[pi];
    const mtlsauthz__mprin *m = NULL;
    for (unsigned i = 0; i < peer->nmp; i++) {
        if (peer->mp[i].principal == pi) {
            m = &peer->mp[i];
            break;
        }
    }
    if (m == NULL || pr->needed_caps == 0) {
        return;
    }
    if (m->ntuples == 0) {
        mtlsauthz__buf_puts(b, " (no consistent capture bindings)");
        return;
    }
    for (unsigned t = 0; t < m->ntuples; t++) {
        const mtlsauthz__str *row = &m->tuples[(size_t)t * pr->ncaps];
        int first = 1;
        mtlsauthz__buf_puts(b, t == 0 ? " (binds " : " or ");
        for (unsigned c = 0; c < pr->ncaps; c++) {
            if (row[c].ptr == NULL) {
                continue;
            }
            mtlsauthz__buf_printf(b, "%s%s=", first ? "" : ", ", p->cap_names[pr->cap_ids[c]]);
            put_printable(b, row[c].ptr, row[c].len);
            first = 0;
        }
    }
    mtlsauthz__buf_puts(b, ")");
}

static int explain_body(mtlsauthz__buf *b, const mtlsauthz_policy *p, const mtlsauthz_peer *peer,
                        const mtlsauthz_identity *id, const char *op, size_t op_len,
                        const mtlsauthz_decision *d)
{
    mtlsauthz__folded f;
    int rc;

    rc = mtlsauthz__fold_identity(&f, id);
    if (rc < 0) {
        return rc;
    }
    mtlsauthz__buf_puts(b, "principals:\n");
    for (unsigned i = 0; i < p->nprincipals; i++) {
        const mtlsauthz__principal *pr = &p->principals[i];
        int k = mtlsauthz__principal_failing_key(p, i, &f);
        if (k < 0) {
            mtlsauthz__buf_printf(b, "  ?     %s: matching exceeded its work budget\n", pr->name);
        } else if (k == MTLSAUTHZ__KEY_COUNT) {
            mtlsauthz__buf_printf(b, "  match %s", pr->name);
            explain_bindings(b, p, peer, i);
            mtlsauthz__buf_puts(b, "\n");
        } else {
            mtlsauthz__buf_printf(b, "  no    %s: key '%s' did not match\n", pr->name,
                                  mtlsauthz__key_names[k]);
        }
    }
    mtlsauthz__folded_free(&f);

    mtlsauthz__buf_puts(b, "rules:\n");
    for (unsigned i = 0; i < p->nrules; i++) {
        const mtlsauthz__rule *r = &p->rules[i];
        const mtlsauthz__cand *c =
            peer->state == MTLSAUTHZ_REASON_ALLOWED ? find_cand(peer, i) : NULL;
        const char *mode = r->mode == MTLSAUTHZ__DRY_RUN ? ", dry-run" : "";
        unsigned long budget = MTLSAUTHZ__DECIDE_MATCH_BUDGET;
        if (c == NULL) {
            mtlsauthz__buf_printf(b, "  no    %s (%s%s): no principal of the rule matched\n", r->id,
                                  effect_name(r), mode);
            continue;
        }
        rc = mtlsauthz__cand_match(peer, c, op, op_len, &budget, 1);
        if (rc == MTLSAUTHZ__RULE_MATCH) {
            mtlsauthz__buf_printf(b, "  match %s (%s%s)%s\n", r->id, effect_name(r), mode,
                                  r->mode == MTLSAUTHZ__DRY_RUN
                                      ? (r->effect == MTLSAUTHZ__DENY ? ": would have denied"
                                                                      : ": would have allowed")
                                      : "");
        } else if (rc == MTLSAUTHZ__RULE_NO_CAPTURE) {
            mtlsauthz__buf_printf(b,
                                  "  no    %s (%s%s): the operation's captures do not agree "
                                  "with what the matched principals bind\n",
                                  r->id, effect_name(r), mode);
        } else if (rc == MTLSAUTHZ__RULE_NO_OP) {
            mtlsauthz__buf_printf(b, "  no    %s (%s%s): no operation pattern matched\n", r->id,
                                  effect_name(r), mode);
        } else {
            mtlsauthz__buf_printf(b, "  ?     %s: matching exceeded its work budget\n", r->id);
        }
    }
    explain_decision(b, d);
    return 0;
}

int mtlsauthz_policy_explain(char **out, mtlsauthz_decision *decision, mtlsauthz_policy *policy,
                             const mtlsauthz_identity *id, const char *op, size_t op_len,
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
    mtlsauthz__buf_init(&b);
    rc = mtlsauthz_peer_new(&peer, policy, id, err);
    if (rc < 0) {
        goto fail;
    }
    rc = mtlsauthz_peer_decide(d, peer, op, op_len, err);
    if (rc < 0) {
        goto fail;
    }
    mtlsauthz__buf_puts(&b, "operation: ");
    put_printable(&b, op != NULL ? op : "", op_len);
    mtlsauthz__buf_puts(&b, "\n");
    if (id == NULL) {
        mtlsauthz__buf_puts(&b, "identity: none (no client certificate)\n");
        explain_decision(&b, d);
    } else if (id->rejected != NULL) {
        mtlsauthz__buf_printf(&b, "identity: rejected (%s); every operation is denied\n",
                              id->rejected);
        explain_decision(&b, d);
    } else {
        mtlsauthz__buf_puts(&b, "identity: accepted\n");
        rc = explain_body(&b, policy, peer, id, op, op_len, d);
        if (rc < 0) {
            rc = mtlsauthz__error_set(err, rc, "out of memory");
            goto fail;
        }
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
