/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one list of selector keys (lib/keys.h) and everything that reads it agree: the YAML
 * schema and the pre-pass put each key's name in that key's slot; the compiler, the index and
 * the matcher read the key's field and no other; the index decides a wildcard with the class
 * the compiler compiled it with; the peer folds the fields of exactly the keys that fold; and
 * docs/policy.md's key table and docs/policy.schema.json list exactly these keys, in this
 * order, with these facts.
 */
#include "policy_helpers.h"
#include "policy_ast.h"

/* ---- a valid entry for each kind of key, and an identity value it matches ---- */

typedef struct sample {
    const char *entry; /* as written in the policy */
    const char *value; /* as the identity holds it */
} sample;

static sample sample_of(mtlsauthz__key_kind kind)
{
    sample s = {NULL, NULL};
    switch (kind) {
    case MTLSAUTHZ__KIND_PATTERN:
        s.entry = "v-xx";
        s.value = "v-xx";
        break;
    case MTLSAUTHZ__KIND_SPIFFE:
        s.entry = "spiffe://td/v-x";
        s.value = "spiffe://td/v-x";
        break;
    case MTLSAUTHZ__KIND_SERIAL:
        s.entry = "4f";
        s.value = "4f";
        break;
    case MTLSAUTHZ__KIND_SHA256:
        s.entry = "ab000000000000000000000000000000000000000000000000000000000000cd";
        s.value = s.entry;
        break;
    case MTLSAUTHZ__KIND_EKU:
        s.entry = "clientAuth";
        s.value = "clientAuth";
        break;
    case MTLSAUTHZ__KIND_CIDR:
        s.entry = "10.0.0.0/8";
        s.value = "10.1.2.3";
        break;
    }
    cr_assert_not_null(s.entry, "no sample for kind %d", (int)kind);
    return s;
}

/* A synthetic identity whose field `f` holds exactly `value` (an IP SAN keeps its raw bytes
 * parallel). */
static void set_field(ph_ident *pi, mtlsauthz_field f, const char *value)
{
    unsigned char raw[16];
    pi->id.counts[f] = 0;
    if (value == NULL) {
        return;
    }
    if (f != MTLSAUTHZ_FIELD_SAN_IP) {
        ph_add(pi, f, value);
    } else if (inet_pton(AF_INET, value, raw) == 1 || inet_pton(AF_INET6, value, raw) == 1) {
        ph_add_ip(pi, value);
    }
}

/* The policy "principal p has key k with these entries; rule r allows p to do x". */
static mtlsauthz_policy *load_key(mtlsauthz__key k, const char *entry)
{
    char line[512];
    snprintf(line, sizeof(line), "    %s: [\"%s\"]\n", mtlsauthz__key_names[k], entry);
    return ph_load(ph_selector_yaml(line));
}

typedef struct seen {
    int visited;
    int matched;
} seen;

static int visit_p0(void *ctx, unsigned principal, int matched)
{
    seen *s = ctx;
    if (principal == 0) {
        s->visited = 1;
        s->matched |= matched;
    }
    return 0;
}

/* What the index says of principal 0 and what the full match says, for one identity. */
static void resolve(const mtlsauthz_policy *p, const mtlsauthz_identity *id, seen *ix,
                    int *failing_key)
{
    mtlsauthz__folded f;
    memset(ix, 0, sizeof(*ix));
    cr_assert_eq(mtlsauthz__fold_identity(&f, id), 0);
    cr_assert_eq(mtlsauthz__index_candidates(p, f.vals, f.counts, visit_p0, ix), 0);
    *failing_key = mtlsauthz__principal_failing_key(p, 0, &f);
    mtlsauthz__folded_free(&f);
}

/* ---- the schema and the pre-pass ---- */

