/*
 * copy.c — COPY FROM STDIN into nodes / edges / vectors and COPY … TO STDOUT (see sql.h).
 *
 * COPY FROM. Bytes arrive in CopyData chunks that need not align with rows; they accumulate in
 * `pending` and every complete record (a line; in CSV a quoted field may span lines) is parsed
 * at once: split into fields (text format: delimiter-separated with backslash escapes and \N
 * for NULL, a line "\." ends the data; CSV: RFC 4180 quoting with QUOTE / ESCAPE, an unquoted
 * NULL string — empty by default — is NULL), each field converted by its column's input function,
 * defaults filled in (label '', weight 1), NOT NULL checked, and one insert op appended to the
 * batch. Errors name the line as PostgreSQL does in its CONTEXT line. Nothing touches the store
 * until sql_copy_end, which applies the whole batch through session_apply — the path INSERT
 * takes — so a failed COPY leaves no trace and a committed one reaches the WAL / commit hooks.
 * Memory: the batch (and the op payloads it copies) lives in the copy's arena; per-record scratch
 * in a second arena reset after each record, so memory is proportional to the data, not more.
 * Both arenas carry the session's statement_mem_limit (53200 past it), and a record may be at
 * most copy_line_max() bytes — the smaller of COPY_LINE_BYTES_MAX (PostgreSQL's 1 GB field
 * bound) and that limit — or the COPY fails with 54000 as soon as the pending bytes pass it.
 *
 * Time: finding record ends is linear in the data however it is split into CopyData messages:
 * the scan of the incomplete record resumes where the previous message's scan stopped (`scan`),
 * so a long line arriving in many small messages is scanned once, not once per message. Between
 * records the session's cancel flag (CancelRequest, statement_timeout) is polled, so a COPY stops
 * with 57014 at the next record once it is set.
 *
 * COPY TO. Runs the query through sql_execute (a table becomes SELECT cols FROM table) and
 * formats the rows: text format escapes backslash, newline, carriage return, tab and the
 * delimiter and writes NULL as \N; CSV quotes a field when it contains the delimiter, the quote,
 * CR or LF, or equals the NULL string, doubling embedded quotes.
 */
#include "binary.h"
#include "copy_binary.h"
#include "plan_int.h"
#include "session_int.h"

#include <stdlib.h>
#include <string.h>

enum { COPY_COLS_MAX = 4, COPY_CONTEXT_VALUE_MAX = 64 };

/* Largest record (line) accepted, as PostgreSQL bounds a field to 1 GB. */
static const size_t COPY_LINE_BYTES_MAX = ((size_t)1 << 30) - 1;

/* Where the search for the end of the pending record stands (copy_record_len). */
typedef struct copy_scan {
    size_t pos;    /* bytes of the pending record already scanned, none of them its end */
    bool in_quote; /* CSV: inside a quoted field at pos */
} copy_scan_t;

struct sql_copy {
    sql_session_t *s;
    table_id_t table;
    int targets[COPY_COLS_MAX]; /* table column of each input field */
    int ntargets;
    bool csv;
    bool binary;     /* FORMAT binary (copy_binary.h) */
    bool bin_header; /* binary: the stream's header has been read */
    bool header;     /* first line still to skip */
    char delimiter;
    char quote;
    char escape;
    const char *null_string;
    size_t null_len;
    buf_t pending;    /* bytes of the current incomplete record */
    copy_scan_t scan; /* progress of the search for its end */
    size_t line_max;  /* bound of one record in bytes (copy_line_max) */
    uint64_t line;    /* line number of the next record (1-based, header included) */
    uint64_t rows;
    bool end_seen; /* the "\." line (text, CSV) or the binary trailer */
    bool failed;
    arena_t arena;   /* batch and op payloads */
    arena_t scratch; /* one record */
    cmd_batch_t batch;
};

/* A field of the current record: text (NUL-terminated, scratch memory) or NULL. */
typedef struct copy_field {
    const char *text;
    uint32_t len;
    bool null;
} copy_field_t;

static void copy_free(sql_copy_t *c) {
    buf_free(&c->pending);
    arena_destroy(&c->arena);
    arena_destroy(&c->scratch);
    free(c);
}

/* ---- Statement checks --------------------------------------------------------------------------
 */

/* FORMAT binary takes none of the text options (PostgreSQL's 42601 errors). */
static int copy_binary_options(const copy_stmt_t *cs, ctx_err_t *err) {
    const char *option = cs->header                ? "HEADER"
                         : cs->delimiter != 0      ? "DELIMITER"
                         : cs->null_string != NULL ? "NULL"
                         : cs->quote != 0          ? "QUOTE"
                         : cs->escape != 0         ? "ESCAPE"
                                                   : NULL;
    if (option != NULL) {
        return ctx_err_set(err, CTX_ESYNTAX, "cannot specify %s in BINARY mode", option);
    }
    return 0;
}

