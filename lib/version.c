/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the loaded library is: its version, and the layout facts that FFI bindings compare
 * with their own copy at load instead of trusting it (docs/abi.md, "Bindings"): struct sizes
 * and members, the dry-run maximum, the identity fields' numbers and names.
 */
#include <string.h>

#include "fields.h"
#include "internal.h"

const char *mtlsauthz_version(void)
{
    return MTLSAUTHZ_VERSION_STRING;
}

unsigned long mtlsauthz_version_number(void)
{
    return MTLSAUTHZ_VERSION_NUMBER;
}

/* ---- struct layouts ---- */

/*
 * The members a caller reads, per struct. `reserved` is left out on purpose: later fields take
 * its place, so its offset and size are not a fact a binding may depend on.
 */
typedef struct member {
    const char *name;
    size_t offset, size;
} member;

/* name, offsetof, sizeof: one initializer of `member` */
#define MEMBER(type, m) #m, offsetof(type, m), sizeof(((type *)0)->m)

static const member error_members[] = {
    {MEMBER(mtlsauthz_error, code)},
    {MEMBER(mtlsauthz_error, line)},
    {MEMBER(mtlsauthz_error, column)},
    {MEMBER(mtlsauthz_error, message)},
};

static const member decision_members[] = {
    {MEMBER(mtlsauthz_decision, allowed)}, {MEMBER(mtlsauthz_decision, reason)},
    {MEMBER(mtlsauthz_decision, rule)},    {MEMBER(mtlsauthz_decision, dry_run_count)},
    {MEMBER(mtlsauthz_decision, dry_run)},
};

size_t mtlsauthz_struct_size(mtlsauthz_struct_id id)
{
    switch (id) {
    case MTLSAUTHZ_STRUCT_ERROR:
        return sizeof(mtlsauthz_error);
    case MTLSAUTHZ_STRUCT_DECISION:
        return sizeof(mtlsauthz_decision);
    }
    return 0;
}

int mtlsauthz_struct_member(size_t *offset, size_t *size, mtlsauthz_struct_id id, const char *name)
{
    const member *v = NULL;
    size_t n = 0;

    if (offset != NULL) {
        *offset = 0;
    }
    if (size != NULL) {
        *size = 0;
    }
    if (offset == NULL || size == NULL || name == NULL) {
        return MTLSAUTHZ_EINVAL;
    }
    switch (id) {
    case MTLSAUTHZ_STRUCT_ERROR:
        v = error_members;
        n = sizeof(error_members) / sizeof(error_members[0]);
        break;
    case MTLSAUTHZ_STRUCT_DECISION:
        v = decision_members;
        n = sizeof(decision_members) / sizeof(decision_members[0]);
        break;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].name, name) == 0) {
            *offset = v[i].offset;
            *size = v[i].size;
            return 0;
        }
    }
    return MTLSAUTHZ_EINVAL;
}

size_t mtlsauthz_decision_dry_run_max(void)
{
    return MTLSAUTHZ_DECISION_DRY_RUN_MAX;
}

/* ---- identity fields ---- */

/* Keyed by the enumerator (fields.h), so a name cannot slip to another number. */
#define NAME(ENUM, name, label, ARITY) [MTLSAUTHZ_FIELD_##ENUM] = name,
static const char *const field_names[] = {MTLSAUTHZ__FIELDS(NAME)};
#undef NAME
_Static_assert(sizeof(field_names) / sizeof(field_names[0]) == MTLSAUTHZ_FIELD_COUNT_,
               "every identity field is a row of MTLSAUTHZ__FIELDS (fields.h)");

const char *mtlsauthz_field_name(mtlsauthz_field field)
{
    if ((int)field < 0 || field >= MTLSAUTHZ_FIELD_COUNT_) {
        return NULL;
    }
    return field_names[field];
}

size_t mtlsauthz_field_count(void)
{
    return MTLSAUTHZ_FIELD_COUNT_;
}
