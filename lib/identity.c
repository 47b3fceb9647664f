/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identities: the public entry points, the one dispatch every entry point goes through, the
 * getters and JSON. The identity side flows one way (docs/internals.md, "Data flow"): an entry
 * point checks its arguments and limits and frames the input into DER certificates (PEM is only
 * decoded to DER), the dispatch hands them to an extractor (der.c, else x509.c), and the
 * extractor feeds the builder (identity_build.c), which holds every rule about what an identity
 * says.
 */
#include <stdio.h>
#include <string.h>

#include "der.h"
#include "x509.h"

/*
 * The one dispatch: the DER walker first, then the OpenSSL extractor. The walker may only fall
 * back, never judge (der.h): whatever it does not build, the OpenSSL extractor decides, errors
 * included, so the walker changes neither what is accepted nor what an error says. `certs`
 * holds `count` DER certificates, leaf first, and `chain_len` is the length of the chain the
 * caller presented (more than `count` when only the leaf is walked). `leaf` is the caller's
 * parsed leaf, or NULL: the OpenSSL extractor then reads it rather than parsing `certs`.
 */
static int extract(mtlsauthz_identity **out, const unsigned char *const *certs, const size_t *lens,
                   size_t count, size_t chain_len, X509 *leaf, mtlsauthz_error *err)
{
    if (mtlsauthz__der_from_der_certs(out, certs, lens, count, chain_len) == 0) {
        return 0;
    }
    if (leaf != NULL) {
        return mtlsauthz__x509_from_x509(out, leaf, certs[0], lens[0], chain_len, err);
    }
    return mtlsauthz__x509_from_der_certs(out, certs, lens, count, err);
}

/* ---- the public API ---- */

/*
 * Splits `der_len` bytes (at least one) into the DER certificates they hold, appended to
 * certs[] and lens[] after the *n already there, at most MTLSAUTHZ__MAX_CHAIN in all. The
 * certificates point into `der`. Errors: MTLSAUTHZ_ECERT, MTLSAUTHZ_ELIMIT; certificates are
 * counted from the first of this input in the messages.
 */
static int frame_der(const unsigned char *certs[MTLSAUTHZ__MAX_CHAIN],
                     size_t lens[MTLSAUTHZ__MAX_CHAIN], size_t *n, const unsigned char *der,
                     size_t der_len, mtlsauthz_error *err)
{
    size_t off = 0, first = *n, len;

    while (off < der_len) {
        if (*n == MTLSAUTHZ__MAX_CHAIN) {
            return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "chain longer than %u certificates",
                                        MTLSAUTHZ__MAX_CHAIN);
        }
        len = mtlsauthz__der_cert_len(der + off, der_len - off);
        if (len == 0) {
            if (*n == first) {
                return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT,
                                            "not a DER certificate, or truncated");
            }
            return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT,
                                        "%zu bytes after certificate %zu are not a certificate",
                                        der_len - off, *n - first);
        }
        if (len > MTLSAUTHZ__MAX_CERT_BYTES) {
            return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                        "certificate %zu is larger than %u bytes", *n - first + 1,
                                        MTLSAUTHZ__MAX_CERT_BYTES);
        }
        certs[*n] = der + off;
        lens[*n] = len;
        (*n)++;
        off += len;
    }
    return 0;
}

int mtlsauthz_identity_from_der(mtlsauthz_identity **out, const unsigned char *der, size_t der_len,
                                mtlsauthz_error *err)
{
    const unsigned char *certs[MTLSAUTHZ__MAX_CHAIN];
    size_t lens[MTLSAUTHZ__MAX_CHAIN];
    size_t n = 0;
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "out is NULL");
    }
    *out = NULL;
    if (der == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "der is NULL");
    }
    if (der_len == 0) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "no certificate: input is empty");
    }
    if (der_len > MTLSAUTHZ__MAX_INPUT_BYTES) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "input larger than %u bytes",
                                    MTLSAUTHZ__MAX_INPUT_BYTES);
    }
    if ((rc = frame_der(certs, lens, &n, der, der_len, err)) != 0) {
        return rc;
    }
    return extract(out, certs, lens, n, n, NULL, err);
}