static int copy_options(sql_copy_t *c, const copy_stmt_t *cs, ctx_err_t *err) {
    if (cs->format != NULL && strcmp(cs->format, "binary") == 0) {
        c->binary = true;
        return copy_binary_options(cs, err);
    }
    if (cs->format != NULL && strcmp(cs->format, "text") != 0 && strcmp(cs->format, "csv") != 0) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "COPY format \"%s\" not recognized", cs->format);
    }
    c->csv = cs->format != NULL && strcmp(cs->format, "csv") == 0;
    c->header = cs->header;
    c->delimiter = cs->delimiter != 0 ? cs->delimiter : (c->csv ? ',' : '\t');
    c->quote = cs->quote != 0 ? cs->quote : '"';
    c->escape = cs->escape != 0 ? cs->escape : c->quote;
    c->null_string = cs->null_string != NULL ? cs->null_string : (c->csv ? "" : "\\N");
    c->null_len = strlen(c->null_string);
    if (!c->csv && (cs->quote != 0 || cs->escape != 0)) {
        return ctx_err_set(err, CTX_EFEATURE, "COPY quote and escape available only in CSV mode");
    }
    if (c->delimiter == '\n' || c->delimiter == '\r' || (!c->csv && c->delimiter == '\\')) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "COPY delimiter cannot be \"%c\"", c->delimiter);
    }
    if (c->csv && c->delimiter == c->quote) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "COPY delimiter and quote must be different");
    }
    return 0;
}

/* Resolves the table and the column list (all columns when none is given). */
static int copy_targets(const copy_stmt_t *cs, table_id_t *table, int *targets, int *ntargets,
                        ctx_err_t *err) {
    int t = table_lookup(cs->table);
    if (t < 0) {
        return ctx_err_set(err, CTX_EUNDEF_TABLE, "relation \"%s\" does not exist", cs->table);
    }
    *table = (table_id_t)t;
    int ncols = table_column_count(*table);
    const bind_column_t *cols = table_columns(*table);
    if (cs->ncolumns == 0) {
        for (int i = 0; i < ncols; i++) {
            targets[i] = i;
        }
        *ntargets = ncols;
        return 0;
    }
    *ntargets = 0;
    for (int i = 0; i < cs->ncolumns; i++) {
        int found = -1;
        for (int k = 0; k < ncols; k++) {
            found = strcmp(cols[k].name, cs->columns[i]) == 0 ? k : found;
        }
        if (found < 0) {
            return ctx_err_set(err, CTX_EUNDEF_COLUMN,
                               "column \"%s\" of relation \"%s\" does not exist", cs->columns[i],
                               cs->table);
        }
        for (int k = 0; k < *ntargets; k++) {
            if (targets[k] == found) {
                return ctx_err_set(err, CTX_EDUP_COLUMN, "column \"%s\" specified more than once",
                                   cs->columns[i]);
            }
        }
        targets[(*ntargets)++] = found;
    }
    return 0;
}

int sql_copy_begin(sql_session_t *s, const stmt_t *stmt, sql_copy_t **copy, int *ncols,
                   ctx_err_t *err) {
    CTX_ASSERT(s != NULL && stmt != NULL && stmt->kind == STMT_COPY);
    CTX_ASSERT(copy != NULL && ncols != NULL);
    const copy_stmt_t *cs = stmt->u.copy;
    CTX_ASSERT(cs->from && cs->table != NULL);
    if (s->txn == TXN_FAILED) {
        return ctx_err_set(err, CTX_ETXN_ABORTED,
                           "current transaction is aborted, commands "
                           "ignored until end of transaction block");
    }
    sql_copy_t *c = ctx_calloc(1, sizeof(*c));
    c->s = s;
    c->line = 1;
    buf_init(&c->pending);
    arena_init(&c->arena);
    arena_init(&c->scratch);
    size_t mem_limit = session_mem_limit(s);
    arena_set_limit(&c->arena, mem_limit);
    arena_set_limit(&c->scratch, mem_limit);
    c->line_max =
        mem_limit != 0 && mem_limit < COPY_LINE_BYTES_MAX ? mem_limit : COPY_LINE_BYTES_MAX;
    cmd_batch_init(&c->batch, &c->arena);
    int rc = copy_targets(cs, &c->table, c->targets, &c->ntargets, err);
    if (rc == 0) {
        rc = copy_options(c, cs, err);
    }
    if (rc < 0) {
        copy_free(c);
        return rc;
    }
    *copy = c;
    *ncols = c->ntargets;
    return 0;
}

