/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tables generated from the one list of selector keys (keys.h).
 */
#include "keys.h"

const char *const mtlsauthz__key_names[MTLSAUTHZ__KEY_COUNT] = {
#define KEY_NAME(e, name, field, wclass, fold, kind) [MTLSAUTHZ__KEY_##e] = name,
    MTLSAUTHZ__SELECTOR_KEYS(KEY_NAME)
#undef KEY_NAME
};

const mtlsauthz__key_facts mtlsauthz__keys[MTLSAUTHZ__KEY_COUNT] = {
#define KEY_FACTS(e, name, field, wclass, fold, kind)                                              \
    [MTLSAUTHZ__KEY_##e] = {MTLSAUTHZ_FIELD_##field, MTLSAUTHZ__WC_##wclass,                       \
                            MTLSAUTHZ__FOLD_##fold, MTLSAUTHZ__KIND_##kind},
    MTLSAUTHZ__SELECTOR_KEYS(KEY_FACTS)
#undef KEY_FACTS
};
