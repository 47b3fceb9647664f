/*
 * The YAML front end: policy bytes → mtlsauthz__ast (policy_ast.h says what it guarantees).
 *
 * This is the only file that includes libcyaml. libcyaml's strict schema loader reads the
 * policy straight into the AST structs, but on its own it lets through input that must be
 * refused (measured with libcyaml 1.3.1): a scalar with an embedded NUL loads
 * truncated, a second document is silently ignored, an empty file loads as OK with NULL data,
 * and a future `version` fails as "unexpected key" before it can be checked. So each load is:
 *
 *   1. a size check, made before a byte of the input is read;
 *   2. one libyaml event pass (prepass_run): exactly one document, no alias and no anchor, no
 *      NUL inside a scalar, nesting within MTLSAUTHZ__YAML_MAX_DEPTH, no empty list, list
 *      lengths within the limits, the right kind of top-level node, and libyaml's own syntax
 *      errors reported with their line. It also records where each scalar that a semantic
 *      error can be about starts (ids, names, selector entries, operations, `sensitive`),
 *      since libcyaml keeps no positions and compile.c's messages name the line;
 *   3. a `version` pass with a one-key schema and CYAML_CFG_IGNORE_UNKNOWN_KEYS, so a future
 *      file is reported as an unsupported version rather than as an unknown key. The pre-pass
 *      sees the top-level `version` scalar; when it is exactly "1" this pass cannot fail, so
 *      it is skipped and a policy costs two parses, not three (the 100k-rule load of
 *      docs/performance.md);
 *   4. the strict schema load: unknown keys refused, enums CYAML_FLAG_STRICT, every list with
 *      min 1 and a max, names within MTLSAUTHZ__NAME_MAX_LEN, and CYAML_CFG_NO_ALIAS as a
 *      second guard behind the pre-pass.
 *
 * libcyaml reports schema errors only through its log callback, as a message line followed
 * by a backtrace ("  in mapping field 'rules' (line: 6, column: 3)"). Each load captures those
 * lines into a buffer on its own stack (never global state, so loads on different threads do
 * not mix), and schema_error() turns them into one readable line for mtlsauthz_error.
 *
 * All of libcyaml's allocations go through the library allocator (mem_fn), so the AST is
 * freed with cyaml_free() and the same schema. libyaml's own allocations bypass it.
 */
#include <stdio.h>
#include <string.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "policy_ast.h"

const char *const mtlsauthz__key_names[MTLSAUTHZ__KEY_COUNT] = {
    "cn",     "o",   "ou",  "dn",    "issuer", "serial", "sha256",
    "spiffe", "dns", "uri", "email", "ip",     "eku",
};

/* ---------------------------------------------------------------------------------------- */
/* Messages                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/*
 * A message under construction, built on the stack: an error path must still produce a
 * message when allocation is what failed.
 */
typedef struct msg {
    char s[MTLSAUTHZ_ERROR_MESSAGE_SIZE];
    size_t len;
} msg;

static void msg_init(msg *m)
{
    m->s[0] = '\0';
    m->len = 0;
}

/*
 * Appends at most `n` bytes of `p`. Control bytes become '?': quoted scalars can carry
 * newlines and escapes, and the message is one line of plain text.
 */
static void msg_putn(msg *m, const char *p, size_t n);

/* Starts a message with its prefix ("policy: "). */
static void msg_begin(msg *m, const char *what)
{
    msg_init(m);
    msg_putn(m, what, strlen(what));
    msg_putn(m, ": ", 2);
}

