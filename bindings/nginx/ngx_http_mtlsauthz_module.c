/* SPDX-License-Identifier: Apache-2.0 */

/*
 * ngx_http_mtlsauthz_module: per-location mutual-TLS authorization with
 * libmtlsauthz.
 *
 * A shim: every decision is the library's. The module only feeds it the
 * verified peer certificate of the TLS connection and the request's
 * operation, and turns the answer into the HTTP contract of docs/http.md: 401
 * (no verified certificate), 400 (a request target the canonical HTTP
 * operation refuses), 403 (deny) or a pass to the next access handler.
 *
 * Memory and reload: policies are loaded at configuration time, one per file
 * and configuration cycle, and freed by a cleanup of the cycle pool.  A reload
 * builds a new cycle with new policies; workers of the old cycle keep their
 * own (forked) copy until they exit, so nothing is freed under a request.
 *
 * The identity is read once per TLS connection and cached in SSL ex_data
 * (HTTP/2 streams run on fake connections that share the SSL object).  Only
 * the identity is cached there, since each location may have its own policy;
 * the per-policy peers hang off the same cache, keyed by policy, and so do the
 * verifications of the peer chain for server blocks other than the one the
 * handshake verified it for: each request uses the identity only if the
 * certificate was verified for its own server block.  The cache is
 * freed by a cleanup of the real connection's pool rather than an ex_data free
 * callback: OpenSSL keeps such a callback in a process-wide table, and it
 * would dangle once a reload without load_module unloaded this module.
 */


#include "ngx_http_mtlsauthz_module.h"

#if !(NGX_HTTP_SSL)
#error ngx_http_mtlsauthz_module needs --with-http_ssl_module
#endif

#include <mtlsauthz/openssl.h>


/* distinct policies whose peers one connection caches; beyond, per request */
#define NGX_HTTP_MTLSAUTHZ_MAX_PEERS  8


typedef struct ngx_http_mtlsauthz_peer_s  ngx_http_mtlsauthz_peer_t;

struct ngx_http_mtlsauthz_peer_s {
    mtlsauthz_policy             *policy;
    mtlsauthz_peer               *peer;
    ngx_http_mtlsauthz_peer_t    *next;
};


typedef struct ngx_http_mtlsauthz_trust_s  ngx_http_mtlsauthz_trust_t;

/* the peer chain verified against another server's SSL context, once */
struct ngx_http_mtlsauthz_trust_s {
    SSL_CTX                      *ctx;
    long                          result;     /* X509_V_OK or the error */
    ngx_http_mtlsauthz_trust_t   *next;
};


typedef struct {
    mtlsauthz_identity           *identity;   /* NULL: could not be read */
    ngx_uint_t                    read;       /* the identity has been read */
    ngx_pool_t                   *pool;       /* the real connection's */
    ngx_http_mtlsauthz_peer_t    *peers;
    ngx_uint_t                    npeers;
    ngx_http_mtlsauthz_trust_t   *trusts;
} ngx_http_mtlsauthz_conn_t;


#define NGX_HTTP_MTLSAUTHZ_VAR_DECISION   0
#define NGX_HTTP_MTLSAUTHZ_VAR_RULE       1
#define NGX_HTTP_MTLSAUTHZ_VAR_REASON     2
#define NGX_HTTP_MTLSAUTHZ_VAR_DRY_RUN    3
#define NGX_HTTP_MTLSAUTHZ_VAR_OPERATION  4
#define NGX_HTTP_MTLSAUTHZ_VAR_STATUS     5
#define NGX_HTTP_MTLSAUTHZ_VAR_DETAIL     6
#define NGX_HTTP_MTLSAUTHZ_VAR_LOG_JSON   7

/* how ngx_http_mtlsauthz_escape() treats spaces and commas */
#define NGX_HTTP_MTLSAUTHZ_ESC_LOG       0
#define NGX_HTTP_MTLSAUTHZ_ESC_VAR       1


static ngx_int_t ngx_http_mtlsauthz_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mtlsauthz_operation(ngx_http_request_t *r,
    ngx_http_mtlsauthz_loc_conf_t *alcf, ngx_http_mtlsauthz_ctx_t *ctx);
static ngx_int_t ngx_http_mtlsauthz_finish(ngx_http_request_t *r,
    ngx_http_mtlsauthz_loc_conf_t *alcf, ngx_http_mtlsauthz_ctx_t *ctx,
    ngx_uint_t status);
static ngx_uint_t ngx_http_mtlsauthz_error_page(ngx_http_request_t *r,
    ngx_uint_t status);
static ngx_int_t ngx_http_mtlsauthz_xfcc(ngx_http_request_t *r,
    ngx_http_mtlsauthz_loc_conf_t *alcf, ngx_http_mtlsauthz_ctx_t *ctx);
static ngx_int_t ngx_http_mtlsauthz_set_detail(ngx_http_request_t *r,
    ngx_http_mtlsauthz_ctx_t *ctx, u_char *text, size_t len);
static void ngx_http_mtlsauthz_identity_cleanup(void *data);
static ngx_int_t ngx_http_mtlsauthz_get_identity(ngx_http_request_t *r,
    const mtlsauthz_identity **out);
static ngx_int_t ngx_http_mtlsauthz_get_conn(ngx_http_request_t *r,
    ngx_http_mtlsauthz_conn_t **out, const char **why);
static ngx_int_t ngx_http_mtlsauthz_verified(ngx_http_request_t *r,
    ngx_http_mtlsauthz_conn_t *mc, SSL *ssl, const char **why);
static ngx_uint_t ngx_http_mtlsauthz_same_handshake(SSL *ssl);
static long ngx_http_mtlsauthz_reverify(SSL *ssl, SSL_CTX *ctx);
static void ngx_http_mtlsauthz_conn_cleanup(void *data);
static ngx_int_t ngx_http_mtlsauthz_get_peer(ngx_http_request_t *r,
    ngx_http_mtlsauthz_conn_t *mc, mtlsauthz_policy *policy,
    mtlsauthz_peer **peer, ngx_uint_t *owned);
static ngx_http_mtlsauthz_ctx_t *ngx_http_mtlsauthz_get_ctx(
    ngx_http_request_t *r, ngx_uint_t create);
static void ngx_http_mtlsauthz_ctx_cleanup(void *data);
static ngx_int_t ngx_http_mtlsauthz_escape(ngx_pool_t *pool, ngx_str_t *out,
    u_char *src, size_t len, ngx_uint_t var);