/* ---- Parsing records
 * ----------------------------------------------------------------------------- */

/* Sets the CONTEXT line of the current error: COPY t, line n[, column c: "value"]. */
static int copy_error_at(sql_copy_t *c, const char *column, const char *value, uint32_t len,
                         ctx_err_t *err) {
    if (column == NULL) {
        ctx_err_context(err, "COPY %s, line %llu", table_name(c->table),
                        (unsigned long long)c->line);
    } else if (value == NULL) {
        ctx_err_context(err, "COPY %s, line %llu, column %s", table_name(c->table),
                        (unsigned long long)c->line, column);
    } else {
        int shown = len > COPY_CONTEXT_VALUE_MAX ? COPY_CONTEXT_VALUE_MAX : (int)len;
        ctx_err_context(err, "COPY %s, line %llu, column %s: \"%.*s%s\"", table_name(c->table),
                        (unsigned long long)c->line, column, shown, value,
                        len > COPY_CONTEXT_VALUE_MAX ? "..." : "");
    }
    c->failed = true;
    return err->code;
}

static int copy_octal(char ch) {
    return ch >= '0' && ch <= '7' ? ch - '0' : -1;
}

static int copy_hex(char ch) {
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* De-escapes one text-format field raw[0, len) into out; returns the length. */
static uint32_t copy_unescape(const char *raw, uint32_t len, char *out) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < len; i++) {
        char ch = raw[i];
        if (ch != '\\' || i + 1 == len) {
            out[n++] = ch;
            continue;
        }
        ch = raw[++i];
        static const char from[] = "bfnrtv", to[] = "\b\f\n\r\t\v";
        const char *at = strchr(from, ch);
        if (at != NULL && ch != '\0') {
            out[n++] = to[at - from];
        } else if (copy_octal(ch) >= 0) {
            int v = copy_octal(ch);
            for (int k = 0; k < 2 && i + 1 < len && copy_octal(raw[i + 1]) >= 0; k++) {
                v = v * 8 + copy_octal(raw[++i]);
            }
            out[n++] = (char)v;
        } else if (ch == 'x' && i + 1 < len && copy_hex(raw[i + 1]) >= 0) {
            int v = copy_hex(raw[++i]);
            if (i + 1 < len && copy_hex(raw[i + 1]) >= 0) {
                v = v * 16 + copy_hex(raw[++i]);
            }
            out[n++] = (char)v;
        } else {
            out[n++] = ch; /* \\, \delimiter and any other escaped character stand for itself */
        }
    }
    out[n] = '\0';
    return n;
}

/* Splits a text-format line (without its newline) into fields. */
static int copy_split_text(sql_copy_t *c, const char *line, uint32_t len, copy_field_t *fields,
                           int *nfields, int max) {
    int n = 0;
    uint32_t start = 0;
    for (uint32_t i = 0; i <= len; i++) {
        if (i + 1 < len && line[i] == '\\') {
            i++; /* an escaped character (possibly the delimiter) never splits */
            continue;
        }
        if (i < len && line[i] != c->delimiter) {
            continue;
        }
        if (n == max) {
            return -1;
        }
        uint32_t flen = i - start;
        copy_field_t *f = &fields[n++];
        f->null = flen == c->null_len && memcmp(line + start, c->null_string, flen) == 0;
        char *out = arena_alloc(&c->scratch, flen + 1);
        f->len = copy_unescape(line + start, flen, out);
        f->text = out;
        start = i + 1;
    }
    *nfields = n;
    return 0;
}

/* Splits a CSV record (without its final newline) into fields. */
static int copy_split_csv(sql_copy_t *c, const char *rec, uint32_t len, copy_field_t *fields,
                          int *nfields, int max) {
    int n = 0;
    uint32_t i = 0;
    for (;;) {
        if (n == max) {
            return -1;
        }
        char *out = arena_alloc(&c->scratch, len - i + 1);
        uint32_t olen = 0;
        bool quoted_any = false;
        uint32_t start = i;
        bool in_quote = false;
        while (i < len && (in_quote || rec[i] != c->delimiter)) {
            char ch = rec[i];
            if (in_quote && ch == c->escape && i + 1 < len && rec[i + 1] == c->quote) {
                out[olen++] = c->quote;
                i += 2;
            } else if (ch == c->quote) {
                in_quote = !in_quote;
                quoted_any = true;
                i++;
            } else {
                out[olen++] = ch;
                i++;
            }
        }
        out[olen] = '\0';
        copy_field_t *f = &fields[n++];
        f->text = out;
        f->len = olen;
        f->null = !quoted_any && i - start == c->null_len &&
                  memcmp(rec + start, c->null_string, c->null_len) == 0;
        if (i >= len) {
            break;
        }
        i++; /* the delimiter */
    }
    *nfields = n;
    return 0;
}