static void msg_putn(msg *m, const char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n && m->len + 1 < sizeof(m->s); i++) {
        unsigned char c = (unsigned char)p[i];
        m->s[m->len++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    m->s[m->len] = '\0';
}

static void msg_puts(msg *m, const char *s)
{
    msg_putn(m, s, strlen(s));
}

static void msg_printf(msg *m, const char *fmt, ...) MTLSAUTHZ__PRINTF(2, 3);
static void msg_printf(msg *m, const char *fmt, ...)
{
    char tmp[MTLSAUTHZ_ERROR_MESSAGE_SIZE];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    msg_putn(m, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Longest user-supplied text (a key, a value) quoted into a message, so the location that
 * follows it still fits in MTLSAUTHZ_ERROR_MESSAGE_SIZE. */
#define QUOTE_MAX 64u

/* Appends 'text' quoted, cut at QUOTE_MAX bytes. */
static void msg_quote(msg *m, const char *p, size_t n)
{
    msg_puts(m, "'");
    if (n > QUOTE_MAX) {
        msg_putn(m, p, QUOTE_MAX);
        msg_puts(m, "...");
    } else {
        msg_putn(m, p, n);
    }
    msg_puts(m, "'");
}

/* libyaml marks count from 0; people and libcyaml's backtraces count from 1. */
static void msg_mark(msg *m, const yaml_mark_t *mark)
{
    msg_printf(m, " (line: %zu, column: %zu)", mark->line + 1, mark->column + 1);
}

static int msg_fail(mtlsauthz_error *err, int code, const msg *m)
{
    return mtlsauthz__error_set(err, code, "%s", m->s);
}

/* ---------------------------------------------------------------------------------------- */
/* The libyaml pre-pass                                                                      */
/* ---------------------------------------------------------------------------------------- */

typedef enum doc_kind { DOC_POLICY, DOC_TESTS } doc_kind;

/* Keys of the policy's top-level mapping that the pre-pass treats specially. */
typedef enum top_key { TOP_OTHER = 0, TOP_VERSION, TOP_RULES, TOP_PRINCIPALS } top_key;

/* What a mapping is, for recording positions: the policy's top level, a rule, a principal. */
typedef enum map_role { ROLE_NONE = 0, ROLE_TOP, ROLE_RULE, ROLE_PRINCIPAL } map_role;

typedef struct frame {
    int is_map;
    int want_key;              /* mapping: the next node is a key */
    top_key key_class;         /* mapping: the current key, when this is the policy's top level */
    map_role role;             /* mapping: what it is; sequence: what its mapping entries are */
    mtlsauthz__posv *record;   /* mapping: where the current key's scalar value is recorded;
                                  sequence: where its scalar entries are (NULL: nowhere) */
    char key[QUOTE_MAX + 4];   /* mapping: the current key, printable and maybe cut ("...") */
    char owner[QUOTE_MAX + 4]; /* sequence: the key whose value it is ("" if none) */
    unsigned long count;       /* sequence: entries so far */
    unsigned long limit;       /* sequence: most entries allowed */
    yaml_mark_t start;
} frame;

typedef struct prepass {
    doc_kind kind;
    const char *what; /* "policy" or "tests": the message prefix */
    const char *noun; /* "policy" or "test file" */
    frame stack[MTLSAUTHZ__YAML_MAX_DEPTH];
    unsigned depth;
    unsigned ndocs;
    int saw_root;
    unsigned nversion;  /* top-level `version` keys seen */
    int version_is_one; /* the (last) one's value is exactly "1" */
    /*
     * The first schema-level finding (an empty list, a list over its limit). It is reported
     * only after the version check, so a future-version file that uses empty lists still gets
     * "unsupported version"; findings that are about safety (aliases, NULs, depth, documents,
     * syntax) stop the pass at once.
     */
    int deferred_code;
    msg deferred;
    msg root_error;             /* the top-level node is of the wrong kind (len > 0) */
    mtlsauthz__ast_where where; /* DOC_POLICY: positions of the scalars errors are about */
} prepass;

static void copy_key(char *dst, size_t dstsize, const char *p, size_t n)
{
    size_t i, keep = n < QUOTE_MAX ? n : QUOTE_MAX;
    for (i = 0; i < keep && i + 1 < dstsize; i++) {
        unsigned char c = (unsigned char)p[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n > keep && i + 4 <= dstsize) {
        memcpy(dst + i, "...", 3);
        i += 3;
    }
    dst[i] = '\0';
}

static int bytes_eq(const unsigned char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static void posv_free(mtlsauthz__posv *pv)
{
    mtlsauthz__free(pv->v);
    memset(pv, 0, sizeof(*pv));
}

static void where_free(mtlsauthz__ast_where *w)
{
    posv_free(&w->rule_ids);
    posv_free(&w->rule_principals);
    posv_free(&w->rule_operations);
    posv_free(&w->principal_names);
    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        posv_free(&w->keys[k]);
    }
    posv_free(&w->sensitive);
}

static uint32_t mark_u32(size_t v)
{
    return v >= UINT32_MAX ? UINT32_MAX : (uint32_t)v + 1u;
}

/* Appends a scalar's position. Once per recorded scalar of a 100k-rule policy: amortized
 * O(1), one realloc per doubling. */
static int posv_push(mtlsauthz__posv *pv, const yaml_mark_t *mark)
{
    if (pv->n == pv->cap) {
        size_t cap = pv->cap == 0 ? 64 : pv->cap * 2;
        mtlsauthz__pos *v = mtlsauthz__realloc(pv->v, cap * sizeof(*v));
        if (v == NULL) {
            return MTLSAUTHZ_ENOMEM;
        }
        pv->v = v;
        pv->cap = cap;
    }
    pv->v[pv->n].line = mark_u32(mark->line);
    pv->v[pv->n].column = mark_u32(mark->column);
    pv->n++;
    return 0;
}

/* Where the value of key `k` of a mapping with this role is recorded, if anywhere. */
static mtlsauthz__posv *record_for(prepass *pp, map_role role, const unsigned char *k, size_t n)
{
    switch (role) {
    case ROLE_TOP:
        return bytes_eq(k, n, "sensitive") ? &pp->where.sensitive : NULL;
    case ROLE_RULE:
        return bytes_eq(k, n, "operations")   ? &pp->where.rule_operations
               : bytes_eq(k, n, "principals") ? &pp->where.rule_principals
               : bytes_eq(k, n, "id")         ? &pp->where.rule_ids
                                              : NULL;
    case ROLE_PRINCIPAL:
        if (bytes_eq(k, n, "name")) {
            return &pp->where.principal_names;
        }
        for (unsigned i = 0; i < MTLSAUTHZ__KEY_COUNT; i++) {
            /* Once per key of every principal: the first byte rules out most names. */
            if (n > 0 && k[0] == (unsigned char)mtlsauthz__key_names[i][0] &&
                bytes_eq(k, n, mtlsauthz__key_names[i])) {
                return &pp->where.keys[i];
            }
        }
        return NULL;
    default:
        return NULL;
    }
}

static inline int record_scalar(prepass *pp, mtlsauthz__posv *pv, const yaml_event_t *ev,
                                mtlsauthz_error *err)
{
    if (pv == NULL || ev->type != YAML_SCALAR_EVENT) {
        return 0;
    }
    if (posv_push(pv, &ev->start_mark) != 0) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "%s: out of memory", pp->what);
    }
    return 0;
}

/* Describes where a node sits ("the value of key 'id'"), for messages. */
static void msg_where(msg *m, const prepass *pp)
{
    const frame *parent;
    if (pp->depth == 0) {
        msg_puts(m, "the top-level node");
        return;
    }
    parent = &pp->stack[pp->depth - 1];
    if (parent->is_map && parent->want_key) {
        msg_puts(m, "a mapping key");
    } else if (parent->is_map) {
        msg_printf(m, "the value of key '%s'", parent->key);
    } else if (parent->owner[0] != '\0') {
        msg_printf(m, "an entry of '%s'", parent->owner);
    } else {
        msg_puts(m, "a list entry");
    }
}

/* libyaml's own errors: syntax, encoding, memory. */
static int parser_error(const prepass *pp, const yaml_parser_t *parser, const char *yaml,
                        size_t len, mtlsauthz_error *err)
{
    msg m;
    msg_begin(&m, pp->what);
    switch (parser->error) {
    case YAML_MEMORY_ERROR:
        msg_puts(&m, "out of memory while parsing YAML");
        return msg_fail(err, MTLSAUTHZ_ENOMEM, &m);
    case YAML_READER_ERROR: {
        /* Reader errors carry a byte offset, not a mark: count the lines ourselves. */
        yaml_mark_t mark = {0, 0, 0};
        size_t i, line_start = 0, off = parser->problem_offset < len ? parser->problem_offset : len;
        for (i = 0; i < off; i++) {
            if (yaml[i] == '\n') {
                mark.line++;
                mark.column = 0;
                line_start = i + 1;
            } else {
                mark.column++;
            }
        }
        if (off < len && yaml[off] == '\0') {
            /* A raw NUL byte: refused like an escaped one, by name. Reader errors
             * come before the events that would say which key this is, so quote the line. */
            while (line_start < off && (yaml[line_start] == ' ' || yaml[line_start] == '\t')) {
                line_start++;
            }
            msg_puts(&m, "NUL byte in the input");
            if (off > line_start) {
                msg_puts(&m, " after ");
                msg_quote(&m, yaml + line_start, off - line_start);
            }
        } else {
            msg_puts(&m, "not valid YAML: ");
            msg_puts(&m, parser->problem != NULL ? parser->problem : "unreadable input");
        }
        msg_mark(&m, &mark);
        return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
    }
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
        msg_puts(&m, "not valid YAML: ");
        msg_puts(&m, parser->problem != NULL ? parser->problem : "syntax error");
        msg_mark(&m, &parser->problem_mark);
        if (parser->context != NULL) {
            msg_puts(&m, " ");
            msg_puts(&m, parser->context);
            msg_mark(&m, &parser->context_mark);
        }
        return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
    default:
        msg_puts(&m, "not valid YAML");
        return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
    }
}

static void defer(prepass *pp, int code, const msg *m)
{
    if (pp->deferred_code == 0) {
        pp->deferred_code = code;
        pp->deferred = *m;
    }
}

static unsigned long seq_limit(const prepass *pp)
{
    const frame *parent;
    if (pp->depth == 0) {
        return MTLSAUTHZ__POLICY_MAX_LIST; /* the test-case list */
    }
    parent = &pp->stack[pp->depth - 1];
    if (pp->kind == DOC_POLICY && pp->depth == 1 && parent->is_map) {
        if (parent->key_class == TOP_RULES) {
            return MTLSAUTHZ__POLICY_MAX_RULES;
        }
        if (parent->key_class == TOP_PRINCIPALS) {
            return MTLSAUTHZ__POLICY_MAX_PRINCIPALS;
        }
    }
    return MTLSAUTHZ__POLICY_MAX_LIST;
}

/*
 * Checks a node (scalar, or the start of a sequence or mapping) against its parent: counts
 * list entries, records mapping keys, and checks the top-level node's kind.
 */
static int prepass_node(prepass *pp, const yaml_event_t *ev, mtlsauthz_error *err)
{
    frame *parent;
    msg m;

    /* Hot path (once per node of a 100k-rule policy): messages are built only on error. */
    if (pp->depth == 0) {
        int want_map = pp->kind == DOC_POLICY;
        const char *got = ev->type == YAML_SCALAR_EVENT          ? "a scalar"
                          : ev->type == YAML_MAPPING_START_EVENT ? "a mapping"
                                                                 : "a list";
        pp->saw_root = 1;
        if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == 0 &&
            ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            /* A bare "---": a document with nothing in it. */
            msg_begin(&m, pp->what);
            msg_printf(&m, "empty %s: the document has no content", pp->noun);
            return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
        }
        /* Kept until the pass ends, so that "[unclosed" reads as a syntax error. */
        if (want_map && ev->type != YAML_MAPPING_START_EVENT) {
            msg_begin(&pp->root_error, pp->what);
            msg_printf(&pp->root_error,
                       "the top level must be a mapping (version, principals, rules), not %s", got);
            msg_mark(&pp->root_error, &ev->start_mark);
        }
        if (!want_map && ev->type != YAML_SEQUENCE_START_EVENT) {
            msg_begin(&pp->root_error, pp->what);
            msg_printf(&pp->root_error, "the top level must be a list of test cases, not %s", got);
            msg_mark(&pp->root_error, &ev->start_mark);
        }
        return 0;
    }

    parent = &pp->stack[pp->depth - 1];
    if (parent->is_map && parent->want_key) {
        const unsigned char *k = ev->data.scalar.value;
        size_t n = ev->data.scalar.length;
        if (ev->type != YAML_SCALAR_EVENT) {
            msg_begin(&m, pp->what);
            msg_puts(&m, "a mapping key must be a plain string, not a list or mapping");
            msg_mark(&m, &ev->start_mark);
            return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
        }
        copy_key(parent->key, sizeof(parent->key), (const char *)k, n);
        parent->key_class = TOP_OTHER;
        if (pp->kind == DOC_POLICY && pp->depth == 1) {
            parent->key_class = bytes_eq(k, n, "version")      ? TOP_VERSION
                                : bytes_eq(k, n, "rules")      ? TOP_RULES
                                : bytes_eq(k, n, "principals") ? TOP_PRINCIPALS
                                                               : TOP_OTHER;
        }
        parent->record = record_for(pp, parent->role, k, n);
        parent->want_key = 0;
        return 0;
    }
    if (parent->is_map) {
        if (parent->key_class == TOP_VERSION) {
            pp->nversion++;
            pp->version_is_one = ev->type == YAML_SCALAR_EVENT &&
                                 bytes_eq(ev->data.scalar.value, ev->data.scalar.length, "1");
        }
        /* After this value (however deep it goes) the mapping wants its next key. The child
         * frames of a collection value sit above this one, so flipping it now is safe. */
        parent->want_key = 1;
        return record_scalar(pp, parent->record, ev, err);
    }
    if (parent->count == parent->limit && pp->deferred_code == 0) {
        msg_begin(&m, pp->what);
        msg_puts(&m, "too many entries in ");
        if (parent->owner[0] != '\0') {
            msg_printf(&m, "'%s'", parent->owner);
        } else {
            msg_puts(&m, "the list");
        }
        msg_printf(&m, " (the limit is %lu)", parent->limit);
        msg_mark(&m, &ev->start_mark);
        defer(pp, MTLSAUTHZ_ELIMIT, &m);
    }
    if (parent->count < parent->limit) {
        parent->count++;
    }
    return record_scalar(pp, parent->record, ev, err);
}

static int prepass_scalar(prepass *pp, const yaml_event_t *ev, mtlsauthz_error *err)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    /* libcyaml copies scalars with strlen, so "host:\0**" would load as "host:" and widen a
     * pattern. Refuse any scalar whose length and strlen disagree. */
    if (strnlen(v, n) != n) {
        msg m;
        size_t prefix = strnlen(v, n);
        msg_init(&m);
        msg_printf(&m, "%s: NUL byte in ", pp->what);
        msg_where(&m, pp);
        if (prefix > 0) {
            msg_puts(&m, " after ");
            msg_quote(&m, v, prefix);
        }
        msg_mark(&m, &ev->start_mark);
        return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
    }
    return prepass_node(pp, ev, err);
}

