/*
 * fuzz_sql.c — libFuzzer target: ContextQL text through the whole SQL pipeline (lex, parse, bind,
 * plan, execute) on a small database, through the same sql.h session API the server uses.
 *
 * The input is one simple Query's text; bytes after a NUL, if any, are the data of a COPY … FROM
 * STDIN in that text. The database (a few nodes, edges of several kinds, 4-dimensional vectors
 * with an HNSW index) is built once by LLVMFuzzerInitialize from FIXTURE_SQL. Every input runs in
 * a fresh session; its uncommitted work is rolled back when the session is destroyed. An input
 * that commits (autocommit writes, COMMIT) makes the commit hook mark the database dirty, and the
 * database is then rebuilt before the next input, so every input sees the same starting state and
 * a crash replays from its file alone. Results are rendered to text (value_to_text) so output
 * paths run too. Snapshot statements fail with 0A000 here (no snapshot hooks), as in a server
 * without durability.
 */
#include "arena.h"
#include "ctx.h"
#include "hnsw.h"
#include "sql.h"
#include "store.h"
#include "value.h"
#include "vindex.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { FUZZ_DIMS = 4, FUZZ_SQL_BYTES_MAX = 1 << 16 };

static const char FIXTURE_SQL[] =
    "INSERT INTO nodes (id, label, props) VALUES (1, 'User', '{\"name\":\"ann\",\"age\":31}'),"
    " (2, 'Doc', '{\"title\":\"x\",\"tags\":[1,2,3]}'), (3, 'Doc', NULL), (4, 'User', '{}'),"
    " (5, 'Topic', '{\"n\":{\"deep\":[true,null,1.5]}}');"
    "INSERT INTO edges (src, dst, kind, weight) VALUES (1, 2, 'owns', 1.0), (1, 3, 'owns', 2),"
    " (2, 3, 'links', 0.5), (3, 4, 'related', 1), (4, 5, 'child_of', 3), (5, 1, 'links', 1),"
    " (2, 5, 'similar_to', 0.25);"
    "INSERT INTO vectors (id, embedding) VALUES (1, '[1,0,0,0]'), (2, '[0.9,0.1,0,0]'),"
    " (3, '[0,1,0,0]'), (4, '[0,0,1,0]'), (5, '[0.5,0.5,0.5,0.5]'), (6, '[-1,0,0.25,0]');";

typedef struct fuzz_db {
    store_t *store;
    sql_db_t db;
    bool dirty; /* a batch was committed since the fixture was built */
} fuzz_db_t;

static fuzz_db_t fdb;

static int fuzz_log_hook(void *ctx, const cmd_batch_t *batch, store_undo_t **undo, uint64_t *lsn,
                         ctx_err_t *err) {
    (void)batch;
    (void)undo; /* left to the session, which forgets it: the batch is committed */
    (void)err;
    ((fuzz_db_t *)ctx)->dirty = true;
    *lsn = 0;
    return CTX_OK;
}

/* Renders every value of a result, as the server's DataRow encoder would. */
static void fuzz_render(const sql_result_t *result, arena_t *arena) {
    if (!result->has_rows) {
        return;
    }
    for (uint64_t i = 0; i < result->nrows * (uint64_t)result->ncols; i++) {
        uint32_t len = 0;
        if (!value_is_null(&result->rows[i])) {
            (void)value_to_text(&result->rows[i], arena, &len);
        }
    }
}

/* One statement; COPY FROM STDIN takes copy_data. */
static int fuzz_statement(sql_session_t *session, const stmt_t *stmt, const char *text,
                          const uint8_t *copy_data, size_t copy_len, arena_t *arena,
                          ctx_err_t *err) {
    if (stmt->kind == STMT_COPY && stmt->u.copy->from) {
        sql_copy_t *copy = NULL;
        int ncols = 0;
        int rc = sql_copy_begin(session, stmt, &copy, &ncols, err);
        if (rc != CTX_OK) {
            return rc;
        }
        rc = sql_copy_data(copy, copy_data, copy_len, err);
        if (rc != CTX_OK) {
            sql_copy_fail(copy);
            return rc;
        }
        sql_result_t result;
        return sql_copy_end(copy, arena, &result, err);
    }
    if (stmt->kind == STMT_COPY) {
        sql_copy_out_t out;
        return sql_copy_to(session, stmt, text, arena, &out, err);
    }
    sql_result_t result;
    int rc = sql_execute(session, stmt, text, arena, &result, err);
    if (rc == CTX_OK) {
        fuzz_render(&result, arena);
    }
    return rc;
}