/* ---- Records to ops ----------------------------------------------------------------------------
 */

static void copy_defaults(table_id_t table, value_t *row) {
    for (int i = 0; i < COPY_COLS_MAX; i++) {
        row[i] = value_null();
    }
    if (table == TABLE_NODES) {
        row[1] = value_text("", 0);
    } else if (table == TABLE_EDGES) {
        row[3] = value_float(1.0);
    }
}

static int copy_row_op(sql_copy_t *c, const value_t *row, ctx_err_t *err) {
    const bind_column_t *cols = table_columns(c->table);
    for (int k = 0; k < table_column_count(c->table); k++) {
        if (value_is_null(&row[k]) && !(c->table == TABLE_NODES && k == 2)) {
            ctx_err_set(err, CTX_ENOT_NULL,
                        "null value in column \"%s\" of relation \"%s\" violates not-null "
                        "constraint",
                        cols[k].name, table_name(c->table));
            return copy_error_at(c, NULL, NULL, 0, err);
        }
    }
    cmd_op_t op;
    memset(&op, 0, sizeof(op));
    op.id = row[0].u.i;
    if (c->table == TABLE_NODES) {
        op.kind = CMD_NODE_INSERT;
        op.label = row[1].u.str.ptr;
        op.label_len = row[1].u.str.len;
        op.props = value_is_null(&row[2]) ? NULL : row[2].u.str.ptr;
        op.props_len = value_is_null(&row[2]) ? 0 : row[2].u.str.len;
        if (op.label_len > LABEL_BYTES_MAX) {
            ctx_err_set(err, CTX_ETOO_LONG, "value too long for type character varying(%d)",
                        LABEL_BYTES_MAX);
            return copy_error_at(c, "label", op.label, op.label_len, err);
        }
    } else if (c->table == TABLE_EDGES) {
        op.kind = CMD_EDGE_INSERT;
        op.target = row[1].u.i;
        op.kind_name = row[2].u.str.ptr;
        op.kind_len = row[2].u.str.len;
        op.weight = row[3].u.f;
    } else {
        op.kind = CMD_VECTOR_INSERT;
        op.vector = row[1].u.vec.data;
        op.vector_dim = row[1].u.vec.dim;
    }
    int rc = cmd_batch_add(&c->batch, &op, err);
    if (rc != CTX_OK) {
        return rc;
    }
    c->rows++;
    return 0;
}

/* Parses one record (without its line terminator) and appends its op. */
static int copy_record(sql_copy_t *c, const char *rec, uint32_t len, ctx_err_t *err) {
    if (len > 0 && rec[len - 1] == '\r') {
        len--;
    }
    if (c->header) {
        c->header = false;
        return 0;
    }
    if (len == 2 && rec[0] == '\\' && rec[1] == '.') { /* end marker, in CSV too */
        c->end_seen = true;
        return 0;
    }
    copy_field_t fields[COPY_COLS_MAX];
    int n = 0;
    int rc = c->csv ? copy_split_csv(c, rec, len, fields, &n, c->ntargets)
                    : copy_split_text(c, rec, len, fields, &n, c->ntargets);
    if (rc < 0) {
        ctx_err_set(err, CTX_EBAD_COPY, "extra data after last expected column");
        return copy_error_at(c, NULL, NULL, 0, err);
    }
    const bind_column_t *cols = table_columns(c->table);
    if (n < c->ntargets) {
        ctx_err_set(err, CTX_EBAD_COPY, "missing data for column \"%s\"", cols[c->targets[n]].name);
        return copy_error_at(c, NULL, NULL, 0, err);
    }
    value_t row[COPY_COLS_MAX];
    copy_defaults(c->table, row);
    for (int i = 0; i < n; i++) {
        int col = c->targets[i];
        if (fields[i].null) {
            row[col] = value_null();
            continue;
        }
        uint32_t dims = cols[col].type == CT_VECTOR ? store_vector_dims(c->s->db->store) : 0;
        rc = value_from_text(cols[col].type, fields[i].text, fields[i].len, dims, &c->scratch,
                             &row[col], err);
        if (rc < 0) {
            return copy_error_at(c, cols[col].name, fields[i].text, fields[i].len, err);
        }
    }
    return copy_row_op(c, row, err);
}

/* Length of the next complete record in data[0, len) including its '\n', or 0 if incomplete.
 * In CSV a newline inside quotes belongs to the field. The scan starts at scan->pos (bytes known
 * not to end the record) and, when the record is incomplete, records where it stopped; the caller
 * zeroes *scan when a record is consumed. */