static int prepass_push(prepass *pp, const yaml_event_t *ev, mtlsauthz_error *err)
{
    frame *f;
    int rc;
    if (pp->depth >= MTLSAUTHZ__YAML_MAX_DEPTH) {
        msg m;
        msg_init(&m);
        msg_printf(&m, "%s: YAML nested deeper than %u levels", pp->what,
                   MTLSAUTHZ__YAML_MAX_DEPTH);
        msg_mark(&m, &ev->start_mark);
        return msg_fail(err, MTLSAUTHZ_ELIMIT, &m);
    }
    rc = prepass_node(pp, ev, err);
    if (rc != 0) {
        return rc;
    }
    f = &pp->stack[pp->depth];
    memset(f, 0, sizeof(*f));
    f->start = ev->start_mark;
    if (ev->type == YAML_MAPPING_START_EVENT) {
        f->is_map = 1;
        f->want_key = 1;
        if (pp->depth == 0) {
            f->role = pp->kind == DOC_POLICY ? ROLE_TOP : ROLE_NONE;
        } else if (!pp->stack[pp->depth - 1].is_map) {
            f->role = pp->stack[pp->depth - 1].role;
        }
    } else {
        f->limit = seq_limit(pp);
        if (pp->depth > 0 && pp->stack[pp->depth - 1].is_map) {
            const frame *parent = &pp->stack[pp->depth - 1];
            memcpy(f->owner, parent->key, sizeof(f->owner));
            f->record = parent->record;
            if (parent->role == ROLE_TOP) {
                f->role = parent->key_class == TOP_RULES        ? ROLE_RULE
                          : parent->key_class == TOP_PRINCIPALS ? ROLE_PRINCIPAL
                                                                : ROLE_NONE;
            }
        }
    }
    pp->depth++;
    return 0;
}

static void prepass_pop(prepass *pp, const yaml_event_t *ev)
{
    frame *f = &pp->stack[pp->depth - 1];
    if (ev->type == YAML_SEQUENCE_END_EVENT && f->count == 0 && pp->deferred_code == 0) {
        /* libcyaml loads `cn: []` exactly like an absent key; an empty list is a mistake
         * (a selector or rule that silently means something else), so name it. */
        msg m;
        msg_init(&m);
        if (pp->depth == 1) {
            msg_printf(&m, "%s: empty list: there are no test cases", pp->what);
        } else if (f->owner[0] != '\0') {
            msg_printf(&m, "%s: empty list for key '%s'; a list needs at least one entry", pp->what,
                       f->owner);
        } else {
            msg_printf(&m, "%s: empty list; a list needs at least one entry", pp->what);
        }
        msg_mark(&m, &f->start);
        defer(pp, MTLSAUTHZ_EPOLICY, &m);
    }
    pp->depth--;
}

