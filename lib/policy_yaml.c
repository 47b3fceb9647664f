/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The YAML front end: policy bytes → mtlsauthz__ast (policy_ast.h says what it guarantees).
 *
 * This is the only file that includes libcyaml. libcyaml's strict schema loader reads the
 * policy straight into the AST structs, but on its own it lets through input that must be
 * refused (measured with libcyaml 1.3.1): a scalar with an embedded NUL loads
 * truncated, a second document is silently ignored, an empty file loads as OK with NULL data,
 * and a future `version` fails as "unexpected key" before it can be checked. Its errors also
 * point at the wrong place: an unknown key is reported at the value before it, a missing key
 * at the mapping's last value. So each load is:
 *
 *   1. a size check, made before a byte of the input is read;
 *   2. one libyaml event pass (prepass_run): exactly one document, no alias and no anchor, no
 *      NUL inside a scalar, nesting within MTLSAUTHZ__YAML_MAX_DEPTH, no empty list, list
 *      lengths within the limits, the right kind of top-level node, and libyaml's own syntax
 *      errors, said for people (a tab, a line indented off its block). It also checks the
 *      document against the libcyaml schema the next steps load with (schema_*: known and
 *      unique keys, required keys, the kind of every value, enum strings, string lengths),
 *      so that each finding carries the position of the node at fault: an unknown key at the
 *      key, a bad value at the value, a missing key at its mapping. And it records where each
 *      scalar that a semantic error can be about starts (ids, names, selector entries,
 *      operations, `sensitive`), since libcyaml keeps no positions and compile.c's errors
 *      carry them. A line scanner for the common subset of YAML feeds this pass the events
 *      libyaml would, at a tenth of libyaml's cost, and gives up to libyaml at anything
 *      outside the subset and at any finding ("the fast pre-pass" below);
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
 * not mix), and schema_error() turns them into one readable line for mtlsauthz_error. After
 * the pre-pass's own schema checks that is a fallback, for a check the pre-pass does not make.
 *
 * Messages are plain text without a position or a file name: the position goes into
 * mtlsauthz_error's line and column, and the public load puts it in front (policy.c).
 *
 * All of libcyaml's allocations go through the library allocator (mem_fn), so the AST is
 * freed with cyaml_free() and the same schema. libyaml's own allocations bypass it.
 */
#include <stdio.h>
#include <string.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "policy_ast.h"

/* The schemas, defined with their loaders below; the pre-pass checks documents against them. */
static const cyaml_schema_value_t policy_schema;
static const cyaml_schema_value_t test_cases_schema;

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
    unsigned line; /* where the node it is about starts, from 1; 0: unknown */
    unsigned column;
} msg;

static void msg_init(msg *m)
{
    m->s[0] = '\0';
    m->len = 0;
    m->line = 0;
    m->column = 0;
}

/*
 * Appends at most `n` bytes of `p`. Control bytes become '?': quoted scalars can carry
 * newlines and escapes, and the message is one line of plain text.
 */
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

/* Longest user-supplied text (a key, a value) quoted into a message, so that a long one
 * leaves room for the rest of the message in MTLSAUTHZ_ERROR_MESSAGE_SIZE. */
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

/* libyaml marks count from 0; people, editors and mtlsauthz_error count from 1. */
static unsigned mark_line(const yaml_mark_t *mark)
{
    return mark->line >= UINT32_MAX ? UINT32_MAX : (unsigned)mark->line + 1u;
}

static unsigned mark_column(const yaml_mark_t *mark)
{
    return mark->column >= UINT32_MAX ? UINT32_MAX : (unsigned)mark->column + 1u;
}

/* Says where the message is about. */
static void msg_mark(msg *m, const yaml_mark_t *mark)
{
    m->line = mark_line(mark);
    m->column = mark_column(mark);
}

static int msg_fail(mtlsauthz_error *err, int code, const msg *m)
{
    return mtlsauthz__error_set_at(err, code, m->line, m->column, "%s", m->s);
}

/* Appends "; did you mean 'x'?" when exactly one known name is close to the typed one, and
 * otherwise " (<what>: a, b, c, d, e, ...)" when `what` is not NULL. */
static void msg_suggest(msg *m, const mtlsauthz__suggest *s, const char *what)
{
    const char *name;
    size_t len;
    if (mtlsauthz__suggest_one(s, &name, &len)) {
        msg_puts(m, "; did you mean ");
        msg_quote(m, name, len);
        msg_puts(m, "?");
        return;
    }
    if (what == NULL || s->nlist == 0) {
        return;
    }
    msg_printf(m, " (%s: ", what);
    for (size_t i = 0; i < s->nlist; i++) {
        msg_puts(m, i > 0 ? ", " : "");
        msg_putn(m, s->list[i], s->list_len[i]);
    }
    msg_puts(m, s->total > s->nlist ? ", ...)" : ")");
}

/* ---------------------------------------------------------------------------------------- */
/* The libyaml pre-pass                                                                      */
/* ---------------------------------------------------------------------------------------- */

typedef enum doc_kind { DOC_POLICY, DOC_TESTS } doc_kind;

/* Keys of the policy's top-level mapping that the pre-pass treats specially. */
typedef enum top_key { TOP_OTHER = 0, TOP_VERSION, TOP_RULES, TOP_PRINCIPALS } top_key;

/* What a mapping is, for recording positions and naming it in messages: the policy's top
 * level, a rule, a principal, a test case. */
typedef enum map_role { ROLE_NONE = 0, ROLE_TOP, ROLE_RULE, ROLE_PRINCIPAL, ROLE_CASE } map_role;

typedef struct frame {
    int is_map;
    int is_entry;            /* an entry of a list, not the value of a key (nor the root) */
    int want_key;            /* mapping: the next node is a key */
    top_key key_class;       /* mapping: the current key, when this is the policy's top level */
    map_role role;           /* mapping: what it is; sequence: what its mapping entries are */
    mtlsauthz__posv *record; /* mapping: where the current key's scalar value is recorded;
                                sequence: where its scalar entries are (NULL: nowhere) */
    /* The schema this node is checked against (NULL: not checked, libcyaml decides): a
     * mapping's CYAML_MAPPING value, a sequence's CYAML_SEQUENCE value. */
    const cyaml_schema_value_t *schema;
    const cyaml_schema_field_t *field; /* mapping: the current key's field (NULL: unknown) */
    uint32_t seen;                     /* mapping: the fields seen, by index */
    int key_is_name;                   /* mapping: the current key is its `id` or `name` */
    char key[QUOTE_MAX + 4];   /* mapping: the current key, printable and maybe cut ("...") */
    char owner[QUOTE_MAX + 4]; /* the key whose value it is, or whose list it is an entry of */
    char name[QUOTE_MAX + 4];  /* mapping: its `id` or `name`, for messages ("" if none yet) */
    unsigned long count;       /* sequence: entries so far */
    unsigned long limit;       /* sequence: most entries allowed */
    yaml_mark_t start;
    yaml_mark_t key_mark; /* mapping: where the current key starts */
} frame;