Test(keys, every_name_loads_into_its_own_slot_and_nothing_else)
{
    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        char yaml[512];
        mtlsauthz__ast *ast = NULL;
        mtlsauthz_error err;
        mtlsauthz__pos at;
        int rc;

        snprintf(yaml, sizeof(yaml),
                 "version: 1\n"
                 "principals:\n"
                 "  - name: p\n"
                 "    %s: [\"v-%s\"]\n"
                 "rules:\n"
                 "  - {id: r, effect: allow, principals: [p], operations: [x]}\n",
                 mtlsauthz__key_names[k], mtlsauthz__key_names[k]);
        mtlsauthz_error_clear(&err);
        rc = mtlsauthz__ast_load(&ast, yaml, strlen(yaml), &err);
        cr_assert_eq(rc, 0, "key %s: %s", mtlsauthz__key_names[k], err.message);
        for (unsigned j = 0; j < MTLSAUTHZ__KEY_COUNT; j++) {
            const mtlsauthz__strv *sv = &ast->principals[0].keys[j];
            cr_assert_eq(sv->n, j == k ? 1u : 0u, "key %s: slot %s has %u entries",
                         mtlsauthz__key_names[k], mtlsauthz__key_names[j], sv->n);
        }
        cr_assert_str_eq(ast->principals[0].keys[k].v[0] + 2, mtlsauthz__key_names[k]);
        /* The pre-pass recorded the entry's position under the same key. */
        at = mtlsauthz__ast_key_pos(ast, 0, (mtlsauthz__key)k, 0);
        cr_assert_eq(at.line, 4, "key %s: entry recorded at line %u", mtlsauthz__key_names[k],
                     at.line);
        cr_assert_eq(at.column, (uint32_t)(4 + strlen(mtlsauthz__key_names[k]) + 4));
        mtlsauthz__ast_free(ast);
    }
}

Test(keys, a_name_one_letter_off_is_refused)
{
    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        char line[128];
        const char *msg;
        snprintf(line, sizeof(line), "    %sx: [\"v\"]\n", mtlsauthz__key_names[k]);
        msg = ph_load_error(ph_selector_yaml(line), MTLSAUTHZ_EPOLICY);
        ph_assert_contains(msg, "unknown key");
    }
}

/* ---- the compiler, the index and the matcher ---- */

Test(keys, each_key_reads_its_own_field_and_no_other)
{
    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        const char *kname = mtlsauthz__key_names[k];
        mtlsauthz_field fld = mtlsauthz__key_field((mtlsauthz__key)k);
        mtlsauthz__key_kind kind = mtlsauthz__key_kind_of((mtlsauthz__key)k);
        sample s = sample_of(kind);
        mtlsauthz_policy *p = load_key((mtlsauthz__key)k, s.entry);
        const mtlsauthz__ckey *ck = mtlsauthz__principal_key(&p->principals[0], k);
        ph_ident *here = ph_ident_new(), *elsewhere = ph_ident_new();
        seen ix;
        int failing;

        cr_assert_eq(ck->n, 1, "key %s", kname);
        cr_assert_eq(ck->cidrs != NULL, kind == MTLSAUTHZ__KIND_CIDR, "key %s", kname);
        if (ck->pats != NULL) {
            cr_assert_eq(ck->pats[0].wclass, mtlsauthz__key_wclass((mtlsauthz__key)k),
                         "key %s: compiled with another wildcard class", kname);
        }
        for (unsigned f = 0; f < MTLSAUTHZ_FIELD_COUNT_; f++) {
            set_field(here, (mtlsauthz_field)f, f == fld ? s.value : NULL);
            set_field(elsewhere, (mtlsauthz_field)f, f == fld ? NULL : s.value);
        }

        resolve(p, &here->id, &ix, &failing);
        cr_assert_eq(failing, MTLSAUTHZ__KEY_COUNT, "key %s: its own field does not match", kname);
        cr_assert(ix.visited, "key %s: the index does not offer the principal", kname);
        ph_allow(p, &here->id, "x", "r");

        resolve(p, &elsewhere->id, &ix, &failing);
        cr_assert_eq(failing, (int)k, "key %s: matched a value in another field", kname);
        /* A key with no pattern (ip) is not indexed: its principals are always offered. */
        if (kind != MTLSAUTHZ__KIND_CIDR) {
            cr_assert(!ix.visited, "key %s: the index looks in another field", kname);
        }
        ph_no_match(p, &elsewhere->id, "x");

        free(here);
        free(elsewhere);
        mtlsauthz_policy_free(p);
    }
}

/*
 * For every key with wildcards, "<literal>*" is filed in the index under its literal, and the
 * index decides the match itself (mtlsauthz__pattern_wild_span under the class it holds for
 * the key). Over values that each class treats differently, what the index decides must be
 * what the compiled pattern matches.
 */
