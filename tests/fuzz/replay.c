/*
 * replay.c — a main() for the fuzz targets in builds without libFuzzer (gcc, the normal and
 * sanitizer builds): runs LLVMFuzzerTestOneInput once on each file named on the command line, or
 * on every file of each directory named (sorted by name, not recursive; a path that does not exist
 * holds no inputs), so the committed corpora and crash reproducers are regression tests
 * everywhere.
 *
 * A file whose name is listed in a "known" file passed with --skip-list=PATH (one name per line,
 * '#' comments) is skipped and reported: those reproduce crashes of known classes being fixed
 * elsewhere. Exits 0 when every input ran; a crash ends the process (ASan/UBSan/abort), which is
 * the failure, with the input's path printed just before it runs.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { REPLAY_FILES_MAX = 4096, REPLAY_SKIP_MAX = 256, REPLAY_NAME_BYTES = 256 };

static char skip_names[REPLAY_SKIP_MAX][REPLAY_NAME_BYTES];
static int skip_count;

static void load_skip_list(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return; /* no known crashes */
    }
    char line[REPLAY_NAME_BYTES];
    while (fgets(line, sizeof(line), f) != NULL && skip_count < REPLAY_SKIP_MAX) {
        line[strcspn(line, " \t\r\n#")] = '\0';
        if (line[0] != '\0') {
            memcpy(skip_names[skip_count++], line, sizeof(line));
        }
    }
    fclose(f);
}

static int skipped(const char *name) {
    for (int i = 0; i < skip_count; i++) {
        if (strcmp(skip_names[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int run_file(const char *path) {
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    if (skipped(base)) {
        printf("skip (known): %s\n", path);
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
    size_t got = fread(data, 1, (size_t)size, f);
    fclose(f);
    printf("run: %s (%zu bytes)\n", path, got);
    fflush(stdout);
    LLVMFuzzerTestOneInput(data, got);
    free(data);
    return 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "cannot open %s\n", dir);
        return 1;
    }
    char *names[REPLAY_FILES_MAX];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < REPLAY_FILES_MAX) {
        if (e->d_name[0] != '.') {
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    if (n > 1) { /* names is NULL for an empty directory */
        qsort(names, (size_t)n, sizeof(names[0]), compare_names);
    }
    int failures = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            failures += run_file(path);
        }
        free(names[i]);
    }
    return failures;
}

int main(int argc, char **argv) {
    LLVMFuzzerInitialize(&argc, &argv);
    int failures = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--skip-list=", 12) == 0) {
            load_skip_list(argv[i] + 12);
            continue;
        }
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            printf("absent (no inputs): %s\n", argv[i]);
        } else if (S_ISDIR(st.st_mode)) {
            failures += run_dir(argv[i]);
        } else {
            failures += run_file(argv[i]);
        }
    }
    return failures == 0 ? 0 : 1;
}