typedef struct prepass {
    doc_kind kind;
    const char *noun; /* "policy" or "test file" */
    const char *yaml; /* the input, for the parser's messages */
    size_t len;
    frame stack[MTLSAUTHZ__YAML_MAX_DEPTH];
    unsigned depth;
    unsigned ndocs;
    int saw_root;
    unsigned nversion;      /* top-level `version` keys seen */
    int version_is_one;     /* the (last) one's value is exactly "1" */
    yaml_mark_t version_at; /* where that value starts */
    yaml_mark_t root_start; /* where the top-level node starts */
    /* The collection that the last event closed, so that an indentation error right after it
     * can name both blocks. Cleared by every other event. */
    int popped;
    int popped_is_map;
    unsigned popped_depth; /* its index in the stack when it was open */
    yaml_mark_t popped_start;
    /* The last event was a scalar value of the innermost mapping starting here (line > 0 as
     * libyaml counts from 0, so `value_valid` says whether it is set). Cleared likewise. */
    int value_valid;
    yaml_mark_t value_start;
    /*
     * The first schema-level finding (an empty list, a list over its limit, any schema check).
     * It is reported only after the version check, so a future-version file that uses new
     * keys still gets "unsupported version"; findings that are about safety (aliases, NULs,
     * depth, documents, syntax) stop the pass at once.
     */
    int deferred_code;
    msg deferred;
    msg root_error; /* the top-level node is of the wrong kind (len > 0) */
    /* mtlsauthz__prepass_fast_check(): a digest of the events (type, start mark, scalar
     * value), so that the two passes are compared event by event. Off in a load. */
    int digesting;
    uint64_t digest;
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
    pv->v[pv->n].line = mark_line(mark);
    pv->v[pv->n].column = mark_column(mark);
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
    (void)pp;
    if (pv == NULL || ev->type != YAML_SCALAR_EVENT) {
        return 0;
    }
    if (posv_push(pv, &ev->start_mark) != 0) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
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

/* Names the mapping or list at stack[i] for a message: "the top level", "rule 'build'",
 * "a principal", "the list 'operations'", "an entry of 'sensitive'". */
static void msg_block(msg *m, const prepass *pp, unsigned i)
{
    const frame *f = &pp->stack[i];
    static const char *const role_nouns[] = {
        [ROLE_RULE] = "rule", [ROLE_PRINCIPAL] = "principal", [ROLE_CASE] = "test case"};
    if (i == 0 && f->is_map && pp->kind == DOC_POLICY) {
        msg_puts(m, "the top level");
    } else if (i == 0) {
        msg_printf(m, "the list of test cases");
    } else if (f->is_map && f->is_entry && f->role >= ROLE_RULE && f->role <= ROLE_CASE) {
        if (f->name[0] != '\0') {
            msg_printf(m, "%s '%s'", role_nouns[f->role], f->name);
        } else {
            msg_printf(m, "a %s", role_nouns[f->role]);
        }
    } else if (f->is_entry) {
        msg_printf(m, "an entry of '%s'", f->owner);
    } else {
        msg_printf(m, "the %s '%s'", f->is_map ? "block" : "list", f->owner);
    }
}

/* ---- syntax errors, said for people ---- */

/* The frame opened at `mark`, if it is still open. */
static int frame_at(const prepass *pp, const yaml_mark_t *mark, unsigned *at)
{
    for (unsigned i = pp->depth; i-- > 0;) {
        if (pp->stack[i].start.index == mark->index) {
            *at = i;
            return 1;
        }
    }
    return 0;
}

/* The indentation (leading spaces) of the line that `mark` is on. */
static size_t line_indent(const prepass *pp, const yaml_mark_t *mark)
{
    size_t start = mark->index < pp->len ? mark->index : pp->len, n = 0;
    while (start > 0 && pp->yaml[start - 1] != '\n') {
        start--;
    }
    while (start + n < pp->len && pp->yaml[start + n] == ' ') {
        n++;
    }
    return n;
}

/*
 * "this line is indented differently from the block 'rules' at line 10: its entries start
 * at column 3, and the keys of its last entry at column 5". `i` is the block whose
 * indentation libyaml was checking the line against.
 */
static void msg_indent(msg *m, const prepass *pp, unsigned i)
{
    const frame *f = &pp->stack[i];
    msg_puts(m, "this line is indented differently from ");
    msg_block(m, pp, i);
    msg_printf(m, " at line %u: ", mark_line(&f->start));
    if (f->is_map) {
        msg_printf(m, "its keys start at column %u", mark_column(&f->start));
    } else {
        msg_printf(m, "its entries start with '-' at column %u", mark_column(&f->start));
    }
    if (pp->popped && pp->popped_depth == i + 1) {
        unsigned col = mark_column(&pp->popped_start);
        if (!f->is_map) {
            msg_printf(m, ", and the keys of its last entry at column %u", col);
        } else if (pp->popped_is_map) {
            msg_printf(m, ", and the keys of '%s' at column %u", f->key, col);
        } else {
            msg_printf(m, ", and the entries of '%s' at column %u", f->key, col);
        }
    }
    msg_puts(m, "; indent it like the lines it belongs with, with spaces");
}

/* libyaml's scanner and parser errors. The position is libyaml's problem mark, except for
 * a quoted value that never ends, which is shown where it starts. */
static void syntax_message(msg *m, const prepass *pp, const yaml_parser_t *parser)
{
    const char *problem = parser->problem != NULL ? parser->problem : "syntax error";
    const char *context = parser->context;
    const yaml_mark_t *at = &parser->problem_mark;
    const yaml_mark_t *ctx = &parser->context_mark;
    unsigned i;

    msg_mark(m, at);
    if (at->index < pp->len && pp->yaml[at->index] == '\t') {
        if (line_indent(pp, at) == at->column) {
            msg_puts(m, "tabs cannot indent YAML; use spaces");
        } else {
            msg_puts(m, "a tab cannot be used here; use spaces");
        }
        return;
    }
    if (strstr(problem, "tab character") != NULL) {
        msg_puts(m, "tabs cannot indent YAML; use spaces");
        return;
    }
    if (at->index + 1 < pp->len && pp->yaml[at->index] == '-' && pp->yaml[at->index + 1] != ' ' &&
        pp->yaml[at->index + 1] != '\n' && line_indent(pp, at) == at->column) {
        /* "-id: b": a key named "-id", not a list entry. */
        msg_puts(m, "a list entry needs a space after '-'");
        return;
    }
    if ((strcmp(problem, "did not find expected '-' indicator") == 0 ||
         strcmp(problem, "did not find expected key") == 0) &&
        frame_at(pp, ctx, &i)) {
        msg_indent(m, pp, i);
        return;
    }
    if (strcmp(problem, "did not find expected <document start>") == 0 && pp->popped &&
        pp->popped_depth == 0) {
        msg_printf(m,
                   "this line is indented differently from the top-level keys, which start at "
                   "column %u; every top-level key starts at the same column",
                   mark_column(&pp->popped_start));
        return;
    }
    if (strcmp(problem, "mapping values are not allowed in this context") == 0) {
        const frame *f = pp->depth > 0 ? &pp->stack[pp->depth - 1] : NULL;
        if (f != NULL && f->is_map && pp->value_valid && at->line > pp->value_start.line &&
            line_indent(pp, at) > f->start.column) {
            /* A line indented deeper than the keys above it continues the previous value
             * ("effect: allow" then "  principals: ..." reads as "allow principals"). */
            msg_printf(m,
                       "this line is indented more than the key '%s' on line %u, so it reads as "
                       "more of that key's value; indent it to column %u, like '%s'",
                       f->key, mark_line(&f->key_mark), mark_column(&f->key_mark), f->key);
            return;
        }
        msg_puts(m, "':' followed by a space cannot appear in a plain value here; quote the "
                    "value if it contains ': ', or start a new line for a new key");
        return;
    }
    if (context != NULL && strcmp(context, "while scanning a quoted scalar") == 0 &&
        strcmp(problem, "found unexpected end of stream") == 0) {
        msg_mark(m, ctx);
        msg_puts(m, "this quoted value has no closing quote");
        return;
    }
    if (context != NULL && (strcmp(problem, "did not find expected ',' or ']'") == 0 ||
                            strcmp(problem, "did not find expected ',' or '}'") == 0)) {
        int list = problem[strlen(problem) - 2] == ']';
        msg_printf(m,
                   "expected ',' or '%c' here: the %s opened with '%c' at line %u, column %u "
                   "is not closed",
                   list ? ']' : '}', list ? "list" : "mapping", list ? '[' : '{', mark_line(ctx),
                   mark_column(ctx));
        return;
    }
    if (strcmp(problem, "block sequence entries are not allowed in this context") == 0) {
        msg_puts(m, "a list cannot start on the line of its key; put each '- ' entry on a line "
                    "of its own, indented under the key (or write [a, b])");
        return;
    }
    if (strcmp(problem, "did not find expected node content") == 0) {
        const frame *f = pp->depth > 0 ? &pp->stack[pp->depth - 1] : NULL;
        if (at->index >= pp->len && f != NULL && f->start.index < pp->len &&
            (pp->yaml[f->start.index] == '[' || pp->yaml[f->start.index] == '{')) {
            /* The file ends inside a flow collection: the '[' is what to look at. */
            msg_mark(m, &f->start);
            msg_printf(m, "this '%c' is never closed (the file ends first)",
                       pp->yaml[f->start.index]);
            return;
        }
        msg_puts(m, "expected a value here");
        return;
    }
    if (strcmp(problem, "found unknown escape character") == 0) {
        msg_puts(m, "unknown escape in a double-quoted value; write \\\\ for a backslash, or "
                    "use single quotes, where a backslash is just a backslash");
        return;
    }
    if (context != NULL && strcmp(problem, "could not find expected ':'") == 0) {
        /* libyaml stops at the next line; the line at fault is the one the key is on. */
        msg_mark(m, ctx);
        msg_puts(m, "this line has no ':' after its key, or is a value indented off its block");
        return;
    }
    if (strcmp(problem, "found character that cannot start any token") == 0 &&
        at->index < pp->len) {
        msg_printf(m, "'%c' cannot start a plain value; put the value in quotes",
                   pp->yaml[at->index] > 0x20 && pp->yaml[at->index] < 0x7f ? pp->yaml[at->index]
                                                                            : '?');
        return;
    }
    msg_puts(m, "not valid YAML: ");
    msg_puts(m, problem);
    if (context != NULL) {
        msg_printf(m, " (%s that starts at line %u, column %u)", context, mark_line(ctx),
                   mark_column(ctx));
    }
}

/* libyaml's own errors: syntax, encoding, memory. */
static int parser_error(const prepass *pp, const yaml_parser_t *parser, mtlsauthz_error *err)
{
    const char *yaml = pp->yaml;
    size_t len = pp->len;
    msg m;
    msg_init(&m);
    switch (parser->error) {
    case YAML_MEMORY_ERROR:
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory while parsing YAML");
    case YAML_READER_ERROR: {
        /* Reader errors carry a byte offset, not a mark: count the lines ourselves (columns
         * in bytes, which is what an editor shows for the ASCII that comes before). */
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
        msg_mark(&m, &mark);
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
            msg_puts(&m, "not valid YAML text: ");
            msg_puts(&m, parser->problem != NULL ? parser->problem : "unreadable input");
        }
        return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
    }
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
        syntax_message(&m, pp, parser);
        return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
    default:
        msg_puts(&m, "not valid YAML");
        return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
    }
}

