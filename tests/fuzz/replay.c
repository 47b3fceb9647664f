/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replays inputs through a fuzz target without libFuzzer, so that `make fuzz-replay` (part of
 * `make check`) runs every corpus with the normal compiler and flags:
 *
 *   fuzz_NAME-replay DIR_OR_FILE...
 *
 * Each regular file is read whole and passed to LLVMFuzzerTestOneInput() once; a target reports
 * a failure by aborting. Exits 1 when an argument cannot be read, or when nothing was replayed
 * (an empty corpus is a mistake, not a pass).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    unsigned char *buf;
    struct stat st;
    size_t n;
    FILE *f;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "replay: %s: not a regular file\n", path);
        return -1;
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    /* One spare byte so that an empty file still gets a valid pointer. */
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        fclose(f);
        fprintf(stderr, "replay: out of memory for %s\n", path);
        return -1;
    }
    n = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    if (n != (size_t)st.st_size) {
        free(buf);
        fprintf(stderr, "replay: short read on %s\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    size_t count = 0;
    int i, rc = 0;
    for (i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: cannot stat %s\n", argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            if (d == NULL) {
                fprintf(stderr, "replay: cannot open %s\n", argv[i]);
                return 1;
            }
            while ((e = readdir(d)) != NULL) {
                char path[4096];
                if (e->d_name[0] == '.') {
                    continue;
                }
                if ((size_t)snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name) >=
                    sizeof(path)) {
                    rc = 1;
                    continue;
                }
                if (replay_file(path) != 0) {
                    rc = 1;
                } else {
                    count++;
                }
            }
            closedir(d);
        } else if (replay_file(argv[i]) != 0) {
            rc = 1;
        } else {
            count++;
        }
    }
    printf("replay: %s: %zu inputs\n", argc > 0 ? argv[0] : "?", count);
    if (count == 0) {
        fprintf(stderr, "replay: no inputs\n");
        return 1;
    }
    return rc;
}