Test(keys, the_index_decides_a_wildcard_with_the_compiled_class)
{
    static const char *const tails[] = {"w",   "w.y", "w/y", "w?y",   "w#y",   "w@y", "w:y",
                                        "w,y", "w+y", "w;y", "w\\,y", "w\\2C", "w\\", "W.Y"};
    unsigned classes_seen = 0;
    unsigned outcomes[MTLSAUTHZ__WC_COUNT] = {0}; /* bit t: value t matched */

    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        const char *kname = mtlsauthz__key_names[k];
        mtlsauthz__key_kind kind = mtlsauthz__key_kind_of((mtlsauthz__key)k);
        mtlsauthz__wclass wclass = mtlsauthz__key_wclass((mtlsauthz__key)k);
        char sep = mtlsauthz__wclass_sep(wclass);
        char lit[64], entry[80];
        mtlsauthz_policy *p;
        unsigned mask = 0;

        if (kind != MTLSAUTHZ__KIND_PATTERN && kind != MTLSAUTHZ__KIND_SPIFFE) {
            continue; /* exact values: no wildcard to decide */
        }
        /* The literal ends at a separator, or has a power-of-two length: the whole literal is
         * the index's prefix, so the probe alone decides. */
        snprintf(lit, sizeof(lit), "%s%s", sample_of(kind).entry, sep ? (char[]){sep, 0} : "");
        if (sep == 0) {
            size_t n = strlen(lit);
            cr_assert_eq(n & (n - 1), 0, "key %s: '%s' is not a power of two long", kname, lit);
        }
        snprintf(entry, sizeof(entry), "%s*", lit);
        p = load_key((mtlsauthz__key)k, entry);

        for (size_t t = 0; t < MTLSAUTHZ__ARRAY_LEN(tails); t++) {
            ph_ident *pi = ph_ident_new();
            char value[128];
            seen ix;
            int failing;
            snprintf(value, sizeof(value), "%s%s", lit, tails[t]);
            set_field(pi, mtlsauthz__key_field((mtlsauthz__key)k), value);
            resolve(p, &pi->id, &ix, &failing);
            cr_assert(ix.visited, "key %s, value '%s': not offered by the index", kname, value);
            cr_assert_eq(ix.matched, failing == MTLSAUTHZ__KEY_COUNT,
                         "key %s, pattern '%s', value '%s': the index says %s, the pattern %s",
                         kname, entry, value, ix.matched ? "match" : "no match",
                         failing == MTLSAUTHZ__KEY_COUNT ? "match" : "no match");
            mask |= (unsigned)ix.matched << t;
            free(pi);
        }
        cr_assert(!(classes_seen & (1u << wclass)) || outcomes[wclass] == mask,
                  "key %s: two keys of one wildcard class decide differently", kname);
        classes_seen |= 1u << wclass;
        outcomes[wclass] = mask;
        mtlsauthz_policy_free(p);
    }
    cr_assert_eq(classes_seen, (1u << MTLSAUTHZ__WC_COUNT) - 1u,
                 "a wildcard class no key uses is not checked here: %#x", classes_seen);
    /* The values tell the classes apart, so an index using another class than the compiler
     * would decide some value differently. */
    for (unsigned a = 0; a < MTLSAUTHZ__WC_COUNT; a++) {
        for (unsigned b = a + 1; b < MTLSAUTHZ__WC_COUNT; b++) {
            cr_assert_neq(outcomes[a], outcomes[b], "classes %u and %u decide alike", a, b);
        }
    }
}

/* The peer folds the values of exactly the keys that fold, as they fold. */
Test(keys, the_peer_folds_each_field_as_its_key_folds)
{
    ph_ident *pi = ph_ident_new();
    mtlsauthz__folded f;

    for (unsigned fld = 0; fld < MTLSAUTHZ_FIELD_COUNT_; fld++) {
        pi->id.counts[fld] = 0;
        ph_add(pi, (mtlsauthz_field)fld, "Ab@Cd");
    }
    cr_assert_eq(mtlsauthz__fold_identity(&f, &pi->id), 0);
    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        mtlsauthz_field fld = mtlsauthz__key_field((mtlsauthz__key)k);
        const char *want = NULL;
        switch (mtlsauthz__key_fold((mtlsauthz__key)k)) {
        case MTLSAUTHZ__FOLD_NONE:
            want = "Ab@Cd";
            break;
        case MTLSAUTHZ__FOLD_ALL:
            want = "ab@cd";
            break;
        case MTLSAUTHZ__FOLD_AFTER_LAST_AT:
            want = "Ab@cd";
            break;
        }
        cr_assert_eq(f.counts[fld], 1);
        cr_assert(mtlsauthz__str_eq(&f.vals[fld][0], want, strlen(want)),
                  "key %s: the peer holds '%.*s', want '%s'", mtlsauthz__key_names[k],
                  (int)f.vals[fld][0].len, f.vals[fld][0].ptr, want);
    }
    mtlsauthz__folded_free(&f);
    free(pi);
}

