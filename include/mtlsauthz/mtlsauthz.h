/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmtlsauthz: mutual-TLS identity authorization.
 *
 * The umbrella header. It carries no OpenSSL or libcyaml types; the OpenSSL entry point is in
 * <mtlsauthz/openssl.h>.
 */
#ifndef MTLSAUTHZ_H
#define MTLSAUTHZ_H

#include "common.h"
#include "version.h"
#include "error.h"
#include "identity.h"
#include "xfcc.h"
#include "policy.h"
#include "http.h"
#include "policy_test.h"

#endif