static ngx_int_t ngx_http_mtlsauthz_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mtlsauthz_spiffe_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mtlsauthz_san_dns_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mtlsauthz_field_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static char *ngx_http_mtlsauthz_policy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_mtlsauthz_policy_cleanup(void *data);
static char *ngx_http_mtlsauthz_log_level(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mtlsauthz_xfcc_trusted(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_mtlsauthz_add_variables(ngx_conf_t *cf);
static void *ngx_http_mtlsauthz_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mtlsauthz_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mtlsauthz_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mtlsauthz_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_mtlsauthz_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_mtlsauthz_init_module(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_mtlsauthz_commands[] = {

    { ngx_string("mtlsauthz"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mtlsauthz_loc_conf_t, enable),
      NULL },

    { ngx_string("mtlsauthz_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mtlsauthz_policy,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mtlsauthz_operation"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mtlsauthz_loc_conf_t, operation),
      NULL },

    { ngx_string("mtlsauthz_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mtlsauthz_loc_conf_t, dry_run),
      NULL },

    { ngx_string("mtlsauthz_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_mtlsauthz_log_level,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mtlsauthz_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mtlsauthz_metrics,
      0,
      0,
      NULL },

    { ngx_string("mtlsauthz_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mtlsauthz_main_conf_t, metrics_size),
      NULL },

    { ngx_string("mtlsauthz_metrics_location"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mtlsauthz_loc_conf_t, metrics_location),
      NULL },

    { ngx_string("mtlsauthz_xfcc"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mtlsauthz_loc_conf_t, xfcc),
      NULL },

    { ngx_string("mtlsauthz_xfcc_trusted"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mtlsauthz_xfcc_trusted,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mtlsauthz_module_ctx = {
    ngx_http_mtlsauthz_add_variables,      /* preconfiguration */
    ngx_http_mtlsauthz_init,               /* postconfiguration */

    ngx_http_mtlsauthz_create_main_conf,   /* create main configuration */
    ngx_http_mtlsauthz_init_main_conf,     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mtlsauthz_create_loc_conf,    /* create location configuration */
    ngx_http_mtlsauthz_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_mtlsauthz_module = {
    NGX_MODULE_V1,
    &ngx_http_mtlsauthz_module_ctx,        /* module context */
    ngx_http_mtlsauthz_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_mtlsauthz_init_module,        /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_mtlsauthz_vars[] = {

    { ngx_string("mtlsauthz_decision"), NULL,
      ngx_http_mtlsauthz_decision_variable,
      NGX_HTTP_MTLSAUTHZ_VAR_DECISION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mtlsauthz_rule"), NULL,
      ngx_http_mtlsauthz_decision_variable,
      NGX_HTTP_MTLSAUTHZ_VAR_RULE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mtlsauthz_reason"), NULL,
      ngx_http_mtlsauthz_decision_variable,
      NGX_HTTP_MTLSAUTHZ_VAR_REASON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mtlsauthz_dry_run"), NULL,
      ngx_http_mtlsauthz_decision_variable,
      NGX_HTTP_MTLSAUTHZ_VAR_DRY_RUN, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mtlsauthz_operation"), NULL,
      ngx_http_mtlsauthz_decision_variable,
      NGX_HTTP_MTLSAUTHZ_VAR_OPERATION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mtlsauthz_status"), NULL,
      ngx_http_mtlsauthz_decision_variable,
      NGX_HTTP_MTLSAUTHZ_VAR_STATUS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mtlsauthz_detail"), NULL,
      ngx_http_mtlsauthz_decision_variable,
      NGX_HTTP_MTLSAUTHZ_VAR_DETAIL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mtlsauthz_log_json"), NULL,
      ngx_http_mtlsauthz_decision_variable,
      NGX_HTTP_MTLSAUTHZ_VAR_LOG_JSON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    /*
     * The identity's: not cacheable, since with mtlsauthz_xfcc the access
     * phase decides whose they are (the certificate's or the header's).
     */

    { ngx_string("mtlsauthz_spiffe_id"), NULL,
      ngx_http_mtlsauthz_spiffe_id_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mtlsauthz_san_dns"), NULL,
      ngx_http_mtlsauthz_san_dns_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mtlsauthz_subject"), NULL,
      ngx_http_mtlsauthz_field_variable, MTLSAUTHZ_FIELD_SUBJECT_DN,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mtlsauthz_issuer"), NULL,
      ngx_http_mtlsauthz_field_variable, MTLSAUTHZ_FIELD_ISSUER_DN,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mtlsauthz_serial"), NULL,
      ngx_http_mtlsauthz_field_variable, MTLSAUTHZ_FIELD_SERIAL,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("mtlsauthz_sha256"), NULL,
      ngx_http_mtlsauthz_field_variable, MTLSAUTHZ_FIELD_SHA256,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* registered once per process image; holds no callbacks (see the top) */
static int  ngx_http_mtlsauthz_ssl_index = -1;


static ngx_int_t
ngx_http_mtlsauthz_handler(ngx_http_request_t *r)
{
    int                             rc;
    size_t                          i;
    ngx_int_t                       target, status, xfcc;
    ngx_uint_t                      owned, logged;
    const char                     *why;
    mtlsauthz_peer                 *peer;
    mtlsauthz_error                 err;
    mtlsauthz_decision              decision;
    ngx_http_mtlsauthz_ctx_t       *ctx;
    ngx_http_mtlsauthz_conn_t      *mc;
    ngx_http_mtlsauthz_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_mtlsauthz_module);

    if (!alcf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_mtlsauthz_get_ctx(r, 1);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* fail closed: deny until the library says otherwise */
    logged = ctx->xfcc_logged;
    ngx_memzero(ctx, sizeof(ngx_http_mtlsauthz_ctx_t));
    ctx->reason = MTLSAUTHZ_REASON_ERROR;
    ctx->xfcc_logged = logged;

    target = ngx_http_mtlsauthz_operation(r, alcf, ctx);
    if (target == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the order of checks of docs/http.md: identity, target, policy */

    mc = NULL;
    xfcc = alcf->xfcc ? ngx_http_mtlsauthz_xfcc(r, alcf, ctx) : NGX_DECLINED;

    if (xfcc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (xfcc == NGX_HTTP_UNAUTHORIZED) {
        /* the trusted proxy's own certificate is not its client's */
        ctx->reason = MTLSAUTHZ_REASON_NO_IDENTITY;
        return ngx_http_mtlsauthz_finish(r, alcf, ctx, NGX_HTTP_UNAUTHORIZED);
    }

    if (xfcc == NGX_DECLINED) {
        status = ngx_http_mtlsauthz_get_conn(r, &mc, &why);

        if (status == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (status == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mtlsauthz: no verified client certificate: %s",
                          why);
            ctx->reason = MTLSAUTHZ_REASON_NO_IDENTITY;
            return ngx_http_mtlsauthz_finish(r, alcf, ctx,
                                             NGX_HTTP_UNAUTHORIZED);
        }

        ctx->identity = mc->identity;
    }

    if (target == NGX_DECLINED) {
        ctx->reason = NGX_HTTP_MTLSAUTHZ_BAD_TARGET;
        return ngx_http_mtlsauthz_finish(r, alcf, ctx, NGX_HTTP_BAD_REQUEST);
    }

    if (xfcc == NGX_HTTP_FORBIDDEN) {
        /* a header that does not parse, or more than one */
        ctx->reason = MTLSAUTHZ_REASON_IDENTITY_REJECTED;
        return ngx_http_mtlsauthz_finish(r, alcf, ctx, NGX_HTTP_FORBIDDEN);
    }

    /*
     * The header's identity is resolved for this request only.  An unreadable
     * certificate (logged once per connection) is an error.
     */

    if (xfcc == NGX_OK) {
        mtlsauthz_error_clear(&err);
        owned = 1;

        if (mtlsauthz_peer_new(&peer, alcf->policy->policy, ctx->identity,
                               &err)
            != 0)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "mtlsauthz: cannot resolve the identity: %s",
                          err.message);
            return ngx_http_mtlsauthz_finish(r, alcf, ctx,
                                             NGX_HTTP_FORBIDDEN);
        }

    } else if (mc->identity == NULL
               || ngx_http_mtlsauthz_get_peer(r, mc, alcf->policy->policy,
                                              &peer, &owned)
                  != NGX_OK)
    {
        return ngx_http_mtlsauthz_finish(r, alcf, ctx, NGX_HTTP_FORBIDDEN);
    }

    mtlsauthz_error_clear(&err);

    rc = mtlsauthz_peer_decide(&decision, peer,
                               (const char *) ctx->operation.data,
                               ctx->operation.len, &err);

    if (owned) {
        /* the decision's strings belong to the policy, which outlives this */
        mtlsauthz_peer_free(peer);
    }

    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mtlsauthz: decision failed: %s", err.message);
        return ngx_http_mtlsauthz_finish(r, alcf, ctx, NGX_HTTP_FORBIDDEN);
    }

    ctx->allowed = decision.allowed ? 1 : 0;
    ctx->reason = decision.reason;
    ctx->rule = decision.rule;
    ctx->ndry = ngx_min(decision.dry_run_count,
                        MTLSAUTHZ_DECISION_DRY_RUN_MAX);

    for (i = 0; i < ctx->ndry; i++) {
        ctx->dry_run[i] = decision.dry_run[i];
    }

    return ngx_http_mtlsauthz_finish(r, alcf, ctx,
                                     ctx->allowed ? 0 : NGX_HTTP_FORBIDDEN);
}


/*
 * The default operation is the library's canonical HTTP operation, built from
 * the method and the raw request target, never from the normalized
 * $uri: what proxy_pass forwards is then exactly what was authorized.
 * NGX_DECLINED: the target is refused, and ctx->detail says why.
 */

static ngx_int_t
ngx_http_mtlsauthz_operation(ngx_http_request_t *r,
    ngx_http_mtlsauthz_loc_conf_t *alcf, ngx_http_mtlsauthz_ctx_t *ctx)
{
    int               rc;
    u_char           *p;
    size_t            cap, len;
    mtlsauthz_error   err;

    if (alcf->operation != NULL) {
        if (ngx_http_complex_value(r, alcf->operation, &ctx->operation)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ctx->operation.data == NULL) {
            /* an empty operation is one, not a refused target */
            ngx_str_set(&ctx->operation, "");
        }

        return NGX_OK;
    }

    cap = r->method_name.len + 1 + r->unparsed_uri.len + 1;

    p = ngx_pnalloc(r->pool, cap);
    if (p == NULL) {
        return NGX_ERROR;
    }

    mtlsauthz_error_clear(&err);

    rc = mtlsauthz_http_operation((char *) p, cap, &len,
                                  (const char *) r->method_name.data,
                                  r->method_name.len,
                                  (const char *) r->unparsed_uri.data,
                                  r->unparsed_uri.len, &err);
    if (rc != 0) {
        if (ngx_http_mtlsauthz_set_detail(r, ctx, (u_char *) err.message,
                                          ngx_strlen(err.message))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_DECLINED;
    }

    ctx->operation.data = p;
    ctx->operation.len = len;

    return NGX_OK;
}


/*
 * The answer of docs/http.md: count, log, and refuse with the status and
 * body there, or pass the request on.  In dry-run mode everything is
 * counted and logged as decided, and passed on, with a null status.
 */

static ngx_int_t
ngx_http_mtlsauthz_finish(ngx_http_request_t *r,
    ngx_http_mtlsauthz_loc_conf_t *alcf, ngx_http_mtlsauthz_ctx_t *ctx,
    ngx_uint_t status)
{
    ngx_int_t  rc;

    ctx->decided = 1;
    ctx->status = alcf->dry_run ? 0 : status;

    ngx_http_mtlsauthz_metrics_count(r, alcf, ctx);

    /* "would have denied" is logged as a deny is */
    ngx_http_mtlsauthz_log_record(r, ctx,
                                  (ctx->allowed && ctx->ndry == 0)
                                  ? alcf->log_allow : alcf->log_deny);

    if (ctx->status == 0) {
        return NGX_DECLINED;
    }

    if (ngx_http_mtlsauthz_error_page(r, ctx->status)) {
        return ctx->status;
    }

    rc = ngx_http_mtlsauthz_send_refusal(r, ctx);

    /* the request is done; it may be freed by now */
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * Whether nginx's error_page machinery will answer for this status, as
 * ngx_http_special_response_handler() decides it: then the user's page is
 * served, and not the module's body.
 */

static ngx_uint_t
ngx_http_mtlsauthz_error_page(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_uint_t                 i;
    ngx_http_err_page_t       *err_page;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->error_page || clcf->error_pages == NULL || r->uri_changes == 0) {
        return 0;
    }

    err_page = clcf->error_pages->elts;

    for (i = 0; i < clcf->error_pages->nelts; i++) {
        if (err_page[i].status == (ngx_int_t) status) {
            return 1;
        }
    }

    return 0;
}


/*
 * The identity from X-Forwarded-Client-Cert (docs/policy.md, "Identities
 * from X-Forwarded-Client-Cert"), read only when the connection comes from a
 * peer that mtlsauthz_xfcc_trusted lists.  The peer is the socket's
 * (getpeername()), never c->sockaddr: the realip module replaces that with an
 * address a request header gave, which anyone can write.
 *
 * NGX_DECLINED: the peer is not trusted; a header is ignored (logged once per
 * request) and the TLS client certificate decides.  NGX_OK: ctx->identity is
 * the header's, owned by a cleanup of the request pool (it may be rejected,
 * which the decision reports).  NGX_HTTP_UNAUTHORIZED: a trusted peer sent no
 * header.  NGX_HTTP_FORBIDDEN: the header does not parse, or came more than
 * once (which of them the proxy wrote cannot be told).
 */

#define NGX_HTTP_MTLSAUTHZ_MANY                                               \
    " X-Forwarded-Client-Cert header fields in one request; a proxy sends one"

static ngx_int_t
ngx_http_mtlsauthz_xfcc(ngx_http_request_t *r,
    ngx_http_mtlsauthz_loc_conf_t *alcf, ngx_http_mtlsauthz_ctx_t *ctx)
{
    int                  rc;
    u_char              *p, text[NGX_SOCKADDR_STRLEN];
    u_char               many[NGX_INT_T_LEN + sizeof(NGX_HTTP_MTLSAUTHZ_MANY)];
    size_t               len;
    socklen_t            socklen;
    ngx_uint_t           i, n;
    const char          *rejected, *msg;
    ngx_sockaddr_t       sa;
    ngx_list_part_t     *part;
    ngx_table_elt_t     *h, *header;
    mtlsauthz_error      err;
    mtlsauthz_identity  *id;
    ngx_pool_cleanup_t  *cln;

    header = NULL;
    n = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("X-Forwarded-Client-Cert") - 1
            && ngx_strncasecmp(h[i].key.data,
                               (u_char *) "X-Forwarded-Client-Cert",
                               h[i].key.len)
               == 0)
        {
            header = &h[i];
            n++;
        }
    }

    socklen = sizeof(ngx_sockaddr_t);
    ngx_memzero(&sa, sizeof(ngx_sockaddr_t));

    if (getpeername(r->connection->fd, &sa.sockaddr, &socklen) == -1) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_socket_errno,
                      "mtlsauthz: getpeername() failed");
        return NGX_ERROR;
    }

    if (alcf->xfcc_trusted == NULL
        || ngx_cidr_match(&sa.sockaddr, alcf->xfcc_trusted) != NGX_OK)
    {
        if (n > 0 && !ctx->xfcc_logged) {
            ctx->xfcc_logged = 1;
            len = ngx_sock_ntop(&sa.sockaddr, socklen, text,
                                NGX_SOCKADDR_STRLEN, 0);
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mtlsauthz: X-Forwarded-Client-Cert ignored: the"
                          " peer %*s is not in mtlsauthz_xfcc_trusted",
                          len, text);
        }

        return NGX_DECLINED;
    }

    ctx->xfcc = 1;

    if (n == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mtlsauthz: no X-Forwarded-Client-Cert from a trusted"
                      " proxy");
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (n > 1) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mtlsauthz: X-Forwarded-Client-Cert refused: sent %ui"
                      " times; a proxy sends one", n);

        /* the decision log's detail, in every binding's words (docs/http.md) */
        p = ngx_snprintf(many, sizeof(many), "%ui" NGX_HTTP_MTLSAUTHZ_MANY, n);

        if (ngx_http_mtlsauthz_set_detail(r, ctx, many, p - many) != NGX_OK) {
            return NGX_ERROR;
        }

        return NGX_HTTP_FORBIDDEN;
    }

    mtlsauthz_error_clear(&err);

    rc = mtlsauthz_identity_from_xfcc(&id, (const char *) header->value.data,
                                      header->value.len, &err);

    if (rc == MTLSAUTHZ_ENOMEM) {
        return NGX_ERROR;
    }

    if (rc != 0) {
        msg = err.message[0] ? err.message : mtlsauthz_strerror(rc);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mtlsauthz: X-Forwarded-Client-Cert refused: %s", msg);

        if (ngx_http_mtlsauthz_set_detail(r, ctx, (u_char *) msg,
                                          ngx_strlen(msg))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_HTTP_FORBIDDEN;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        mtlsauthz_identity_free(id);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mtlsauthz_identity_cleanup;
    cln->data = id;

    rejected = mtlsauthz_identity_rejected(id);

    if (rejected != NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mtlsauthz: the identity of X-Forwarded-Client-Cert is"
                      " rejected: %s", rejected);
    }

    ctx->identity = id;

    return NGX_OK;
}


/* Keeps a copy of TEXT as the decision log's detail ($mtlsauthz_detail). */

static ngx_int_t
ngx_http_mtlsauthz_set_detail(ngx_http_request_t *r,
    ngx_http_mtlsauthz_ctx_t *ctx, u_char *text, size_t len)
{
    ctx->detail.data = ngx_pnalloc(r->pool, len);
    if (ctx->detail.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->detail.data, text, len);
    ctx->detail.len = len;

    return NGX_OK;
}


static void
ngx_http_mtlsauthz_identity_cleanup(void *data)
{
    mtlsauthz_identity_free(data);
}


/*
 * The identity the identity variables show: the header's where the access
 * check read X-Forwarded-Client-Cert from a trusted proxy (none, if it gave
 * none), otherwise the verified peer certificate's.
 */

static ngx_int_t
ngx_http_mtlsauthz_get_identity(ngx_http_request_t *r,
    const mtlsauthz_identity **out)
{
    ngx_int_t                   rc;
    const char                 *why;
    ngx_http_mtlsauthz_ctx_t   *ctx;
    ngx_http_mtlsauthz_conn_t  *mc;

    *out = NULL;

    ctx = ngx_http_mtlsauthz_get_ctx(r, 0);

    if (ctx != NULL && ctx->xfcc) {
        *out = ctx->identity;
        return *out != NULL ? NGX_OK : NGX_DECLINED;
    }

    rc = ngx_http_mtlsauthz_get_conn(r, &mc, &why);
    if (rc != NGX_OK) {
        return rc;
    }

    *out = mc->identity;

    return NGX_OK;
}


/*
 * The identity of the connection's peer certificate, for this request: read
 * once per TLS connection, and handed out only when the certificate was
 * verified for the server block that handles this request (see
 * ngx_http_mtlsauthz_verified()).  NGX_DECLINED: there is no such
 * certificate (none, one that failed verification, as "ssl_verify_client
 * optional_no_ca" lets through, or one verified for another server only);
 * *why says which.
 */

static ngx_int_t
ngx_http_mtlsauthz_get_conn(ngx_http_request_t *r,
    ngx_http_mtlsauthz_conn_t **out, const char **why)
{
    int                         rc;
    SSL                        *ssl;
    X509                       *leaf;
    ngx_int_t                   status;
    mtlsauthz_error             err;
    ngx_connection_t           *c;
    ngx_pool_cleanup_t         *cln;
    ngx_http_mtlsauthz_conn_t  *mc;

    *out = NULL;
    *why = NULL;

    if (r->connection->ssl == NULL || ngx_http_mtlsauthz_ssl_index == -1) {
        *why = "not a TLS connection";
        return NGX_DECLINED;
    }

    ssl = r->connection->ssl->connection;

    /* the real connection, also for an HTTP/2 stream's fake one */
    c = ngx_ssl_get_connection(ssl);
    if (c == NULL) {
        c = r->connection;
    }

    mc = SSL_get_ex_data(ssl, ngx_http_mtlsauthz_ssl_index);

    if (mc == NULL) {

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        leaf = SSL_get0_peer_certificate(ssl);
#else
        leaf = SSL_get_peer_certificate(ssl);
        X509_free(leaf);
#endif

        if (leaf == NULL) {
            *why = "no client certificate";
            return NGX_DECLINED;
        }

        mc = ngx_pcalloc(c->pool, sizeof(ngx_http_mtlsauthz_conn_t));
        cln = ngx_pool_cleanup_add(c->pool, 0);

        if (mc == NULL || cln == NULL) {
            return NGX_ERROR;
        }

        mc->pool = c->pool;
        cln->handler = ngx_http_mtlsauthz_conn_cleanup;
        cln->data = mc;

        if (SSL_set_ex_data(ssl, ngx_http_mtlsauthz_ssl_index, mc) == 0) {
            ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "SSL_set_ex_data() failed");
        }
    }

    status = ngx_http_mtlsauthz_verified(r, mc, ssl, why);
    if (status != NGX_OK) {
        return status;
    }

    if (!mc->read) {
        mc->read = 1;

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
        leaf = SSL_get0_peer_certificate(ssl);
#else
        leaf = SSL_get_peer_certificate(ssl);
#endif

        mtlsauthz_error_clear(&err);

        rc = mtlsauthz_identity_from_x509(&mc->identity, leaf,
                                          SSL_get0_verified_chain(ssl), &err);

#if OPENSSL_VERSION_NUMBER < 0x30000000L
        X509_free(leaf);
#endif

        if (rc != 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "mtlsauthz: cannot read the client certificate: %s",
                          err.message);
            mc->identity = NULL;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mtlsauthz: identity read for connection %uA",
                       c->number);
    }

    *out = mc;

    return NGX_OK;
}


/*
 * Whether the peer certificate was verified for the server block handling
 * this request, checked per request: keep-alive and HTTP/2 connections carry
 * requests for several server blocks, chosen by the Host header, while the
 * handshake verified the chain against one SSL context only, the one SNI
 * chose (the default server's, without SNI).  nginx answers 421 to a Host
 * that differs from the SNI name only when SNI named a server, and
 * SSL_get_verify_result() reports the handshake's verification whatever
 * server the request is for.
 *
 * The connection's result counts when the connection runs on this server's
 * own SSL context and the verification was that handshake's.  Otherwise the
 * peer chain is verified again against this server's certificate store
 * (ssl_client_certificate, ssl_trusted_certificate, ssl_crl) with its
 * verification parameters (ssl_verify_depth), once per connection and
 * server.  A server that does not verify client certificates, or whose
 * ssl_ocsp only its own handshake can check, accepts none it did not verify.
 */

static ngx_int_t
ngx_http_mtlsauthz_verified(ngx_http_request_t *r,
    ngx_http_mtlsauthz_conn_t *mc, SSL *ssl, const char **why)
{
    long                         result;
    SSL_CTX                     *ctx;
    ngx_http_ssl_srv_conf_t     *sscf;
    ngx_http_mtlsauthz_trust_t  *t;

    sscf = ngx_http_get_module_srv_conf(r, ngx_http_ssl_module);
    ctx = sscf->ssl.ctx;

    if (ctx == NULL || !sscf->verify) {
        *why = "this server does not verify client certificates";
        return NGX_DECLINED;
    }

    if (SSL_get_SSL_CTX(ssl) == ctx && ngx_http_mtlsauthz_same_handshake(ssl)) {
        result = SSL_get_verify_result(ssl);

        if (result != X509_V_OK) {
            *why = X509_verify_cert_error_string(result);
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

#if (nginx_version >= 1019000)
    if (sscf->ocsp) {
        *why = "verified for another server; ssl_ocsp needs this server's"
               " own handshake";
        return NGX_DECLINED;
    }
#endif

    for (t = mc->trusts; t; t = t->next) {
        if (t->ctx == ctx) {
            break;
        }
    }

    if (t != NULL) {
        result = t->result;

    } else {
        result = ngx_http_mtlsauthz_reverify(ssl, ctx);

        if (result == X509_V_OK) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "mtlsauthz: client certificate verified again"
                           " for this server");

        } else {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mtlsauthz: client certificate not verified for"
                          " this server: (%l:%s)",
                          result, X509_verify_cert_error_string(result));
        }

        t = ngx_palloc(mc->pool, sizeof(ngx_http_mtlsauthz_trust_t));

        if (t != NULL) {
            t->ctx = ctx;
            t->result = result;
            t->next = mc->trusts;
            mc->trusts = t;
        }
    }

    if (result != X509_V_OK) {
        *why = "not verified for this server";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * A resumed session carries the verification result of the handshake that
 * created it.  With TLS 1.3, OpenSSL resumes in the default context, before
 * the SNI callback, so a session made for one server name (or none) may be
 * resumed under another, whose context nginx then switches to.  The original
 * server name is kept in the session: the result is this context's only when
 * that name is the one this handshake asked for.  (With TLS 1.2, the
 * resumed session's name is the one SSL_get_servername() reports.)
 */

static ngx_uint_t
ngx_http_mtlsauthz_same_handshake(SSL *ssl)
{
    const char  *then, *now;

    if (!SSL_session_reused(ssl)) {
        return 1;
    }

    then = SSL_SESSION_get0_hostname(SSL_get0_session(ssl));
    now = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

    if (then == NULL || now == NULL) {
        return then == now;
    }

    return ngx_strcmp(then, now) == 0;
}


/*
 * The peer chain (the leaf and what the client sent with it) against the
 * certificate store of ctx, as OpenSSL verifies a client in a handshake:
 * the "ssl_client" purpose, the context's verification parameters (depth,
 * flags), its security level.  The store's flags carry ssl_crl.  Any failure
 * is a failure.
 */

static long
ngx_http_mtlsauthz_reverify(SSL *ssl, SSL_CTX *ctx)
{
    long                 result;
    X509                *leaf;
    X509_STORE_CTX      *xsc;
    X509_VERIFY_PARAM   *param;

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    leaf = SSL_get0_peer_certificate(ssl);
#else
    leaf = SSL_get_peer_certificate(ssl);
#endif

    if (leaf == NULL) {
        return X509_V_ERR_UNSPECIFIED;
    }

    result = X509_V_ERR_UNSPECIFIED;

    xsc = X509_STORE_CTX_new();
    if (xsc == NULL) {
        goto done;
    }

    if (X509_STORE_CTX_init(xsc, SSL_CTX_get_cert_store(ctx), leaf,
                            SSL_get_peer_cert_chain(ssl))
        == 0)
    {
        goto done;
    }

    param = X509_STORE_CTX_get0_param(xsc);

    if (X509_STORE_CTX_set_default(xsc, "ssl_client") == 0
        || X509_VERIFY_PARAM_set1(param, SSL_CTX_get0_param(ctx)) == 0)
    {
        goto done;
    }

    X509_VERIFY_PARAM_set_auth_level(param, SSL_CTX_get_security_level(ctx));

    if (X509_verify_cert(xsc) == 1) {
        result = X509_V_OK;

    } else {
        result = X509_STORE_CTX_get_error(xsc);

        if (result == X509_V_OK) {
            result = X509_V_ERR_UNSPECIFIED;
        }
    }

done:

    ERR_clear_error();

    if (xsc != NULL) {
        X509_STORE_CTX_free(xsc);
    }

#if OPENSSL_VERSION_NUMBER < 0x30000000L
    X509_free(leaf);
#endif

    return result;
}


static void
ngx_http_mtlsauthz_conn_cleanup(void *data)
{
    ngx_http_mtlsauthz_conn_t  *mc = data;

    ngx_http_mtlsauthz_peer_t  *p;

    for (p = mc->peers; p; p = p->next) {
        mtlsauthz_peer_free(p->peer);
    }

    mtlsauthz_identity_free(mc->identity);
}


/*
 * A peer belongs to one policy, so the cache is keyed by policy.  A
 * peer holds a reference on its policy, so a cached key cannot be freed and
 * its address reused while the entry lives.
 */

static ngx_int_t
ngx_http_mtlsauthz_get_peer(ngx_http_request_t *r,
    ngx_http_mtlsauthz_conn_t *mc, mtlsauthz_policy *policy,
    mtlsauthz_peer **peer, ngx_uint_t *owned)
{
    int                         rc;
    mtlsauthz_error             err;
    ngx_http_mtlsauthz_peer_t  *p;

    *peer = NULL;
    *owned = 0;

    for (p = mc->peers; p; p = p->next) {
        if (p->policy == policy) {
            *peer = p->peer;
            return NGX_OK;
        }
    }

    mtlsauthz_error_clear(&err);

    rc = mtlsauthz_peer_new(peer, policy, mc->identity, &err);
    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mtlsauthz: cannot resolve the identity: %s",
                      err.message);
        *peer = NULL;
        return NGX_ERROR;
    }

    if (mc->npeers < NGX_HTTP_MTLSAUTHZ_MAX_PEERS) {
        p = ngx_palloc(mc->pool, sizeof(ngx_http_mtlsauthz_peer_t));

        if (p != NULL) {
            p->policy = policy;
            p->peer = *peer;
            p->next = mc->peers;
            mc->peers = p;
            mc->npeers++;
            return NGX_OK;
        }
    }

    *owned = 1;

    return NGX_OK;
}


/*
 * The request context survives an internal redirect (which clears r->ctx)
 * through a marker cleanup on the request pool, as in the realip module, so
 * the variables still answer in an error_page location.
 */

static ngx_http_mtlsauthz_ctx_t *
ngx_http_mtlsauthz_get_ctx(ngx_http_request_t *r, ngx_uint_t create)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_mtlsauthz_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mtlsauthz_module);
    if (ctx != NULL) {
        return ctx;
    }

    if (r->internal || r->filter_finalize) {
        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_mtlsauthz_ctx_cleanup) {
                ctx = cln->data;
                ngx_http_set_ctx(r, ctx, ngx_http_mtlsauthz_module);
                return ctx;
            }
        }
    }

    if (!create) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_mtlsauthz_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_mtlsauthz_ctx_t));
    cln->handler = ngx_http_mtlsauthz_ctx_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_mtlsauthz_module);

    return ctx;
}


