/* SPDX-License-Identifier: Apache-2.0 */

/*
 * ngx_http_mtlsauthz_module: what its files share.
 *
 *   ngx_http_mtlsauthz_module.c   directives, the access check, the identity
 *   ngx_http_mtlsauthz_record.c   the decision record: refusal bodies, the
 *                                 log record, their JSON (docs/http.md)
 *   ngx_http_mtlsauthz_metrics.c  counters in shared memory and the
 *                                 Prometheus text handler
 */


#ifndef _NGX_HTTP_MTLSAUTHZ_MODULE_H_INCLUDED_
#define _NGX_HTTP_MTLSAUTHZ_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <mtlsauthz/mtlsauthz.h>


/*
 * The reasons of docs/http.md: the core's (mtlsauthz_reason, 0 to 5) and
 * bad_target, which no decision produces.
 */
#define NGX_HTTP_MTLSAUTHZ_BAD_TARGET     6
#define NGX_HTTP_MTLSAUTHZ_NREASONS       7

/* the longest value of the "location" label of the metrics */
#define NGX_HTTP_MTLSAUTHZ_LABEL_MAX      1024


typedef struct {
    ngx_str_t                     path;
    mtlsauthz_policy             *policy;
    ngx_uint_t                    warned;     /* about "protocol: http" */
    ngx_uint_t                    rules;
    ngx_msec_t                    load_usec;  /* how long the load took */
    struct timeval                loaded;     /* when it was loaded */
} ngx_http_mtlsauthz_policy_t;


typedef struct {
    ngx_array_t                   policies;   /* ngx_http_mtlsauthz_policy_t * */
    ngx_uint_t                    metrics;    /* "mtlsauthz_metrics" is used */
    size_t                        metrics_size;
    ngx_shm_zone_t               *metrics_zone;
} ngx_http_mtlsauthz_main_conf_t;


typedef struct {
    ngx_flag_t                    enable;
    ngx_flag_t                    dry_run;
    ngx_http_mtlsauthz_policy_t  *policy;
    ngx_http_complex_value_t     *operation;
    ngx_uint_t                    log_deny;   /* NGX_LOG_*, 0: off */
    ngx_uint_t                    log_allow;
    ngx_str_t                     metrics_location;
    ngx_str_t                     metrics_label;  /* in effect */
    ngx_flag_t                    xfcc;
    ngx_array_t                  *xfcc_trusted;   /* ngx_cidr_t */
} ngx_http_mtlsauthz_loc_conf_t;


/*
 * One request's decision, as docs/http.md records it.  The strings are
 * borrowed: rule ids from the policy (which the connection's peer, or the
 * cycle, keeps alive), the identity from the connection's cache (or, read
 * from X-Forwarded-Client-Cert, from a cleanup of the request pool), the
 * rest from the request pool.
 */
typedef struct {
    ngx_uint_t                    decided;
    ngx_uint_t                    allowed;
    ngx_uint_t                    reason;     /* mtlsauthz_reason or BAD_TARGET */
    ngx_uint_t                    status;     /* 0: passed on */
    const char                   *rule;
    size_t                        ndry;       /* dry-run ids listed below */
    const char                   *dry_run[MTLSAUTHZ_DECISION_DRY_RUN_MAX];
    ngx_str_t                     operation;  /* data NULL: refused */
    ngx_str_t                     detail;     /* data NULL: none */
    const mtlsauthz_identity     *identity;   /* NULL: no verified one */
    ngx_uint_t                    xfcc;       /* decided on the XFCC header */
    ngx_uint_t                    xfcc_logged;  /* "ignored", once */
    ngx_str_t                     record;     /* the rendered log record */
} ngx_http_mtlsauthz_ctx_t;


extern ngx_module_t  ngx_http_mtlsauthz_module;


/*
 * What the files share stays inside the module: it exports only what nginx
 * loads (see the README, "Linking").
 */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

const char *ngx_http_mtlsauthz_reason_string(ngx_uint_t reason);

/* ngx_http_mtlsauthz_record.c */
ngx_int_t ngx_http_mtlsauthz_record(ngx_http_request_t *r,
    ngx_http_mtlsauthz_ctx_t *ctx, ngx_str_t *out);
void ngx_http_mtlsauthz_log_record(ngx_http_request_t *r,
    ngx_http_mtlsauthz_ctx_t *ctx, ngx_uint_t level);
ngx_int_t ngx_http_mtlsauthz_send_refusal(ngx_http_request_t *r,
    ngx_http_mtlsauthz_ctx_t *ctx);

/* ngx_http_mtlsauthz_metrics.c */
ngx_int_t ngx_http_mtlsauthz_metrics_add_zone(ngx_conf_t *cf,
    ngx_http_mtlsauthz_main_conf_t *amcf);
void ngx_http_mtlsauthz_metrics_count(ngx_http_request_t *r,
    ngx_http_mtlsauthz_loc_conf_t *alcf, ngx_http_mtlsauthz_ctx_t *ctx);
void ngx_http_mtlsauthz_metrics_reload(ngx_cycle_t *cycle,
    ngx_uint_t success);
char *ngx_http_mtlsauthz_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif


#endif /* _NGX_HTTP_MTLSAUTHZ_MODULE_H_INCLUDED_ */
