/* SPDX-License-Identifier: Apache-2.0 */
/* mtlsauthz identity: shows the identity the library reads from a certificate, or from an
 * X-Forwarded-Client-Cert header. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"

#define IDENTITY_USAGE "usage: mtlsauthz " CLI_USAGE_IDENTITY
#define IDENTITY_HELP                                                                              \
    IDENTITY_USAGE                                                                                 \
    "\n"                                                                                           \
    "Shows the identity the library reads from a certificate file (PEM or DER):\n"                 \
    "the fields a policy's selectors match, and whether it is rejected.\n"                         \
    "  --xfcc HEADER       read it from the value of an X-Forwarded-Client-Cert\n"                 \
    "                      header instead (- reads the value from stdin); without\n"               \
    "                      Cert the identity is partial (docs/policy.md)\n"                        \
    "  --format text|json  the output form (default: text)\n"                                      \
    "Exit status: 0 shown, 2 an error.\n"

int cli_load_identity(mtlsauthz_identity **out, const char *cert_path, const char *chain_path)
{
    mtlsauthz_error err = {0};

    if (mtlsauthz_identity_from_file(out, cert_path, chain_path, &err) != 0) {
        return cli_fail("%s", err.message); /* the message starts with the file's name */
    }
    return 0;
}

/* Prints a value for a terminal: NUL, control characters (C0, DEL and the UTF-8 encoded C1
 * controls a terminal may obey), backslash and bytes that are not UTF-8 (a SAN holds the
 * certificate's bytes, and a lone 0x9b is the 8-bit CSI) are escaped, so a value cannot hide
 * its tail or drive the terminal. DNs are already escaped (RFC 4514 §2.4, "\00" for NUL), so
 * their backslashes are printed as they are. */
static void print_value(FILE *f, const char *p, size_t len, int is_dn)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i, n;
    uint32_t cp;
    for (i = 0; i < len; i++) {
        if (s[i] == '\\' && !is_dn) {
            fputs("\\\\", f);
        } else if (s[i] < 0x20 || s[i] == 0x7f) {
            fprintf(f, "\\x%02x", s[i]);
        } else if (s[i] < 0x80) {
            fputc(s[i], f);
        } else if ((n = cli_utf8_decode(s + i, len - i, &cp)) == 0) {
            fprintf(f, "\\x%02x", s[i]);
        } else if (cp >= 0x80 && cp <= 0x9f) {
            fprintf(f, "\\u%04x", (unsigned int)cp);
            i += n - 1;
        } else {
            fwrite(s + i, 1, n, f);
            i += n - 1;
        }
    }
}

void cli_print_safe(FILE *f, const char *p, size_t len)
{
    print_value(f, p, len, 0);
}

static void print_field(FILE *f, const mtlsauthz_identity *id, const char *label,
                        mtlsauthz_field field, const char *none)
{
    size_t i, n = mtlsauthz_identity_count(id, field);
    if (n == 0) {
        if (none != NULL) {
            fprintf(f, "%-12s %s\n", label, none);
        }
        return;
    }
    for (i = 0; i < n; i++) {
        const char *v;
        size_t len;
        if (mtlsauthz_identity_get(&v, &len, id, field, i) != 0) {
            continue;
        }
        fprintf(f, "%-12s ", i == 0 ? label : "");
        print_value(f, v, len,
                    field == MTLSAUTHZ_FIELD_SUBJECT_DN || field == MTLSAUTHZ_FIELD_ISSUER_DN);
        fputc('\n', f);
    }
}

/* A partial identity (mtlsauthz_identity_partial()) says which fields it lacks, since those
 * never match; a certificate's always has its single-valued fields. */
static void print_text(FILE *f, const mtlsauthz_identity *id)
{
    const char *reason = mtlsauthz_identity_rejected(id);
    int partial = mtlsauthz_identity_partial(id);
    const char *absent = partial ? "(absent)" : "";
    print_field(f, id, "subject:", MTLSAUTHZ_FIELD_SUBJECT_DN, absent);
    print_field(f, id, "  CN:", MTLSAUTHZ_FIELD_CN, NULL);
    print_field(f, id, "  O:", MTLSAUTHZ_FIELD_O, NULL);
    print_field(f, id, "  OU:", MTLSAUTHZ_FIELD_OU, NULL);
    print_field(f, id, "issuer:", MTLSAUTHZ_FIELD_ISSUER_DN, absent);
    print_field(f, id, "serial:", MTLSAUTHZ_FIELD_SERIAL, absent);
    print_field(f, id, "sha256:", MTLSAUTHZ_FIELD_SHA256, absent);
    print_field(f, id, "SPIFFE ID:", MTLSAUTHZ_FIELD_SPIFFE_ID, "(none)");
    print_field(f, id, "DNS:", MTLSAUTHZ_FIELD_SAN_DNS, NULL);
    print_field(f, id, "URI:", MTLSAUTHZ_FIELD_SAN_URI, NULL);
    print_field(f, id, "email:", MTLSAUTHZ_FIELD_SAN_EMAIL, partial ? "(absent)" : NULL);
    print_field(f, id, "IP:", MTLSAUTHZ_FIELD_SAN_IP, partial ? "(absent)" : NULL);
    print_field(f, id, "EKU:", MTLSAUTHZ_FIELD_EKU, partial ? "(absent)" : "(none)");
    print_field(f, id, "not before:", MTLSAUTHZ_FIELD_NOT_BEFORE, absent);
    print_field(f, id, "not after:", MTLSAUTHZ_FIELD_NOT_AFTER, absent);
    if (partial) {
        fprintf(f, "%-12s %s\n",
                "partial:", "yes: X-Forwarded-Client-Cert without Cert; absent fields never match");
    }
    if (reason == NULL) {
        fprintf(f, "%-12s %s\n", "status:", "ok");
    } else {
        fprintf(f, "%-12s REJECTED: %s\n", "status:", reason);
    }
}

