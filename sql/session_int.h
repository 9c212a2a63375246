/*
 * session_int.h — the session object and the helpers shared by session.c (dispatch,
 * transactions), guc.c (settings) and write.c (INSERT/UPDATE/DELETE).
 */
#ifndef CTX_SQL_SESSION_INT_H
#define CTX_SQL_SESSION_INT_H

#include "command.h"
#include "planner.h"
#include "sql.h"

typedef enum { TXN_IDLE, TXN_BLOCK, TXN_FAILED } txn_state_t;

typedef struct guc {
    char *name; /* canonical spelling (DateStyle) */
    char *value;
    char *begin_value; /* value at BEGIN (restored on ROLLBACK), kept by the block's first change
                          to the setting; NULL outside a block and until then */
    char *reset_value; /* value RESET returns to (default, or the startup packet's) */
    bool local;        /* SET LOCAL in the current block */
    int flags;         /* GUC_* */
    const char *description;
} guc_t;

enum { GUC_REPORT = 1, GUC_READONLY = 2, GUC_USER = 4, SESSION_GUCS_MAX = 512 };

/* A savepoint of the open transaction: how far its pending batch and undo log reached when it
 * was set. undo_mark stays true across a swap-out: the re-apply records it again (session.c). */
typedef struct session_savepoint {
    char *name;
    uint32_t pending_count;
    uint64_t undo_mark;
} session_savepoint_t;

enum { SESSION_SAVEPOINTS_MAX = 65536 }; /* nested savepoints per transaction before 54000 */

typedef struct sql_cursor sql_cursor_t;
typedef struct sql_prepared sql_prepared_t; /* prepare.c */

struct sql_session {
    sql_db_t *db;
    char *user;
    char *database;
    guc_t gucs[SESSION_GUCS_MAX];
    int nguc;
    txn_state_t txn;
    bool query_multi;   /* the current simple Query has several statements */
    bool query_failed;  /* a statement of the current Query failed */
    store_undo_t *undo; /* speculative changes of the open (explicit or implicit) txn */
    bool swapped_out;   /* another session rolled our speculative changes back */
    arena_t txn_arena;  /* pending ops of the open transaction */
    cmd_batch_t pending;
    eval_env_t env;
    atomic_bool cancel;
    char *version_text; /* for version() */
    /* The statement being executed: its parameters, and whether it is only being described. */
    ctype_t *param_types;
    const value_t *params;
    int nparams;
    bool describing;
    bool forward_wanted;             /* see sql_session_take_forward */
    uint64_t commit_lsn;             /* see sql_session_commit_lsn */
    uint64_t snapshot_wait;          /* see sql_session_snapshot_wait */
    session_savepoint_t *savepoints; /* oldest first (malloc) */
    int nsavepoints;
    int savepoints_cap;
    sql_cursor_t *cursors; /* cursor.c */
    int ncursors;
    sql_prepared_t *prepared; /* PREPARE'd statements (prepare.c), malloc'd */
    int nprepared;
};

/* Runs one statement / one SELECT inside the session's current transaction (session.c). */
int session_dispatch(sql_session_t *s, const stmt_t *stmt, const char *query_text, arena_t *arena,
                     sql_result_t *result, ctx_err_t *err);
int session_run_select(sql_session_t *s, select_stmt_t *select, const char *query_text,
                       arena_t *arena, sql_result_t *result, ctx_err_t *err);
/* PREPARE / EXECUTE / DEALLOCATE (prepare.c); prepared_free_all at session end. */
int prepare_run(sql_session_t *s, const stmt_t *stmt, const char *query_text, arena_t *arena,
                sql_result_t *result, ctx_err_t *err);
void prepared_free_all(sql_session_t *s);

/* Settings (guc.c). */
void guc_init_defaults(sql_session_t *s);
guc_t *guc_find(sql_session_t *s, const char *name);
const char *guc_get(void *session, const char *name);
int guc_set(sql_session_t *s, const char *name, const char *value, bool local, arena_t *arena,
            sql_result_t *result, ctx_err_t *err);
int guc_execute(sql_session_t *s, const stmt_t *stmt, arena_t *arena, sql_result_t *result,
                ctx_err_t *err);
/* Transaction boundaries for settings: a block keeps each setting's value from before its first
 * change in the block, restored at ROLLBACK / for SET LOCAL at the end; neither allocates. */
void guc_txn_begin(sql_session_t *s);
void guc_txn_end(sql_session_t *s, bool commit, arena_t *arena, sql_result_t *result);
void result_add_param_change(sql_result_t *result, arena_t *arena, const char *name,
                             const char *value);
void result_add_notice(sql_result_t *result, arena_t *arena, const char *severity, int code,
                       const char *message);

/* The statement_mem_limit setting in bytes (0 = none; an unparsable value counts as none). */
size_t session_mem_limit(sql_session_t *s);
/* Makes this session the owner of the store's speculative state (re-applying its pending batch
 * if another session's statement rolled it back); 40001 when that re-apply conflicts. Every
 * statement that reads or writes the store calls it first (sql_execute does). */
int session_take_store(sql_session_t *s, ctx_err_t *err);
/* Applies a statement's batch: speculatively inside a transaction, directly otherwise. */
int session_apply(sql_session_t *s, const cmd_batch_t *batch, arena_t *arena, cmd_result_t *applied,
                  ctx_err_t *err);
void session_planner(sql_session_t *s, arena_t *arena, const char *query_text, planner_t *p);
void session_eval_ctx(sql_session_t *s, arena_t *arena, const char *query_text, eval_ctx_t *e);
/* Fills result->cols from a plan's output columns. */
void result_columns(sql_result_t *result, const bind_column_t *cols, int ncols, arena_t *arena);

/* Writes (write.c). */
int write_insert(sql_session_t *s, insert_stmt_t *stmt, const char *query_text, arena_t *arena,
                 sql_result_t *result, ctx_err_t *err);
int write_update(sql_session_t *s, update_stmt_t *stmt, const char *query_text, arena_t *arena,
                 sql_result_t *result, ctx_err_t *err);
int write_delete(sql_session_t *s, delete_stmt_t *stmt, const char *query_text, arena_t *arena,
                 sql_result_t *result, ctx_err_t *err);

#endif
