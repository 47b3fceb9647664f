/* SPDX-License-Identifier: Apache-2.0 */

/*
 * The decision record of docs/http.md: the JSON body of a refusal, and the
 * decision-log record that both the error log and $mtlsauthz_log_json carry.
 *
 * Every string in them is attacker-influenced (certificate names, the request
 * target) or policy text, and is written as a JSON string (RFC 8259 §7):
 * quotes, backslashes and the control characters (C0, DEL and C1, which a
 * terminal showing the log could obey) escaped, other valid UTF-8 kept, and
 * each byte of an invalid sequence replaced by U+FFFD, so that every record
 * parses and none carries a line break or a terminal escape.
 */


#include "ngx_http_mtlsauthz_module.h"


/*
 * The error log cuts a line at NGX_MAX_ERROR_STR (2048) bytes, which would
 * leave half a JSON object.  A record longer than this is logged with each
 * string value cut to NGX_HTTP_MTLSAUTHZ_LOG_CUT bytes, ending in "...", and
 * "truncated":true.
 */
#define NGX_HTTP_MTLSAUTHZ_LOG_MAX  1536
#define NGX_HTTP_MTLSAUTHZ_LOG_CUT  64

/* the longest JSON form of one byte: \u00XX, or \ufffd for an invalid one */
#define NGX_HTTP_MTLSAUTHZ_JSON_MAX_PER_BYTE  6


static size_t ngx_http_mtlsauthz_utf8_len(const u_char *p, size_t len);
static u_char *ngx_http_mtlsauthz_json_copy(u_char *dst, const u_char *src,
    size_t len, size_t max, ngx_uint_t *cut);
static u_char *ngx_http_mtlsauthz_json_field(u_char *p,
    const mtlsauthz_identity *id, mtlsauthz_field field, size_t max,
    ngx_uint_t *cut);
static size_t ngx_http_mtlsauthz_record_size(ngx_http_request_t *r,
    ngx_http_mtlsauthz_ctx_t *ctx);
static u_char *ngx_http_mtlsauthz_record_write(u_char *p,
    ngx_http_request_t *r, ngx_http_mtlsauthz_ctx_t *ctx, size_t max,
    ngx_uint_t *cut);


static ngx_str_t  ngx_http_mtlsauthz_json_type = ngx_string("application/json");


/*
 * The length of the valid UTF-8 sequence at p (RFC 3629 §4: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0.
 */