static void defer(prepass *pp, int code, const msg *m)
{
    /* The first finding in document order, except that a limit outranks the rest: a
     * million-entry list is reported as that, not as what its first entry got wrong. */
    if (pp->deferred_code == 0 ||
        (code == MTLSAUTHZ_ELIMIT && pp->deferred_code != MTLSAUTHZ_ELIMIT)) {
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

/* ---- the schema checks ---- */

/* The field of a mapping schema named by the key `k` (NULL: none), and its index. */
static const cyaml_schema_field_t *schema_field(const cyaml_schema_value_t *map, const char *k,
                                                size_t n, unsigned *index)
{
    const cyaml_schema_field_t *f = map->mapping.fields;
    for (unsigned i = 0; f[i].key != NULL; i++) {
        /* Once per key of a 100k-rule policy: the first byte rules out most fields. */
        if (n > 0 && f[i].key[0] == k[0] && strncmp(f[i].key, k, n) == 0 && f[i].key[n] == '\0') {
            *index = i;
            return &f[i];
        }
    }
    return NULL;
}

/* What a node of this schema must be, as people say it. */
static void msg_kind(msg *m, const cyaml_schema_value_t *v)
{
    switch (v->type) {
    case CYAML_SEQUENCE:
    case CYAML_SEQUENCE_FIXED:
    case CYAML_FLAGS:
        msg_puts(m, "a list");
        break;
    case CYAML_MAPPING:
    case CYAML_BITFIELD:
        msg_puts(m, "a mapping");
        break;
    case CYAML_ENUM:
        for (uint32_t i = 0; i < v->enumeration.count; i++) {
            msg_puts(m, i == 0 ? "" : i + 1 == v->enumeration.count ? " or " : ", ");
            msg_puts(m, v->enumeration.strings[i].str);
        }
        break;
    case CYAML_INT:
    case CYAML_UINT:
    case CYAML_FLOAT:
        msg_puts(m, "a number");
        break;
    case CYAML_BOOL:
        msg_puts(m, "true or false");
        break;
    default:
        msg_puts(m, "a string");
        break;
    }
}

static int is_null_scalar(const yaml_event_t *ev)
{
    return ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == 0 &&
           ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* 1 if an event of this type can be a node of this schema (unknown types: yes, libcyaml
 * decides). */
static int kind_fits(const cyaml_schema_value_t *v, const yaml_event_t *ev)
{
    if ((v->flags & CYAML_FLAG_POINTER_NULL) == CYAML_FLAG_POINTER_NULL &&
        ev->type == YAML_SCALAR_EVENT) {
        return 1; /* null allowed: any scalar may be one of its spellings */
    }
    switch (v->type) {
    case CYAML_SEQUENCE:
    case CYAML_SEQUENCE_FIXED:
    case CYAML_FLAGS:
        return ev->type == YAML_SEQUENCE_START_EVENT;
    case CYAML_MAPPING:
    case CYAML_BITFIELD:
        return ev->type == YAML_MAPPING_START_EVENT;
    case CYAML_INT:
    case CYAML_UINT:
    case CYAML_BOOL:
    case CYAML_ENUM:
    case CYAML_FLOAT:
    case CYAML_STRING:
        return ev->type == YAML_SCALAR_EVENT;
    default:
        return 1;
    }
}

/* Starts a message about the node `ev`: "'effect' " for the value of a key, "an entry of
 * 'operations' " for a list entry. */
static void msg_subject(msg *m, const prepass *pp, const frame *parent)
{
    if (parent->is_map) {
        msg_printf(m, "'%s' ", parent->key);
    } else if (parent->owner[0] != '\0') {
        msg_printf(m, "an entry of '%s' ", parent->owner);
    } else if (pp->kind == DOC_TESTS && pp->depth == 1) {
        msg_puts(m, "a test case ");
    } else {
        msg_puts(m, "a list entry ");
    }
}

/*
 * Checks the node `ev` against `v`, the schema of where it sits (a field's value or a list's
 * entry). Defers the first finding: the wrong kind of node, an enum string that is not one of
 * its values, a string too short or too long.
 */
static void schema_node(prepass *pp, const frame *parent, const cyaml_schema_value_t *v,
                        const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    msg m;

    if (!kind_fits(v, ev)) {
        msg_init(&m);
        msg_mark(&m, &ev->start_mark);
        msg_subject(&m, pp, parent);
        msg_puts(&m, "must be ");
        msg_kind(&m, v);
        msg_puts(&m, ", not ");
        msg_puts(&m, ev->type == YAML_SEQUENCE_START_EVENT  ? "a list"
                     : ev->type == YAML_MAPPING_START_EVENT ? "a mapping"
                     : is_null_scalar(ev)                   ? "an empty value"
                                                            : "a scalar");
        defer(pp, MTLSAUTHZ_EPOLICY, &m);
        return;
    }
    if (ev->type != YAML_SCALAR_EVENT) {
        return;
    }
    if (v->type == CYAML_ENUM && (v->flags & CYAML_FLAG_STRICT)) {
        mtlsauthz__suggest sg;
        mtlsauthz__suggest_init(&sg, s, n);
        for (uint32_t i = 0; i < v->enumeration.count; i++) {
            const char *e = v->enumeration.strings[i].str;
            if (bytes_eq((const unsigned char *)s, n, e)) {
                return;
            }
            mtlsauthz__suggest_add(&sg, e, strlen(e));
        }
        msg_init(&m);
        msg_mark(&m, &ev->start_mark);
        msg_puts(&m, "invalid value ");
        msg_quote(&m, s, n);
        if (parent->is_map) {
            msg_printf(&m, " for '%s'", parent->key);
        }
        if (parent->is_map && pp->depth > 1) {
            msg_puts(&m, " in ");
            msg_block(&m, pp, pp->depth - 1);
        }
        msg_puts(&m, " (expected ");
        msg_kind(&m, v);
        msg_puts(&m, ")");
        msg_suggest(&m, &sg, NULL);
        defer(pp, MTLSAUTHZ_EPOLICY, &m);
        return;
    }
    if (v->type == CYAML_STRING && (n < v->string.min || n > v->string.max)) {
        msg_init(&m);
        msg_mark(&m, &ev->start_mark);
        msg_subject(&m, pp, parent);
        if (n < v->string.min && v->string.min == 1) {
            msg_puts(&m, "must not be empty");
        } else if (n < v->string.min) {
            msg_printf(&m, "is shorter than %u bytes", (unsigned)v->string.min);
        } else {
            msg_printf(&m, "is longer than %u bytes", (unsigned)v->string.max);
        }
        defer(pp, n > v->string.max ? MTLSAUTHZ_ELIMIT : MTLSAUTHZ_EPOLICY, &m);
    }
}

/* A key of a checked mapping: known (suggest the closest otherwise) and not seen before. */
static void schema_key(prepass *pp, frame *map, const yaml_event_t *ev)
{
    const char *k = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    unsigned index = 0;
    msg m;

    map->field = schema_field(map->schema, k, n, &index);
    if (map->field == NULL) {
        mtlsauthz__suggest sg;
        const cyaml_schema_field_t *f = map->schema->mapping.fields;
        mtlsauthz__suggest_init(&sg, k, n);
        for (unsigned i = 0; f[i].key != NULL; i++) {
            mtlsauthz__suggest_add(&sg, f[i].key, strlen(f[i].key));
        }
        msg_init(&m);
        msg_mark(&m, &ev->start_mark);
        msg_puts(&m, "unknown key ");
        msg_quote(&m, k, n);
        msg_puts(&m, pp->depth == 1 && pp->kind == DOC_POLICY ? " at " : " in ");
        msg_block(&m, pp, pp->depth - 1);
        msg_suggest(&m, &sg, "known keys");
        defer(pp, MTLSAUTHZ_EPOLICY, &m);
        return;
    }
    if (index < 32 && (map->seen & ((uint32_t)1u << index))) {
        msg_init(&m);
        msg_mark(&m, &ev->start_mark);
        msg_puts(&m, "duplicate key ");
        msg_quote(&m, k, n);
        msg_puts(&m, pp->depth == 1 && pp->kind == DOC_POLICY ? " at " : " in ");
        msg_block(&m, pp, pp->depth - 1);
        msg_puts(&m, "; a key may appear once in a mapping");
        defer(pp, MTLSAUTHZ_EPOLICY, &m);
    }
    if (index < 32) {
        map->seen |= (uint32_t)1u << index;
    }
}

/* At the end of a checked mapping: every required key was there. */
static void schema_map_end(prepass *pp, const frame *map)
{
    const cyaml_schema_field_t *f = map->schema->mapping.fields;
    for (unsigned i = 0; f[i].key != NULL && i < 32; i++) {
        msg m;
        if ((f[i].value.flags & CYAML_FLAG_OPTIONAL) || (map->seen & ((uint32_t)1u << i))) {
            continue;
        }
        msg_init(&m);
        msg_mark(&m, &map->start);
        msg_printf(&m, "missing key '%s' %s ", f[i].key,
                   pp->depth == 1 && pp->kind == DOC_POLICY ? "at" : "in");
        msg_block(&m, pp, pp->depth - 1);
        defer(pp, MTLSAUTHZ_EPOLICY, &m);
        return;
    }
}

/*
 * Checks a node (scalar, or the start of a sequence or mapping) against its parent: counts
 * list entries, records mapping keys, checks the top-level node's kind, and checks the node
 * against the schema.
 */
static int prepass_node(prepass *pp, const yaml_event_t *ev, mtlsauthz_error *err)
{
    frame *parent;
    msg m;

    pp->popped = 0;
    pp->value_valid = 0;
    /* Hot path (once per node of a 100k-rule policy): messages are built only on error. */
    if (pp->depth == 0) {
        int want_map = pp->kind == DOC_POLICY;
        const char *got = ev->type == YAML_SCALAR_EVENT          ? "a scalar"
                          : ev->type == YAML_MAPPING_START_EVENT ? "a mapping"
                                                                 : "a list";
        pp->saw_root = 1;
        pp->root_start = ev->start_mark;
        if (is_null_scalar(ev)) {
            /* A bare "---": a document with nothing in it. */
            msg_init(&m);
            msg_mark(&m, &ev->start_mark);
            msg_printf(&m, "empty %s: the document has no content", pp->noun);
            return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
        }
        /* Kept until the pass ends, so that "[unclosed" reads as a syntax error. */
        if (want_map && ev->type != YAML_MAPPING_START_EVENT) {
            msg_init(&pp->root_error);
            msg_printf(&pp->root_error,
                       "the top level must be a mapping (version, principals, rules), not %s", got);
            msg_mark(&pp->root_error, &ev->start_mark);
        }
        if (!want_map && ev->type != YAML_SEQUENCE_START_EVENT) {
            msg_init(&pp->root_error);
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
            msg_init(&m);
            msg_puts(&m, "a mapping key must be a plain string, not a list or mapping");
            msg_mark(&m, &ev->start_mark);
            return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
        }
        copy_key(parent->key, sizeof(parent->key), (const char *)k, n);
        parent->key_mark = ev->start_mark;
        parent->key_class = TOP_OTHER;
        if (pp->kind == DOC_POLICY && pp->depth == 1) {
            parent->key_class = bytes_eq(k, n, "version")      ? TOP_VERSION
                                : bytes_eq(k, n, "rules")      ? TOP_RULES
                                : bytes_eq(k, n, "principals") ? TOP_PRINCIPALS
                                                               : TOP_OTHER;
        }
        parent->field = NULL;
        if (parent->schema != NULL) {
            schema_key(pp, parent, ev);
        }
        parent->record = record_for(pp, parent->role, k, n);
        parent->key_is_name = parent->role >= ROLE_RULE && parent->role <= ROLE_CASE &&
                              bytes_eq(k, n, parent->role == ROLE_RULE ? "id" : "name");
        parent->want_key = 0;
        return 0;
    }
    if (parent->is_map) {
        if (parent->key_class == TOP_VERSION) {
            pp->nversion++;
            pp->version_is_one = ev->type == YAML_SCALAR_EVENT &&
                                 bytes_eq(ev->data.scalar.value, ev->data.scalar.length, "1");
            pp->version_at = ev->start_mark;
        }
        if (parent->field != NULL) {
            schema_node(pp, parent, &parent->field->value, ev);
        }
        if (ev->type == YAML_SCALAR_EVENT && parent->key_is_name) {
            copy_key(parent->name, sizeof(parent->name), (const char *)ev->data.scalar.value,
                     ev->data.scalar.length);
        }
        /* After this value (however deep it goes) the mapping wants its next key. The child
         * frames of a collection value sit above this one, so flipping it now is safe. */
        parent->want_key = 1;
        if (ev->type == YAML_SCALAR_EVENT) {
            pp->value_valid = 1;
            pp->value_start = ev->start_mark;
        }
        return record_scalar(pp, parent->record, ev, err);
    }
    if (parent->count == parent->limit && pp->deferred_code != MTLSAUTHZ_ELIMIT) {
        msg_init(&m);
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
    if (parent->schema != NULL) {
        schema_node(pp, parent, parent->schema->sequence.entry, ev);
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
        msg_puts(&m, "NUL byte in ");
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

/* The schema a new collection is checked against: its field's value, or its list's entry
 * schema, when that is a collection schema libcyaml reads the same way (NULL otherwise). */
static const cyaml_schema_value_t *child_schema(const prepass *pp, const yaml_event_t *ev)
{
    const cyaml_schema_value_t *v;
    const frame *parent;
    if (pp->depth == 0) {
        v = pp->kind == DOC_POLICY ? &policy_schema : &test_cases_schema;
    } else {
        parent = &pp->stack[pp->depth - 1];
        if (parent->is_map) {
            v = parent->field != NULL ? &parent->field->value : NULL;
        } else {
            v = parent->schema != NULL ? parent->schema->sequence.entry : NULL;
        }
    }
    if (v == NULL) {
        return NULL;
    }
    if (ev->type == YAML_MAPPING_START_EVENT && v->type == CYAML_MAPPING) {
        return v;
    }
    if (ev->type == YAML_SEQUENCE_START_EVENT && v->type == CYAML_SEQUENCE) {
        return v;
    }
    return NULL;
}

static int prepass_push(prepass *pp, const yaml_event_t *ev, mtlsauthz_error *err)
{
    const cyaml_schema_value_t *schema;
    frame *f;
    int rc;
    if (pp->depth >= MTLSAUTHZ__YAML_MAX_DEPTH) {
        msg m;
        msg_init(&m);
        msg_printf(&m, "YAML nested deeper than %u levels", MTLSAUTHZ__YAML_MAX_DEPTH);
        msg_mark(&m, &ev->start_mark);
        return msg_fail(err, MTLSAUTHZ_ELIMIT, &m);
    }
    /* Before prepass_node: it moves the parent on to its next key. */
    schema = child_schema(pp, ev);
    rc = prepass_node(pp, ev, err);
    if (rc != 0) {
        return rc;
    }
    f = &pp->stack[pp->depth];
    memset(f, 0, sizeof(*f));
    f->start = ev->start_mark;
    f->schema = schema;
    if (pp->depth > 0) {
        const frame *parent = &pp->stack[pp->depth - 1];
        f->is_entry = !parent->is_map;
        memcpy(f->owner, parent->is_map ? parent->key : parent->owner, sizeof(f->owner));
    }
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
        if (pp->depth == 0 && pp->kind == DOC_TESTS) {
            f->role = ROLE_CASE;
        }
        if (pp->depth > 0 && pp->stack[pp->depth - 1].is_map) {
            const frame *parent = &pp->stack[pp->depth - 1];
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
            msg_puts(&m, "empty list: there are no test cases");
        } else if (f->owner[0] != '\0') {
            msg_printf(&m, "empty list for key '%s'; a list needs at least one entry", f->owner);
        } else {
            msg_puts(&m, "empty list; a list needs at least one entry");
        }
        msg_mark(&m, &f->start);
        defer(pp, MTLSAUTHZ_EPOLICY, &m);
    }
    if (f->is_map && f->schema != NULL && pp->deferred_code == 0) {
        schema_map_end(pp, f);
    }
    pp->depth--;
    pp->value_valid = 0;
    pp->popped = 1;
    pp->popped_is_map = f->is_map;
    pp->popped_depth = pp->depth;
    pp->popped_start = f->start;
}

/* FNV-1a over `n` bytes. */
static uint64_t digest_add(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ull;
    }
    return h;
}

static void digest_event(prepass *pp, const yaml_event_t *ev)
{
    uint64_t h = digest_add(pp->digest, &ev->type, sizeof(ev->type));
    if (ev->type == YAML_SCALAR_EVENT || ev->type == YAML_SEQUENCE_START_EVENT ||
        ev->type == YAML_MAPPING_START_EVENT) {
        h = digest_add(h, &ev->start_mark.index, sizeof(ev->start_mark.index));
        h = digest_add(h, &ev->start_mark.line, sizeof(ev->start_mark.line));
        h = digest_add(h, &ev->start_mark.column, sizeof(ev->start_mark.column));
    }
    if (ev->type == YAML_SCALAR_EVENT) {
        h = digest_add(h, &ev->data.scalar.length, sizeof(ev->data.scalar.length));
        h = digest_add(h, ev->data.scalar.value, ev->data.scalar.length);
        h = digest_add(h, &ev->data.scalar.style, sizeof(ev->data.scalar.style));
    }
    pp->digest = h;
}

static int prepass_event(prepass *pp, const yaml_event_t *ev, mtlsauthz_error *err)
{
    const unsigned char *anchor = NULL;
    msg m;
    msg_init(&m);

    if (pp->digesting) {
        digest_event(pp, ev);
    }

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
        msg_printf(&m, "YAML anchor '&%s' is not allowed (no anchors or aliases)",
                   (const char *)anchor);
        msg_mark(&m, &ev->start_mark);
        return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
    }

    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++pp->ndocs > 1) {
            /* libcyaml silently ignores every document after the first. */
            msg_printf(&m, "a second YAML document starts here; a %s is exactly one document",
                       pp->noun);
            msg_mark(&m, &ev->start_mark);
            return msg_fail(err, MTLSAUTHZ_EPOLICY, &m);
        }
        return 0;
    case YAML_ALIAS_EVENT:
        /* Refused here, before libcyaml could expand anything: a "billion laughs" bomb fails
         * at its first alias. */
        msg_printf(&m, "YAML alias '*%s' is not allowed (no anchors or aliases)",
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

/* ---- the fast pre-pass: a line scanner for the common subset of YAML ---- */

/*
 * libyaml costs about 200 instructions per byte, and libcyaml parses the whole text again, so
 * the pre-pass was two fifths of a large policy's load (docs/performance.md). Most policies
 * use a small subset of YAML: block mappings and block sequences indented with spaces, one
 * node per line, flow lists `[a, "b"]` on one line, plain scalars of common characters,
 * quoted scalars without escapes, and comments. fast_run() reads that subset line by line and
 * feeds the pre-pass the events libyaml would give, with the same values and marks, so every
 * check and every recorded position is the pre-pass's own.
 *
 * It may only give up, never judge (as the DER walker does, docs/internals.md): at anything
 * outside the subset, and at any finding of the pre-pass at all, the caller runs the libyaml
 * pre-pass from the start, whose messages and marks are the reference. So the subset errs on
 * the side of giving up: a byte outside printable ASCII, a tab, a backslash or doubled quote
 * in a quoted scalar, an indentation that is not exactly a block's, a scalar that could
 * continue on the next line, a document marker, a directive, an anchor, alias, tag, block
 * scalar or flow mapping, an empty value. tests/unit/test_policy_yaml.c checks that both
 * passes give the same events and positions on every policy in tests/.
 */

#define FAST_GIVE_UP 1 /* not in the subset, or a finding: run the libyaml pre-pass */

typedef struct fast_block {
    int is_map;
    size_t indent; /* column of its keys, or of its '-' */
} fast_block;

typedef struct fast {
    prepass *pp;
    mtlsauthz_error *err;
    const char *yaml;
    size_t len;
    size_t line;       /* 0-based, as libyaml marks count */
    size_t line_start; /* byte offset of the current line */
    fast_block stack[MTLSAUTHZ__YAML_MAX_DEPTH + 1];
    unsigned depth;
    int pending; /* the innermost mapping's last key has no value yet (`key:` at line end) */
} fast;

static int fast_emit(fast *fs, yaml_event_type_t type, size_t at, const char *value, size_t n,
                     yaml_scalar_style_t style)
{
    yaml_event_t ev;
    int rc;
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.start_mark.index = at;
    ev.start_mark.line = fs->line;
    ev.start_mark.column = at - fs->line_start;
    ev.end_mark = ev.start_mark;
    if (type == YAML_SCALAR_EVENT) {
        ev.data.scalar.value = (yaml_char_t *)(uintptr_t)value;
        ev.data.scalar.length = n;
        ev.data.scalar.plain_implicit = style == YAML_PLAIN_SCALAR_STYLE;
        ev.data.scalar.quoted_implicit = style != YAML_PLAIN_SCALAR_STYLE;
        ev.data.scalar.style = style;
    }
    rc = prepass_event(fs->pp, &ev, fs->err);
    /* Any finding is the libyaml pre-pass's to report, with its marks. */
    return rc != 0 || fs->pp->deferred_code != 0 ? FAST_GIVE_UP : 0;
}

/* Byte classes as two 64-bit masks (bytes 0-63 and 64-127): one test per byte, in a loop
 * that runs over most of a large policy. */
#define FAST_BIT(c) ((uint64_t)1u << ((unsigned)(c)&63u))
#define FAST_RANGE(a, b) (((uint64_t)2u << ((unsigned)(b)&63u)) - FAST_BIT(a))
/* May start a plain scalar here: letters, digits, '_' and '/'. Everything else is an
 * indicator in some position, or a sign, which libyaml may read otherwise. */
static const uint64_t fast_first[2] = {
    FAST_RANGE('0', '9') | FAST_BIT('/'),
    FAST_RANGE('A', 'Z') | FAST_RANGE('a', 'z') | FAST_BIT('_'),
};
/* May continue a plain scalar in either context. ':' is handled apart; ',', '[', ']', '{',
 * '}', '#', quotes, '\\', '`' and blanks are not in the subset. */
static const uint64_t fast_more[2] = {
    FAST_RANGE('0', '9') | FAST_BIT('/') | FAST_BIT('-') | FAST_BIT('.') | FAST_BIT('+') |
        FAST_BIT('=') | FAST_BIT('(') | FAST_BIT(')') | FAST_BIT('<') | FAST_BIT('>') |
        FAST_BIT(';') | FAST_BIT('$') | FAST_BIT('%') | FAST_BIT('?') | FAST_BIT('!') |
        FAST_BIT('*') | FAST_BIT('&'),
    FAST_RANGE('A', 'Z') | FAST_RANGE('a', 'z') | FAST_BIT('_') | FAST_BIT('@') | FAST_BIT('~') |
        FAST_BIT('^') | FAST_BIT('|'),
};

static int fast_in(const uint64_t set[2], unsigned char c)
{
    return c < 128 && (set[c >> 6] >> (c & 63u) & 1u) != 0;
}

static int fast_plain_first(unsigned char c)
{
    return fast_in(fast_first, c);
}

static int fast_plain_more(unsigned char c)
{
    return fast_in(fast_more, c);
}

/*
 * A plain scalar from `*pos` to the line end `eol`: the first byte by fast_plain_first, then
 * fast_plain_more bytes, ':' followed by such a byte (but not '?', which libyaml refuses after
 * ':' in a flow list), and single spaces between them, except in a mapping key (`key`). It
 * ends at the first byte that is none of these (the caller says what may follow). Trailing
 * spaces are not part of it, as libyaml reads it.
 */
static int fast_plain(const fast *fs, size_t *pos, size_t eol, int key, size_t *n)
{
    const char *y = fs->yaml;
    size_t p = *pos, start = p;
    if (p >= eol || !fast_plain_first((unsigned char)y[p])) {
        return FAST_GIVE_UP;
    }
    p++;
    for (;;) {
        unsigned char c = p < eol ? (unsigned char)y[p] : '\n';
        unsigned char next = p + 1 < eol ? (unsigned char)y[p + 1] : '\n';
        if (fast_plain_more(c)) {
            p++;
        } else if (c == ':' && next != '?' && fast_plain_more(next)) {
            p += 2;
        } else if (c == ' ' && fast_plain_more(next) && !key) {
            p += 2;
        } else {
            break;
        }
    }
    *n = p - start;
    *pos = p;
    return 0;
}

/* Skips spaces; then the line must end, maybe after a comment. */
static int fast_line_end(const fast *fs, size_t p, size_t eol)
{
    size_t s = p;
    while (p < eol && fs->yaml[p] == ' ') {
        p++;
    }
    if (p == eol || (fs->yaml[p] == '#' && p > s)) {
        return 0;
    }
    return FAST_GIVE_UP;
}

/* A quoted scalar at `*pos` without escapes, ending on its line. */
static int fast_quoted(fast *fs, size_t *pos, size_t eol)
{
    const char *y = fs->yaml;
    char q = y[*pos];
    size_t p = *pos + 1, start = *pos;
    while (p < eol && y[p] != q && y[p] != '\\') {
        p++;
    }
    if (p >= eol || y[p] != q || (q == '\'' && p + 1 < eol && y[p + 1] == '\'')) {
        return FAST_GIVE_UP;
    }
    if (fast_emit(fs, YAML_SCALAR_EVENT, start, y + start + 1, p - start - 1,
                  q == '"' ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_SINGLE_QUOTED_SCALAR_STYLE) !=
        0) {
        return FAST_GIVE_UP;
    }
    *pos = p + 1;
    return 0;
}

/* A scalar or a one-line flow list, at `p`, as the rest of the line. */
static int fast_value(fast *fs, size_t p, size_t eol)
{
    const char *y = fs->yaml;
    size_t n;
    if (y[p] == '"' || y[p] == '\'') {
        return fast_quoted(fs, &p, eol) != 0 ? FAST_GIVE_UP : fast_line_end(fs, p, eol);
    }
    if (y[p] != '[') {
        size_t start = p;
        if (fast_plain(fs, &p, eol, 0, &n) != 0 ||
            fast_emit(fs, YAML_SCALAR_EVENT, start, y + start, n, YAML_PLAIN_SCALAR_STYLE) != 0) {
            return FAST_GIVE_UP;
        }
        return fast_line_end(fs, p, eol);
    }
    if (fs->depth > MTLSAUTHZ__YAML_MAX_DEPTH ||
        fast_emit(fs, YAML_SEQUENCE_START_EVENT, p, NULL, 0, YAML_ANY_SCALAR_STYLE) != 0) {
        return FAST_GIVE_UP;
    }
    p++;
    for (;;) {
        while (p < eol && y[p] == ' ') {
            p++;
        }
        if (p >= eol) {
            return FAST_GIVE_UP; /* a list over several lines */
        }
        if (y[p] == '"' || y[p] == '\'') {
            if (fast_quoted(fs, &p, eol) != 0) {
                return FAST_GIVE_UP;
            }
        } else {
            size_t start = p;
            if (fast_plain(fs, &p, eol, 0, &n) != 0 ||
                fast_emit(fs, YAML_SCALAR_EVENT, start, y + start, n, YAML_PLAIN_SCALAR_STYLE) !=
                    0) {
                return FAST_GIVE_UP; /* `[]`, `[a,]` and all else */
            }
        }
        while (p < eol && y[p] == ' ') {
            p++;
        }
        if (p < eol && y[p] == ',' && p + 1 < eol && y[p + 1] == ' ') {
            p += 2;
            continue;
        }
        if (p < eol && y[p] == ']') {
            if (fast_emit(fs, YAML_SEQUENCE_END_EVENT, p, NULL, 0, YAML_ANY_SCALAR_STYLE) != 0) {
                return FAST_GIVE_UP;
            }
            return fast_line_end(fs, p + 1, eol);
        }
        return FAST_GIVE_UP;
    }
}

static int fast_open(fast *fs, int is_map, size_t at)
{
    if (fs->depth >= MTLSAUTHZ__YAML_MAX_DEPTH) {
        return FAST_GIVE_UP;
    }
    if (fast_emit(fs, is_map ? YAML_MAPPING_START_EVENT : YAML_SEQUENCE_START_EVENT, at, NULL, 0,
                  YAML_ANY_SCALAR_STYLE) != 0) {
        return FAST_GIVE_UP;
    }
    fs->stack[fs->depth].is_map = is_map;
    fs->stack[fs->depth].indent = at - fs->line_start;
    fs->depth++;
    return 0;
}

static int fast_close(fast *fs, size_t at)
{
    fs->depth--;
    return fast_emit(fs,
                     fs->stack[fs->depth].is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT,
                     at, NULL, 0, YAML_ANY_SCALAR_STYLE);
}

/* `key: value` or `key:` at `p`, in the mapping on top of the stack. */
static int fast_pair(fast *fs, size_t p, size_t eol)
{
    size_t start = p, n;
    if (fast_plain(fs, &p, eol, 1, &n) != 0 || p >= eol || fs->yaml[p] != ':' ||
        fast_emit(fs, YAML_SCALAR_EVENT, start, fs->yaml + start, n, YAML_PLAIN_SCALAR_STYLE) !=
            0) {
        return FAST_GIVE_UP;
    }
    p++;
    if (p == eol || fs->yaml[p] == ' ') {
        size_t v = p;
        while (v < eol && fs->yaml[v] == ' ') {
            v++;
        }
        if (v == eol || fs->yaml[v] == '#') {
            fs->pending = 1; /* the value is the block on the next lines */
            return fast_line_end(fs, p, eol);
        }
        return fast_value(fs, v, eol);
    }
    return FAST_GIVE_UP;
}

/* One line with content, its first non-space byte at `p`. */
static int fast_line(fast *fs, size_t p, size_t eol)
{
    const char *y = fs->yaml;
    size_t col = p - fs->line_start;
    int dash = y[p] == '-' && p + 1 < eol && y[p + 1] == ' ';

    if (fs->pending) {
        /* The value of `key:` on the line above: a block indented under the key. */
        fs->pending = 0;
        if (col <= fs->stack[fs->depth - 1].indent || fast_open(fs, !dash, p) != 0) {
            return FAST_GIVE_UP;
        }
    } else if (fs->depth == 0) {
        if (fs->pp->saw_root || fast_open(fs, !dash, p) != 0) {
            return FAST_GIVE_UP;
        }
    } else {
        while (fs->depth > 0 && fs->stack[fs->depth - 1].indent > col) {
            if (fast_close(fs, p) != 0) {
                return FAST_GIVE_UP;
            }
        }
        if (fs->depth == 0 || fs->stack[fs->depth - 1].indent != col ||
            fs->stack[fs->depth - 1].is_map == dash) {
            return FAST_GIVE_UP;
        }
    }
    if (!dash) {
        return fast_pair(fs, p, eol);
    }
    p += 2;
    while (p < eol && y[p] == ' ') {
        p++;
    }
    if (p == eol || y[p] == '#' || y[p] == '-') {
        return FAST_GIVE_UP;
    }
    if (y[p] == '"' || y[p] == '\'' || y[p] == '[') {
        return fast_value(fs, p, eol);
    }
    {
        /* A plain scalar, or the first key of a mapping that is the entry. */
        size_t q = p, n;
        if (fast_plain(fs, &q, eol, 1, &n) != 0) {
            return FAST_GIVE_UP;
        }
        if (q < eol && y[q] == ':') {
            return fast_open(fs, 1, p) != 0 ? FAST_GIVE_UP : fast_pair(fs, p, eol);
        }
        return fast_value(fs, p, eol);
    }
}

/*
 * The pre-pass over the subset. 0: the whole input was read, the pre-pass found nothing, and
 * `pp` holds what the libyaml pre-pass would. FAST_GIVE_UP: `pp` is to be discarded.
 */
static int fast_run(prepass *pp, const char *yaml, size_t len)
{
    fast fs;
    mtlsauthz_error scratch; /* the pre-pass's findings are never reported from here */
    size_t p = 0;
    memset(&fs, 0, sizeof(fs));
    fs.pp = pp;
    fs.err = &scratch;
    fs.yaml = yaml;
    fs.len = len;

    if (fast_emit(&fs, YAML_STREAM_START_EVENT, 0, NULL, 0, YAML_ANY_SCALAR_STYLE) != 0) {
        return FAST_GIVE_UP;
    }
    while (p < len) {
        size_t eol = p, first;
        while (eol < len && yaml[eol] != '\n') {
            unsigned char c = (unsigned char)yaml[eol];
            if (c < 0x20 || c >= 0x7f) {
                return FAST_GIVE_UP; /* tabs, CR, NUL, control bytes, UTF-8 (and a BOM) */
            }
            eol++;
        }
        fs.line_start = p;
        first = p;
        while (first < eol && yaml[first] == ' ') {
            first++;
        }
        if (first < eol && yaml[first] != '#') {
            if ((first == p &&
                 (yaml[p] == '%' || (eol - p >= 3 && (memcmp(yaml + p, "---", 3) == 0 ||
                                                      memcmp(yaml + p, "...", 3) == 0)))) ||
                (!pp->saw_root && fast_emit(&fs, YAML_DOCUMENT_START_EVENT, first, NULL, 0,
                                            YAML_ANY_SCALAR_STYLE) != 0) ||
                fast_line(&fs, first, eol) != 0) {
                return FAST_GIVE_UP;
            }
        }
        p = eol + 1;
        fs.line++;
    }
    if (fs.pending || fs.depth == 0) {
        return FAST_GIVE_UP; /* `key:` with no value, or no content at all */
    }
    fs.line_start = len;
    for (size_t i = len; i > 0 && yaml[i - 1] != '\n'; i--) {
        fs.line_start = i - 1;
    }
    while (fs.depth > 0) {
        if (fast_close(&fs, len) != 0) {
            return FAST_GIVE_UP;
        }
    }
    if (fast_emit(&fs, YAML_DOCUMENT_END_EVENT, len, NULL, 0, YAML_ANY_SCALAR_STYLE) != 0 ||
        fast_emit(&fs, YAML_STREAM_END_EVENT, len, NULL, 0, YAML_ANY_SCALAR_STYLE) != 0 ||
        pp->root_error.len > 0 || pp->ndocs != 1 || !pp->saw_root ||
        (pp->kind == DOC_POLICY && (pp->nversion != 1 || !pp->version_is_one))) {
        /* The version's findings are made after the pre-pass, at its marks: leave any but
         * the common `version: 1` to the libyaml pre-pass too. */
        return FAST_GIVE_UP;
    }
    return 0;
}

static void prepass_init(prepass *pp, doc_kind kind, const char *yaml, size_t len)
{
    memset(pp, 0, sizeof(*pp));
    pp->kind = kind;
    pp->noun = kind == DOC_POLICY ? "policy" : "test file";
    pp->yaml = yaml;
    pp->len = len;
}

/* Every check made before libcyaml sees the input (steps 1 and 2 at the top of this file). */
static int prepass_run_as(prepass *pp, doc_kind kind, const char *yaml, size_t len, int try_fast,
                          mtlsauthz_error *err)
{
    int digesting = !try_fast; /* only mtlsauthz__prepass_fast_check() runs libyaml alone */
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = 0, done = 0;

    prepass_init(pp, kind, yaml, len);
    if (yaml == NULL && len > 0) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "NULL input");
    }
    /* Before reading a byte: the limit must hold however long the caller says the input is. */
    if (len > MTLSAUTHZ__POLICY_MAX_BYTES) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                    "%zu bytes is over the size limit of %u bytes", len,
                                    MTLSAUTHZ__POLICY_MAX_BYTES);
    }
    if (all_blank(yaml, len)) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EPOLICY, "empty %s (the input is blank)",
                                    pp->noun);
    }

    if (try_fast && fast_run(pp, yaml, len) == 0) {
        return 0;
    }
    where_free(&pp->where);
    prepass_init(pp, kind, yaml, len);
    pp->digesting = digesting;

    if (!yaml_parser_initialize(&parser)) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_error(pp, &parser, err);
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
                                  "empty %s: the input has no YAML content (only whitespace "
                                  "or comments)",
                                  pp->noun);
    }