static void
ngx_http_mtlsauthz_ctx_cleanup(void *data)
{
    /* a marker only: the context lives in the request pool */
}


/*
 * Certificate names are attacker-chosen bytes within what the CA signed: an
 * IA5String SAN may hold CR, LF or NUL.  Control bytes, bytes beyond ASCII,
 * the escape character, quotes and backslash are written as %XX before they
 * reach a header, a log line or the error log; a variable (list) also escapes
 * the space and the list separator.
 */

static ngx_int_t
ngx_http_mtlsauthz_escape(ngx_pool_t *pool, ngx_str_t *out, u_char *src,
    size_t len, ngx_uint_t var)
{
    u_char             *p;
    size_t              i, n;
    static const u_char hex[] = "0123456789ABCDEF";

#define ngx_http_mtlsauthz_plain(ch)                                          \
    ((ch) >= 0x20 && (ch) < 0x7f && (ch) != '%' && (ch) != '"'                \
     && (ch) != '\\' && !(var && ((ch) == ' ' || (ch) == ',')))

    n = 0;

    for (i = 0; i < len; i++) {
        if (!ngx_http_mtlsauthz_plain(src[i])) {
            n++;
        }
    }

    out->data = ngx_pnalloc(pool, len + 2 * n);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;

    for (i = 0; i < len; i++) {
        if (ngx_http_mtlsauthz_plain(src[i])) {
            *p++ = src[i];

        } else {
            *p++ = '%';
            *p++ = hex[src[i] >> 4];
            *p++ = hex[src[i] & 0xf];
        }
    }

#undef ngx_http_mtlsauthz_plain

    out->len = p - out->data;

    return NGX_OK;
}