int mtlsauthz_identity_from_der_chain(mtlsauthz_identity **out, const unsigned char *const *certs,
                                      const size_t *lens, size_t count, mtlsauthz_error *err)
{
    size_t i, total = 0;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "out is NULL");
    }
    *out = NULL;
    if (count == 0) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "no certificate: chain is empty");
    }
    if (certs == NULL || lens == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "certs or lens is NULL");
    }
    if (count > MTLSAUTHZ__MAX_CHAIN) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "chain longer than %u certificates",
                                    MTLSAUTHZ__MAX_CHAIN);
    }
    for (i = 0; i < count; i++) {
        if (certs[i] == NULL) {
            return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "certificate %zu is NULL", i + 1);
        }
        if (lens[i] > MTLSAUTHZ__MAX_CERT_BYTES) {
            return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT,
                                        "certificate %zu is larger than %u bytes", i + 1,
                                        MTLSAUTHZ__MAX_CERT_BYTES);
        }
        total += lens[i];
        if (mtlsauthz__der_cert_len(certs[i], lens[i]) != lens[i]) {
            return mtlsauthz__error_set(
                err, MTLSAUTHZ_ECERT, "certificate %zu is not exactly one DER certificate", i + 1);
        }
    }
    /* The same limit as one concatenated input, so both entry points accept the same chains. */
    if (total > MTLSAUTHZ__MAX_INPUT_BYTES) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "input larger than %u bytes",
                                    MTLSAUTHZ__MAX_INPUT_BYTES);
    }
    return extract(out, certs, lens, count, count, NULL, err);
}

int mtlsauthz_identity_from_pem(mtlsauthz_identity **out, const char *pem, size_t pem_len,
                                mtlsauthz_error *err)
{
    unsigned char *blocks[MTLSAUTHZ__MAX_CHAIN];
    size_t lens[MTLSAUTHZ__MAX_CHAIN], n = 0;
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "out is NULL");
    }
    *out = NULL;
    if (pem == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "pem is NULL");
    }
    if (pem_len == 0) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "no certificate: input is empty");
    }
    if (pem_len > MTLSAUTHZ__MAX_INPUT_BYTES) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "input larger than %u bytes",
                                    MTLSAUTHZ__MAX_INPUT_BYTES);
    }
    if ((rc = mtlsauthz__x509_pem_to_der(blocks, lens, &n, pem, pem_len, err)) != 0) {
        return rc;
    }
    /* The blocks are not framed here: one with trailing bytes is the OpenSSL extractor's to
     * refuse ("trailing data after certificate N"), as is one that does not parse. */
    rc = extract(out, (const unsigned char *const *)blocks, lens, n, n, NULL, err);
    mtlsauthz__x509_free_der(blocks, n);
    return rc;
}

/* ---- certificate files ---- */

/* DER when the file starts with a well-formed certificate header (a DER certificate may hold
 * any bytes, "-----BEGIN " included); otherwise PEM if it holds a PEM boundary line anywhere
 * (RFC 7468 §2 allows text before it). Anything else goes to the DER reader, which says what is
 * wrong with it. */
static int looks_like_pem(const char *data, size_t len)
{
    static const char marker[] = "-----BEGIN ";
    const size_t mlen = sizeof(marker) - 1;
    size_t i;

    if (mtlsauthz__der_cert_len((const unsigned char *)data, len) != 0) {
        return 0;
    }
    for (i = 0; i + mlen <= len; i++) {
        if (data[i] == '-' && memcmp(data + i, marker, mlen) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The certificates of one file, framed into DER: they point into `data` (DER) or `blocks`
 * (decoded PEM). */
typedef struct cert_file {
    char *data;
    size_t len;
    const unsigned char *certs[MTLSAUTHZ__MAX_CHAIN];
    size_t lens[MTLSAUTHZ__MAX_CHAIN];
    size_t n;
    unsigned char *blocks[MTLSAUTHZ__MAX_CHAIN];
    size_t nblocks;
} cert_file;

static void cert_file_free(cert_file *f)
{
    mtlsauthz__x509_free_der(f->blocks, f->nblocks);
    mtlsauthz__free(f->data);
}

/* Reads and frames the file at `path`, as from_pem or from_der reads its content. Every message
 * starts with the path. */
static int cert_file_read(cert_file *f, const char *path, mtlsauthz_error *err)
{
    size_t i;
    int rc;

    memset(f, 0, sizeof(*f));
    /* read_file's messages already start with the path. */
    if ((rc = mtlsauthz__read_file(&f->data, &f->len, path, MTLSAUTHZ__MAX_INPUT_BYTES, err)) !=
        0) {
        return rc;
    }
    if (f->len == 0) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ECERT, "no certificate: input is empty");
    } else if (looks_like_pem(f->data, f->len)) {
        rc = mtlsauthz__x509_pem_to_der(f->blocks, f->lens, &f->nblocks, f->data, f->len, err);
        for (i = 0; rc == 0 && i < f->nblocks; i++) {
            f->certs[i] = f->blocks[i];
        }
        f->n = f->nblocks;
    } else {
        rc = frame_der(f->certs, f->lens, &f->n, (const unsigned char *)f->data, f->len, err);
    }
    if (rc != 0) {
        mtlsauthz__error_locate(err, path);
    }
    return rc;
}

int mtlsauthz_identity_from_file(mtlsauthz_identity **out, const char *cert_path,
                                 const char *chain_path, mtlsauthz_error *err)
{
    cert_file files[2];
    const unsigned char *certs[MTLSAUTHZ__MAX_CHAIN];
    size_t lens[MTLSAUTHZ__MAX_CHAIN], n = 0, total = 0, i, k, nfiles = 0;
    char what[MTLSAUTHZ_ERROR_MESSAGE_SIZE];
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "out is NULL");
    }
    *out = NULL;
    if (cert_path == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "no certificate file given");
    }
    rc = cert_file_read(&files[nfiles++], cert_path, err);
    if (rc == 0 && chain_path != NULL) {
        rc = cert_file_read(&files[nfiles++], chain_path, err);
    }
    if (rc != 0) {
        goto out;
    }
    /* One chain, leaf first, under the limits of one input. */
    if (chain_path != NULL) {
        snprintf(what, sizeof(what), "%s with chain %s", cert_path, chain_path);
    } else {
        snprintf(what, sizeof(what), "%s", cert_path);
    }
    for (k = 0; k < nfiles; k++) {
        for (i = 0; i < files[k].n; i++) {
            if (n == MTLSAUTHZ__MAX_CHAIN) {
                rc =
                    mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "chain longer than %u certificates",
                                         MTLSAUTHZ__MAX_CHAIN);
                goto located;
            }
            certs[n] = files[k].certs[i];
            lens[n] = files[k].lens[i];
            total += lens[n++];
        }
    }
    if (total > MTLSAUTHZ__MAX_INPUT_BYTES) {
        rc = mtlsauthz__error_set(err, MTLSAUTHZ_ELIMIT, "input larger than %u bytes",
                                  MTLSAUTHZ__MAX_INPUT_BYTES);
        goto located;
    }
    rc = extract(out, certs, lens, n, n, NULL, err);