out:
    yaml_parser_delete(&parser);
    return rc;
}

static int prepass_run(prepass *pp, doc_kind kind, const char *yaml, size_t len,
                       mtlsauthz_error *err)
{
    return prepass_run_as(pp, kind, yaml, len, 1, err);
}

static int posv_equal(const mtlsauthz__posv *a, const mtlsauthz__posv *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->v, b->v, a->n * sizeof(a->v[0])) == 0);
}

static int where_equal(const mtlsauthz__ast_where *a, const mtlsauthz__ast_where *b)
{
    int eq = posv_equal(&a->rule_ids, &b->rule_ids) &&
             posv_equal(&a->rule_principals, &b->rule_principals) &&
             posv_equal(&a->rule_operations, &b->rule_operations) &&
             posv_equal(&a->principal_names, &b->principal_names) &&
             posv_equal(&a->sensitive, &b->sensitive);
    for (unsigned k = 0; eq && k < MTLSAUTHZ__KEY_COUNT; k++) {
        eq = posv_equal(&a->keys[k], &b->keys[k]);
    }
    return eq;
}

static int mark_equal(const yaml_mark_t *a, const yaml_mark_t *b)
{
    return a->index == b->index && a->line == b->line && a->column == b->column;
}

int mtlsauthz__prepass_fast_check(const char *yaml, size_t len, int test_file)
{
    doc_kind kind = test_file ? DOC_TESTS : DOC_POLICY;
    prepass fast_pp, slow_pp;
    int rc = -1, slow_rc;

    prepass_init(&fast_pp, kind, yaml, len);
    fast_pp.digesting = 1;
    if (yaml == NULL || all_blank(yaml, len) || fast_run(&fast_pp, yaml, len) != 0) {
        where_free(&fast_pp.where);
        return 0;
    }
    slow_rc = prepass_run_as(&slow_pp, kind, yaml, len, 0, NULL);
    if (slow_rc == 0 && slow_pp.deferred_code == 0 && slow_pp.root_error.len == 0 &&
        fast_pp.ndocs == slow_pp.ndocs && fast_pp.saw_root == slow_pp.saw_root &&
        fast_pp.nversion == slow_pp.nversion && fast_pp.version_is_one == slow_pp.version_is_one &&
        (fast_pp.nversion == 0 || mark_equal(&fast_pp.version_at, &slow_pp.version_at)) &&
        mark_equal(&fast_pp.root_start, &slow_pp.root_start) && fast_pp.digest == slow_pp.digest &&
        where_equal(&fast_pp.where, &slow_pp.where)) {
        rc = 1;
    }
    where_free(&fast_pp.where);
    where_free(&slow_pp.where);
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

/*
 * The policy AST's memory. libcyaml allocates each scalar, struct and list of the AST on its
 * own, and cyaml_free() walks the AST to free them one by one: on a 100,000-rule policy that
 * was 8% of the load (docs/performance.md). A policy load instead hands libcyaml an arena
 * (ast_mem_fn): pieces up to AST_SMALL bytes are cut from blocks of AST_BLOCK, larger ones
 * (the long lists, which libcyaml grows as it reads) are malloc'd and kept on a list, and
 * mtlsauthz__ast_free() frees the blocks and the list, never walking the AST. Every piece
 * carries its size in the word before it, and a mark saying which kind it is.
 */
#define AST_BLOCK (256u * 1024u)
#define AST_SMALL 512u

typedef struct ast_block {
    struct ast_block *next;
    size_t used;
    uint64_t data[AST_BLOCK / 8u];
} ast_block;

typedef struct ast_big {
    struct ast_big *prev, *next;
    uint64_t tag; /* size << 1 | 1 */
} ast_big;

typedef struct ast_mem {
    ast_block *blocks;
    ast_big *big;
} ast_mem;

static size_t piece_size(const void *ptr)
{
    return (size_t)(((const uint64_t *)ptr)[-1] >> 1);
}

static int piece_is_big(const void *ptr)
{
    return (((const uint64_t *)ptr)[-1] & 1u) != 0;
}

static void ast_big_link(ast_mem *m, ast_big *h)
{
    h->prev = NULL;
    h->next = m->big;
    if (m->big != NULL) {
        m->big->prev = h;
    }
    m->big = h;
}

static void ast_big_unlink(ast_mem *m, ast_big *h)
{
    if (h->prev != NULL) {
        h->prev->next = h->next;
    } else {
        m->big = h->next;
    }
    if (h->next != NULL) {
        h->next->prev = h->prev;
    }
}

static void *ast_alloc(ast_mem *m, size_t size)
{
    if (size <= AST_SMALL) {
        size_t need = 8u + ((size + 7u) & ~(size_t)7u);
        uint64_t *p;
        if (m->blocks == NULL || sizeof(m->blocks->data) - m->blocks->used < need) {
            ast_block *b = mtlsauthz__malloc(sizeof(*b));
            if (b == NULL) {
                return NULL;
            }
            b->next = m->blocks;
            b->used = 0;
            m->blocks = b;
        }
        p = (uint64_t *)((char *)m->blocks->data + m->blocks->used);
        m->blocks->used += need;
        p[0] = (uint64_t)size << 1;
        return p + 1;
    }
    if (size > SIZE_MAX / 4u) {
        return NULL;
    } else {
        ast_big *h = mtlsauthz__malloc(sizeof(*h) + size);
        if (h == NULL) {
            return NULL;
        }
        h->tag = (uint64_t)size << 1 | 1u;
        ast_big_link(m, h);
        return h + 1;
    }
}

static void *ast_mem_fn(void *ctx, void *ptr, size_t size)
{
    ast_mem *m = ctx;
    void *grown;
    if (size == 0) {
        if (ptr != NULL && piece_is_big(ptr)) {
            ast_big *h = (ast_big *)ptr - 1;
            ast_big_unlink(m, h);
            mtlsauthz__free(h);
        }
        return NULL; /* a small piece goes with its block */
    }
    if (ptr == NULL) {
        return ast_alloc(m, size);
    }
    if (piece_is_big(ptr) && size > AST_SMALL) {
        ast_big *h = (ast_big *)ptr - 1, *moved;
        if (size > SIZE_MAX / 4u) {
            return NULL;
        }
        ast_big_unlink(m, h);
        moved = mtlsauthz__realloc(h, sizeof(*h) + size);
        if (moved != NULL) {
            moved->tag = (uint64_t)size << 1 | 1u;
        }
        /* On failure h is unchanged: it goes back on the list, and libcyaml frees it. */
        ast_big_link(m, moved != NULL ? moved : h);
        return moved != NULL ? (void *)(moved + 1) : NULL;
    }
    if (!piece_is_big(ptr) && size <= piece_size(ptr)) {
        return ptr;
    }
    grown = ast_alloc(m, size);
    if (grown == NULL) {
        return NULL;
    }
    memcpy(grown, ptr, piece_size(ptr) < size ? piece_size(ptr) : size);
    ast_mem_fn(m, ptr, 0);
    return grown;
}

static void ast_mem_release(ast_mem *m)
{
    if (m == NULL) {
        return;
    }
    while (m->blocks != NULL) {
        ast_block *next = m->blocks->next;
        mtlsauthz__free(m->blocks);
        m->blocks = next;
    }
    while (m->big != NULL) {
        ast_big *next = m->big->next;
        mtlsauthz__free(m->big);
        m->big = next;
    }
    mtlsauthz__free(m);
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
        msg_puts(m, "unknown key ");
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

/* `what` ("policy", "tests") is kept for the callers; messages no longer start with it. */
static int schema_error(const char *what, cyaml_err_t cerr, const capture *cap,
                        mtlsauthz_error *err)
{
    const char *main_line = NULL;
    const char *trace[CAPTURE_LINES];
    unsigned i, ntrace = 0, first = 0;
    char field[QUOTE_MAX + 4] = "";
    int code, skip_first = 0;
    msg m;

    (void)what;
    switch (cerr) {
    case CYAML_ERR_OOM:
        return mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
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
    /* The innermost backtrace line that has one gives the position. libcyaml's is the node
     * it was reading, which for some errors is near rather than at the fault; the pre-pass
     * reports those itself, so this is the fallback. */
    for (i = first; i < ntrace; i++) {
        const char *at = strstr(trace[i], "(line: ");
        unsigned line, column;
        if (at != NULL && sscanf(at, "(line: %u, column: %u)", &line, &column) == 2) {
            m.line = line;
            m.column = column;
            break;
        }
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

/* One optional list per selector key (keys.h), in key order. */
#define SELECTOR_FIELD(e_, name_, field_, wclass_, fold_, kind_)                                   \
    STRV_FIELD(name_, CYAML_FLAG_OPTIONAL, mtlsauthz__ast_principal, keys[MTLSAUTHZ__KEY_##e_],    \
               &string_entry, MTLSAUTHZ__POLICY_MAX_LIST),

static const cyaml_schema_field_t principal_fields[] = {
    CYAML_FIELD_STRING_PTR("name", CYAML_FLAG_DEFAULT, mtlsauthz__ast_principal, name, 1,
                           MTLSAUTHZ__NAME_MAX_LEN),
    MTLSAUTHZ__SELECTOR_KEYS(SELECTOR_FIELD) CYAML_FIELD_END,
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

/* In the order messages list them ("http or any"). */
static const cyaml_strval_t protocol_strings[] = {
    {"http", MTLSAUTHZ__PROTOCOL_HTTP},
    {"any", MTLSAUTHZ__PROTOCOL_ANY},
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

/* `at`: where the version's value is. */
static int version_error(unsigned version, const yaml_mark_t *at, mtlsauthz_error *err)
{
    return mtlsauthz__error_set_at(err, MTLSAUTHZ_EVERSION, mark_line(at), mark_column(at),
                                   "unsupported policy version %u (this library reads "
                                   "version %u)",
                                   version, POLICY_VERSION);
}

static int version_pass(const char *yaml, size_t len, const yaml_mark_t *at, mtlsauthz_error *err)
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
        rc = schema_error("policy", cerr, &cap, err);
        /* What this pass reads is the version's value (a string, a list...). */
        if (rc != MTLSAUTHZ_ENOMEM) {
            mtlsauthz__error_at(err, mark_line(at), mark_column(at));
        }
        return rc;
    }
    if (v == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EPOLICY, "missing key 'version'");
    }
    rc = v->version == POLICY_VERSION ? 0 : version_error(v->version, at, err);
    cyaml_free(&cfg, &version_schema, v, 0);
    return rc;
}

static int where_agrees(const mtlsauthz__ast_where *w, const mtlsauthz__ast *ast);

int mtlsauthz__ast_load(mtlsauthz__ast **out, const char *yaml, size_t len, mtlsauthz_error *err)
{
    cyaml_config_t cfg;
    capture cap;
    prepass pp;
    ast_mem *mem = NULL;
    mtlsauthz__ast *ast = NULL;
    cyaml_err_t cerr;
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "no output pointer");
    }
    *out = NULL;
    rc = prepass_run(&pp, DOC_POLICY, yaml, len, err);
    if (rc != 0) {
        goto fail;
    }
    if (pp.nversion == 0) {
        /* Before any other finding: without a version nothing else can be judged. */
        rc = mtlsauthz__error_set_at(err, MTLSAUTHZ_EPOLICY, mark_line(&pp.root_start),
                                     mark_column(&pp.root_start),
                                     "missing key 'version' at the top level (a policy starts "
                                     "with version: %u)",
                                     POLICY_VERSION);
        goto fail;
    }
    if (pp.nversion == 1 && !pp.version_is_one) {
        rc = version_pass(yaml, len, &pp.version_at, err);
        if (rc != 0) {
            goto fail;
        }
    }
    if (pp.deferred_code != 0) {
        rc = msg_fail(err, pp.deferred_code, &pp.deferred);
        goto fail;
    }

    mem = mtlsauthz__calloc(1, sizeof(*mem));
    if (mem == NULL) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
        goto fail;
    }
    config_init(&cfg, &cap, CYAML_CFG_DEFAULT);
    cfg.mem_fn = ast_mem_fn;
    cfg.mem_ctx = mem;
    cerr = cyaml_load_data((const uint8_t *)yaml, len, &cfg, &policy_schema, (cyaml_data_t **)&ast,
                           NULL);
    if (ast != NULL) {
        ast->priv = mem; /* the AST's memory goes with it now (mtlsauthz__ast_free) */
        mem = NULL;
    }
    if (cerr != CYAML_OK) {
        rc = schema_error("policy", cerr, &cap, err);
        goto fail;
    }
    if (ast == NULL) {
        /* libcyaml returns OK with NULL data for a document with no content; the pre-pass
         * refuses those, so this is a second guard. */
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_EPOLICY, "empty policy");
        goto fail;
    }
    /* libcyaml leaves fields outside the schema as they were; set ours before anything can
     * free the AST. */
    memset(&ast->where, 0, sizeof(ast->where));
    if (ast->version != POLICY_VERSION) {
        rc = version_error(ast->version, &pp.version_at, err);
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
    ast_mem_release(mem);
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
    if (ast->priv != NULL) {
        ast_mem_release(ast->priv);
        return;
    }
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

/* Fails with `code` and "case N 'name': <why>", at the case's line and column. */
static int case_fail(const mtlsauthz__test_case *c, unsigned index, int code, const char *why,
                     mtlsauthz_error *err)
{
    msg m;
    msg_init(&m);
    msg_printf(&m, "case %u", index + 1);
    if (c->name != NULL) {
        msg_puts(&m, " ");
        msg_quote(&m, c->name, strlen(c->name));
    }
    msg_puts(&m, ": ");
    msg_puts(&m, why);
    m.line = (unsigned)c->where.line;
    m.column = (unsigned)c->where.column;
    return msg_fail(err, code, &m);
}

static int test_case_error(const mtlsauthz__test_case *c, unsigned index, mtlsauthz_error *err,
                           const char *why)
{
    return case_fail(c, index, MTLSAUTHZ_EPOLICY, why, err);
}

int mtlsauthz__test_case_fail(const mtlsauthz__test_cases *tcs, unsigned index, int code,
                              const char *why, mtlsauthz_error *err)
{
    return case_fail(&tcs->cases[index], index, code, why, err);
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
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "out is NULL");
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
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_EPOLICY, "empty test file");
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
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ENOMEM, "out of memory");
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