/*
 * The decision variables, set where the access check ran: the decision-log
 * keys of docs/http.md, one by one, and $mtlsauthz_log_json, the whole
 * record as JSON object members, for an "escape=none" log_format.
 */

static ngx_int_t
ngx_http_mtlsauthz_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    size_t                     i;
    ngx_str_t                  value, src, *ids;
    ngx_uint_t                 esc;
    const char                *s;
    ngx_http_mtlsauthz_ctx_t  *ctx;

    ctx = ngx_http_mtlsauthz_get_ctx(r, 0);

    if (ctx == NULL || !ctx->decided) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = NULL;
    ngx_str_null(&src);
    esc = NGX_HTTP_MTLSAUTHZ_ESC_VAR;

    switch (data) {

    case NGX_HTTP_MTLSAUTHZ_VAR_DECISION:
        s = ctx->allowed ? "allow" : "deny";
        break;

    case NGX_HTTP_MTLSAUTHZ_VAR_RULE:
        s = ctx->rule;
        break;

    case NGX_HTTP_MTLSAUTHZ_VAR_REASON:
        s = ngx_http_mtlsauthz_reason_string(ctx->reason);
        break;

    case NGX_HTTP_MTLSAUTHZ_VAR_DRY_RUN:

        if (ctx->ndry == 0) {
            break;
        }

        /* each id escaped as a list item, so that a comma separates two */

        ids = ngx_palloc(r->pool, ctx->ndry * sizeof(ngx_str_t));
        if (ids == NULL) {
            return NGX_ERROR;
        }

        value.len = 0;

        for (i = 0; i < ctx->ndry; i++) {
            if (ngx_http_mtlsauthz_escape(r->pool, &ids[i],
                                          (u_char *) ctx->dry_run[i],
                                          ngx_strlen(ctx->dry_run[i]),
                                          NGX_HTTP_MTLSAUTHZ_ESC_VAR)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            value.len += ids[i].len + 1;
        }

        p = ngx_pnalloc(r->pool, value.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        value.data = p;

        for (i = 0; i < ctx->ndry; i++) {
            if (i > 0) {
                *p++ = ',';
            }

            p = ngx_cpymem(p, ids[i].data, ids[i].len);
        }

        value.len = p - value.data;
        goto found;

    case NGX_HTTP_MTLSAUTHZ_VAR_OPERATION:
        src = ctx->operation;
        esc = NGX_HTTP_MTLSAUTHZ_ESC_LOG;
        break;

    case NGX_HTTP_MTLSAUTHZ_VAR_DETAIL:
        src = ctx->detail;
        esc = NGX_HTTP_MTLSAUTHZ_ESC_LOG;
        break;

    case NGX_HTTP_MTLSAUTHZ_VAR_STATUS:

        if (ctx->status == 0) {
            break;
        }

        value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (value.data == NULL) {
            return NGX_ERROR;
        }

        value.len = ngx_sprintf(value.data, "%ui", ctx->status) - value.data;
        goto found;

    default: /* NGX_HTTP_MTLSAUTHZ_VAR_LOG_JSON */

        /* JSON, escaped as JSON already */
        if (ngx_http_mtlsauthz_record(r, ctx, &value) != NGX_OK) {
            return NGX_ERROR;
        }

        goto found;
    }

    if (s != NULL) {
        src.data = (u_char *) s;
        src.len = ngx_strlen(s);
    }

    if (src.data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    /* a rule id is policy text, which a quoted YAML scalar lets hold CR LF */
    if (ngx_http_mtlsauthz_escape(r->pool, &value, src.data, src.len, esc)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

found:

    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value.data;

    return NGX_OK;
}


/*
 * $mtlsauthz_subject, $mtlsauthz_issuer, $mtlsauthz_serial,
 * $mtlsauthz_sha256: one value each, of a verified certificate only, as
 * $mtlsauthz_spiffe_id.  A DN keeps its spaces and commas.
 */

static ngx_int_t
ngx_http_mtlsauthz_field_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    size_t                     len;
    ngx_str_t                  value;
    ngx_int_t                  rc;
    const char                *s;
    const mtlsauthz_identity  *id;

    rc = ngx_http_mtlsauthz_get_identity(r, &id);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK
        || mtlsauthz_identity_count(id, (mtlsauthz_field) data) == 0
        || mtlsauthz_identity_get(&s, &len, id, (mtlsauthz_field) data, 0)
           != 0)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ngx_http_mtlsauthz_escape(r->pool, &value, (u_char *) s, len,
                                  NGX_HTTP_MTLSAUTHZ_ESC_LOG)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value.data;

    return NGX_OK;
}


/* the reasons of docs/http.md */

const char *
ngx_http_mtlsauthz_reason_string(ngx_uint_t reason)
{
    if (reason == NGX_HTTP_MTLSAUTHZ_BAD_TARGET) {
        return "bad_target";
    }

    return mtlsauthz_reason_string((mtlsauthz_reason) reason);
}


/* Only a verified certificate's names are exposed: see the README. */

static ngx_int_t
ngx_http_mtlsauthz_spiffe_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    size_t                     len;
    ngx_str_t                  value;
    ngx_int_t                  rc;
    const char                *s;
    const mtlsauthz_identity  *id;

    rc = ngx_http_mtlsauthz_get_identity(r, &id);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc != NGX_OK
        || mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_SPIFFE_ID) == 0
        || mtlsauthz_identity_get(&s, &len, id, MTLSAUTHZ_FIELD_SPIFFE_ID, 0)
           != 0)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ngx_http_mtlsauthz_escape(r->pool, &value, (u_char *) s, len,
                                  NGX_HTTP_MTLSAUTHZ_ESC_VAR)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mtlsauthz_san_dns_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    size_t                     len, total;
    ngx_int_t                  rc;
    ngx_str_t                 *values;
    ngx_uint_t                 i, n;
    const char                *s;
    const mtlsauthz_identity  *id;

    rc = ngx_http_mtlsauthz_get_identity(r, &id);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    n = (rc == NGX_OK) ? mtlsauthz_identity_count(id, MTLSAUTHZ_FIELD_SAN_DNS)
                       : 0;

    if (n == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    values = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
    if (values == NULL) {
        return NGX_ERROR;
    }

    total = 0;

    for (i = 0; i < n; i++) {
        if (mtlsauthz_identity_get(&s, &len, id, MTLSAUTHZ_FIELD_SAN_DNS, i)
            != 0
            || ngx_http_mtlsauthz_escape(r->pool, &values[i], (u_char *) s,
                                         len, NGX_HTTP_MTLSAUTHZ_ESC_VAR)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        total += values[i].len + 1;
    }

    p = ngx_pnalloc(r->pool, total);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    for (i = 0; i < n; i++) {
        if (i > 0) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, values[i].data, values[i].len);
    }

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * Loaded and compiled here, at configuration time, so that a bad policy fails
 * "nginx -t" (and a reload keeps the running configuration) with the library's
 * message.  One policy per file and cycle, shared by every location naming it.
 */

static char *
ngx_http_mtlsauthz_policy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mtlsauthz_loc_conf_t *alcf = conf;

    int                              rc;
    ngx_str_t                       *value, path;
    ngx_uint_t                       i;
    struct timeval                   start, end;
    mtlsauthz_error                  err;
    mtlsauthz_policy                *policy;
    ngx_pool_cleanup_t              *cln;
    ngx_http_mtlsauthz_policy_t     *p, **pp;
    ngx_http_mtlsauthz_main_conf_t  *amcf;

    if (alcf->policy != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (path.len == 0) {
        return "needs a file name";
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mtlsauthz_module);

    pp = amcf->policies.elts;

    for (i = 0; i < amcf->policies.nelts; i++) {
        if (pp[i]->path.len == path.len
            && ngx_strncmp(pp[i]->path.data, path.data, path.len) == 0)
        {
            alcf->policy = pp[i];
            return NGX_CONF_OK;
        }
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    mtlsauthz_error_clear(&err);
    ngx_gettimeofday(&start);

    /* ngx_conf_full_name() and the parser both leave path NUL-terminated */
    rc = mtlsauthz_policy_load_file(&policy, (const char *) path.data, &err);

    ngx_gettimeofday(&end);

    if (rc != 0) {
        /* a reload the running master refuses: see the metrics */
        ngx_http_mtlsauthz_metrics_reload((ngx_cycle_t *) ngx_cycle, 0);
    }

    if (rc != 0) {
        /* the library's message starts with the path */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mtlsauthz_policy: %s",
                           err.message[0] ? err.message
                                          : mtlsauthz_strerror(rc));
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_mtlsauthz_policy_cleanup;
    cln->data = policy;

    p = ngx_pcalloc(cf->pool, sizeof(ngx_http_mtlsauthz_policy_t));
    pp = ngx_array_push(&amcf->policies);

    if (p == NULL || pp == NULL) {
        return NGX_CONF_ERROR;
    }

    p->path = path;
    p->policy = policy;
    p->rules = mtlsauthz_policy_rule_count(policy);
    p->loaded = end;
    p->load_usec = (end.tv_sec - start.tv_sec) * 1000000
                   + end.tv_usec - start.tv_usec;

    *pp = p;
    alcf->policy = p;

    return NGX_CONF_OK;
}


static void
ngx_http_mtlsauthz_policy_cleanup(void *data)
{
    mtlsauthz_policy_free(data);
}


static ngx_int_t
ngx_http_mtlsauthz_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_mtlsauthz_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_mtlsauthz_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mtlsauthz_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mtlsauthz_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->policies, cf->pool, 4,
                       sizeof(ngx_http_mtlsauthz_policy_t *))
        != NGX_OK)
    {
        return NULL;
    }

    amcf->metrics_size = NGX_CONF_UNSET_SIZE;

    return amcf;
}


