/*
 * inspect.c — contextdb-inspect: offline look at a data directory's WAL segments and snapshots.
 *
 *   contextdb-inspect wal [--summary] FILE…     every record of each segment: ordinal, index,
 *                                               term, type, length, CRC status, and the decoded
 *                                               payload: command batch (op counts per kind,
 *                                               first ids), membership change, or hard state
 *                                               (term, vote, commit); a wal/hardstate file
 *                                               given as FILE is decoded too
 *   contextdb-inspect snapshot DIR|metadata.json the metadata of every snapshot under DIR (a data
 *                                               directory, its snapshots/ or objstore/), or of one
 *                                               metadata file; per file and per column: rows,
 *                                               raw/stored bytes, codec, min/max of numbers
 *   contextdb-inspect verify DATA_DIR           every CRC of every WAL segment and every snapshot
 *                                               file (snapshots/ and the objstore/ mirror), and
 *                                               the WAL's layout as recovery checks it: the
 *                                               newest segment wal.ctl records is present, the
 *                                               log starts right after the current snapshot,
 *                                               every entry has the next index, every hard-state
 *                                               record the last entry's index and a payload that
 *                                               decodes, NOOP entries are empty, CONF entries
 *                                               decode, and wal/hardstate is intact
 *
 * All format knowledge stays in storage/ and engine/store/command.c: records come from
 * wal_segment_header_decode / wal_record_decode, batches from cmd_decode, snapshot files from
 * snap_meta_load / snap_meta_parse / snap_file_scan (which checks every chunk CRC and the whole
 * file CRC the metadata records). Damage is reported with the file and byte offset (for WAL
 * records: the damaged record's byte range, since a CRC says which record, not which bit).
 * Exit status: 0 clean, 1 damage found, 2 usage or I/O errors. The tool never writes.
 */
#include "colfile.h"
#include "command.h"
#include "fsutil.h"
#include "raft.h"
#include "snapshot.h"
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
    INSPECT_FIRST_IDS_MAX = 4,
    INSPECT_FILE_BYTES_MAX = 1 << 30, /* a segment is segment_bytes plus one batch */
};

enum { EXIT_CLEAN = 0, EXIT_DAMAGE = 1, EXIT_USAGE = 2 };

static const char *const OP_NAMES[] = {
    "?",           "node_insert", "node_upsert",   "node_update",   "node_delete",   "edge_insert",
    "edge_upsert", "edge_delete", "vector_insert", "vector_upsert", "vector_delete",
};
enum { OP_KINDS = (int)(sizeof(OP_NAMES) / sizeof(OP_NAMES[0])) };
_Static_assert(CMD_VECTOR_DELETE == OP_KINDS - 1, "one name per command kind");

