/* SPDX-License-Identifier: Apache-2.0 */

/*
 * The metrics of docs/http.md: counters in a shared memory zone, which every
 * worker adds to, and a content handler ("mtlsauthz_metrics;") that writes
 * them in Prometheus' text format, as stub_status does for connections.
 *
 * The zone holds an open-addressing hash table of series, keyed by the
 * metric, the decision, the reason, the location's label and the rule id,
 * and an arena for the keys.  A request adds to its series with one
 * ngx_atomic_fetch_add(); no lock is taken, ever.  A series not yet in the
 * table is claimed with a compare-and-swap on a free slot; two workers that
 * claim the same new series at once may each get a slot, and the handler adds
 * such duplicates up.  Series are bounded by the rules of the policies (each
 * rule is one series per location: the allow rule that allowed, the deny rule
 * that denied, or the dry-run rule that matched) plus the rule-less reasons.
 * A series that finds the table or the arena full is not kept, and counted in
 * mtlsauthz_metrics_dropped_total.
 *
 * The zone lives across reloads: nginx reuses a zone whose name and size are
 * unchanged, so the counters carry on.  When mtlsauthz_metrics_zone changes
 * the size, the new zone starts with a copy of the old one's series.
 */


#include "ngx_http_mtlsauthz_module.h"


#define NGX_HTTP_MTLSAUTHZ_FREE      0
#define NGX_HTTP_MTLSAUTHZ_BUSY      1       /* being written */
#define NGX_HTTP_MTLSAUTHZ_READY     2
#define NGX_HTTP_MTLSAUTHZ_DEAD      3       /* claimed, no room for its key */

#define NGX_HTTP_MTLSAUTHZ_DECISION  0
#define NGX_HTTP_MTLSAUTHZ_DRY_RUN   1

/* rule ids: docs/limits.md */
#define NGX_HTTP_MTLSAUTHZ_RULE_MAX  256

/* kind, allowed, reason; the label; a NUL; the rule id */
#define NGX_HTTP_MTLSAUTHZ_KEY_MAX                                            \
    (3 + NGX_HTTP_MTLSAUTHZ_LABEL_MAX + 1 + NGX_HTTP_MTLSAUTHZ_RULE_MAX)

/*
 * What a series costs on average, its slot and its key in the arena: the
 * table gets one slot per this many bytes of the zone, rounded down to a power
 * of two (8192 slots in 1m), and the arena the rest.
 */
#define NGX_HTTP_MTLSAUTHZ_SERIES_COST  96

/* the largest zone, 1g: far more than any policy needs */
#define NGX_HTTP_MTLSAUTHZ_ZONE_MAX     (1024 * 1024 * 1024)


typedef struct {
    ngx_atomic_t                  state;
    ngx_atomic_t                  count;
    uint32_t                      hash;
    uint32_t                      key;        /* offset in the arena */
    uint32_t                      key_len;
} ngx_http_mtlsauthz_series_t;


typedef struct {
    ngx_atomic_t                  reloads[2]; /* failure, success */
    ngx_atomic_t                  dropped;
    ngx_atomic_t                  arena_used;
    ngx_uint_t                    nseries;    /* a power of two */
    size_t                        arena_size;
    ngx_http_mtlsauthz_series_t  *series;
    u_char                       *arena;
} ngx_http_mtlsauthz_shm_t;


/* a series as the handler reads it */
typedef struct {
    u_char                       *key;
    size_t                        key_len;
    ngx_atomic_uint_t             count;
} ngx_http_mtlsauthz_snap_t;


static ngx_int_t ngx_http_mtlsauthz_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_shm_zone_t *ngx_http_mtlsauthz_metrics_find(ngx_cycle_t *cycle);
static void ngx_http_mtlsauthz_metrics_add(ngx_http_mtlsauthz_shm_t *shm,
    u_char *key, size_t len, ngx_atomic_uint_t n);
static ngx_int_t ngx_http_mtlsauthz_metrics_handler(ngx_http_request_t *r);
static int ngx_libc_cdecl ngx_http_mtlsauthz_snap_cmp(const void *one,
    const void *two);
