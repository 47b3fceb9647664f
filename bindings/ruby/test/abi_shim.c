/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A libmtlsauthz with another layout, for abi_test.rb: a shared library that depends on the
 * real one, so every function the gem looks up in it is the real one, except the layout facts
 * below, which report one difference, chosen by $MTLSAUTHZ_ABI_SHIM:
 *
 *   decision_size    mtlsauthz_decision is a pointer longer
 *   error_message    mtlsauthz_error's message starts 4 bytes later
 *   dry_run_max      a decision lists 16 dry-run rules
 *   fields_swapped   fields 8 and 9 trade names (san_dns, san_uri)
 *   fields_fewer     the last field is unknown (an older library)
 *   unset or ""      no difference: the shim itself must not make the gem refuse
 *
 * Built by the test only; the gem has no switch of its own for this.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <mtlsauthz/mtlsauthz.h>

static int lie(const char *what)
{
    const char *s = getenv("MTLSAUTHZ_ABI_SHIM");
    return s != NULL && strcmp(s, what) == 0;
}

/* The real library's function `name`: the next definition after this library's. */
static void *real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL) {
        abort();
    }
    return f;
}

size_t mtlsauthz_struct_size(mtlsauthz_struct_id id)
{
    size_t (*f)(mtlsauthz_struct_id) = (size_t(*)(mtlsauthz_struct_id))real(__func__);
    size_t n = f(id);
    if (id == MTLSAUTHZ_STRUCT_DECISION && lie("decision_size")) {
        n += sizeof(void *);
    }
    return n;
}

int mtlsauthz_struct_member(size_t *offset, size_t *size, mtlsauthz_struct_id id,
                            const char *member)
{
    int (*f)(size_t *, size_t *, mtlsauthz_struct_id, const char *) =
        (int (*)(size_t *, size_t *, mtlsauthz_struct_id, const char *))real(__func__);
    int rc = f(offset, size, id, member);
    if (rc == 0 && id == MTLSAUTHZ_STRUCT_ERROR && strcmp(member, "message") == 0 &&
        lie("error_message")) {
        *offset += 4;
    }
    return rc;
}

size_t mtlsauthz_decision_dry_run_max(void)
{
    size_t (*f)(void) = (size_t(*)(void))real(__func__);
    return lie("dry_run_max") ? 16 : f();
}

const char *mtlsauthz_field_name(mtlsauthz_field field)
{
    const char *(*f)(mtlsauthz_field) = (const char *(*)(mtlsauthz_field))real(__func__);
    if (lie("fields_swapped") && field == MTLSAUTHZ_FIELD_SAN_DNS) {
        return f(MTLSAUTHZ_FIELD_SAN_URI);
    }
    if (lie("fields_swapped") && field == MTLSAUTHZ_FIELD_SAN_URI) {
        return f(MTLSAUTHZ_FIELD_SAN_DNS);
    }
    if (lie("fields_fewer") && field == MTLSAUTHZ_FIELD_COUNT_ - 1) {
        return NULL;
    }
    return f(field);
}

size_t mtlsauthz_field_count(void)
{
    size_t (*f)(void) = (size_t(*)(void))real(__func__);
    return lie("fields_fewer") ? f() - 1 : f();
}