/* The library's limit on an X-Forwarded-Client-Cert value (docs/limits.md). */
#define CLI_XFCC_MAX_BYTES (64u * 1024u)

/* Reads the header value from stdin for `--xfcc -`: at most one byte more than the library
 * takes, so that a longer one is refused by the library's limit, and without the line end a
 * shell or file adds. */
static int read_stdin(char **out, size_t *out_len)
{
    size_t cap = CLI_XFCC_MAX_BYTES + 3, n;
    char *buf = malloc(cap);
    if (buf == NULL) {
        return cli_fail("out of memory");
    }
    n = fread(buf, 1, cap, stdin);
    if (ferror(stdin)) {
        free(buf);
        return cli_fail("identity: cannot read the header from standard input");
    }
    if (n > 0 && buf[n - 1] == '\n') {
        n--;
        if (n > 0 && buf[n - 1] == '\r') {
            n--;
        }
    }
    *out = buf;
    *out_len = n;
    return 0;
}

static int load_xfcc(mtlsauthz_identity **out, const char *header)
{
    mtlsauthz_error err = {0};
    char *in = NULL;
    size_t len = strlen(header);
    int rc;
    if (strcmp(header, "-") == 0 && (rc = read_stdin(&in, &len)) != 0) {
        return rc;
    }
    rc = mtlsauthz_identity_from_xfcc(out, in != NULL ? in : header, len, &err);
    free(in);
    return rc != 0 ? cli_fail("%s", err.message) : 0;
}

int cli_identity(int argc, char **argv)
{
    mtlsauthz_identity *id = NULL;
    mtlsauthz_error err = {0};
    const char *format = "text", *path = NULL, *xfcc = NULL;
    char *json = NULL;
    size_t json_len = 0;
    int i, rc, options_done = 0;

    for (i = 1; i < argc; i++) {
        int got;
        if (!options_done && cli_is_help(argv[i])) {
            fputs(IDENTITY_HELP, stdout);
            return CLI_EXIT_OK;
        }
        if (!options_done && ((got = cli_option(&format, argc, argv, &i, "--format")) != 0 ||
                              (got = cli_option(&xfcc, argc, argv, &i, "--xfcc")) != 0)) {
            if (got < 0) {
                return CLI_EXIT_ERROR;
            }
        } else if (!options_done && strcmp(argv[i], "--") == 0) {
            options_done = 1;
        } else if (!options_done && argv[i][0] == '-' && argv[i][1] != '\0') {
            return cli_fail("identity: unknown option '%s'; " IDENTITY_USAGE, argv[i]);
        } else if (path == NULL) {
            path = argv[i];
        } else {
            return cli_fail("identity: more than one FILE; " IDENTITY_USAGE);
        }
    }
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        return cli_fail("identity: unknown format '%s' (text or json)", format);
    }
    if (path != NULL && xfcc != NULL) {
        return cli_fail("identity: give a FILE or --xfcc, not both; " IDENTITY_USAGE);
    }
    if (path == NULL && xfcc == NULL) {
        return cli_fail("identity: no FILE; " IDENTITY_USAGE);
    }
    rc = xfcc != NULL ? load_xfcc(&id, xfcc) : cli_load_identity(&id, path, NULL);
    if (rc != 0) {
        return rc;
    }
    if (strcmp(format, "json") == 0) {
        if (mtlsauthz_identity_to_json(&json, &json_len, id, &err) != 0) {
            rc = cli_fail("%s", err.message);
            goto out;
        }
        fwrite(json, 1, json_len, stdout);
        fputc('\n', stdout);
    } else {
        print_text(stdout, id);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        rc = cli_fail("cannot write to standard output");
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    mtlsauthz_string_free(json);
    mtlsauthz_identity_free(id);
    return rc;
}