static size_t copy_record_len(const sql_copy_t *c, const uint8_t *data, size_t len,
                              copy_scan_t *scan) {
    CTX_ASSERT(scan->pos <= len);
    bool in_quote = scan->in_quote;
    size_t i = scan->pos;
    if (!c->csv) {
        const uint8_t *nl = memchr(data + i, '\n', len - i);
        scan->pos = nl == NULL ? len : scan->pos;
        return nl == NULL ? 0 : (size_t)(nl - data) + 1;
    }
    for (; i < len; i++) {
        uint8_t ch = data[i];
        if (in_quote && ch == (uint8_t)c->escape && c->escape != c->quote && i + 1 == len) {
            break; /* an escape as the last byte: whether it escapes a quote is still unknown */
        }
        if (in_quote && ch == (uint8_t)c->escape && c->escape != c->quote &&
            data[i + 1] == (uint8_t)c->quote) {
            i++;
        } else if (ch == (uint8_t)c->quote) {
            in_quote = !in_quote;
        } else if (ch == '\n' && !in_quote) {
            return i + 1;
        }
    }
    scan->pos = i;
    scan->in_quote = in_quote;
    return 0;
}

/* 57014 once the session's cancel flag is set (CancelRequest or statement_timeout). */
static int copy_poll_cancel(const sql_copy_t *c, ctx_err_t *err) {
    if (!atomic_load(&c->s->cancel)) {
        return 0;
    }
    ctx_err_set(err, CTX_ECANCELED, "canceling statement due to user request");
    ctx_err_context(err, "COPY %s, line %llu", table_name(c->table), (unsigned long long)c->line);
    return err->code;
}

/* 53200 when a record took either arena past statement_mem_limit; 54000 for a record longer than
 * line_max bytes (len: the bytes of the current record seen so far). */
static int copy_check_memory(sql_copy_t *c, size_t len, ctx_err_t *err) {
    if (len > c->line_max) {
        ctx_err_set(err, CTX_ELIMIT, "COPY line too long");
        char limit[32];
        arena_format_size(c->line_max, limit, sizeof(limit));
        ctx_err_detail(err,
                       "A line may be at most %s (the smaller of 1GB and statement_mem_limit).",
                       c->line_max == COPY_LINE_BYTES_MAX ? "1GB" : limit);
        return copy_error_at(c, NULL, NULL, 0, err);
    }
    const arena_t *full = arena_exhausted(&c->arena)     ? &c->arena
                          : arena_exhausted(&c->scratch) ? &c->scratch
                                                         : NULL;
    if (full == NULL) {
        return 0;
    }
    arena_limit_error(full, "statement_mem_limit", err);
    ctx_err_hint(err, "Split the data into several COPY statements, or raise statement_mem_limit.");
    return copy_error_at(c, NULL, NULL, 0, err);
}

_Static_assert(((size_t)1 << 30) - 1 <= UINT32_MAX, "a record's length fits copy_record's len");

/* Parses the complete text or CSV records of pending from *done on; *done advances past them. */
static int copy_data_text(sql_copy_t *c, size_t *done, ctx_err_t *err) {
    int rc = 0;
    while (rc == 0 && !c->end_seen) {
        const uint8_t *p = buf_peek(&c->pending) + *done;
        size_t rec_len = copy_record_len(c, p, buf_size(&c->pending) - *done, &c->scan);
        rc = copy_check_memory(c, rec_len != 0 ? rec_len - 1 : c->scan.pos, err);
        if (rec_len == 0 || rc != 0) {
            break;
        }
        c->scan = (copy_scan_t){0, false};
        rc = copy_record(c, (const char *)p, (uint32_t)(rec_len - 1), err);
        arena_reset(&c->scratch);
        c->line += 1;
        for (size_t i = 0; c->csv && i + 1 < rec_len; i++) {
            c->line += p[i] == '\n' ? 1 : 0; /* CSV records spanning lines */
        }
        *done += rec_len;
        if (rc == 0) {
            rc = copy_check_memory(c, 0, err);
        }
        if (rc == 0) {
            rc = copy_poll_cancel(c, err);
        }
    }
    return rc;
}

/* Converts one binary field of column type `type` (the type's binary format; jsonb checked and
 * made canonical, a vector's dimension checked as in the text form). */
static int copy_binary_value(sql_copy_t *c, ctype_t type, const uint8_t *f, uint32_t flen,
                             value_t *out, ctx_err_t *err) {
    if (binary_recv(value_type_oid(type), f, flen, &c->scratch, out, err) < 0) {
        return ctx_err_set(err, CTX_EBINARY_FORMAT, "incorrect binary data format");
    }
    if (type == CT_JSONB) {
        return value_json_canonical(out->u.str.ptr, out->u.str.len, &c->scratch, out, err);
    }
    uint32_t dims = type == CT_VECTOR ? store_vector_dims(c->s->db->store) : 0;
    if (dims != 0 && out->u.vec.dim != dims) {
        return ctx_err_set(err, CTX_EDATA, "expected %u dimensions, not %u", dims, out->u.vec.dim);
    }
    return 0;
}