static int prepass_event(prepass *pp, const yaml_event_t *ev, mtlsauthz_error *err)
{
    const unsigned char *anchor = NULL;
    msg m;
    msg_init(&m);

    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        break;
    default:
        break;
    }
    if (anchor != NULL) {
        /* Anchors exist only to be aliased, and aliases are refused; saying so at the anchor
         * is clearer than at the first alias. */
        msg_printf(&m, "%s: YAML anchor '&%s' is not allowed (no anchors or aliases)", pp->what,
                   (const char *)anchor);
        msg_mark(&m, &ev->start_mark);
        return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
    }

    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++pp->ndocs > 1) {
            /* libcyaml silently ignores every document after the first. */
            msg_printf(&m, "%s: a second YAML document starts here; a %s is exactly one document",
                       pp->what, pp->noun);
            msg_mark(&m, &ev->start_mark);
            return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
        }
        return 0;
    case YAML_ALIAS_EVENT:
        /* Refused here, before libcyaml could expand anything: a "billion laughs" bomb fails
         * at its first alias. */
        msg_printf(&m, "%s: YAML alias '*%s' is not allowed (no anchors or aliases)", pp->what,
                   (const char *)ev->data.alias.anchor);
        msg_mark(&m, &ev->start_mark);
        return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
    case YAML_SCALAR_EVENT:
        return prepass_scalar(pp, ev, err);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return prepass_push(pp, ev, err);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        prepass_pop(pp, ev);
        return 0;
    default:
        return 0;
    }
}

/* True for input of only spaces, tabs and line breaks (libyaml refuses a tab-only line as a
 * token, but an operator would call that file empty). Stops at the first other byte. */
static int all_blank(const char *p, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') {
            return 0;
        }
    }
    return 1;
}

/* Every check made before libcyaml sees the input (steps 1 and 2 at the top of this file). */
static int prepass_run(prepass *pp, doc_kind kind, const char *yaml, size_t len,
                       mtlsauthz_error *err)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = 0, done = 0;

    memset(pp, 0, sizeof(*pp));
    pp->kind = kind;
    pp->what = kind == DOC_POLICY ? "policy" : "tests";
    pp->noun = kind == DOC_POLICY ? "policy" : "test file";

    if (yaml == NULL && len > 0) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "%s: NULL input", pp->what);
    }
    /* Before reading a byte: the limit must hold however long the caller says the input is. */
    if (len > MTLSAUTHZ__POLICY_MAX_BYTES) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                    "%s: %zu bytes is over the size limit of %u bytes", pp->what,
                                    len, MTLSAUTHZ__POLICY_MAX_BYTES);
    }
    if (all_blank(yaml, len)) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EPOLICY, "%s: empty %s (the input is blank)",
                                    pp->what, pp->noun);
    }

    if (!yaml_parser_initialize(&parser)) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "%s: out of memory", pp->what);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_error(pp, &parser, yaml, len, err);
            goto out;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = prepass_event(pp, &ev, err);
        yaml_event_delete(&ev);
        if (rc != 0) {
            goto out;
        }
    }
    if (pp->root_error.len > 0) {
        rc = msg_fail(err, MTLSAUTHZ_EPOLICY, &pp->root_error);
    } else if (pp->ndocs == 0 || !pp->saw_root) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_EPOLICY,
                                  "%s: empty %s: the input has no YAML content (only whitespace "
                                  "or comments)",
                                  pp->what, pp->noun);
    }
out:
    yaml_parser_delete(&parser);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* libcyaml: configuration and log capture                                                   */
/* ---------------------------------------------------------------------------------------- */

#define CAPTURE_LINES 8u
#define CAPTURE_LINE_MAX 256u

/* libcyaml's error-level log lines for one load: the message, then its backtrace. */
typedef struct capture {
    char lines[CAPTURE_LINES][CAPTURE_LINE_MAX];
    unsigned n;
} capture;

static void capture_log(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    capture *cap = ctx;
    char *line;
    size_t len;
    if (level < CYAML_LOG_ERROR || cap == NULL || cap->n >= CAPTURE_LINES) {
        return;
    }
    line = cap->lines[cap->n];
    if (vsnprintf(line, CAPTURE_LINE_MAX, fmt, args) < 0) {
        return;
    }
    len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        line[--len] = '\0';
    }
    cap->n++;
}

static void *cyaml_mem_fn(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (size == 0) {
        mtlsauthz__free(ptr);
        return NULL;
    }
    return mtlsauthz__realloc(ptr, size);
}

static void config_init(cyaml_config_t *cfg, capture *cap, cyaml_cfg_flags_t extra)
{
    memset(cfg, 0, sizeof(*cfg));
    if (cap != NULL) {
        cap->n = 0;
        cfg->log_fn = capture_log;
        cfg->log_ctx = cap;
    }
    cfg->mem_fn = cyaml_mem_fn;
    cfg->mem_ctx = NULL;
    /* The backtrace comes at error level too, so nothing below it is needed; debug logging
     * would cost a callback per event on a 100k-rule policy. */
    cfg->log_level = CYAML_LOG_ERROR;
    cfg->flags = (cyaml_cfg_flags_t)(CYAML_CFG_NO_ALIAS | extra);
}

/* ---------------------------------------------------------------------------------------- */
/* Turning libcyaml's log into one message                                                   */
/* ---------------------------------------------------------------------------------------- */

static const char *skip_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* The field named by a backtrace line "in mapping field 'effect' (line...". */
static int backtrace_field(const char *line, char *out, size_t outsize)
{
    const char *p = skip_prefix(line, "in mapping field '");
    const char *q;
    size_t n;
    if (p == NULL || (q = strchr(p, '\'')) == NULL) {
        return 0;
    }
    n = (size_t)(q - p);
    copy_key(out, outsize, p, n);
    return 1;
}

/* The accepted strings of each enum key, for "invalid value" messages. */
static const char *enum_choices(const char *field)
{
    if (strcmp(field, "effect") == 0) {
        return "allow or deny";
    }
    if (strcmp(field, "expect") == 0) {
        return "allow, deny or error";
    }
    if (strcmp(field, "mode") == 0) {
        return "enforce or dry-run";
    }
    if (strcmp(field, "protocol") == 0) {
        return "http or any";
    }
    return NULL;
}

/* libcyaml's names for schema types and libyaml events, as people say them. */
static const char *kind_words(const char *s, size_t n)
{
    static const struct {
        const char *name;
        const char *words;
    } words[] = {
        {"SEQUENCE", "a list"},         {"SEQUENCE_START", "a list"}, {"MAPPING", "a mapping"},
        {"MAPPING_START", "a mapping"}, {"SCALAR", "a scalar"},       {"STRING", "a string"},
        {"ENUM", "a string"},           {"UINT", "a number"},         {"INT", "a number"},
        {"BOOL", "a boolean"},          {"ALIAS", "an alias"},
    };
    size_t i;
    for (i = 0; i < MTLSAUTHZ__ARRAY_LEN(words); i++) {
        if (strlen(words[i].name) == n && memcmp(words[i].name, s, n) == 0) {
            return words[i].words;
        }
    }
    return NULL;
}

/*
 * Rewrites libcyaml's message line (without "Load: ") into `m`. `field` is the innermost
 * mapping field of the backtrace ("" if none). Sets *skip_first when the backtrace's first
 * line points at the wrong place.
 */