located:
    if (rc != 0) {
        mtlsauthz__error_locate(err, what);
    }
out:
    for (k = 0; k < nfiles; k++) {
        cert_file_free(&files[k]);
    }
    return rc;
}

/*
 * Room on the stack for the leaf's encoding (x509.h): more than most certificates a TLS peer
 * presents take (1 to 2 KiB), so that the per-connection path allocates only the identity.
 * A larger leaf, up to MTLSAUTHZ__MAX_CERT_BYTES, is encoded into an allocation.
 */
#define X509_SCRATCH_BYTES 4096u

int mtlsauthz_identity_from_x509(mtlsauthz_identity **out, X509 *leaf, STACK_OF(X509) * chain,
                                 mtlsauthz_error *err)
{
    unsigned char scratch[X509_SCRATCH_BYTES];
    unsigned char *der = NULL;
    size_t der_len = 0, chain_len = 0;
    int rc;

    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "out is NULL");
    }
    *out = NULL;
    if (leaf == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "leaf is NULL");
    }
    /* The same dispatch as mtlsauthz_identity_from_der() over the leaf's DER (docs/internals.md,
     * "The DER of an X509"); only the leaf is walked, as the chain's certificates are already
     * parsed objects, and the OpenSSL extractor reads the caller's X509 rather than a copy. */
    if ((rc = mtlsauthz__x509_leaf_der(&der, &der_len, &chain_len, scratch, sizeof(scratch), leaf,
                                       chain, err)) != 0) {
        return rc;
    }
    rc = extract(out, (const unsigned char *const *)&der, &der_len, 1, chain_len, leaf, err);
    if (der != scratch) {
        mtlsauthz__free(der);
    }
    return rc;
}

void mtlsauthz_identity_free(mtlsauthz_identity *id)
{
    /* Everything lives in the one allocation made by mtlsauthz__idb_finish(). */
    mtlsauthz__free(id);
}

size_t mtlsauthz_identity_count(const mtlsauthz_identity *id, mtlsauthz_field field)
{
    if (id == NULL || (int)field < 0 || field >= MTLSAUTHZ_FIELD_COUNT_) {
        return 0;
    }
    return id->counts[field];
}

int mtlsauthz_identity_get(const char **value, size_t *len, const mtlsauthz_identity *id,
                           mtlsauthz_field field, size_t index)
{
    if (value != NULL) {
        *value = NULL;
    }
    if (len != NULL) {
        *len = 0;
    }
    if (value == NULL || len == NULL || id == NULL || (int)field < 0 ||
        field >= MTLSAUTHZ_FIELD_COUNT_ || index >= id->counts[field]) {
        return MTLSAUTHZ_EINVAL;
    }
    *value = id->values[field][index].ptr;
    *len = id->values[field][index].len;
    return 0;
}