/* One complete binary tuple (framed by copybin_tuple) to its op. */
static int copy_binary_record(sql_copy_t *c, const uint8_t *tuple, ctx_err_t *err) {
    const bind_column_t *cols = table_columns(c->table);
    value_t row[COPY_COLS_MAX];
    copy_defaults(c->table, row);
    for (int i = 0; i < c->ntargets; i++) {
        int col = c->targets[i];
        const uint8_t *f = NULL;
        uint32_t flen = 0;
        copybin_field(tuple, i, &f, &flen);
        row[col] = value_null();
        if (f != NULL && copy_binary_value(c, cols[col].type, f, flen, &row[col], err) < 0) {
            return copy_error_at(c, cols[col].name, NULL, 0, err);
        }
    }
    return copy_row_op(c, row, err);
}

/* Parses the header and the complete tuples of pending from *done on (FORMAT binary). */
static int copy_data_binary(sql_copy_t *c, size_t *done, ctx_err_t *err) {
    int rc = 0;
    while (rc == 0 && !c->end_seen) {
        const uint8_t *p = buf_peek(&c->pending) + *done;
        size_t avail = buf_size(&c->pending) - *done;
        size_t n = 0;
        int st = c->bin_header ? copybin_tuple(p, avail, c->ntargets, c->line_max, &n, err)
                               : copybin_header(p, avail, &n, err);
        if (st < 0) {
            return copy_error_at(c, NULL, NULL, 0, err);
        }
        if (st == COPYBIN_MORE) {
            return copy_check_memory(c, avail, err);
        }
        *done += n;
        if (!c->bin_header || st == COPYBIN_TRAILER) {
            c->end_seen = st == COPYBIN_TRAILER; /* bytes after the trailer are ignored */
            c->bin_header = true;
            continue;
        }
        rc = copy_binary_record(c, p, err);
        arena_reset(&c->scratch);
        c->line += 1;
        if (rc == 0) {
            rc = copy_check_memory(c, 0, err);
        }
        if (rc == 0) {
            rc = copy_poll_cancel(c, err);
        }
    }
    return rc;
}

int sql_copy_data(sql_copy_t *c, const void *data, size_t len, ctx_err_t *err) {
    CTX_ASSERT(c != NULL && !c->failed);
    CTX_ASSERT(data != NULL || len == 0);
    buf_append(&c->pending, data, len);
    if (buf_failed(&c->pending)) {
        ctx_err_set(err, CTX_ENOMEM, "out of memory");
        ctx_err_detail(err, "The system could not provide memory for the COPY data.");
        return copy_error_at(c, NULL, NULL, 0, err);
    }
    int rc = copy_poll_cancel(c, err);
    size_t done = 0;
    if (rc == 0) {
        rc = c->binary ? copy_data_binary(c, &done, err) : copy_data_text(c, &done, err);
    }
    buf_consume(&c->pending, done);
    if (c->end_seen) {
        buf_reset(&c->pending); /* everything after the end marker is ignored */
    }
    return rc;
}

int sql_copy_end(sql_copy_t *c, arena_t *arena, sql_result_t *result, ctx_err_t *err) {
    CTX_ASSERT(c != NULL && arena != NULL && result != NULL);
    memset(result, 0, sizeof(*result));
    int rc = c->failed ? 0 : copy_poll_cancel(c, err);
    size_t left = buf_size(&c->pending);
    if (rc == 0 && !c->failed && c->binary && (!c->bin_header || left > 0)) {
        ctx_err_set(err, CTX_EBAD_COPY,
                    c->bin_header ? "unexpected EOF in COPY data"
                                  : "COPY file signature not recognized");
        rc = copy_error_at(c, NULL, NULL, 0, err);
    }
    if (rc == 0 && !c->failed && !c->end_seen && left > 0) {
        rc = copy_check_memory(c, left, err);
        if (rc == 0) {
            rc = copy_record(c, (const char *)buf_peek(&c->pending), (uint32_t)left, err);
        }
        if (rc == 0) {
            rc = copy_check_memory(c, 0, err);
        }
    }
    sql_session_t *s = c->s;
    if (rc == 0 && c->batch.count > 0) {
        rc = session_take_store(s, err);
        if (rc == 0) {
            rc = session_apply(s, &c->batch, arena, NULL, err);
        }
    }
    if (rc == 0) {
        result->tag = arena_sprintf(arena, "COPY %llu", (unsigned long long)c->rows);
    }
    copy_free(c);
    return rc;
}

