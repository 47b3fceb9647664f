/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The version and the layout facts bindings read at load (lib/version.c, docs/abi.md): they
 * must be what the compiler sees in the headers, or a binding that trusts them would read the
 * wrong memory.
 */
#include <ctype.h>
#include <stddef.h>

#include "helpers.h"
#include "mtlsauthz/mtlsauthz.h"

Test(version, string_is_spelled_from_the_numbers)
{
    char want[64];
    snprintf(want, sizeof(want), "%d.%d.%d", MTLSAUTHZ_VERSION_MAJOR, MTLSAUTHZ_VERSION_MINOR,
             MTLSAUTHZ_VERSION_PATCH);
    cr_assert_str_eq(MTLSAUTHZ_VERSION_STRING, want);
    cr_assert_str_eq(mtlsauthz_version(), want);
    cr_assert_eq(mtlsauthz_version_number(),
                 (unsigned long)((MTLSAUTHZ_VERSION_MAJOR << 16) | (MTLSAUTHZ_VERSION_MINOR << 8) |
                                 MTLSAUTHZ_VERSION_PATCH));
}

Test(version, struct_sizes_are_the_compilers)
{
    cr_assert_eq(mtlsauthz_struct_size(MTLSAUTHZ_STRUCT_ERROR), sizeof(mtlsauthz_error));
    cr_assert_eq(mtlsauthz_struct_size(MTLSAUTHZ_STRUCT_DECISION), sizeof(mtlsauthz_decision));
    cr_assert_eq(mtlsauthz_struct_size((mtlsauthz_struct_id)2), 0);
    cr_assert_eq(mtlsauthz_struct_size((mtlsauthz_struct_id)-1), 0);
}

static void member_is(mtlsauthz_struct_id id, const char *name, size_t offset, size_t size)
{
    size_t off = 99, sz = 99;
    cr_assert_eq(mtlsauthz_struct_member(&off, &sz, id, name), 0, "%s unknown", name);
    cr_assert_eq(off, offset, "%s: offset %zu, want %zu", name, off, offset);
    cr_assert_eq(sz, size, "%s: size %zu, want %zu", name, sz, size);
}

#define MEMBER_IS(id, type, m) member_is(id, #m, offsetof(type, m), sizeof(((type *)0)->m))

Test(version, members_are_the_compilers)
{
    MEMBER_IS(MTLSAUTHZ_STRUCT_ERROR, mtlsauthz_error, code);
    MEMBER_IS(MTLSAUTHZ_STRUCT_ERROR, mtlsauthz_error, line);
    MEMBER_IS(MTLSAUTHZ_STRUCT_ERROR, mtlsauthz_error, column);
    MEMBER_IS(MTLSAUTHZ_STRUCT_ERROR, mtlsauthz_error, message);
    MEMBER_IS(MTLSAUTHZ_STRUCT_DECISION, mtlsauthz_decision, allowed);
    MEMBER_IS(MTLSAUTHZ_STRUCT_DECISION, mtlsauthz_decision, reason);
    MEMBER_IS(MTLSAUTHZ_STRUCT_DECISION, mtlsauthz_decision, rule);
    MEMBER_IS(MTLSAUTHZ_STRUCT_DECISION, mtlsauthz_decision, dry_run_count);
    MEMBER_IS(MTLSAUTHZ_STRUCT_DECISION, mtlsauthz_decision, dry_run);
    member_is(MTLSAUTHZ_STRUCT_ERROR, "message", offsetof(mtlsauthz_error, message),
              MTLSAUTHZ_ERROR_MESSAGE_SIZE);
}

static void no_member(mtlsauthz_struct_id id, const char *name)
{
    size_t off = 99, sz = 99;
    cr_assert_eq(mtlsauthz_struct_member(&off, &sz, id, name), MTLSAUTHZ_EINVAL, "%s", name);
    cr_assert_eq(off, 0);
    cr_assert_eq(sz, 0);
}