const char *mtlsauthz_identity_rejected(const mtlsauthz_identity *id)
{
    if (id == NULL) {
        return "no identity";
    }
    return id->rejected;
}

size_t mtlsauthz_identity_chain_length(const mtlsauthz_identity *id)
{
    return id == NULL ? 0 : id->chain_len;
}

int mtlsauthz_identity_partial(const mtlsauthz_identity *id)
{
    return id != NULL && id->partial;
}

/* ---- JSON ---- */

static void json_value(mtlsauthz__buf *b, const mtlsauthz_identity *id, mtlsauthz_field f)
{
    if (id->counts[f] == 0) {
        mtlsauthz__buf_puts(b, "null");
        return;
    }
    mtlsauthz__buf_json_string(b, id->values[f][0].ptr, id->values[f][0].len);
}

static void json_list(mtlsauthz__buf *b, const mtlsauthz_identity *id, mtlsauthz_field f)
{
    size_t i;
    mtlsauthz__buf_append(b, "[", 1);
    for (i = 0; i < id->counts[f]; i++) {
        if (i > 0) {
            mtlsauthz__buf_append(b, ",", 1);
        }
        mtlsauthz__buf_json_string(b, id->values[f][i].ptr, id->values[f][i].len);
    }
    mtlsauthz__buf_append(b, "]", 1);
}

int mtlsauthz_identity_to_json(char **out, size_t *out_len, const mtlsauthz_identity *id,
                               mtlsauthz_error *err)
{
    mtlsauthz__buf b;
    if (out_len != NULL) {
        *out_len = 0;
    }
    if (out == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "out is NULL");
    }
    *out = NULL;
    if (id == NULL) {
        return mtlsauthz__error_set(err, MTLSAUTHZ_EINVAL, "identity is NULL");
    }
    mtlsauthz__buf_init(&b);
    mtlsauthz__buf_puts(&b, "{\"subject\":{\"dn\":");
    json_value(&b, id, MTLSAUTHZ_FIELD_SUBJECT_DN);
    mtlsauthz__buf_puts(&b, ",\"cn\":");
    json_list(&b, id, MTLSAUTHZ_FIELD_CN);
    mtlsauthz__buf_puts(&b, ",\"o\":");
    json_list(&b, id, MTLSAUTHZ_FIELD_O);
    mtlsauthz__buf_puts(&b, ",\"ou\":");
    json_list(&b, id, MTLSAUTHZ_FIELD_OU);
    mtlsauthz__buf_puts(&b, "},\"issuer\":{\"dn\":");
    json_value(&b, id, MTLSAUTHZ_FIELD_ISSUER_DN);
    mtlsauthz__buf_puts(&b, "},\"serial\":");
    json_value(&b, id, MTLSAUTHZ_FIELD_SERIAL);
    mtlsauthz__buf_puts(&b, ",\"sha256\":");
    json_value(&b, id, MTLSAUTHZ_FIELD_SHA256);
    mtlsauthz__buf_puts(&b, ",\"spiffe_id\":");
    json_value(&b, id, MTLSAUTHZ_FIELD_SPIFFE_ID);
    mtlsauthz__buf_puts(&b, ",\"san\":{\"dns\":");
    json_list(&b, id, MTLSAUTHZ_FIELD_SAN_DNS);
    mtlsauthz__buf_puts(&b, ",\"uri\":");
    json_list(&b, id, MTLSAUTHZ_FIELD_SAN_URI);
    mtlsauthz__buf_puts(&b, ",\"email\":");
    json_list(&b, id, MTLSAUTHZ_FIELD_SAN_EMAIL);
    mtlsauthz__buf_puts(&b, ",\"ip\":");
    json_list(&b, id, MTLSAUTHZ_FIELD_SAN_IP);
    mtlsauthz__buf_puts(&b, "},\"eku\":");
    json_list(&b, id, MTLSAUTHZ_FIELD_EKU);
    mtlsauthz__buf_puts(&b, ",\"not_before\":");
    json_value(&b, id, MTLSAUTHZ_FIELD_NOT_BEFORE);
    mtlsauthz__buf_puts(&b, ",\"not_after\":");
    json_value(&b, id, MTLSAUTHZ_FIELD_NOT_AFTER);
    mtlsauthz__buf_puts(&b, id->partial ? ",\"partial\":true" : ",\"partial\":false");
    mtlsauthz__buf_puts(&b, ",\"rejected\":");
    if (id->rejected == NULL) {
        mtlsauthz__buf_puts(&b, "null");
    } else {
        mtlsauthz__buf_json_string(&b, id->rejected, strlen(id->rejected));
    }
    mtlsauthz__buf_puts(&b, "}");
    return mtlsauthz__buf_take(out, out_len, &b, err);
}