void sql_copy_fail(sql_copy_t *c) {
    if (c != NULL) {
        copy_free(c);
    }
}

bool sql_copy_is_binary(const sql_copy_t *c) {
    return c->binary;
}

/* ---- COPY TO
 * ------------------------------------------------------------------------------------- */

static void copy_put_text(buf_t *b, const char *s, uint32_t len, char delimiter) {
    for (uint32_t i = 0; i < len; i++) {
        char ch = s[i];
        const char *esc = ch == '\\'   ? "\\\\"
                          : ch == '\n' ? "\\n"
                          : ch == '\r' ? "\\r"
                          : ch == '\t' ? "\\t"
                                       : NULL;
        if (esc != NULL) {
            buf_append(b, esc, 2);
        } else if (ch == delimiter) {
            buf_append_u8(b, '\\');
            buf_append_u8(b, (uint8_t)ch);
        } else {
            buf_append_u8(b, (uint8_t)ch);
        }
    }
}

static void copy_put_csv(const sql_copy_t *c, buf_t *b, const char *s, uint32_t len) {
    bool quote = len == c->null_len && memcmp(s, c->null_string, len) == 0;
    for (uint32_t i = 0; i < len && !quote; i++) {
        quote = s[i] == c->delimiter || s[i] == c->quote || s[i] == '\n' || s[i] == '\r';
    }
    if (!quote) {
        buf_append(b, s, len);
        return;
    }
    buf_append_u8(b, (uint8_t)c->quote);
    for (uint32_t i = 0; i < len; i++) {
        if (s[i] == c->quote || s[i] == c->escape) {
            buf_append_u8(b, (uint8_t)c->escape);
        }
        buf_append_u8(b, (uint8_t)s[i]);
    }
    buf_append_u8(b, (uint8_t)c->quote);
}

/* Moves a formatted line out of b into arena memory (and frees b); 53200 when memory runs out
 * (the statement's limit or the system's). */
static int copy_take_line(buf_t *b, arena_t *arena, const char **line, size_t *len,
                          ctx_err_t *err) {
    char *out = buf_failed(b) ? NULL : arena_try_alloc(arena, buf_size(b));
    if (out == NULL || arena_exhausted(arena)) {
        buf_free(b);
        return arena_limit_error(arena, "statement_mem_limit", err);
    }
    memcpy(out, buf_peek(b), buf_size(b));
    *line = out;
    *len = buf_size(b);
    buf_free(b);
    return 0;
}

/* Formats one line (NULL values as the NULL string) into arena memory; 53200 when memory runs
 * out (the statement's limit or the system's). */
static int copy_format_line(const sql_copy_t *c, const value_t *row, const char *const *names,
                            int ncols, arena_t *arena, const char **line, size_t *len,
                            ctx_err_t *err) {
    buf_t b;
    buf_init(&b);
    for (int k = 0; k < ncols; k++) {
        if (k > 0) {
            buf_append_u8(&b, (uint8_t)c->delimiter);
        }
        if (names != NULL) {
            c->csv ? copy_put_csv(c, &b, names[k], (uint32_t)strlen(names[k]))
                   : copy_put_text(&b, names[k], (uint32_t)strlen(names[k]), c->delimiter);
            continue;
        }
        if (value_is_null(&row[k])) {
            buf_append(&b, c->null_string, c->null_len);
            continue;
        }
        uint32_t vlen = 0;
        const char *text = value_to_text(&row[k], arena, &vlen);
        c->csv ? copy_put_csv(c, &b, text, vlen) : copy_put_text(&b, text, vlen, c->delimiter);
    }
    buf_append_u8(&b, '\n');
    return copy_take_line(&b, arena, line, len, err);
}

/* Formats one binary tuple of row (the columns' binary formats by type OID) into arena memory,
 * after the stream's header for the first tuple: clients (psycopg) expect the header in the
 * same CopyData message as the first tuple, as PostgreSQL sends it. */
static int copy_format_binary(const sql_result_t *result, const value_t *row, bool first,
                              arena_t *arena, const char **line, size_t *len, ctx_err_t *err) {
    buf_t b;
    buf_init(&b);
    if (first) {
        copybin_put_header(&b);
    }
    buf_append_u16be(&b, (uint16_t)result->ncols);
    for (int k = 0; k < result->ncols; k++) {
        if (value_is_null(&row[k])) {
            buf_append_u32be(&b, 0xffffffffu);
            continue;
        }
        size_t at = buf_size(&b);
        buf_append_u32be(&b, 0);
        binary_send(&b, arena, &row[k], result->cols[k].type_oid);
        size_t flen = buf_size(&b) - at - 4;
        if (!buf_failed(&b) && flen > INT32_MAX) {
            buf_free(&b);
            return ctx_err_set(err, CTX_ELIMIT, "COPY field too large");
        }
        buf_patch_u32be(&b, at, (uint32_t)flen);
    }
    return copy_take_line(&b, arena, line, len, err);
}