static size_t ngx_http_mtlsauthz_label_len(u_char *s, size_t len);
static u_char *ngx_http_mtlsauthz_label(u_char *p, u_char *s, size_t len);


static ngx_str_t  ngx_http_mtlsauthz_zone_name =
    ngx_string("mtlsauthz_metrics");


/* called at postconfiguration, when some location has "mtlsauthz_metrics" */

ngx_int_t
ngx_http_mtlsauthz_metrics_add_zone(ngx_conf_t *cf,
    ngx_http_mtlsauthz_main_conf_t *amcf)
{
    ngx_shm_zone_t  *zone;

    /* arena offsets are 32-bit */
    if (amcf->metrics_size > NGX_HTTP_MTLSAUTHZ_ZONE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mtlsauthz_metrics_zone of %uz bytes is too large:"
                           " give it at most %uz",
                           amcf->metrics_size,
                           (size_t) NGX_HTTP_MTLSAUTHZ_ZONE_MAX);
        return NGX_ERROR;
    }

    if (amcf->metrics_size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mtlsauthz_metrics_zone of %uz bytes is too small:"
                           " give it at least %uz",
                           amcf->metrics_size, 8 * ngx_pagesize);
        return NGX_ERROR;
    }

    zone = ngx_shared_memory_add(cf, &ngx_http_mtlsauthz_zone_name,
                                 amcf->metrics_size,
                                 &ngx_http_mtlsauthz_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_mtlsauthz_metrics_init_zone;
    amcf->metrics_zone = zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mtlsauthz_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    u_char                       *p;
    size_t                        size;
    ngx_uint_t                    n, i;
    ngx_shm_zone_t               *old;
    ngx_slab_pool_t              *shpool;
    ngx_http_mtlsauthz_shm_t     *shm, *oshm;
    ngx_http_mtlsauthz_series_t  *s;

    if (data) {
        /* the same zone as the running configuration's: carry on */
        zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        zone->data = shpool->data;
        return NGX_OK;
    }

    size = shpool->pfree << ngx_pagesize_shift;

    p = ngx_slab_alloc(shpool, size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(p, sizeof(ngx_http_mtlsauthz_shm_t));

    shm = (ngx_http_mtlsauthz_shm_t *) p;
    p += sizeof(ngx_http_mtlsauthz_shm_t);
    size -= sizeof(ngx_http_mtlsauthz_shm_t);

    for (n = 1; n * 2 * NGX_HTTP_MTLSAUTHZ_SERIES_COST <= size; n *= 2) {
        /* void */
    }

    shm->nseries = n;
    shm->series = (ngx_http_mtlsauthz_series_t *) p;
    ngx_memzero(p, n * sizeof(ngx_http_mtlsauthz_series_t));

    shm->arena = p + n * sizeof(ngx_http_mtlsauthz_series_t);
    shm->arena_size = size - n * sizeof(ngx_http_mtlsauthz_series_t);

    shpool->data = shm;
    zone->data = shm;

    /* a resized zone: start from the running configuration's counts */

    old = ngx_http_mtlsauthz_metrics_find((ngx_cycle_t *) ngx_cycle);

    if (old == NULL || old->data == NULL) {
        return NGX_OK;
    }

    oshm = old->data;

    shm->reloads[0] = oshm->reloads[0];
    shm->reloads[1] = oshm->reloads[1];
    shm->dropped = oshm->dropped;

    for (i = 0; i < oshm->nseries; i++) {
        s = &oshm->series[i];

        if (s->state == NGX_HTTP_MTLSAUTHZ_READY) {
            ngx_memory_barrier();
            ngx_http_mtlsauthz_metrics_add(shm, oshm->arena + s->key,
                                           s->key_len, s->count);
        }
    }

    return NGX_OK;
}


static ngx_shm_zone_t *
ngx_http_mtlsauthz_metrics_find(ngx_cycle_t *cycle)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *zone;

    if (ngx_is_init_cycle(cycle)) {
        return NULL;
    }

    part = &cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag == &ngx_http_mtlsauthz_module
            && zone[i].shm.name.len == ngx_http_mtlsauthz_zone_name.len
            && ngx_strncmp(zone[i].shm.name.data,
                           ngx_http_mtlsauthz_zone_name.data,
                           ngx_http_mtlsauthz_zone_name.len)
               == 0)
        {
            return &zone[i];
        }
    }
}