static void translate(msg *m, const char *line, const char *field, int *skip_first)
{
    const char *rest;
    unsigned a, b;

    if ((rest = skip_prefix(line, "Unexpected key: ")) != NULL) {
        msg_puts(m, "unexpected key ");
        msg_quote(m, rest, strlen(rest));
    } else if ((rest = skip_prefix(line, "Mapping field already seen: ")) != NULL) {
        msg_puts(m, "duplicate key ");
        msg_quote(m, rest, strlen(rest));
    } else if ((rest = skip_prefix(line, "Missing required mapping field: ")) != NULL) {
        msg_puts(m, "missing key ");
        msg_quote(m, rest, strlen(rest));
        /* The check runs at the mapping's end, when the "current field" is merely the last
         * one read: leave that line out. */
        *skip_first = 1;
    } else if ((rest = skip_prefix(line, "Invalid ")) != NULL && strstr(rest, " value: ")) {
        const char *type_end = strstr(rest, " value: ");
        const char *val = type_end + strlen(" value: ");
        size_t vlen = strlen(val);
        const char *choices = enum_choices(field);
        if (vlen >= 2 && val[0] == '\'' && val[vlen - 1] == '\'') {
            val++;
            vlen -= 2;
        }
        msg_puts(m, "invalid value ");
        msg_quote(m, val, vlen);
        if (field[0] != '\0') {
            msg_printf(m, " for '%s'", field);
        }
        if (choices != NULL) {
            msg_printf(m, " (expected %s)", choices);
        } else if (strstr(rest, "int") != NULL || strstr(rest, "INT") != NULL) {
            msg_puts(m, " (expected a non-negative whole number)");
        }
    } else if ((rest = skip_prefix(line, "Expecting ")) != NULL && strstr(rest, ", got event: ")) {
        const char *sep = strstr(rest, ", got event: ");
        const char *got = sep + strlen(", got event: ");
        const char *want_w = kind_words(rest, (size_t)(sep - rest));
        const char *got_w = kind_words(got, strlen(got));
        const char *choices = enum_choices(field);
        if (field[0] != '\0') {
            msg_printf(m, "'%s' must be ", field);
        } else {
            msg_puts(m, "this entry must be ");
        }
        if (choices != NULL) {
            msg_puts(m, choices);
        } else if (want_w != NULL) {
            msg_puts(m, want_w);
        } else {
            msg_putn(m, rest, (size_t)(sep - rest));
        }
        msg_puts(m, ", not ");
        msg_puts(m, got_w != NULL ? got_w : got);
    } else if (sscanf(line, "Insufficient entries (%u of %u min)", &a, &b) == 2) {
        msg_puts(m, "empty list");
        if (field[0] != '\0') {
            msg_printf(m, " for key '%s'", field);
        }
    } else if (sscanf(line, "Excessive entries (%u max)", &a) == 1) {
        msg_printf(m, "too many entries (the limit is %u)", a);
    } else if (sscanf(line, "STRING length < %u:", &a) == 1) {
        if (field[0] != '\0') {
            msg_printf(m, "'%s' ", field);
        }
        msg_puts(m, "must not be empty");
    } else if (sscanf(line, "STRING length > %u:", &a) == 1) {
        if (field[0] != '\0') {
            msg_printf(m, "'%s' ", field);
        }
        msg_printf(m, "is longer than %u bytes", a);
    } else {
        /* Anything else: libcyaml's own words, which name the problem. */
        msg_puts(m, line);
    }
}

static int schema_error(const char *what, cyaml_err_t cerr, const capture *cap,
                        mtlsauthz_error *err)
{
    const char *main_line = NULL;
    const char *trace[CAPTURE_LINES];
    unsigned i, ntrace = 0, first = 0;
    char field[QUOTE_MAX + 4] = "";
    int code, skip_first = 0;
    msg m;

    switch (cerr) {
    case CYAML_ERR_OOM:
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "%s: out of memory", what);
    case CYAML_ERR_SEQUENCE_ENTRIES_MAX:
    case CYAML_ERR_STRING_LENGTH_MAX:
        code = MTLSAUTHZ_ELIMIT;
        break;
    case CYAML_ERR_INVALID_KEY:
    case CYAML_ERR_INVALID_VALUE:
    case CYAML_ERR_INVALID_ALIAS:
    case CYAML_ERR_ALIAS:
    case CYAML_ERR_UNEXPECTED_EVENT:
    case CYAML_ERR_STRING_LENGTH_MIN:
    case CYAML_ERR_SEQUENCE_ENTRIES_MIN:
    case CYAML_ERR_MAPPING_FIELD_MISSING:
    case CYAML_ERR_LIBYAML_PARSER:
        code = MTLSAUTHZ_EPOLICY;
        break;
    default:
        /* Schema or parameter errors: ours, not the policy author's. */
        code = MTLSAUTHZ_EINTERNAL;
        break;
    }

    for (i = 0; i < cap->n; i++) {
        const char *line = cap->lines[i];
        const char *rest = skip_prefix(line, "Load: ");
        if (line[0] == ' ') {
            while (*line == ' ') {
                line++;
            }
            if (main_line != NULL) {
                trace[ntrace++] = line;
            }
        } else if (rest != NULL && strcmp(rest, "Backtrace:") == 0) {
            continue;
        } else if (main_line == NULL) {
            main_line = rest != NULL ? rest : line;
        }
    }

    /* For a list below its minimum, libcyaml's first line is the phantom entry it was waiting
     * for ("in sequence entry '0'"); the list's own key is on the next line. */
    if (main_line != NULL && skip_prefix(main_line, "Insufficient entries") != NULL && ntrace > 1 &&
        skip_prefix(trace[0], "in sequence entry ") != NULL) {
        first = 1;
    }
    if (ntrace > first) {
        backtrace_field(trace[first], field, sizeof(field));
    }
    msg_init(&m);
    msg_printf(&m, "%s: ", what);
    if (main_line != NULL) {
        translate(&m, main_line, field, &skip_first);
    } else {
        /* No log line (should not happen): still say which schema check failed. */
        msg_printf(&m, "rejected by the schema (%s)", cyaml_strerror(cerr));
    }
    if (skip_first && first == 0 && ntrace > 0 &&
        skip_prefix(trace[0], "in mapping field ") != NULL) {
        first = 1;
    }
    for (i = first; i < ntrace; i++) {
        msg_puts(&m, i == first ? " " : ", ");
        msg_puts(&m, trace[i]);
    }
    return msg_fail(err, code, &m);
}

/* ---------------------------------------------------------------------------------------- */
/* Policy schema                                                                             */
/* ---------------------------------------------------------------------------------------- */

/* Patterns and operations: length limits belong to compile.c, which knows which is which. */
static const cyaml_schema_value_t string_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

/* Principal names inside a rule's `principals`: the same limit as the names they refer to. */
static const cyaml_schema_value_t name_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 1, MTLSAUTHZ__NAME_MAX_LEN),
};

/* A list of strings written straight into an mtlsauthz__strv member. min 1 is a second guard
 * behind the pre-pass's empty-list check. */
#define STRV_FIELD(key_, flags_, type_, member_, entry_, max_)                                     \
    {                                                                                              \
        .key = (key_), .data_offset = offsetof(type_, member_.v),                                  \
        .count_offset = offsetof(type_, member_.n),                                                \
        .count_size = sizeof(((type_ *)NULL)->member_.n),                                          \
        .value = {                                                                                 \
            CYAML_VALUE_SEQUENCE((flags_) | CYAML_FLAG_POINTER, char *, (entry_), 1, (max_))},     \
    }

#define SELECTOR_FIELD(name_, idx_)                                                                \
    STRV_FIELD(name_, CYAML_FLAG_OPTIONAL, mtlsauthz__ast_principal, keys[idx_], &string_entry,    \
               MTLSAUTHZ__POLICY_MAX_LIST)