/* The binary stream's trailer (after its header when there were no tuples) as a line in arena
 * memory. */
static void copy_binary_trailer(bool header, arena_t *arena, const char **line, size_t *len) {
    buf_t b;
    buf_init(&b);
    if (header) {
        copybin_put_header(&b);
    }
    copybin_put_trailer(&b);
    CTX_ASSERT(!buf_failed(&b));
    *line = arena_strndup(arena, (const char *)buf_peek(&b), buf_size(&b));
    *len = buf_size(&b);
    buf_free(&b);
}

/* The statement to run: the query, or SELECT cols FROM table. */
static int copy_source(const copy_stmt_t *cs, arena_t *arena, stmt_t **out, ctx_err_t *err) {
    if (cs->query != NULL) {
        stmt_t *st = arena_calloc(arena, 1, sizeof(stmt_t));
        st->kind = STMT_SELECT;
        st->u.select = cs->query;
        *out = st;
        return 0;
    }
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "SELECT ");
    for (int i = 0; i < cs->ncolumns; i++) {
        buf_printf(&b, "%s\"%s\"", i > 0 ? ", " : "", cs->columns[i]);
    }
    buf_printf(&b, "%s FROM \"%s\"", cs->ncolumns == 0 ? "*" : "", cs->table);
    const char *text = arena_strndup(arena, (const char *)buf_peek(&b), buf_size(&b));
    buf_free(&b);
    stmt_t **stmts = NULL;
    int count = 0;
    int rc = sql_parse(text, strlen(text), arena, &stmts, &count, err);
    if (rc == 0) {
        CTX_ASSERT(count == 1);
        *out = stmts[0];
    }
    return rc;
}

int sql_copy_to(sql_session_t *s, const stmt_t *stmt, const char *query_text, arena_t *arena,
                sql_copy_out_t *out, ctx_err_t *err) {
    CTX_ASSERT(s != NULL && stmt != NULL && stmt->kind == STMT_COPY && !stmt->u.copy->from);
    CTX_ASSERT(out != NULL);
    memset(out, 0, sizeof(*out));
    sql_copy_t c;
    memset(&c, 0, sizeof(c));
    int rc = copy_options(&c, stmt->u.copy, err);
    stmt_t *source = NULL;
    if (rc == 0) {
        rc = copy_source(stmt->u.copy, arena, &source, err);
    }
    sql_result_t result;
    memset(&result, 0, sizeof(result));
    if (rc == 0) {
        rc = sql_execute(s, source, query_text, arena, &result, err);
    }
    if (rc < 0) {
        return rc;
    }
    CTX_ASSERT(result.has_rows);
    /* text/CSV: [header line] + rows; binary: tuples (the first with the header) + trailer */
    uint64_t nlines = result.nrows + (c.binary || c.header ? 1 : 0);
    out->ncols = result.ncols;
    out->binary = c.binary;
    out->lines = arena_calloc(arena, nlines + 1, sizeof(char *));
    out->line_lens = arena_calloc(arena, nlines + 1, sizeof(size_t));
    const char **names = arena_calloc(arena, (size_t)result.ncols + 1, sizeof(char *));
    for (int k = 0; k < result.ncols; k++) {
        names[k] = result.cols[k].name;
    }
    uint64_t n = 0;
    if (c.header) {
        rc = copy_format_line(&c, NULL, names, result.ncols, arena, &out->lines[0],
                              &out->line_lens[0], err);
        n++;
    }
    for (uint64_t r = 0; rc == 0 && r < result.nrows; r++, n++) {
        const value_t *row = &result.rows[r * (uint64_t)result.ncols];
        rc = c.binary ? copy_format_binary(&result, row, r == 0, arena, &out->lines[n],
                                           &out->line_lens[n], err)
                      : copy_format_line(&c, row, NULL, result.ncols, arena, &out->lines[n],
                                         &out->line_lens[n], err);
    }
    if (rc < 0) {
        return rc;
    }
    if (c.binary) {
        copy_binary_trailer(result.nrows == 0, arena, &out->lines[n], &out->line_lens[n]);
        n++;
    }
    out->nlines = n;
    out->tag = arena_sprintf(arena, "COPY %llu", (unsigned long long)result.nrows);
    return 0;
}