/* What the peer, the index and lint rely on of the list itself. */
Test(keys, the_list_keeps_the_rules_its_readers_rely_on)
{
    unsigned folding = 0;
    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        mtlsauthz__key_facts a = mtlsauthz__keys[k];
        const char *kname = mtlsauthz__key_names[k];
        cr_assert_not_null(kname);
        cr_assert_lt((unsigned)a.field, (unsigned)MTLSAUTHZ_FIELD_COUNT_, "key %s", kname);
        cr_assert_lt((unsigned)a.wclass, (unsigned)MTLSAUTHZ__WC_COUNT, "key %s", kname);
        folding += a.fold != MTLSAUTHZ__FOLD_NONE;
        /* Only SAN_IP has raw address bytes (ip_raw) beside its text. */
        cr_assert_eq(a.kind == MTLSAUTHZ__KIND_CIDR, a.field == MTLSAUTHZ_FIELD_SAN_IP, "key %s",
                     kname);
        for (unsigned j = 0; j < MTLSAUTHZ__KEY_COUNT; j++) {
            if (j == k) {
                continue;
            }
            cr_assert_str_neq(kname, mtlsauthz__key_names[j]);
            /* The peer folds a field in place for the key that folds it: no other key may read
             * that field, or it would see folded values. */
            if (a.fold != MTLSAUTHZ__FOLD_NONE) {
                cr_assert_neq(a.field, mtlsauthz__keys[j].field,
                              "keys %s and %s read one field and %s folds it", kname,
                              mtlsauthz__key_names[j], kname);
            }
        }
    }
    cr_assert_eq(folding, MTLSAUTHZ__KEYS_FOLDED);
}

/* ---- the docs ---- */

/* Splits a Markdown table row "| a | b |" into trimmed cells (in place); returns the count. */
static unsigned md_cells(char *row, char **cells, unsigned max)
{
    unsigned n = 0;
    char *p = strchr(row, '|');
    while (p != NULL && n < max) {
        char *start = p + 1, *end = strchr(start, '|');
        if (end == NULL) {
            break;
        }
        *end = '\0';
        while (*start == ' ') {
            start++;
        }
        for (char *q = end; q > start && q[-1] == ' '; q--) {
            q[-1] = '\0';
        }
        cells[n++] = start;
        p = end;
    }
    return n;
}

static const char *doc_star(mtlsauthz__wclass w)
{
    switch (w) {
    case MTLSAUTHZ__WC_ANY:
        return "nothing";
    case MTLSAUTHZ__WC_DOT:
        return "`.`";
    case MTLSAUTHZ__WC_SLASH:
        return "`/`";
    case MTLSAUTHZ__WC_URI:
        return "`/` `?` `#` `@` `:`";
    case MTLSAUTHZ__WC_DN:
        return "unescaped `,` and `+`; whole escapes only";
    case MTLSAUTHZ__WC_COUNT:
        break;
    }
    return NULL;
}

static const char *doc_starstar(mtlsauthz__wclass w)
{
    switch (w) {
    case MTLSAUTHZ__WC_ANY:
    case MTLSAUTHZ__WC_DOT:
    case MTLSAUTHZ__WC_SLASH:
        return "nothing";
    case MTLSAUTHZ__WC_URI:
        return "`?` `#` `@`";
    case MTLSAUTHZ__WC_DN:
        return "nothing; whole escapes only";
    case MTLSAUTHZ__WC_COUNT:
        break;
    }
    return NULL;
}

/* The start of the "case" cell. */
static const char *doc_case(mtlsauthz__fold fold, mtlsauthz__key_kind kind)
{
    if (kind == MTLSAUTHZ__KIND_CIDR) {
        return "—";
    }
    switch (fold) {
    case MTLSAUTHZ__FOLD_NONE:
        return "exact";
    case MTLSAUTHZ__FOLD_ALL:
        return "ASCII case-insensitive";
    case MTLSAUTHZ__FOLD_AFTER_LAST_AT:
        return "local part exact, domain case-insensitive";
    }
    return NULL;
}