static const cyaml_schema_field_t principal_fields[] = {
    CYAML_FIELD_STRING_PTR("name", CYAML_FLAG_DEFAULT, mtlsauthz__ast_principal, name, 1,
                           MTLSAUTHZ__NAME_MAX_LEN),
    SELECTOR_FIELD("cn", MTLSAUTHZ__KEY_CN),
    SELECTOR_FIELD("o", MTLSAUTHZ__KEY_O),
    SELECTOR_FIELD("ou", MTLSAUTHZ__KEY_OU),
    SELECTOR_FIELD("dn", MTLSAUTHZ__KEY_DN),
    SELECTOR_FIELD("issuer", MTLSAUTHZ__KEY_ISSUER),
    SELECTOR_FIELD("serial", MTLSAUTHZ__KEY_SERIAL),
    SELECTOR_FIELD("sha256", MTLSAUTHZ__KEY_SHA256),
    SELECTOR_FIELD("spiffe", MTLSAUTHZ__KEY_SPIFFE),
    SELECTOR_FIELD("dns", MTLSAUTHZ__KEY_DNS),
    SELECTOR_FIELD("uri", MTLSAUTHZ__KEY_URI),
    SELECTOR_FIELD("email", MTLSAUTHZ__KEY_EMAIL),
    SELECTOR_FIELD("ip", MTLSAUTHZ__KEY_IP),
    SELECTOR_FIELD("eku", MTLSAUTHZ__KEY_EKU),
    CYAML_FIELD_END,
};

/* One field per selector key, plus `name` and the terminator. */
_Static_assert(MTLSAUTHZ__ARRAY_LEN(principal_fields) == MTLSAUTHZ__KEY_COUNT + 2,
               "principal_fields must list every selector key");

static const cyaml_strval_t effect_strings[] = {
    {"allow", MTLSAUTHZ__ALLOW},
    {"deny", MTLSAUTHZ__DENY},
};

static const cyaml_strval_t mode_strings[] = {
    {"enforce", MTLSAUTHZ__ENFORCE},
    {"dry-run", MTLSAUTHZ__DRY_RUN},
};

static const cyaml_schema_field_t rule_fields[] = {
    CYAML_FIELD_STRING_PTR("id", CYAML_FLAG_DEFAULT, mtlsauthz__ast_rule, id, 1,
                           MTLSAUTHZ__NAME_MAX_LEN),
    /* STRICT: without it libcyaml takes `effect: 1` as the enum's numeric value. */
    CYAML_FIELD_ENUM("effect", CYAML_FLAG_STRICT, mtlsauthz__ast_rule, effect, effect_strings,
                     CYAML_ARRAY_LEN(effect_strings)),
    CYAML_FIELD_ENUM("mode", CYAML_FLAG_STRICT | CYAML_FLAG_OPTIONAL, mtlsauthz__ast_rule, mode,
                     mode_strings, CYAML_ARRAY_LEN(mode_strings)),
    STRV_FIELD("principals", CYAML_FLAG_DEFAULT, mtlsauthz__ast_rule, principals, &name_entry,
               MTLSAUTHZ__POLICY_MAX_LIST),
    STRV_FIELD("operations", CYAML_FLAG_DEFAULT, mtlsauthz__ast_rule, operations, &string_entry,
               MTLSAUTHZ__POLICY_MAX_LIST),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t principal_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, mtlsauthz__ast_principal, principal_fields),
};

static const cyaml_schema_value_t rule_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, mtlsauthz__ast_rule, rule_fields),
};

static const cyaml_strval_t protocol_strings[] = {
    {"any", MTLSAUTHZ__PROTOCOL_ANY},
    {"http", MTLSAUTHZ__PROTOCOL_HTTP},
};

static const cyaml_schema_field_t policy_fields[] = {
    CYAML_FIELD_UINT("version", CYAML_FLAG_DEFAULT, mtlsauthz__ast, version),
    CYAML_FIELD_ENUM("protocol", CYAML_FLAG_STRICT | CYAML_FLAG_OPTIONAL, mtlsauthz__ast, protocol,
                     protocol_strings, CYAML_ARRAY_LEN(protocol_strings)),
    STRV_FIELD("sensitive", CYAML_FLAG_OPTIONAL, mtlsauthz__ast, sensitive, &string_entry,
               MTLSAUTHZ__POLICY_MAX_LIST),
    /* Optional: a policy whose rules all use "*" needs no principals (policy_ast.h). */
    {
        .key = "principals",
        .data_offset = offsetof(mtlsauthz__ast, principals),
        .count_offset = offsetof(mtlsauthz__ast, nprincipals),
        .count_size = sizeof(((mtlsauthz__ast *)NULL)->nprincipals),
        .value = {CYAML_VALUE_SEQUENCE(CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
                                       mtlsauthz__ast_principal, &principal_schema, 1,
                                       MTLSAUTHZ__POLICY_MAX_PRINCIPALS)},
    },
    {
        .key = "rules",
        .data_offset = offsetof(mtlsauthz__ast, rules),
        .count_offset = offsetof(mtlsauthz__ast, nrules),
        .count_size = sizeof(((mtlsauthz__ast *)NULL)->nrules),
        .value = {CYAML_VALUE_SEQUENCE(CYAML_FLAG_POINTER, mtlsauthz__ast_rule, &rule_schema, 1,
                                       MTLSAUTHZ__POLICY_MAX_RULES)},
    },
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t policy_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, mtlsauthz__ast, policy_fields),
};

/* The version pass: `version` alone, every other key ignored. */
typedef struct version_only {
    unsigned version;
} version_only;

static const cyaml_schema_field_t version_fields[] = {
    CYAML_FIELD_UINT("version", CYAML_FLAG_DEFAULT, version_only, version),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t version_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, version_only, version_fields),
};

#define POLICY_VERSION 1u

static int version_error(unsigned version, mtlsauthz_error *err)
{
    return mtlsauthz__error_set(err, MTLSAUTHZ_EVERSION,
                                "policy: unsupported policy version %u (this library reads "
                                "version %u)",
                                version, POLICY_VERSION);
}

static int version_pass(const char *yaml, size_t len, mtlsauthz_error *err)
{
    cyaml_config_t cfg;
    capture cap;
    version_only *v = NULL;
    cyaml_err_t cerr;
    int rc;

    config_init(&cfg, &cap, CYAML_CFG_IGNORE_UNKNOWN_KEYS);
    cerr = cyaml_load_data((const uint8_t *)yaml, len, &cfg, &version_schema, (cyaml_data_t **)&v,
                           NULL);
    if (cerr != CYAML_OK) {
        return schema_error("policy", cerr, &cap, err);
    }
    if (v == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EPOLICY, "policy: missing key 'version'");
    }
    rc = v->version == POLICY_VERSION ? 0 : version_error(v->version, err);
    cyaml_free(&cfg, &version_schema, v, 0);
    return rc;
}

static int where_agrees(const mtlsauthz__ast_where *w, const mtlsauthz__ast *ast);