/* One simple Query, as server/conn.c runs it. */
static void fuzz_query(sql_session_t *session, const char *text, size_t len,
                       const uint8_t *copy_data, size_t copy_len, arena_t *arena) {
    ctx_err_t err;
    ctx_err_clear(&err);
    stmt_t **stmts = NULL;
    int count = 0;
    if (sql_parse(text, len, arena, &stmts, &count, &err) != CTX_OK) {
        sql_query_failed(session);
        return;
    }
    sql_query_begin(session, count);
    int rc = CTX_OK;
    for (int i = 0; i < count && rc == CTX_OK; i++) {
        rc = fuzz_statement(session, stmts[i], text, copy_data, copy_len, arena, &err);
    }
    if (rc != CTX_OK) {
        sql_query_failed(session);
    }
    ctx_err_clear(&err);
    (void)sql_query_end(session, arena, &err);
}

static void fuzz_db_destroy(void) {
    vindex_destroy(fdb.db.vindex);
    store_destroy(fdb.store);
    memset(&fdb, 0, sizeof(fdb));
}

static void fuzz_db_build(void) {
    store_config_t config = {.vector_dims = FUZZ_DIMS};
    fdb.store = store_create(&config);
    hnsw_config_t hc;
    hnsw_config_default(&hc, FUZZ_DIMS, 7);
    ctx_err_t err;
    ctx_err_clear(&err);
    fdb.db = (sql_db_t){.store = fdb.store, .server_version = "15.0 (ContextDB fuzz)", .seed = 7};
    if (vindex_create(fdb.store, &hc, &fdb.db.vindex, &err) != CTX_OK) {
        abort();
    }
    fdb.db.hooks.applied = vindex_applied;
    fdb.db.hooks.applied_ctx = fdb.db.vindex;
    sql_startup_t startup = {.user = "fuzz", .database = "fuzz"};
    sql_session_t *session = sql_session_create(&fdb.db, &startup, &err);
    if (session == NULL) {
        abort();
    }
    arena_t arena;
    arena_init(&arena);
    fuzz_query(session, FIXTURE_SQL, sizeof(FIXTURE_SQL) - 1, NULL, 0, &arena);
    sql_session_destroy(session);
    arena_destroy(&arena);
    if (store_node_count(fdb.store) != 5 || store_vector_count(fdb.store) != 6) {
        abort(); /* the fixture itself must load */
    }
    fdb.db.hooks.log = fuzz_log_hook;
    fdb.db.hooks.log_ctx = &fdb;
    fdb.dirty = false;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_db_build();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > FUZZ_SQL_BYTES_MAX) {
        return 0;
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t text_len = nul != NULL ? (size_t)(nul - data) : size;
    const uint8_t *copy_data = nul != NULL ? nul + 1 : NULL;
    size_t copy_len = nul != NULL ? size - text_len - 1 : 0;
    /* The server hands sql_parse the Query body without its NUL; an exact-size copy lets ASan
     * see any read past the text. */
    char *text = malloc(text_len + 1);
    memcpy(text, data, text_len);
    text[text_len] = '\0';
    sql_startup_t startup = {.user = "fuzz", .database = "fuzz"};
    ctx_err_t err;
    ctx_err_clear(&err);
    sql_session_t *session = sql_session_create(&fdb.db, &startup, &err);
    if (session == NULL) {
        abort(); /* these startup settings are valid */
    }
    arena_t arena;
    arena_init(&arena);
    fuzz_query(session, text, text_len, copy_data, copy_len, &arena);
    sql_session_destroy(session);
    arena_destroy(&arena);
    free(text);
    if (fdb.dirty) {
        fuzz_db_destroy();
        fuzz_db_build();
    }
    return 0;
}