static size_t
ngx_http_mtlsauthz_utf8_len(const u_char *p, size_t len)
{
    size_t  n, i;
    u_char  lo, hi;

    lo = 0x80;
    hi = 0xbf;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;

    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        if (p[0] == 0xe0) {
            lo = 0xa0;

        } else if (p[0] == 0xed) {
            hi = 0x9f;
        }

    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        if (p[0] == 0xf0) {
            lo = 0x90;

        } else if (p[0] == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return 0;
    }

    if (len < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


/*
 * src as a JSON string, quotes included; at most 2 + 6 * len bytes, plus 3
 * when cut.  With max != 0, the content stops before the character that would
 * take it past max bytes, ends in "...", and *cut is set.
 */

static u_char *
ngx_http_mtlsauthz_json_copy(u_char *dst, const u_char *src, size_t len,
    size_t max, ngx_uint_t *cut)
{
    u_char        *start;
    size_t         i, n, need;
    ngx_int_t      ctl;
    u_char         esc[6];
    const u_char  *from;

    static const u_char  hex[] = "0123456789abcdef";

    *dst++ = '"';
    start = dst;

    for (i = 0; i < len; i += n) {
        from = &src[i];
        n = 1;
        need = 1;
        ctl = -1;

        if (src[i] == '"' || src[i] == '\\') {
            esc[0] = '\\';
            esc[1] = src[i];
            need = 2;
            from = esc;

        } else if (src[i] < 0x20 || src[i] == 0x7f) {
            ctl = src[i];

        } else if (src[i] >= 0x80) {
            n = ngx_http_mtlsauthz_utf8_len(&src[i], len - i);

            if (n == 0) {
                n = 1;
                from = (const u_char *) "\\ufffd";
                need = 6;

            } else if (n == 2 && src[i] == 0xc2 && src[i + 1] < 0xa0) {
                /* U+0080 to U+009F */
                ctl = src[i + 1];

            } else {
                need = n;
            }
        }

        if (ctl >= 0) {
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[ctl >> 4];
            esc[5] = hex[ctl & 0xf];
            need = 6;
            from = esc;
        }

        if (max && (size_t) (dst - start) + need > max) {
            *cut = 1;
            dst = ngx_cpymem(dst, "...", 3);
            break;
        }

        dst = ngx_cpymem(dst, from, need);
    }

    *dst++ = '"';

    return dst;
}


static u_char *
ngx_http_mtlsauthz_json_field(u_char *p, const mtlsauthz_identity *id,
    mtlsauthz_field field, size_t max, ngx_uint_t *cut)
{
    size_t       len;
    const char  *s;

    if (id == NULL
        || mtlsauthz_identity_count(id, field) == 0
        || mtlsauthz_identity_get(&s, &len, id, field, 0) != 0)
    {
        return ngx_cpymem(p, "null", 4);
    }

    return ngx_http_mtlsauthz_json_copy(p, (const u_char *) s, len, max, cut);
}


#define ngx_http_mtlsauthz_json_bound(len)                                    \
    (2 + 3 + NGX_HTTP_MTLSAUTHZ_JSON_MAX_PER_BYTE * (len))


static size_t
ngx_http_mtlsauthz_record_size(ngx_http_request_t *r,
    ngx_http_mtlsauthz_ctx_t *ctx)
{
    size_t       size, len;
    ngx_uint_t   i;
    const char  *s;

    static const mtlsauthz_field  fields[] = {
        MTLSAUTHZ_FIELD_SPIFFE_ID, MTLSAUTHZ_FIELD_SUBJECT_DN,
        MTLSAUTHZ_FIELD_ISSUER_DN, MTLSAUTHZ_FIELD_SERIAL,
        MTLSAUTHZ_FIELD_SHA256
    };

    /* the keys, punctuation, and the literals */
    size = sizeof("\"decision\":\"allow\",\"reason\":\"identity_rejected\","
                  "\"rule\":,\"dry_run\":[],\"operation\":,\"status\":999,"
                  "\"spiffe_id\":,\"subject\":,\"issuer\":,\"serial\":,"
                  "\"sha256\":,\"remote\":,\"detail\":,\"truncated\":true")
           + 7 * sizeof("null");

    if (ctx->rule) {
        size += ngx_http_mtlsauthz_json_bound(ngx_strlen(ctx->rule));
    }

    for (i = 0; i < ctx->ndry; i++) {
        size += 1 + ngx_http_mtlsauthz_json_bound(ngx_strlen(ctx->dry_run[i]));
    }

    size += ngx_http_mtlsauthz_json_bound(ctx->operation.len)
            + ngx_http_mtlsauthz_json_bound(ctx->detail.len)
            + ngx_http_mtlsauthz_json_bound(r->connection->addr_text.len);

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (ctx->identity != NULL
            && mtlsauthz_identity_count(ctx->identity, fields[i]) > 0
            && mtlsauthz_identity_get(&s, &len, ctx->identity, fields[i], 0)
               == 0)
        {
            size += ngx_http_mtlsauthz_json_bound(len);
        }
    }

    return size;
}


/* the members of the record object, in the order of docs/http.md */

static u_char *
ngx_http_mtlsauthz_record_write(u_char *p, ngx_http_request_t *r,
    ngx_http_mtlsauthz_ctx_t *ctx, size_t max, ngx_uint_t *cut)
{
    ngx_uint_t  i;

    p = ngx_sprintf(p, "\"decision\":\"%s\",\"reason\":\"%s\",\"rule\":",
                    ctx->allowed ? "allow" : "deny",
                    ngx_http_mtlsauthz_reason_string(ctx->reason));

    if (ctx->rule) {
        p = ngx_http_mtlsauthz_json_copy(p, (const u_char *) ctx->rule,
                                         ngx_strlen(ctx->rule), max, cut);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    p = ngx_cpymem(p, ",\"dry_run\":[", sizeof(",\"dry_run\":[") - 1);

    for (i = 0; i < ctx->ndry; i++) {
        if (i > 0) {
            *p++ = ',';
        }

        p = ngx_http_mtlsauthz_json_copy(p, (const u_char *) ctx->dry_run[i],
                                         ngx_strlen(ctx->dry_run[i]), max,
                                         cut);
    }

    p = ngx_cpymem(p, "],\"operation\":", sizeof("],\"operation\":") - 1);

    if (ctx->operation.data) {
        p = ngx_http_mtlsauthz_json_copy(p, ctx->operation.data,
                                         ctx->operation.len, max, cut);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    if (ctx->status) {
        p = ngx_sprintf(p, ",\"status\":%ui", ctx->status);

    } else {
        p = ngx_cpymem(p, ",\"status\":null", sizeof(",\"status\":null") - 1);
    }

    p = ngx_cpymem(p, ",\"spiffe_id\":", sizeof(",\"spiffe_id\":") - 1);
    p = ngx_http_mtlsauthz_json_field(p, ctx->identity,
                                      MTLSAUTHZ_FIELD_SPIFFE_ID, max, cut);
    p = ngx_cpymem(p, ",\"subject\":", sizeof(",\"subject\":") - 1);
    p = ngx_http_mtlsauthz_json_field(p, ctx->identity,
                                      MTLSAUTHZ_FIELD_SUBJECT_DN, max, cut);
    p = ngx_cpymem(p, ",\"issuer\":", sizeof(",\"issuer\":") - 1);
    p = ngx_http_mtlsauthz_json_field(p, ctx->identity,
                                      MTLSAUTHZ_FIELD_ISSUER_DN, max, cut);
    p = ngx_cpymem(p, ",\"serial\":", sizeof(",\"serial\":") - 1);
    p = ngx_http_mtlsauthz_json_field(p, ctx->identity,
                                      MTLSAUTHZ_FIELD_SERIAL, max, cut);
    p = ngx_cpymem(p, ",\"sha256\":", sizeof(",\"sha256\":") - 1);
    p = ngx_http_mtlsauthz_json_field(p, ctx->identity,
                                      MTLSAUTHZ_FIELD_SHA256, max, cut);

    p = ngx_cpymem(p, ",\"remote\":", sizeof(",\"remote\":") - 1);
    p = ngx_http_mtlsauthz_json_copy(p, r->connection->addr_text.data,
                                     r->connection->addr_text.len, max, cut);

    p = ngx_cpymem(p, ",\"detail\":", sizeof(",\"detail\":") - 1);

    if (ctx->detail.data) {
        p = ngx_http_mtlsauthz_json_copy(p, ctx->detail.data, ctx->detail.len,
                                         max, cut);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    return p;
}


/* the record's members, without braces, for $mtlsauthz_log_json */

ngx_int_t
ngx_http_mtlsauthz_record(ngx_http_request_t *r, ngx_http_mtlsauthz_ctx_t *ctx,
    ngx_str_t *out)
{
    u_char      *p;
    ngx_uint_t   cut;

    if (ctx->record.data == NULL) {
        p = ngx_pnalloc(r->pool, ngx_http_mtlsauthz_record_size(r, ctx));
        if (p == NULL) {
            return NGX_ERROR;
        }

        cut = 0;
        ctx->record.data = p;
        ctx->record.len = ngx_http_mtlsauthz_record_write(p, r, ctx, 0, &cut)
                          - p;
    }

    *out = ctx->record;

    return NGX_OK;
}


/* one error-log line per decision, at the level mtlsauthz_log_level sets */

void
ngx_http_mtlsauthz_log_record(ngx_http_request_t *r,
    ngx_http_mtlsauthz_ctx_t *ctx, ngx_uint_t level)
{
    u_char      *p, *last;
    ngx_str_t    rec;
    ngx_uint_t   cut;

    if (level == 0 || r->connection->log->log_level < level) {
        return;
    }

    if (ngx_http_mtlsauthz_record(r, ctx, &rec) != NGX_OK) {
        return;
    }

    if (rec.len > NGX_HTTP_MTLSAUTHZ_LOG_MAX) {
        p = ngx_pnalloc(r->pool, ngx_http_mtlsauthz_record_size(r, ctx));
        if (p == NULL) {
            return;
        }

        cut = 0;
        last = ngx_http_mtlsauthz_record_write(p, r, ctx,
                                               NGX_HTTP_MTLSAUTHZ_LOG_CUT,
                                               &cut);
        if (cut) {
            last = ngx_cpymem(last, ",\"truncated\":true",
                              sizeof(",\"truncated\":true") - 1);
        }

        rec.data = p;
        rec.len = last - p;
    }

    ngx_log_error(level, r->connection->log, 0, "mtlsauthz: {%V}", &rec);
}


/*
 * The refusal of docs/http.md: three keys in order and a newline.  It is sent
 * from the access phase, as "return" sends a text, and so it goes through the
 * header filters ("add_header ... always") but not through "error_page",
 * which the caller has consulted first.
 */

ngx_int_t
ngx_http_mtlsauthz_send_refusal(ngx_http_request_t *r,
    ngx_http_mtlsauthz_ctx_t *ctx)
{
    u_char           *p;
    size_t            size;
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_uint_t        i, cut;
    const char       *error;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    static ngx_str_t  headers[][2] = {
        { ngx_string("Cache-Control"), ngx_string("no-store") },
        { ngx_string("X-Content-Type-Options"), ngx_string("nosniff") }
    };

    switch (ctx->status) {

    case NGX_HTTP_UNAUTHORIZED:
        error = "unauthorized";
        break;

    case NGX_HTTP_BAD_REQUEST:
        error = "bad_request";
        break;

    default: /* NGX_HTTP_FORBIDDEN */
        error = "forbidden";
        break;
    }

    /* as ngx_http_special_response_handler(): no "100 Continue" for a body
     * that is refused anyway */
    r->expect_tested = 1;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    size = sizeof("{\"error\":\"unauthorized\",\"reason\":\"identity_rejected\""
                  ",\"rule\":null}\n")
           + (ctx->rule ? ngx_http_mtlsauthz_json_bound(ngx_strlen(ctx->rule))
                        : 0);

    p = ngx_pnalloc(r->pool, size);
    b = ngx_calloc_buf(r->pool);

    if (p == NULL || b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = p;

    p = ngx_sprintf(p, "{\"error\":\"%s\",\"reason\":\"%s\",\"rule\":", error,
                    ngx_http_mtlsauthz_reason_string(ctx->reason));

    if (ctx->rule) {
        cut = 0;
        p = ngx_http_mtlsauthz_json_copy(p, (const u_char *) ctx->rule,
                                         ngx_strlen(ctx->rule), 0, &cut);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    p = ngx_cpymem(p, "}\n", 2);

    b->last = p;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = ctx->status;
    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type_len = ngx_http_mtlsauthz_json_type.len;
    r->headers_out.content_type = ngx_http_mtlsauthz_json_type;
    r->headers_out.content_type_lowcase = NULL;

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        h->key = headers[i][0];
        h->value = headers[i][1];
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