/* The start of the "patterns" cell. */
static const char *doc_patterns(mtlsauthz__key_kind kind)
{
    switch (kind) {
    case MTLSAUTHZ__KIND_PATTERN:
    case MTLSAUTHZ__KIND_SPIFFE:
        return "yes";
    case MTLSAUTHZ__KIND_SERIAL:
    case MTLSAUTHZ__KIND_SHA256:
        return "no (pinning)";
    case MTLSAUTHZ__KIND_EKU:
        return "no";
    case MTLSAUTHZ__KIND_CIDR:
        return "CIDR blocks";
    }
    return NULL;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

Test(keys, docs_policy_md_key_table_is_the_list)
{
    static const char header[] =
        "| key | reads | `*` stops at | `**` stops at | case | patterns |\n";
    char *doc = th_read("MTLSAUTHZ_TEST_DATA", "../../docs/policy.md", NULL);
    char *p = strstr(doc, header), *line;
    unsigned k = 0;

    cr_assert_not_null(p, "docs/policy.md has no key table (its header: %s)", header);
    p = strchr(p + sizeof(header) - 1, '\n'); /* the |---| line */
    cr_assert_not_null(p);
    for (line = p + 1; *line == '|'; line = p + 1) {
        char *cells[8];
        char want[32];
        mtlsauthz__key_facts a;
        int pattern_kind;
        p = strchr(line, '\n');
        cr_assert_not_null(p);
        *p = '\0';
        cr_assert_eq(md_cells(line, cells, 8), 6, "docs/policy.md: a key row without 6 cells: %s",
                     line);
        cr_assert_lt(k, MTLSAUTHZ__KEY_COUNT, "docs/policy.md lists a key the library lacks: %s",
                     cells[0]);
        snprintf(want, sizeof(want), "`%s`", mtlsauthz__key_names[k]);
        cr_assert_str_eq(cells[0], want, "docs/policy.md: row %u is %s, want %s", k + 1, cells[0],
                         want);
        a = mtlsauthz__keys[k];
        pattern_kind = a.kind == MTLSAUTHZ__KIND_PATTERN || a.kind == MTLSAUTHZ__KIND_SPIFFE;
        cr_assert_str_eq(cells[2], pattern_kind ? doc_star(a.wclass) : "—",
                         "docs/policy.md, key %s: `*` stops at", want);
        cr_assert_str_eq(cells[3], pattern_kind ? doc_starstar(a.wclass) : "—",
                         "docs/policy.md, key %s: `**` stops at", want);
        cr_assert(starts_with(cells[4], doc_case(a.fold, a.kind)),
                  "docs/policy.md, key %s: case is '%s', want '%s...'", want, cells[4],
                  doc_case(a.fold, a.kind));
        cr_assert(starts_with(cells[5], doc_patterns(a.kind)),
                  "docs/policy.md, key %s: patterns is '%s', want '%s...'", want, cells[5],
                  doc_patterns(a.kind));
        k++;
    }
    cr_assert_eq(k, MTLSAUTHZ__KEY_COUNT, "docs/policy.md lists %u keys; the library has %u", k,
                 (unsigned)MTLSAUTHZ__KEY_COUNT);
    free(doc);
}

/*
 * The property names of the object that starts at `obj` (just after its `{`), in order: a
 * string followed by ':' at the object's own depth. Strings are skipped whole, so braces in a
 * description do not count.
 */
static unsigned json_keys(const char *obj, char names[][32], unsigned max)
{
    unsigned n = 0;
    int depth = 1;
    for (const char *q = obj; *q != '\0' && depth > 0; q++) {
        if (*q == '"') {
            const char *s = ++q, *after;
            while (*q != '\0' && *q != '"') {
                q += (*q == '\\' && q[1] != '\0') ? 2 : 1;
            }
            cr_assert_eq(*q, '"', "an unterminated JSON string");
            for (after = q + 1; *after == ' ' || *after == '\n'; after++) {
            }
            if (depth == 1 && *after == ':') {
                cr_assert_lt(n, max);
                cr_assert_lt((size_t)(q - s), sizeof(names[0]));
                memcpy(names[n], s, (size_t)(q - s));
                names[n][q - s] = '\0';
                n++;
            }
        } else if (*q == '{' || *q == '[') {
            depth++;
        } else if (*q == '}' || *q == ']') {
            depth--;
        }
    }
    return n;
}

Test(keys, docs_policy_schema_json_principal_is_the_list)
{
    static const char properties[] = "\"properties\": {";
    char *schema = th_read("MTLSAUTHZ_TEST_DATA", "../../docs/policy.schema.json", NULL);
    char *p = strstr(schema, "\"principal\": {");
    char names[64][32];
    unsigned n;

    cr_assert_not_null(p, "docs/policy.schema.json has no principal definition");
    p = strstr(p, properties);
    cr_assert_not_null(p);
    n = json_keys(p + sizeof(properties) - 1, names, 64);
    cr_assert_eq(n, MTLSAUTHZ__KEY_COUNT + 1u,
                 "docs/policy.schema.json: a principal has %u properties, want name and the %u "
                 "keys",
                 n, (unsigned)MTLSAUTHZ__KEY_COUNT);
    cr_assert_str_eq(names[0], "name");
    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        cr_assert_str_eq(names[k + 1], mtlsauthz__key_names[k],
                         "docs/policy.schema.json: principal property %u", k + 2);
    }
    free(schema);
}