static char *
ngx_http_mtlsauthz_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mtlsauthz_main_conf_t *amcf = conf;

    ngx_conf_init_size_value(amcf->metrics_size, 1024 * 1024);

    return NGX_CONF_OK;
}


/*
 * mtlsauthz_log_level [deny=LEVEL] [allow=LEVEL]: the error-log level of the
 * decision records (docs/http.md, "Levels").  An allow with a dry-run match
 * is logged at the deny level.
 */

static char *
ngx_http_mtlsauthz_log_level(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mtlsauthz_loc_conf_t *alcf = conf;

    ngx_str_t   *value, name, level;
    ngx_uint_t   i, j, *target;

    static ngx_str_t  levels[] = {
        ngx_string("off"),      /* 0 */
        ngx_null_string,        /* NGX_LOG_EMERG */
        ngx_null_string,        /* NGX_LOG_ALERT */
        ngx_null_string,        /* NGX_LOG_CRIT */
        ngx_string("error"),    /* NGX_LOG_ERR */
        ngx_string("warn"),     /* NGX_LOG_WARN */
        ngx_string("notice"),   /* NGX_LOG_NOTICE */
        ngx_string("info"),     /* NGX_LOG_INFO */
        ngx_string("debug")     /* NGX_LOG_DEBUG */
    };

    if (alcf->log_deny != NGX_CONF_UNSET_UINT
        || alcf->log_allow != NGX_CONF_UNSET_UINT)
    {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "deny=", 5) == 0) {
            target = &alcf->log_deny;
            name.len = 4;

        } else if (ngx_strncmp(value[i].data, "allow=", 6) == 0) {
            target = &alcf->log_allow;
            name.len = 5;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": give deny=LEVEL"
                               " and/or allow=LEVEL", &value[i]);
            return NGX_CONF_ERROR;
        }

        name.data = value[i].data;

        if (*target != NGX_CONF_UNSET_UINT) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" is given twice", &name);
            return NGX_CONF_ERROR;
        }

        level.data = value[i].data + name.len + 1;
        level.len = value[i].len - name.len - 1;

        for (j = 0; j < sizeof(levels) / sizeof(levels[0]); j++) {
            if (levels[j].len != 0
                && levels[j].len == level.len
                && ngx_strncmp(levels[j].data, level.data, level.len) == 0)
            {
                *target = j;
                break;
            }
        }

        if (*target == NGX_CONF_UNSET_UINT) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid level \"%V\" in \"%V\": use error,"
                               " warn, notice, info, debug or off",
                               &level, &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * mtlsauthz_xfcc_trusted ADDRESS | CIDR | unix:, as set_real_ip_from: the
 * peers whose X-Forwarded-Client-Cert header is read.  Host names are not
 * accepted: a name resolved once, at configuration time, would go on trusting
 * whatever address it had then.
 */