int mtlsauthz__ast_load(mtlsauthz__ast **out, const char *yaml, size_t len, mtlsauthz_error *err)
{
    cyaml_config_t cfg;
    capture cap;
    prepass pp;
    mtlsauthz__ast *ast = NULL;
    cyaml_err_t cerr;
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "policy: no output pointer");
    }
    *out = NULL;
    rc = prepass_run(&pp, DOC_POLICY, yaml, len, err);
    if (rc != 0) {
        goto fail;
    }
    if (pp.nversion != 1 || !pp.version_is_one) {
        rc = version_pass(yaml, len, err);
        if (rc != 0) {
            goto fail;
        }
    }
    if (pp.deferred_code != 0) {
        rc = msg_fail(err, pp.deferred_code, &pp.deferred);
        goto fail;
    }

    config_init(&cfg, &cap, CYAML_CFG_DEFAULT);
    cerr = cyaml_load_data((const uint8_t *)yaml, len, &cfg, &policy_schema, (cyaml_data_t **)&ast,
                           NULL);
    if (cerr != CYAML_OK) {
        rc = schema_error("policy", cerr, &cap, err);
        goto fail;
    }
    if (ast == NULL) {
        /* libcyaml returns OK with NULL data for a document with no content; the pre-pass
         * refuses those, so this is a second guard. */
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_EPOLICY, "policy: empty policy");
        goto fail;
    }
    /* libcyaml leaves fields outside the schema as they were; set ours before anything can
     * free the AST. */
    memset(&ast->where, 0, sizeof(ast->where));
    if (ast->version != POLICY_VERSION) {
        rc = version_error(ast->version, err);
        goto fail;
    }
    if (where_agrees(&pp.where, ast)) {
        ast->where = pp.where;
        memset(&pp.where, 0, sizeof(pp.where));
    }
    where_free(&pp.where);
    *out = ast;
    return 0;

fail:
    where_free(&pp.where);
    mtlsauthz__ast_free(ast);
    return rc;
}