/* ---------------------------------------------------------------- files */

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Reads a whole file (≤ INSPECT_FILE_BYTES_MAX) into *data (malloc'd). */
static int slurp(const char *path, uint8_t **data, size_t *len, ctx_err_t *err) {
    return fsu_read_all(path, INSPECT_FILE_BYTES_MAX, data, len, err);
}

/* ---------------------------------------------------------------- WAL */

typedef struct wal_scan {
    bool print_records;    /* false: segment totals only */
    uint64_t expect_index; /* next index expected across segments (0 = any) */
    uint64_t after_index;  /* the current snapshot's index: records up to it may be absent */
    uint64_t records;
    uint64_t damaged; /* damaged records / segments */
    arena_t arena;
} wal_scan_t;

/* One line summarising a decoded batch: op counts per kind and the first ids. */
static void print_batch(wal_scan_t *ws, const wal_record_t *rec) {
    arena_reset(&ws->arena);
    cmd_batch_t batch;
    ctx_err_t err = {0};
    if (cmd_decode(rec->payload, rec->len, &ws->arena, &batch, &err) != CTX_OK) {
        printf("        payload does not decode: %s\n", err.message);
        ws->damaged++;
        return;
    }
    uint64_t counts[OP_KINDS] = {0};
    for (uint32_t i = 0; i < batch.count; i++) {
        uint8_t kind = batch.ops[i].kind < OP_KINDS ? batch.ops[i].kind : 0;
        counts[kind]++;
    }
    printf("        ops %" PRIu32 ":", batch.count);
    for (int k = 1; k < OP_KINDS; k++) {
        if (counts[k] > 0) {
            printf(" %s×%" PRIu64, OP_NAMES[k], counts[k]);
        }
    }
    printf("; first ids:");
    for (uint32_t i = 0; i < batch.count && i < INSPECT_FIRST_IDS_MAX; i++) {
        const cmd_op_t *op = &batch.ops[i];
        bool edge = op->kind >= CMD_EDGE_INSERT && op->kind <= CMD_EDGE_DELETE;
        if (edge) {
            printf(" %" PRId64 "->%" PRId64, op->id, op->target);
        } else {
            printf(" %" PRId64, op->id);
        }
    }
    printf("%s\n", batch.count > INSPECT_FIRST_IDS_MAX ? " …" : "");
}

/* Reports damage at [offset, offset + extent) of path; returns EXIT_DAMAGE. */
static int report_damage(const char *path, uint64_t offset, uint64_t extent, const char *what) {
    printf("DAMAGE %s: byte offset %" PRIu64 " (bytes %" PRIu64 "..%" PRIu64 "): %s\n", path,
           offset, offset, offset + extent, what);
    return EXIT_DAMAGE;
}

_Static_assert((int)WAL_HARD_STATE_BYTES == (int)RAFT_HARD_STATE_SIZE, "hard-state payload");

static const char *record_type_name(uint8_t type) {
    switch (type) {
    case WAL_TYPE_BATCH:
        return "batch";
    case WAL_TYPE_NOOP:
        return "noop";
    case WAL_TYPE_CONF:
        return "conf";
    case WAL_TYPE_HARD_STATE:
        return "hard-state";
    case WAL_TYPE_MEMBER:
        return "member";
    default:
        return "unknown";
    }
}

static const char *conf_op_name(raft_conf_op_t op) {
    switch (op) {
    case RAFT_CONF_ADD_LEARNER:
        return "add-learner";
    case RAFT_CONF_PROMOTE:
        return "promote";
    case RAFT_CONF_REMOVE:
        return "remove";
    case RAFT_CONF_BOOTSTRAP:
        return "bootstrap";
    }
    return "?";
}

/* Checks the record's index (entries: expect; hard state: expect - 1) and payload shape, and
 * prints the decoded payload when printing. Returns NULL or what is wrong (static storage). */
static const char *check_record(wal_scan_t *ws, const wal_record_t *rec, uint64_t expect) {
    static char what[160];
    bool hs = rec->type == WAL_TYPE_HARD_STATE;
    if (!hs && !wal_type_is_entry(rec->type)) {
        snprintf(what, sizeof(what), "unknown record type %u", rec->type);
        return what;
    }
    if (rec->index != (hs ? expect - 1 : expect)) {
        snprintf(what, sizeof(what), "%s has index %" PRIu64 ", expected %" PRIu64,
                 record_type_name(rec->type), rec->index, hs ? expect - 1 : expect);
        return what;
    }
    raft_hard_state_t st;
    raft_conf_op_t op;
    uint32_t node;
    if (hs && raft_hard_state_decode(rec->payload, rec->len, &st) != CTX_OK) {
        return "hard state does not decode";
    }
    if (rec->type == WAL_TYPE_CONF && raft_conf_change_decode(rec->payload, rec->len, &op, &node)) {
        return "membership change does not decode";
    }
    if (rec->type == WAL_TYPE_NOOP && rec->len != 0) {
        return "no-op entry has a payload";
    }
    if (!ws->print_records) {
        return NULL;
    }
    if (hs) {
        printf("        hard state: term %" PRIu64 " vote %" PRIu32 " commit %" PRIu64 "\n",
               st.term, st.vote, st.commit);
    } else if (rec->type == WAL_TYPE_CONF) {
        printf("        membership: %s node %" PRIu32 "\n", conf_op_name(op), node);
    } else if (rec->type == WAL_TYPE_BATCH) {
        print_batch(ws, rec);
    }
    return NULL;
}

/* Walks the records of one segment (data[0..len)); returns EXIT_CLEAN or EXIT_DAMAGE. */
static int scan_records(wal_scan_t *ws, const char *path, const uint8_t *data, size_t len,
                        uint64_t first_index) {
    size_t at = WAL_SEGMENT_HEADER_BYTES;
    uint64_t expect = first_index;
    for (uint64_t ordinal = 0; at < len; ordinal++) {
        wal_record_t rec;
        size_t used = len - at; /* a short record or bad length: the rest of the file */
        wal_decode_t d = wal_record_decode(data + at, len - at, &rec, &used);
        if (d != WAL_DECODE_OK) {
            ws->damaged++;
            char what[200];
            snprintf(what, sizeof(what), "record %" PRIu64 " (index %" PRIu64 ") %s", ordinal,
                     expect,
                     d == WAL_DECODE_SHORT ? "is short: torn tail or damaged length field"
                                           : "checksum mismatch or bad header");
            return report_damage(path, at, used, what);
        }
        CTX_ASSERT(used >= WAL_RECORD_HEADER_BYTES && used <= len - at);
        if (ws->print_records) {
            printf("  #%" PRIu64 " offset %zu index %" PRIu64 " term %" PRIu64
                   " type %s length %" PRIu32 " crc ok\n",
                   ordinal, at, rec.index, rec.term, record_type_name(rec.type), rec.len);
        }
        const char *bad = check_record(ws, &rec, expect);
        if (bad != NULL) {
            ws->damaged++;
            char what[200];
            snprintf(what, sizeof(what), "record %" PRIu64 ": %s", ordinal, bad);
            return report_damage(path, at, used, what);
        }
        ws->records++;
        expect += rec.type == WAL_TYPE_HARD_STATE ? 0 : 1;
        at += used;
    }
    ws->expect_index = expect;
    return EXIT_CLEAN;
}

/* wal/hardstate: the newest hard state as of a log position (wal.h). */
static int show_hs_file(const char *path, const uint8_t *data, size_t len) {
    wal_hs_file_t f;
    raft_hard_state_t st;
    if (wal_hs_file_decode(data, len, &f) != CTX_OK ||
        raft_hard_state_decode(f.hard_state, sizeof(f.hard_state), &st) != CTX_OK) {
        return report_damage(path, 0, len, "hard-state file: bad length, magic, version or CRC");
    }
    char name[32];
    wal_segment_name(f.segment, name, sizeof(name));
    printf("hard-state file %s: term %" PRIu64 " vote %" PRIu32 " commit %" PRIu64
           " as of %s offset %" PRIu64 "\n",
           path, st.term, st.vote, st.commit, name, f.offset);
    return EXIT_CLEAN;
}

/* One segment file: header, then records. */
static int scan_segment(wal_scan_t *ws, const char *path) {
    uint8_t *data;
    size_t len;
    ctx_err_t err = {0};
    if (slurp(path, &data, &len, &err) != CTX_OK) {
        free(data);
        printf("ERROR %s\n", err.message);
        return EXIT_USAGE;
    }
    uint64_t first_index = 0;
    int status = EXIT_CLEAN;
    const char *base = strrchr(path, '/');
    if (strcmp(base != NULL ? base + 1 : path, WAL_HARD_STATE_FILE) == 0) {
        status = show_hs_file(path, data, len);
        ws->damaged += status == EXIT_CLEAN ? 0 : 1;
        goto done;
    }
    if (wal_segment_header_decode(data, len, &first_index) != CTX_OK) {
        ws->damaged++;
        status = report_damage(path, 0, WAL_SEGMENT_HEADER_BYTES, "bad segment header");
        goto done;
    }
    if (ws->expect_index != 0 && first_index > ws->expect_index &&
        first_index <= ws->after_index + 1) {
        ws->expect_index = first_index; /* skipped records are all in the snapshot */
    }
    if (ws->expect_index != 0 && first_index != ws->expect_index) {
        ws->damaged++;
        char what[128];
        char missing[32];
        wal_segment_name(ws->expect_index, missing, sizeof(missing));
        snprintf(what, sizeof(what),
                 "segment starts at index %" PRIu64 ", expected %" PRIu64
                 " (segment %s is missing)",
                 first_index, ws->expect_index, missing);
        status = report_damage(path, 0, WAL_SEGMENT_HEADER_BYTES, what);
    }
    printf("segment %s: %zu bytes, first index %" PRIu64 "\n", path, len, first_index);
    uint64_t before = ws->records;
    int rc = scan_records(ws, path, data, len, first_index);
    status = rc > status ? rc : status;
    printf("  %" PRIu64 " intact records%s\n", ws->records - before,
           status == EXIT_CLEAN ? "" : ", DAMAGED");
done:
    free(data);
    return status;
}

static int cmd_wal(int argc, char **argv) {
    wal_scan_t ws = {.print_records = true};
    arena_init(&ws.arena);
    int i = 0;
    if (i < argc && strcmp(argv[i], "--summary") == 0) {
        ws.print_records = false;
        i++;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: contextdb-inspect wal [--summary] FILE…\n");
        arena_destroy(&ws.arena);
        return EXIT_USAGE;
    }
    int status = EXIT_CLEAN;
    for (; i < argc; i++) {
        ws.expect_index = 0; /* files given by hand need not be consecutive */
        int rc = scan_segment(&ws, argv[i]);
        status = rc > status ? rc : status;
    }
    arena_destroy(&ws.arena);
    return status;
}

/* ---------------------------------------------------------------- snapshots */

typedef struct col_stat {
    uint64_t raw_bytes;
    uint64_t stored_bytes;
    uint64_t chunks[COL_CODEC_ZSTD + 1]; /* chunks stored with each codec */
    uint64_t nulls;                      /* text columns */
    bool have_range;
    double min, max; /* numeric columns (int64 ids are exact below 2^53) */
    int64_t imin, imax;
} col_stat_t;

typedef struct file_stats {
    col_stat_t cols[COL_COLUMNS_MAX];
    col_desc_t descs[COL_COLUMNS_MAX];
    int ncols;
    uint64_t groups;
} file_stats_t;

static void range_i64(col_stat_t *s, int64_t v) {
    if (!s->have_range || v < s->imin) {
        s->imin = v;
    }
    if (!s->have_range || v > s->imax) {
        s->imax = v;
    }
    s->have_range = true;
}

static void range_f64(col_stat_t *s, double v) {
    if (!s->have_range || v < s->min) {
        s->min = v;
    }
    if (!s->have_range || v > s->max) {
        s->max = v;
    }
    s->have_range = true;
}

/* snap_group_fn: folds one row group into the per-column statistics. */
static int stats_group(void *ctx, col_reader_t *r, ctx_err_t *err) {
    (void)err;
    file_stats_t *fs = ctx;
    CTX_ASSERT(r->ncols > 0 && r->ncols <= COL_COLUMNS_MAX);
    fs->ncols = r->ncols;
    fs->groups++;
    for (int c = 0; c < r->ncols; c++) {
        col_stat_t *s = &fs->cols[c];
        fs->descs[c] = r->cols[c];
        s->raw_bytes += r->stats[c].raw_bytes;
        s->stored_bytes += r->stats[c].stored_bytes;
        s->chunks[r->stats[c].codec <= COL_CODEC_ZSTD ? r->stats[c].codec : 0]++;
        const uint8_t *d = r->data[c];
        for (uint32_t i = 0; i < r->group_rows; i++) {
            if (r->cols[c].type == COL_I64) {
                int64_t v;
                memcpy(&v, d + 8 * (size_t)i, 8);
                range_i64(s, v);
            } else if (r->cols[c].type == COL_U32) {
                uint32_t v;
                memcpy(&v, d + 4 * (size_t)i, 4);
                range_i64(s, v);
            } else if (r->cols[c].type == COL_F64) {
                double v;
                memcpy(&v, d + 8 * (size_t)i, 8);
                range_f64(s, v);
            } else if (r->cols[c].type == COL_TEXT) {
                uint32_t len;
                memcpy(&len, d + 4 * (size_t)i, 4);
                s->nulls += len == UINT32_MAX;
            }
        }
    }
    return CTX_OK;
}

static const char *type_name(uint8_t type) {
    static const char *const names[] = {"?", "int64", "uint32", "float64", "text", "float32[]"};
    return type <= COL_F32V ? names[type] : "?";
}

static void print_column(const col_desc_t *desc, const col_stat_t *s) {
    double ratio = s->stored_bytes > 0 ? (double)s->raw_bytes / (double)s->stored_bytes : 0;
    printf("      %-10s %-9s raw %12" PRIu64 " stored %12" PRIu64 " (%.2fx) chunks", desc->name,
           type_name(desc->type), s->raw_bytes, s->stored_bytes, ratio);
    for (int k = 0; k <= COL_CODEC_ZSTD; k++) {
        if (s->chunks[k] > 0) {
            printf(" %s×%" PRIu64, col_codec_name((col_codec_t)k), s->chunks[k]);
        }
    }
    if (s->have_range && desc->type == COL_F64) {
        printf("  min %g max %g", s->min, s->max);
    } else if (s->have_range) {
        printf("  min %" PRId64 " max %" PRId64, s->imin, s->imax);
    } else if (desc->type == COL_TEXT) {
        printf("  nulls %" PRIu64, s->nulls);
    } else if (desc->type == COL_F32V) {
        printf("  dim %" PRIu32, desc->param);
    }
    printf("\n");
}

static void print_meta(const snap_meta_t *m, bool current) {
    printf("snapshot %" PRIu64 "%s: parent %" PRIu64 ", raft index %" PRIu64 ", term %" PRIu64
           ", timestamp_ms %" PRId64 ", format %" PRIu32 "\n",
           m->snapshot_id, current ? " (current)" : "", m->parent_id, m->raft_index, m->raft_term,
           m->timestamp_ms, m->format_version);
    printf("  counts: nodes %" PRIu64 ", edges %" PRIu64 ", vectors %" PRIu64 "; dims %" PRIu32
           ", metric %s; %d files\n",
           m->nodes, m->edges, m->vectors, m->dims, m->metric, m->nfiles);
}

/* Prints (when verbose) and checks every file of one snapshot; returns EXIT_CLEAN/DAMAGE. */
static int scan_snapshot(const char *root, const snap_meta_t *m, bool verbose, uint64_t *files) {
    int status = EXIT_CLEAN;
    for (int i = 0; i < m->nfiles; i++) {
        const snap_file_t *f = &m->files[i];
        file_stats_t fs;
        memset(&fs, 0, sizeof(fs));
        ctx_err_t err = {0};
        int rc = snap_file_scan(root, m, f, verbose ? stats_group : NULL, &fs, &err);
        (*files)++;
        if (verbose) {
            printf("    %s: kind %s, rows %" PRIu64 ", %" PRIu64 " bytes, crc32c %08" PRIx32
                   " %s, codec %s, %" PRIu64 " row groups\n",
                   f->path, f->kind, f->rows, f->bytes, f->crc32c, rc == CTX_OK ? "ok" : "BAD",
                   f->codec, fs.groups);
            for (int c = 0; rc == CTX_OK && c < fs.ncols; c++) {
                print_column(&fs.descs[c], &fs.cols[c]);
            }
        }
        if (rc != CTX_OK) {
            printf("DAMAGE %s\n", err.message);
            status = EXIT_DAMAGE;
        }
    }
    return status;
}

/* Every snapshot under a snapshot root (…/snapshots or the objstore mirror). */
static int scan_root(const char *root, bool verbose, uint64_t *snapshots, uint64_t *files) {
    ctx_err_t err = {0};
    uint64_t current = 0;
    int status = EXIT_CLEAN;
    int rc = snap_get_current(root, &current, &err);
    if (rc != CTX_OK && rc != CTX_EUNDEF_OBJECT) {
        printf("DAMAGE %s/metadata/current: %s\n", root, err.message);
        status = EXIT_DAMAGE;
    }
    ctx_err_clear(&err);
    uint64_t *ids = NULL;
    size_t count = 0;
    if (snap_list(root, &ids, &count, &err) != CTX_OK) {
        printf("ERROR %s\n", err.message);
        return EXIT_USAGE;
    }
    bool current_found = current == 0;
    for (size_t i = 0; i < count; i++) {
        snap_meta_t m;
        ctx_err_clear(&err);
        if (snap_meta_load(root, ids[i], &m, &err) != CTX_OK) {
            printf("DAMAGE %s\n", err.message);
            status = EXIT_DAMAGE;
            continue;
        }
        current_found = current_found || ids[i] == current;
        (*snapshots)++;
        if (verbose) {
            print_meta(&m, ids[i] == current);
        }
        int s = scan_snapshot(root, &m, verbose, files);
        status = s > status ? s : status;
    }
    if (!current_found) {
        printf("DAMAGE %s/metadata/current names snapshot %" PRIu64 ", which has no metadata\n",
               root, current);
        status = EXIT_DAMAGE;
    }
    free(ids);
    return status;
}

/* `snapshot metadata.json`: root is the directory above metadata/. */
static int inspect_meta_file(const char *path) {
    uint8_t *text;
    size_t len;
    ctx_err_t err = {0};
    snap_meta_t m;
    int status = EXIT_USAGE;
    if (slurp(path, &text, &len, &err) != CTX_OK) {
        printf("ERROR %s\n", err.message);
        goto done;
    }
    if (snap_meta_parse((const char *)text, len, &m, &err) != CTX_OK) {
        printf("DAMAGE %s: %s\n", path, err.message);
        status = EXIT_DAMAGE;
        goto done;
    }
    char root[FSU_PATH_MAX];
    if (fsu_path(root, &err, "%s", path) != CTX_OK) {
        printf("ERROR %s\n", err.message);
        goto done;
    }
    for (int up = 0; up < 2; up++) { /* strip "/snapshot-N.json", then "/metadata" */
        char *slash = strrchr(root, '/');
        if (slash != NULL) {
            *slash = '\0';
        } else {
            strcpy(root, up == 0 ? "." : "..");
        }
    }
    print_meta(&m, false);
    uint64_t files = 0;
    status = scan_snapshot(root, &m, true, &files);
done:
    free(text);
    return status;
}

static int cmd_snapshot(int argc, char **argv) {
    if (argc != 1) {
        fprintf(stderr, "usage: contextdb-inspect snapshot DIR|metadata.json\n");
        return EXIT_USAGE;
    }
    const char *arg = argv[0];
    if (!is_dir(arg)) {
        return inspect_meta_file(arg);
    }
    char root[FSU_PATH_MAX], probe[FSU_PATH_MAX];
    ctx_err_t err = {0};
    if (fsu_path(root, &err, "%s/snapshots", arg) != CTX_OK ||
        fsu_path(probe, &err, "%s/metadata", root) != CTX_OK) {
        printf("ERROR %s\n", err.message);
        return EXIT_USAGE;
    }
    if (!is_dir(probe)) {
        strcpy(root, arg); /* DIR is a snapshot root itself; shorter than root + "/snapshots" */
    }
    uint64_t snapshots = 0, files = 0;
    int status = scan_root(root, true, &snapshots, &files);
    printf("%" PRIu64 " snapshots, %" PRIu64 " files under %s\n", snapshots, files, root);
    return status;
}

/* The WAL index the current snapshot of DATA_DIR/snapshots ends at (0: none). */
static uint64_t snapshot_index(const char *data_dir) {
    char root[FSU_PATH_MAX];
    ctx_err_t err = {0};
    uint64_t id = 0;
    snap_meta_t m;
    if (fsu_path(root, &err, "%s/snapshots", data_dir) != CTX_OK ||
        snap_get_current(root, &id, &err) != CTX_OK ||
        snap_meta_load(root, id, &m, &err) != CTX_OK) {
        return 0; /* no snapshot, or a damaged one scan_root reports */
    }
    return m.raft_index;
}

/* The layout checks recovery makes: wal.ctl's newest segment present, and the log starting
 * right after the snapshot it continues. */
static int verify_wal_layout(const char *data_dir, const char *dir, const uint64_t *firsts,
                             size_t count) {
    ctx_err_t err = {0};
    uint64_t newest = 0;
    int rc = wal_control_read(dir, &newest, &err);
    if (rc == CTX_EUNDEF_OBJECT) {
        ctx_err_clear(&err);
        rc = CTX_OK;
    }
    if (rc == CTX_OK) {
        rc = wal_check_newest(dir, newest, count > 0 ? firsts[count - 1] : 0, &err);
    }
    uint64_t after = snapshot_index(data_dir);
    if (rc == CTX_OK && count > 0 && firsts[0] > after + 1) {
        char name[32];
        wal_segment_name(firsts[0], name, sizeof(name));
        rc = ctx_err_set(&err, CTX_ECORRUPT,
                         "WAL starts at index %" PRIu64 " (%s/%s) but the current snapshot ends at "
                         "index %" PRIu64 ": records %" PRIu64 "..%" PRIu64 " are missing",
                         firsts[0], dir, name, after, after + 1, firsts[0] - 1);
    }
    if (rc == CTX_OK) {
        return EXIT_CLEAN;
    }
    printf("%s %s\n", rc == CTX_ECORRUPT ? "DAMAGE" : "ERROR", err.message);
    return rc == CTX_ECORRUPT ? EXIT_DAMAGE : EXIT_USAGE;
}

/* WAL part of verify: the layout, then every segment in order, indexes contiguous across
 * segments. */
static int verify_wal(const char *data_dir) {
    char dir[FSU_PATH_MAX];
    ctx_err_t err = {0};
    uint64_t *firsts = NULL;
    size_t count = 0;
    int rc = fsu_path(dir, &err, "%s/wal", data_dir);
    if (rc == CTX_OK) {
        rc = wal_list_segments(dir, &firsts, &count, &err);
    }
    if (rc != CTX_OK && rc != CTX_EUNDEF_OBJECT) {
        printf("ERROR %s\n", err.message);
        return EXIT_USAGE;
    }
    int status = rc == CTX_OK ? verify_wal_layout(data_dir, dir, firsts, count) : EXIT_CLEAN;
    wal_scan_t ws = {.print_records = false, .after_index = snapshot_index(data_dir)};
    arena_init(&ws.arena);
    char hs_path[FSU_PATH_MAX];
    struct stat sb;
    if (rc == CTX_OK && fsu_path(hs_path, &err, "%s/%s", dir, WAL_HARD_STATE_FILE) == CTX_OK &&
        stat(hs_path, &sb) == 0) {
        int s = scan_segment(&ws, hs_path);
        status = s > status ? s : status;
    }
    for (size_t i = 0; i < count; i++) {
        char name[32], path[FSU_PATH_MAX];
        wal_segment_name(firsts[i], name, sizeof(name));
        int s = fsu_path(path, &err, "%s/%s", dir, name) == CTX_OK ? scan_segment(&ws, path)
                                                                   : EXIT_USAGE;
        status = s > status ? s : status;
    }
    free(firsts);
    printf("wal: %zu segments, %" PRIu64 " intact records, %" PRIu64 " damaged\n", count,
           ws.records, ws.damaged);
    arena_destroy(&ws.arena);
    return status;
}

static int cmd_verify(int argc, char **argv) {
    if (argc != 1 || !is_dir(argv[0])) {
        fprintf(stderr, "usage: contextdb-inspect verify DATA_DIR\n");
        return EXIT_USAGE;
    }
    int status = verify_wal(argv[0]);
    const char *roots[] = {"snapshots", "objstore"};
    for (int i = 0; i < 2; i++) {
        char root[FSU_PATH_MAX], probe[FSU_PATH_MAX];
        ctx_err_t err = {0};
        if (fsu_path(root, &err, "%s/%s", argv[0], roots[i]) != CTX_OK ||
            fsu_path(probe, &err, "%s/metadata", root) != CTX_OK) {
            printf("ERROR %s\n", err.message);
            status = EXIT_USAGE > status ? EXIT_USAGE : status;
            continue;
        }
        if (!is_dir(probe)) {
            continue;
        }
        uint64_t snapshots = 0, files = 0;
        int rc = scan_root(root, false, &snapshots, &files);
        printf("%s: %" PRIu64 " snapshots, %" PRIu64 " files checked\n", roots[i], snapshots,
               files);
        status = rc > status ? rc : status;
    }
    printf("%s\n", status == EXIT_CLEAN ? "verify: OK" : "verify: DAMAGE FOUND");
    return status;
}

static void usage(FILE *out) {
    fprintf(out, "usage: contextdb-inspect wal [--summary] FILE…\n"
                 "       contextdb-inspect snapshot DIR|metadata.json\n"
                 "       contextdb-inspect verify DATA_DIR\n"
                 "exit status: 0 clean, 1 damage found, 2 usage or I/O error\n");
}

int main(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return EXIT_CLEAN;
    }
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    int status;
    if (strcmp(argv[1], "wal") == 0) {
        status = cmd_wal(argc - 2, argv + 2);
    } else if (strcmp(argv[1], "snapshot") == 0) {
        status = cmd_snapshot(argc - 2, argv + 2);
    } else if (strcmp(argv[1], "verify") == 0) {
        status = cmd_verify(argc - 2, argv + 2);
    } else {
        usage(stderr);
        status = EXIT_USAGE;
    }
    fflush(stdout);
    return status;
}