static char *
ngx_http_mtlsauthz_xfcc_trusted(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_mtlsauthz_loc_conf_t *alcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_cidr_t   c, *cidr;

    value = cf->args->elts;

    ngx_memzero(&c, sizeof(ngx_cidr_t));

    if (value[1].len == sizeof("unix:") - 1
        && ngx_strncmp(value[1].data, "unix:", value[1].len) == 0)
    {
#if (NGX_HAVE_UNIX_DOMAIN)
        c.family = AF_UNIX;
#else
        return "cannot trust \"unix:\": this platform has no Unix sockets";
#endif

    } else {
        rc = ngx_ptocidr(&value[1], &c);

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address \"%V\": give an IP address,"
                               " a CIDR block such as 10.0.0.0/8, or \"unix:\""
                               " (host names are not resolved)", &value[1]);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &value[1]);
        }
    }

    if (alcf->xfcc_trusted == NULL) {
        alcf->xfcc_trusted = ngx_array_create(cf->pool, 2, sizeof(ngx_cidr_t));
        if (alcf->xfcc_trusted == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    cidr = ngx_array_push(alcf->xfcc_trusted);
    if (cidr == NULL) {
        return NGX_CONF_ERROR;
    }

    *cidr = c;

    return NGX_CONF_OK;
}


static void *
ngx_http_mtlsauthz_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mtlsauthz_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mtlsauthz_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = NGX_CONF_UNSET;
    conf->dry_run = NGX_CONF_UNSET;
    conf->policy = NGX_CONF_UNSET_PTR;
    conf->operation = NGX_CONF_UNSET_PTR;
    conf->log_deny = NGX_CONF_UNSET_UINT;
    conf->log_allow = NGX_CONF_UNSET_UINT;
    conf->xfcc = NGX_CONF_UNSET;

    /*
     * set by ngx_pcalloc():
     *
     *     conf->metrics_location = { 0, NULL };
     *     conf->xfcc_trusted = NULL;
     */

    return conf;
}