Test(version, unknown_members_and_arguments_are_refused)
{
    size_t off = 99, sz = 99;
    /* reserved is not a fact a binding may rely on: it shrinks as fields take its place. */
    no_member(MTLSAUTHZ_STRUCT_DECISION, "reserved");
    no_member(MTLSAUTHZ_STRUCT_ERROR, "reserved");
    /* A member of the other struct, a prefix, a different case. */
    no_member(MTLSAUTHZ_STRUCT_ERROR, "allowed");
    no_member(MTLSAUTHZ_STRUCT_DECISION, "message");
    no_member(MTLSAUTHZ_STRUCT_DECISION, "dry_run_");
    no_member(MTLSAUTHZ_STRUCT_DECISION, "dry");
    no_member(MTLSAUTHZ_STRUCT_DECISION, "Allowed");
    no_member(MTLSAUTHZ_STRUCT_DECISION, "");
    no_member((mtlsauthz_struct_id)7, "allowed");
    cr_assert_eq(mtlsauthz_struct_member(&off, &sz, MTLSAUTHZ_STRUCT_ERROR, NULL),
                 MTLSAUTHZ_EINVAL);
    cr_assert_eq(off, 0);
    cr_assert_eq(sz, 0);
    cr_assert_eq(mtlsauthz_struct_member(NULL, &sz, MTLSAUTHZ_STRUCT_ERROR, "code"),
                 MTLSAUTHZ_EINVAL);
    cr_assert_eq(mtlsauthz_struct_member(&off, NULL, MTLSAUTHZ_STRUCT_ERROR, "code"),
                 MTLSAUTHZ_EINVAL);
}

Test(version, structs_have_room_to_grow)
{
    /* Four pointers of room after the last member, in both structs (docs/abi.md). */
    cr_assert_geq(sizeof(mtlsauthz_decision), offsetof(mtlsauthz_decision, dry_run) +
                                                  sizeof(((mtlsauthz_decision *)0)->dry_run) +
                                                  4 * sizeof(void *));
    cr_assert_geq(sizeof(mtlsauthz_error), offsetof(mtlsauthz_error, message) +
                                               MTLSAUTHZ_ERROR_MESSAGE_SIZE + 4 * sizeof(void *));
}

Test(version, dry_run_max)
{
    cr_assert_eq(mtlsauthz_decision_dry_run_max(), MTLSAUTHZ_DECISION_DRY_RUN_MAX);
    cr_assert_eq(mtlsauthz_decision_dry_run_max() * sizeof(const char *),
                 sizeof(((mtlsauthz_decision *)0)->dry_run));
}

static void field_is(mtlsauthz_field f, const char *enumerator)
{
    char want[64];
    size_t i;
    const char *got = mtlsauthz_field_name(f);
    for (i = 0; enumerator[i] != '\0' && i + 1 < sizeof(want); i++) {
        want[i] = (char)tolower((unsigned char)enumerator[i]);
    }
    want[i] = '\0';
    cr_assert(got != NULL, "field %d has no name", (int)f);
    cr_assert_str_eq(got, want, "field %d", (int)f);
}

/* The name is the enumerator's, so the list below is the enum read back. */
#define FIELD_IS(name) (field_is(MTLSAUTHZ_FIELD_##name, #name), n++)

Test(version, field_names_are_the_enumerators)
{
    size_t n = 0;
    FIELD_IS(SUBJECT_DN);
    FIELD_IS(CN);
    FIELD_IS(O);
    FIELD_IS(OU);
    FIELD_IS(ISSUER_DN);
    FIELD_IS(SERIAL);
    FIELD_IS(SHA256);
    FIELD_IS(SPIFFE_ID);
    FIELD_IS(SAN_DNS);
    FIELD_IS(SAN_URI);
    FIELD_IS(SAN_EMAIL);
    FIELD_IS(SAN_IP);
    FIELD_IS(EKU);
    FIELD_IS(NOT_BEFORE);
    FIELD_IS(NOT_AFTER);
    cr_assert_eq(n, (size_t)MTLSAUTHZ_FIELD_COUNT_, "a field is missing from this test");
    cr_assert_eq(mtlsauthz_field_count(), (size_t)MTLSAUTHZ_FIELD_COUNT_);
}

Test(version, field_name_of_a_non_field_is_null)
{
    cr_assert_null(mtlsauthz_field_name(MTLSAUTHZ_FIELD_COUNT_));
    cr_assert_null(mtlsauthz_field_name((mtlsauthz_field)-1));
    cr_assert_null(mtlsauthz_field_name((mtlsauthz_field)1000));
    /* Every number below the count has a distinct name. */
    for (size_t i = 0; i < mtlsauthz_field_count(); i++) {
        for (size_t j = 0; j < i; j++) {
            cr_assert_str_neq(mtlsauthz_field_name((mtlsauthz_field)i),
                              mtlsauthz_field_name((mtlsauthz_field)j));
        }
    }
}