void mtlsauthz__ast_free(mtlsauthz__ast *ast)
{
    cyaml_config_t cfg;
    if (ast == NULL) {
        return;
    }
    where_free(&ast->where);
    config_init(&cfg, NULL, CYAML_CFG_DEFAULT);
    cyaml_free(&cfg, &policy_schema, ast, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* Positions                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/*
 * 1 if the pre-pass recorded exactly as many scalars per list as libcyaml loaded. They agree
 * whenever the schema load succeeds (each recorded scalar is one libcyaml stores, in the same
 * order); this is the guard that keeps a wrong line out of a message if they ever did not.
 */
static int where_agrees(const mtlsauthz__ast_where *w, const mtlsauthz__ast *ast)
{
    size_t ops = 0, refs = 0, keys[MTLSAUTHZ__KEY_COUNT] = {0};
    for (unsigned i = 0; i < ast->nrules; i++) {
        ops += ast->rules[i].operations.n;
        refs += ast->rules[i].principals.n;
    }
    for (unsigned i = 0; i < ast->nprincipals; i++) {
        for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
            keys[k] += ast->principals[i].keys[k].n;
        }
    }
    for (unsigned k = 0; k < MTLSAUTHZ__KEY_COUNT; k++) {
        if (w->keys[k].n != keys[k]) {
            return 0;
        }
    }
    return w->rule_ids.n == ast->nrules && w->rule_operations.n == ops &&
           w->rule_principals.n == refs && w->principal_names.n == ast->nprincipals &&
           w->sensitive.n == ast->sensitive.n;
}

static mtlsauthz__pos pos_at(const mtlsauthz__posv *pv, size_t i)
{
    static const mtlsauthz__pos unknown = {0, 0};
    return i < pv->n ? pv->v[i] : unknown;
}

mtlsauthz__pos mtlsauthz__ast_rule_id_pos(const mtlsauthz__ast *ast, unsigned rule)
{
    return pos_at(&ast->where.rule_ids, rule);
}

mtlsauthz__pos mtlsauthz__ast_rule_principal_pos(const mtlsauthz__ast *ast, unsigned rule,
                                                 unsigned j)
{
    size_t at = j;
    for (unsigned i = 0; i < rule && i < ast->nrules; i++) {
        at += ast->rules[i].principals.n;
    }
    return pos_at(&ast->where.rule_principals, at);
}

mtlsauthz__pos mtlsauthz__ast_operation_pos(const mtlsauthz__ast *ast, unsigned rule, unsigned j)
{
    size_t at = j;
    for (unsigned i = 0; i < rule && i < ast->nrules; i++) {
        at += ast->rules[i].operations.n;
    }
    return pos_at(&ast->where.rule_operations, at);
}

mtlsauthz__pos mtlsauthz__ast_principal_name_pos(const mtlsauthz__ast *ast, unsigned principal)
{
    return pos_at(&ast->where.principal_names, principal);
}

mtlsauthz__pos mtlsauthz__ast_key_pos(const mtlsauthz__ast *ast, unsigned principal,
                                      mtlsauthz__key key, unsigned j)
{
    size_t at = j;
    for (unsigned i = 0; i < principal && i < ast->nprincipals; i++) {
        at += ast->principals[i].keys[key].n;
    }
    return pos_at(&ast->where.keys[key], at);
}

mtlsauthz__pos mtlsauthz__ast_sensitive_pos(const mtlsauthz__ast *ast, unsigned j)
{
    return pos_at(&ast->where.sensitive, j);
}

/* ---------------------------------------------------------------------------------------- */
/* Policy test cases                                                                         */
/* ---------------------------------------------------------------------------------------- */

static const cyaml_strval_t expect_strings[] = {
    {"allow", MTLSAUTHZ__EXPECT_ALLOW},
    {"deny", MTLSAUTHZ__EXPECT_DENY},
    {"error", MTLSAUTHZ__EXPECT_ERROR},
};

#define TEST_IDENTITY_LIST(key_, member_)                                                          \
    STRV_FIELD(key_, CYAML_FLAG_OPTIONAL, mtlsauthz__test_identity, member_, &string_entry,        \
               MTLSAUTHZ__POLICY_MAX_LIST)

/* An inline identity's keys (identity_inline.h says what each becomes). */
static const cyaml_schema_field_t test_identity_fields[] = {
    CYAML_FIELD_STRING_PTR("spiffe", CYAML_FLAG_OPTIONAL, mtlsauthz__test_identity, spiffe, 0,
                           CYAML_UNLIMITED),
    TEST_IDENTITY_LIST("cn", cn),
    TEST_IDENTITY_LIST("o", o),
    TEST_IDENTITY_LIST("ou", ou),
    TEST_IDENTITY_LIST("dns", dns),
    TEST_IDENTITY_LIST("uri", uri),
    TEST_IDENTITY_LIST("email", email),
    TEST_IDENTITY_LIST("ip", ip),
    TEST_IDENTITY_LIST("eku", eku),
    CYAML_FIELD_STRING_PTR("serial", CYAML_FLAG_OPTIONAL, mtlsauthz__test_identity, serial, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("sha256", CYAML_FLAG_OPTIONAL, mtlsauthz__test_identity, sha256, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t test_case_fields[] = {
    CYAML_FIELD_STRING_PTR("name", CYAML_FLAG_OPTIONAL, mtlsauthz__test_case, name, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("cert", CYAML_FLAG_OPTIONAL, mtlsauthz__test_case, cert, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("chain", CYAML_FLAG_OPTIONAL, mtlsauthz__test_case, chain, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_MAPPING_PTR("identity", CYAML_FLAG_OPTIONAL, mtlsauthz__test_case, identity,
                            test_identity_fields),
    CYAML_FIELD_STRING_PTR("op", CYAML_FLAG_OPTIONAL, mtlsauthz__test_case, op, 0, CYAML_UNLIMITED),
    CYAML_FIELD_STRING_PTR("request", CYAML_FLAG_OPTIONAL, mtlsauthz__test_case, request, 0,
                           CYAML_UNLIMITED),
    CYAML_FIELD_ENUM("expect", CYAML_FLAG_STRICT, mtlsauthz__test_case, expect, expect_strings,
                     CYAML_ARRAY_LEN(expect_strings)),
    CYAML_FIELD_STRING_PTR("rule", CYAML_FLAG_OPTIONAL, mtlsauthz__test_case, rule, 1,
                           MTLSAUTHZ__NAME_MAX_LEN),
    STRV_FIELD("dry_run", CYAML_FLAG_OPTIONAL, mtlsauthz__test_case, dry_run, &name_entry,
               MTLSAUTHZ__POLICY_MAX_LIST),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t test_case_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, mtlsauthz__test_case, test_case_fields),
};

static const cyaml_schema_value_t test_cases_schema = {
    CYAML_VALUE_SEQUENCE(CYAML_FLAG_POINTER, mtlsauthz__test_case, &test_case_schema, 1,
                         MTLSAUTHZ__POLICY_MAX_LIST),
};

/*
 * Sets each case's `where` to the start of its entry in the top-level list. The pre-pass has
 * accepted the document, so libyaml cannot fail here but for memory; then, or if the count
 * disagrees, positions stay unknown rather than wrong.
 */
static void test_case_positions(mtlsauthz__test_case *cases, unsigned n, const char *yaml,
                                size_t len)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    unsigned depth = 0, at = 0, i;
    int done = 0;
    mtlsauthz__pos *pos = mtlsauthz__calloc(n, sizeof(*pos));

    for (i = 0; i < n; i++) {
        memset(&cases[i].where, 0, sizeof(cases[i].where));
    }
    if (pos == NULL || !yaml_parser_initialize(&parser)) {
        mtlsauthz__free(pos);
        return;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    while (!done && yaml_parser_parse(&parser, &ev)) {
        int opens = ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT;
        if (depth == 1 && (opens || ev.type == YAML_SCALAR_EVENT)) {
            if (at < n) {
                pos[at].line = (uint32_t)ev.start_mark.line + 1u;
                pos[at].column = (uint32_t)ev.start_mark.column + 1u;
            }
            at++;
        }
        if (opens) {
            depth++;
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (done && at == n) {
        for (i = 0; i < n; i++) {
            cases[i].where = pos[i];
        }
    }
    mtlsauthz__free(pos);
}

/* Fails with "tests: case N 'name': <why> (line: L, column: C)". */
static int test_case_error(const mtlsauthz__test_case *c, unsigned index, mtlsauthz_error *err,
                           const char *why)
{
    msg m;
    msg_begin(&m, "tests");
    msg_printf(&m, "case %u", index + 1);
    if (c->name != NULL) {
        msg_puts(&m, " ");
        msg_quote(&m, c->name, strlen(c->name));
    }
    msg_puts(&m, ": ");
    msg_puts(&m, why);
    if (c->where.line != 0) {
        msg_printf(&m, " (line: %u, column: %u)", (unsigned)c->where.line,
                   (unsigned)c->where.column);
    }
    return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
}

/* "METHOD TARGET": one space between two non-empty parts, and no other blank. */
static int request_well_formed(const char *r)
{
    const char *sp = strchr(r, ' ');
    return sp != NULL && sp != r && sp[1] != '\0' && strchr(sp + 1, ' ') == NULL &&
           strpbrk(r, "\t\r\n\v\f") == NULL;
}

/* What the schema cannot say (policy_ast.h lists it). */
static int test_case_check(const mtlsauthz__test_case *c, unsigned index, mtlsauthz_error *err)
{
    if (c->cert == NULL && c->identity == NULL) {
        return test_case_error(c, index, err,
                               "missing key 'cert' or 'identity' (a certificate file, or an "
                               "inline identity such as identity: {cn: [alice]})");
    }
    if (c->cert != NULL && c->identity != NULL) {
        return test_case_error(c, index, err, "give either 'cert' or 'identity', not both");
    }
    if (c->chain != NULL && c->cert == NULL) {
        return test_case_error(c, index, err,
                               "'chain' goes with 'cert'; an inline identity is a leaf alone");
    }
    if (c->op == NULL && c->request == NULL) {
        return test_case_error(c, index, err,
                               "missing key 'op' or 'request' (an operation such as 'GET /x', "
                               "or an HTTP request such as 'GET /x?y=1')");
    }
    if (c->op != NULL && c->request != NULL) {
        return test_case_error(c, index, err, "give either 'op' or 'request', not both");
    }
    if (c->request != NULL && !request_well_formed(c->request)) {
        return test_case_error(c, index, err,
                               "'request' must be 'METHOD TARGET' with one space, such as 'GET "
                               "/images/json?all=1' (write a space in the target as %20)");
    }
    if (c->expect == MTLSAUTHZ__EXPECT_ERROR && (c->rule != NULL || c->dry_run.n > 0)) {
        return test_case_error(c, index, err,
                               "'rule' and 'dry_run' cannot go with 'expect: error': no rule "
                               "decides a request that is refused");
    }
    if (c->dry_run.n > MTLSAUTHZ_DECISION_DRY_RUN_MAX) {
        return test_case_error(c, index, err,
                               "'dry_run' lists more than 8 rule ids; a decision names at most 8 "
                               "dry-run matches");
    }
    for (unsigned i = 0; i < c->dry_run.n; i++) {
        for (unsigned j = 0; j < i; j++) {
            if (strcmp(c->dry_run.v[i], c->dry_run.v[j]) == 0) {
                char why[MTLSAUTHZ__NAME_MAX_LEN + 64];
                snprintf(why, sizeof(why), "'dry_run' lists '%s' twice", c->dry_run.v[i]);
                return test_case_error(c, index, err, why);
            }
        }
    }
    return 0;
}

int mtlsauthz__test_cases_load(mtlsauthz__test_cases **out, const char *yaml, size_t len,
                               mtlsauthz_error *err)
{
    cyaml_config_t cfg;
    capture cap;
    prepass pp;
    mtlsauthz__test_case *cases = NULL;
    mtlsauthz__test_cases *tc = NULL;
    unsigned i, n = 0;
    cyaml_err_t cerr;
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "tests: no output pointer");
    }
    *out = NULL;
    rc = prepass_run(&pp, DOC_TESTS, yaml, len, err);
    if (rc != 0) {
        return rc;
    }
    if (pp.deferred_code != 0) {
        return msg_fail(err, pp.deferred_code, &pp.deferred);
    }
    config_init(&cfg, &cap, CYAML_CFG_DEFAULT);
    cerr = cyaml_load_data((const uint8_t *)yaml, len, &cfg, &test_cases_schema,
                           (cyaml_data_t **)&cases, &n);
    if (cerr != CYAML_OK) {
        return schema_error("tests", cerr, &cap, err);
    }
    if (cases == NULL || n == 0) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_EPOLICY, "tests: empty test file");
        goto fail;
    }
    test_case_positions(cases, n, yaml, len);
    for (i = 0; i < n; i++) {
        if ((rc = test_case_check(&cases[i], i, err)) != 0) {
            goto fail;
        }
    }
    tc = mtlsauthz__calloc(1, sizeof(*tc));
    if (tc == NULL) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "tests: out of memory");
        goto fail;
    }
    tc->cases = cases;
    tc->ncases = n;
    *out = tc;
    return 0;

fail:
    if (cases != NULL) {
        cyaml_free(&cfg, &test_cases_schema, cases, n);
    }
    return rc;
}

void mtlsauthz__test_cases_free(mtlsauthz__test_cases *tc)
{
    cyaml_config_t cfg;
    if (tc == NULL) {
        return;
    }
    config_init(&cfg, NULL, CYAML_CFG_DEFAULT);
    cyaml_free(&cfg, &test_cases_schema, tc->cases, tc->ncases);
    mtlsauthz__free(tc);
}