/*
 * "satisfy any" lets any other access handler's NGX_OK (an "allow", a good
 * auth_basic password) end the access phase past our 403.  That combination is
 * refused here, where the core module's location configuration is already
 * merged; in dry-run mode nothing is blocked, so there is nothing to bypass.
 *
 * A location that derives its operations from requests needs a policy that
 * declares "protocol: http": only then is an operation pattern that no HTTP
 * request can match ("post /x", "/x/") a load error rather than a rule that
 * silently never applies.  A policy without it gets a warning, once per file;
 * "mtlsauthz_operation" may name operations of any kind.
 *
 * The "location" label of the metrics is the location's name unless
 * "mtlsauthz_metrics_location" names it, here or at an outer level.
 */

static char *
ngx_http_mtlsauthz_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mtlsauthz_loc_conf_t *prev = parent;
    ngx_http_mtlsauthz_loc_conf_t *conf = child;

    ngx_str_t                 *name;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_core_srv_conf_t  *cscf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->dry_run, prev->dry_run, 0);
    ngx_conf_merge_ptr_value(conf->policy, prev->policy, NULL);
    ngx_conf_merge_ptr_value(conf->operation, prev->operation, NULL);
    ngx_conf_merge_uint_value(conf->log_deny, prev->log_deny, NGX_LOG_WARN);
    ngx_conf_merge_uint_value(conf->log_allow, prev->log_allow, NGX_LOG_INFO);
    ngx_conf_merge_value(conf->xfcc, prev->xfcc, 0);

    /* as set_real_ip_from: a level's list replaces the outer one */
    if (conf->xfcc_trusted == NULL) {
        conf->xfcc_trusted = prev->xfcc_trusted;
    }

    if (conf->metrics_location.data == NULL) {
        conf->metrics_location = prev->metrics_location;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    conf->metrics_label = conf->metrics_location.data ? conf->metrics_location
                                                      : clcf->name;

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (conf->metrics_label.len > NGX_HTTP_MTLSAUTHZ_LABEL_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "the name of location \"%V\" is longer than the"
                           " %d bytes a metrics label may have: name it with"
                           " \"mtlsauthz_metrics_location\"",
                           &clcf->name, NGX_HTTP_MTLSAUTHZ_LABEL_MAX);
        return NGX_CONF_ERROR;
    }

    if (conf->policy == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mtlsauthz on\" without \"mtlsauthz_policy\""
                           " in %s \"%V\"",
                           clcf->name.len ? "location" : "server",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (conf->xfcc && conf->xfcc_trusted == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mtlsauthz_xfcc on\" without"
                           " \"mtlsauthz_xfcc_trusted\" in %s \"%V\": list the"
                           " addresses of the proxies that may send"
                           " X-Forwarded-Client-Cert",
                           clcf->name.len ? "location" : "server",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY && !conf->dry_run) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mtlsauthz on\" cannot be combined with"
                           " \"satisfy any\" in %s \"%V\": another access"
                           " module could override its deny",
                           clcf->name.len ? "location" : "server",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (conf->operation == NULL
        && !conf->policy->warned
        && mtlsauthz_policy_protocol(conf->policy->policy)
           != MTLSAUTHZ_PROTOCOL_HTTP)
    {
        conf->policy->warned = 1;

        name = &clcf->name;

        if (name->len == 0) {
            cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
            name = &cscf->server_name;
        }

        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "mtlsauthz_policy \"%V\" does not declare"
                           " \"protocol: http\", but %s \"%V\" derives"
                           " operations from requests: add \"protocol: http\""
                           " to the policy, so that an operation no request"
                           " can match is a load error (see docs/policy.md)",
                           &conf->policy->path,
                           clcf->name.len ? "location" : "server", name);
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mtlsauthz_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt             *h;
    ngx_http_core_main_conf_t       *cmcf;
    ngx_http_mtlsauthz_main_conf_t  *amcf;

    if (ngx_http_mtlsauthz_ssl_index == -1) {
        ngx_http_mtlsauthz_ssl_index = SSL_get_ex_new_index(0, NULL, NULL,
                                                            NULL, NULL);
        if (ngx_http_mtlsauthz_ssl_index == -1) {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "SSL_get_ex_new_index() failed");
            return NGX_ERROR;
        }
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mtlsauthz_handler;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mtlsauthz_module);

    if (amcf->metrics) {
        return ngx_http_mtlsauthz_metrics_add_zone(cf, amcf);
    }

    return NGX_OK;
}


/* the new configuration is in effect */

static ngx_int_t
ngx_http_mtlsauthz_init_module(ngx_cycle_t *cycle)
{
    if (!ngx_is_init_cycle(cycle->old_cycle)) {
        ngx_http_mtlsauthz_metrics_reload(cycle, 1);
    }

    return NGX_OK;
}