/*
 * A reload that took effect (from the new cycle's init_module), or one that a
 * policy made fail (from the master parsing it, while the running cycle is
 * still ngx_cycle).
 */

void
ngx_http_mtlsauthz_metrics_reload(ngx_cycle_t *cycle, ngx_uint_t success)
{
    ngx_shm_zone_t            *zone;
    ngx_http_mtlsauthz_shm_t  *shm;

    /* not "nginx -t", nor "nginx -s reload", which has no zones anyway */
    if (ngx_test_config
        || (ngx_process != NGX_PROCESS_MASTER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return;
    }

    zone = ngx_http_mtlsauthz_metrics_find(cycle);

    if (zone == NULL || zone->data == NULL) {
        return;
    }

    shm = zone->data;

    (void) ngx_atomic_fetch_add(&shm->reloads[success ? 1 : 0], 1);
}


void
ngx_http_mtlsauthz_metrics_count(ngx_http_request_t *r,
    ngx_http_mtlsauthz_loc_conf_t *alcf, ngx_http_mtlsauthz_ctx_t *ctx)
{
    u_char                          *p, *label_end;
    size_t                           len;
    ngx_uint_t                       i;
    const char                      *rule;
    ngx_http_mtlsauthz_shm_t        *shm;
    ngx_http_mtlsauthz_main_conf_t  *amcf;
    u_char                           key[NGX_HTTP_MTLSAUTHZ_KEY_MAX];

    amcf = ngx_http_get_module_main_conf(r, ngx_http_mtlsauthz_module);

    if (amcf->metrics_zone == NULL || amcf->metrics_zone->data == NULL) {
        return;
    }

    shm = amcf->metrics_zone->data;

    /* the label's length is checked at configuration time */
    key[0] = NGX_HTTP_MTLSAUTHZ_DECISION;
    key[1] = (u_char) ctx->allowed;
    key[2] = (u_char) ctx->reason;

    label_end = ngx_cpymem(key + 3, alcf->metrics_label.data,
                           alcf->metrics_label.len);
    *label_end++ = '\0';

    for (i = 0; i <= ctx->ndry; i++) {

        if (i == 0) {
            rule = ctx->rule;

        } else {
            key[0] = NGX_HTTP_MTLSAUTHZ_DRY_RUN;
            key[1] = 0;
            key[2] = 0;
            rule = ctx->dry_run[i - 1];
        }

        len = rule ? ngx_strlen(rule) : 0;

        if (len > NGX_HTTP_MTLSAUTHZ_RULE_MAX) {
            /* never a cut rule id, which could stand for another rule */
            (void) ngx_atomic_fetch_add(&shm->dropped, 1);
            continue;
        }

        p = len ? ngx_cpymem(label_end, rule, len) : label_end;

        ngx_http_mtlsauthz_metrics_add(shm, key, p - key, 1);
    }
}


static void
ngx_http_mtlsauthz_metrics_add(ngx_http_mtlsauthz_shm_t *shm, u_char *key,
    size_t len, ngx_atomic_uint_t n)
{
    uint32_t                      hash;
    ngx_uint_t                    i, j, mask;
    ngx_atomic_uint_t             off;
    ngx_http_mtlsauthz_series_t  *s;

    hash = ngx_murmur_hash2(key, len);
    mask = shm->nseries - 1;

    for (i = 0, j = hash & mask; i < shm->nseries; i++, j = (j + 1) & mask) {
        s = &shm->series[j];

    again:

        switch (s->state) {

        case NGX_HTTP_MTLSAUTHZ_READY:
            /* the key was written before the state */
            ngx_memory_barrier();

            if (s->hash == hash && s->key_len == len
                && ngx_memcmp(shm->arena + s->key, key, len) == 0)
            {
                (void) ngx_atomic_fetch_add(&s->count, n);
                return;
            }

            continue;

        case NGX_HTTP_MTLSAUTHZ_FREE:

            if (shm->arena_used + len > shm->arena_size) {
                goto full;
            }

            if (!ngx_atomic_cmp_set(&s->state, NGX_HTTP_MTLSAUTHZ_FREE,
                                    NGX_HTTP_MTLSAUTHZ_BUSY))
            {
                goto again;
            }

            off = ngx_atomic_fetch_add(&shm->arena_used, len);

            if (off + len > shm->arena_size) {
                ngx_memory_barrier();
                s->state = NGX_HTTP_MTLSAUTHZ_DEAD;
                goto full;
            }

            ngx_memcpy(shm->arena + off, key, len);
            s->hash = hash;
            s->key = (uint32_t) off;
            s->key_len = (uint32_t) len;
            s->count = n;

            ngx_memory_barrier();
            s->state = NGX_HTTP_MTLSAUTHZ_READY;
            return;

        default:
            /* another series, or this one being claimed by another worker */
            continue;
        }
    }

full:

    (void) ngx_atomic_fetch_add(&shm->dropped, n);
}


char *
ngx_http_mtlsauthz_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_mtlsauthz_main_conf_t  *amcf;

#if !(NGX_HAVE_ATOMIC_OPS)
    return "needs atomic operations, which this nginx was built without";
#endif

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_mtlsauthz_metrics_handler;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mtlsauthz_module);
    amcf->metrics = 1;

    return NGX_CONF_OK;
}


/* key order: the metric, then the label and the rule, then decision, reason */

static int ngx_libc_cdecl
ngx_http_mtlsauthz_snap_cmp(const void *one, const void *two)
{
    int                               rc;
    size_t                            len;
    const ngx_http_mtlsauthz_snap_t  *a = one, *b = two;

    if (a->key[0] != b->key[0]) {
        return a->key[0] - b->key[0];
    }

    len = ngx_min(a->key_len, b->key_len) - 3;

    rc = ngx_memcmp(a->key + 3, b->key + 3, len);

    if (rc != 0) {
        return rc;
    }

    if (a->key_len != b->key_len) {
        return a->key_len < b->key_len ? -1 : 1;
    }

    return ngx_memcmp(a->key + 1, b->key + 1, 2);
}


/* a label value in Prometheus' text format: \\, \" and \n escaped */

static size_t
ngx_http_mtlsauthz_label_len(u_char *s, size_t len)
{
    size_t  i, n;

    n = len + 2;

    for (i = 0; i < len; i++) {
        if (s[i] == '\\' || s[i] == '"' || s[i] == '\n') {
            n++;
        }
    }

    return n;
}


static u_char *
ngx_http_mtlsauthz_label(u_char *p, u_char *s, size_t len)
{
    size_t  i;

    *p++ = '"';

    for (i = 0; i < len; i++) {
        if (s[i] == '\\' || s[i] == '"') {
            *p++ = '\\';
            *p++ = s[i];

        } else if (s[i] == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else {
            *p++ = s[i];
        }
    }

    *p++ = '"';

    return p;
}


#define NGX_HTTP_MTLSAUTHZ_HELP(name, type, help)                             \
    "# HELP " name " " help "\n# TYPE " name " " type "\n"

static const char  ngx_http_mtlsauthz_help_decisions[] =
    NGX_HTTP_MTLSAUTHZ_HELP("mtlsauthz_decisions_total", "counter",
        "Requests decided, by decision, reason, deciding rule and location.");
static const char  ngx_http_mtlsauthz_help_dry_run[] =
    NGX_HTTP_MTLSAUTHZ_HELP("mtlsauthz_dry_run_matches_total", "counter",
        "Dry-run rule matches, by rule and location.");
static const char  ngx_http_mtlsauthz_help_reloads[] =
    NGX_HTTP_MTLSAUTHZ_HELP("mtlsauthz_policy_reloads_total", "counter",
        "Configuration reloads that loaded the policies, and reloads a"
        " policy made fail.");
static const char  ngx_http_mtlsauthz_help_rules[] =
    NGX_HTTP_MTLSAUTHZ_HELP("mtlsauthz_policy_rules", "gauge",
        "Rules in the policy in use.");
static const char  ngx_http_mtlsauthz_help_load[] =
    NGX_HTTP_MTLSAUTHZ_HELP("mtlsauthz_policy_load_seconds", "gauge",
        "How long the policy in use took to load.");
static const char  ngx_http_mtlsauthz_help_loaded[] =
    NGX_HTTP_MTLSAUTHZ_HELP(
        "mtlsauthz_policy_last_reload_success_timestamp_seconds", "gauge",
        "When the policy in use was loaded.");
static const char  ngx_http_mtlsauthz_help_dropped[] =
    NGX_HTTP_MTLSAUTHZ_HELP("mtlsauthz_metrics_dropped_total", "counter",
        "Counts not kept because mtlsauthz_metrics_zone was full.");


#define ngx_http_mtlsauthz_cpy(p, s)  ngx_cpymem(p, s, sizeof(s) - 1)


static ngx_int_t
ngx_http_mtlsauthz_metrics_handler(ngx_http_request_t *r)
{
    u_char                          *p, *label, *rule, *end;
    size_t                           size, label_len;
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_uint_t                       i, n, kind;
    ngx_chain_t                      out;
    ngx_http_mtlsauthz_shm_t        *shm;
    ngx_http_mtlsauthz_snap_t       *snap;
    ngx_http_mtlsauthz_policy_t    **policies;
    ngx_http_mtlsauthz_series_t     *s;
    ngx_http_mtlsauthz_main_conf_t  *amcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_mtlsauthz_module);

    if (amcf->metrics_zone == NULL || amcf->metrics_zone->data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    shm = amcf->metrics_zone->data;
    policies = amcf->policies.elts;

    /* a snapshot of the ready series, sorted, with duplicates added up */

    snap = ngx_palloc(r->pool, shm->nseries * sizeof(ngx_http_mtlsauthz_snap_t));
    if (snap == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    for (i = 0; i < shm->nseries; i++) {
        s = &shm->series[i];

        if (s->state != NGX_HTTP_MTLSAUTHZ_READY) {
            continue;
        }

        ngx_memory_barrier();

        snap[n].key = shm->arena + s->key;
        snap[n].key_len = s->key_len;
        snap[n].count = s->count;
        n++;
    }

    ngx_qsort(snap, n, sizeof(ngx_http_mtlsauthz_snap_t),
              ngx_http_mtlsauthz_snap_cmp);

    for (i = 1, kind = 0; i < n; i++) {
        if (snap[i].key_len == snap[kind].key_len
            && ngx_memcmp(snap[i].key, snap[kind].key, snap[i].key_len) == 0)
        {
            snap[kind].count += snap[i].count;

        } else {
            snap[++kind] = snap[i];
        }
    }

    n = n ? kind + 1 : 0;

    /* the size, then the text */

    size = sizeof(ngx_http_mtlsauthz_help_decisions)
           + sizeof(ngx_http_mtlsauthz_help_dry_run)
           + sizeof(ngx_http_mtlsauthz_help_reloads)
           + sizeof(ngx_http_mtlsauthz_help_rules)
           + sizeof(ngx_http_mtlsauthz_help_load)
           + sizeof(ngx_http_mtlsauthz_help_loaded)
           + sizeof(ngx_http_mtlsauthz_help_dropped)
           + 2 * sizeof("mtlsauthz_policy_reloads_total{result=\"success\"} \n")
           + 3 * NGX_ATOMIC_T_LEN
           + sizeof("mtlsauthz_metrics_dropped_total \n");

    for (i = 0; i < n; i++) {
        label = snap[i].key + 3;
        label_len = ngx_strlen(label);
        rule = label + label_len + 1;

        size += sizeof("mtlsauthz_dry_run_matches_total{decision=\"allow\","
                       "reason=\"identity_rejected\",rule=,location=} \n")
                + ngx_http_mtlsauthz_label_len(label, label_len)
                + ngx_http_mtlsauthz_label_len(rule, snap[i].key
                                                     + snap[i].key_len - rule)
                + NGX_ATOMIC_T_LEN;
    }

    for (i = 0; i < amcf->policies.nelts; i++) {
        size += 3 * (sizeof("mtlsauthz_policy_last_reload_success_timestamp"
                            "_seconds{policy=} \n")
                     + ngx_http_mtlsauthz_label_len(policies[i]->path.data,
                                                    policies[i]->path.len)
                     + NGX_TIME_T_LEN + sizeof(".000000"));
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    for (kind = NGX_HTTP_MTLSAUTHZ_DECISION; kind <= NGX_HTTP_MTLSAUTHZ_DRY_RUN;
         kind++)
    {
        if (kind == NGX_HTTP_MTLSAUTHZ_DECISION) {
            p = ngx_http_mtlsauthz_cpy(p, ngx_http_mtlsauthz_help_decisions);

        } else {
            p = ngx_http_mtlsauthz_cpy(p, ngx_http_mtlsauthz_help_dry_run);
        }

        for (i = 0; i < n; i++) {
            if (snap[i].key[0] != kind) {
                continue;
            }

            label = snap[i].key + 3;
            label_len = ngx_strlen(label);
            rule = label + label_len + 1;
            end = snap[i].key + snap[i].key_len;

            if (kind == NGX_HTTP_MTLSAUTHZ_DECISION) {
                p = ngx_sprintf(p, "mtlsauthz_decisions_total{decision=\"%s\","
                                "reason=\"%s\",rule=",
                                snap[i].key[1] ? "allow" : "deny",
                                ngx_http_mtlsauthz_reason_string(
                                    snap[i].key[2]));

            } else {
                p = ngx_http_mtlsauthz_cpy(p,
                                           "mtlsauthz_dry_run_matches_total{"
                                           "rule=");
            }

            p = ngx_http_mtlsauthz_label(p, rule, end - rule);
            p = ngx_http_mtlsauthz_cpy(p, ",location=");
            p = ngx_http_mtlsauthz_label(p, label, label_len);
            p = ngx_sprintf(p, "} %uA\n", snap[i].count);
        }
    }

    p = ngx_http_mtlsauthz_cpy(p, ngx_http_mtlsauthz_help_reloads);
    p = ngx_sprintf(p, "mtlsauthz_policy_reloads_total{result=\"success\"} %uA\n"
                    "mtlsauthz_policy_reloads_total{result=\"failure\"} %uA\n",
                    shm->reloads[1], shm->reloads[0]);

    p = ngx_http_mtlsauthz_cpy(p, ngx_http_mtlsauthz_help_rules);

    for (i = 0; i < amcf->policies.nelts; i++) {
        p = ngx_http_mtlsauthz_cpy(p, "mtlsauthz_policy_rules{policy=");
        p = ngx_http_mtlsauthz_label(p, policies[i]->path.data,
                                     policies[i]->path.len);
        p = ngx_sprintf(p, "} %ui\n", policies[i]->rules);
    }

    p = ngx_http_mtlsauthz_cpy(p, ngx_http_mtlsauthz_help_load);

    for (i = 0; i < amcf->policies.nelts; i++) {
        p = ngx_http_mtlsauthz_cpy(p, "mtlsauthz_policy_load_seconds{policy=");
        p = ngx_http_mtlsauthz_label(p, policies[i]->path.data,
                                     policies[i]->path.len);
        p = ngx_sprintf(p, "} %M.%06M\n", policies[i]->load_usec / 1000000,
                        policies[i]->load_usec % 1000000);
    }

    p = ngx_http_mtlsauthz_cpy(p, ngx_http_mtlsauthz_help_loaded);

    for (i = 0; i < amcf->policies.nelts; i++) {
        p = ngx_http_mtlsauthz_cpy(p, "mtlsauthz_policy_last_reload_success"
                                      "_timestamp_seconds{policy=");
        p = ngx_http_mtlsauthz_label(p, policies[i]->path.data,
                                     policies[i]->path.len);
        p = ngx_sprintf(p, "} %T.%06ui\n", policies[i]->loaded.tv_sec,
                        (ngx_uint_t) policies[i]->loaded.tv_usec);
    }

    p = ngx_http_mtlsauthz_cpy(p, ngx_http_mtlsauthz_help_dropped);
    p = ngx_sprintf(p, "mtlsauthz_metrics_dropped_total %uA\n", shm->dropped);

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
