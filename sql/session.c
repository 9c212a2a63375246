/*
 * session.c — sessions, statement dispatch and transactions (see the contract in sql.h).
 *
 * Speculative transactions. The store holds the committed state plus, at most, one session's
 * uncommitted changes (db->spec_owner). Each statement starts by making its own session the
 * owner: the previous owner's changes are rolled back through its undo log (that session is
 * marked swapped out), and this session's pending batch is re-applied if it had been swapped
 * out. Because statements run one at a time on the event loop, no statement ever sees another
 * session's uncommitted data, while a session sees its own. COMMIT keeps the changes (the pending
 * batch is what a WAL / Raft entry will carry); ROLLBACK and errors undo them.
 *
 * Write-write conflicts: first committer wins. Each op of the pending batch that was computed
 * from a row (UPDATE, DELETE, upserts) carries the version of the row it read (write.c), and
 * the re-apply checks it (command.h): if another session committed a change to that row since
 * this transaction first wrote it, or inserted a key it inserts, the re-apply fails and this
 * transaction fails with 40001 -- at its next statement or at COMMIT -- and is rolled back
 * whole, while the commit that came first stands. An autocommit statement reads and applies in
 * one step with no other statement in between, so it never meets a conflict of its own; it is
 * always the winner against an open block.
 */
#include "catalog.h"
#include "session_int.h"
#include "stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* eval_env_t.pending_writes: the open transaction's applied ops, whose vectors the committed-only
 * vector index does not hold (readers scan them exactly). */
static const cmd_batch_t *session_pending_writes(void *session) {
    const sql_session_t *s = session;
    return s->pending.count > 0 ? &s->pending : NULL;
}

/* The client's startup settings go through guc_set, the path SET takes, so each is validated
 * and stored exactly as SET would store it. */
static int session_apply_startup(sql_session_t *s, const sql_startup_t *startup, ctx_err_t *err) {
    int rc = CTX_OK;
    if (startup->application_name != NULL) {
        rc = guc_set(s, "application_name", startup->application_name, false, NULL, NULL, err);
    }
    for (int i = 0; i < startup->nguc && rc == CTX_OK; i++) {
        rc = guc_set(s, startup->guc_names[i], startup->guc_values[i], false, NULL, NULL, err);
    }
    return rc;
}

sql_session_t *sql_session_create(sql_db_t *db, const sql_startup_t *startup, ctx_err_t *err) {
    CTX_ASSERT(startup != NULL && err != NULL);
    CTX_ASSERT(db != NULL && db->store != NULL);
    sql_session_t *s = ctx_calloc(1, sizeof(sql_session_t));
    s->db = db;
    s->user = ctx_strdup(startup->user != NULL ? startup->user : "contextdb");
    s->database = ctx_strdup("contextdb");
    s->undo = store_undo_create();
    arena_init(&s->txn_arena);
    cmd_batch_init(&s->pending, &s->txn_arena);
    atomic_init(&s->cancel, false);
    char version[256];
    snprintf(version, sizeof(version),
             "PostgreSQL %s on x86_64-pc-linux-gnu, compiled by gcc, 64-bit", db->server_version);
    s->version_text = ctx_strdup(version);
    s->env = (eval_env_t){.user = s->user,
                          .database = s->database,
                          .server_version = s->version_text,
                          .setting = guc_get,
                          .session = s,
                          .vector_dims = store_vector_dims(db->store),
                          .cancel = &s->cancel,
                          .vindex = db->vindex,
                          .pending_writes = session_pending_writes};
    catalog_install(&s->env);
    guc_init_defaults(s);
    int rc = session_apply_startup(s, startup, err);
    if (rc != CTX_OK) {
        sql_session_destroy(s);
        return NULL;
    }
    for (int i = 0; i < s->nguc; i++) { /* RESET returns to what the client connected with */
        free(s->gucs[i].reset_value);
        s->gucs[i].reset_value = ctx_strdup(s->gucs[i].value);
    }
    return s;
}

static void txn_discard(sql_session_t *s) {
    if (s->db->spec_owner == s) {
        store_undo_rollback(s->db->store, s->undo);
        s->db->spec_owner = NULL;
    }
    store_undo_clear(s->undo);
    s->swapped_out = false;
    arena_reset(&s->txn_arena);
    cmd_batch_init(&s->pending, &s->txn_arena);
}

void sql_session_destroy(sql_session_t *s) {
    if (s == NULL) {
        return;
    }
    txn_discard(s);
    store_undo_destroy(s->undo);
    arena_destroy(&s->txn_arena);
    for (int i = 0; i < s->nguc; i++) {
        free(s->gucs[i].name);
        free(s->gucs[i].value);
        free(s->gucs[i].reset_value);
        free(s->gucs[i].begin_value);
    }
    free(s->user);
    free(s->database);
    free(s->version_text);
    free(s);
}

int sql_session_report_params(const sql_session_t *s, sql_param_change_t **params) {
    static __thread sql_param_change_t list[SESSION_GUCS_MAX];
    int n = 0;
    for (int i = 0; i < s->nguc; i++) {
        if (s->gucs[i].flags & GUC_REPORT) {
            list[n].name = s->gucs[i].name;
            list[n].value = s->gucs[i].value;
            n++;
        }
    }
    *params = list;
    return n;
}

char sql_session_txn_status(const sql_session_t *s) {
    return s->txn == TXN_IDLE ? 'I' : (s->txn == TXN_BLOCK ? 'T' : 'E');
}

atomic_bool *sql_session_cancel_flag(sql_session_t *s) {
    return &s->cancel;
}

const char *sql_session_setting(sql_session_t *s, const char *name) {
    return guc_get(s, name);
}

/* ---------------------------------------------------------------- speculation */

static bool in_transaction(const sql_session_t *s) {
    return s->txn != TXN_IDLE || s->query_multi;
}

/* Makes this session the owner of the store's speculative state (see the file comment). */
int session_take_store(sql_session_t *s, ctx_err_t *err) {
    sql_db_t *db = s->db;
    if (db->spec_owner != NULL && db->spec_owner != s) {
        sql_session_t *other = db->spec_owner;
        store_undo_rollback(db->store, other->undo);
        other->swapped_out = true;
        db->spec_owner = NULL;
    }
    if (!s->swapped_out) {
        return CTX_OK;
    }
    s->swapped_out = false;
    arena_t scratch;
    arena_init(&scratch);
    ctx_err_t inner;
    ctx_err_clear(&inner);
    int rc = store_apply(db->store, &s->pending, s->undo, &scratch, NULL, &inner);
    arena_destroy(&scratch);
    if (rc == CTX_ESERIALIZATION || rc == CTX_ENOMEM) {
        *err = inner; /* a version check failed (its message and detail name the row), or the
                       * store could not grow: the transaction fails with that error */
        return err->code;
    }
    if (rc != CTX_OK) {
        ctx_err_set(err, CTX_ESERIALIZATION, "could not serialize access due to concurrent update");
        ctx_err_detail(err, "%s", inner.message);
        return err->code;
    }
    if (store_undo_size(s->undo) > 0) {
        db->spec_owner = s;
    }
    return CTX_OK;
}

/* Runs the log hook for a batch already applied to the store, whose changes are recorded in
 * s->undo (the hook takes them); on a log failure the changes are rolled back. */
static int commit_batch(sql_session_t *s, const cmd_batch_t *batch, ctx_err_t *err) {
    const sql_commit_hooks_t *hooks = &s->db->hooks;
    if (hooks->log != NULL && batch->count > 0) {
        uint64_t lsn = 0;
        int rc = hooks->log(hooks->log_ctx, batch, &s->undo, &lsn, err);
        if (rc != CTX_OK) {
            /* not logged, so not committed: the store gives the changes back -- an autocommit
             * statement's here (its session is not the speculative owner), a block's in
             * txn_discard */
            if (s->db->spec_owner != s) {
                store_undo_rollback(s->db->store, s->undo);
            }
            txn_discard(s);
            return rc;
        }
        if (lsn > s->commit_lsn) {
            s->commit_lsn = lsn;
        }
    } else if (hooks->applied != NULL && batch->count > 0) {
        hooks->applied(hooks->applied_ctx, batch); /* no log: committed at once */
    }
    store_undo_clear(s->undo);
    if (s->db->spec_owner == s) {
        s->db->spec_owner = NULL;
    }
    return CTX_OK;
}

int session_apply(sql_session_t *s, const cmd_batch_t *batch, arena_t *arena, cmd_result_t *applied,
                  ctx_err_t *err) {
    bool autocommit = !in_transaction(s);
    CTX_ASSERT(!autocommit || store_undo_size(s->undo) == 0);
    /* A transaction's changes must all fit its pending batch (the commit record): check before
     * the store changes, so a statement that would overflow it fails having changed nothing. */
    int rc = autocommit ? CTX_OK : cmd_batch_check_room(&s->pending, batch->count, err);
    if (rc == CTX_OK && s->db->hooks.write_check != NULL) {
        const char *mode = guc_get(s, "follower_writes");
        rc = s->db->hooks.write_check(s->db->hooks.log_ctx,
                                      mode != NULL && strcmp(mode, "forward") == 0, err);
        s->forward_wanted |= rc == CTX_EFORWARD;
    }
    if (rc != CTX_OK) {
        return rc;
    }
    rc = store_apply(s->db->store, batch, s->undo, arena, applied, err);
    if (rc != CTX_OK) {
        return rc;
    }
    if (autocommit) {
        return commit_batch(s, batch, err);
    }
    for (uint32_t i = 0; i < batch->count; i++) {
        if (applied == NULL || applied->applied[i]) {
            rc = cmd_batch_add(&s->pending, &batch->ops[i], err);
            CTX_ASSERT(rc == CTX_OK); /* room was checked above */
        }
    }
    if (store_undo_size(s->undo) > 0) {
        s->db->spec_owner = s;
    }
    return CTX_OK;
}

/* Makes the open transaction permanent (its pending batch is the durable record). */
static int txn_commit(sql_session_t *s, ctx_err_t *err) {
    int rc = commit_batch(s, &s->pending, err);
    s->swapped_out = false;
    arena_reset(&s->txn_arena);
    cmd_batch_init(&s->pending, &s->txn_arena);
    return rc;
}

/* ---------------------------------------------------------------- queries */

bool sql_session_take_forward(sql_session_t *s) {
    bool wanted = s->forward_wanted;
    s->forward_wanted = false;
    return wanted;
}

uint64_t sql_session_commit_lsn(const sql_session_t *s) {
    return s->commit_lsn;
}

uint64_t sql_session_snapshot_wait(const sql_session_t *s) {
    return s->snapshot_wait;
}

void sql_db_settle(sql_db_t *db) {
    if (db->spec_owner != NULL) {
        sql_session_t *owner = db->spec_owner;
        store_undo_rollback(db->store, owner->undo);
        owner->swapped_out = true;
        db->spec_owner = NULL;
    }
}

void sql_query_begin(sql_session_t *s, int statement_count) {
    atomic_store(&s->cancel, false);
    s->commit_lsn = 0;
    s->snapshot_wait = 0;
    s->query_multi = statement_count > 1 && s->txn == TXN_IDLE;
    s->query_failed = false;
}

int sql_query_end(sql_session_t *s, arena_t *arena, ctx_err_t *err) {
    (void)arena;
    int rc = CTX_OK;
    if (s->query_multi && s->txn == TXN_IDLE) {
        if (s->query_failed) {
            txn_discard(s);
        } else {
            rc = session_take_store(s, err);
            if (rc == CTX_OK) {
                rc = txn_commit(s, err);
            } else {
                txn_discard(s);
            }
        }
    }
    s->query_multi = false;
    return rc;
}

void sql_query_failed(sql_session_t *s) {
    s->query_failed = true;
    if (s->txn == TXN_BLOCK) {
        txn_discard(s);
        s->txn = TXN_FAILED;
    }
}

void session_planner(sql_session_t *s, arena_t *arena, const char *query_text, planner_t *p) {
    memset(p, 0, sizeof(*p));
    p->store = s->db->store;
    p->snapshots = &s->db->snapshots;
    p->cluster = &s->db->cluster;
    p->env = &s->env;
    p->arena = arena;
    p->query_text = query_text;
    p->param_types = s->param_types;
    p->nparams = s->nparams;
}

size_t session_mem_limit(sql_session_t *s) {
    const char *text = guc_get(s, "statement_mem_limit");
    size_t bytes = 0;
    if (text == NULL || arena_parse_size(text, &bytes) < 0) {
        return 0;
    }
    return bytes;
}

size_t sql_session_stack_depth(sql_session_t *s) {
    const char *text = guc_get(s, "max_stack_depth");
    size_t bytes = 0;
    if (text == NULL || arena_parse_size(text, &bytes) < 0) {
        return 0;
    }
    return bytes * CTX_STACK_FRAME_SCALE;
}

void session_eval_ctx(sql_session_t *s, arena_t *arena, const char *query_text, eval_ctx_t *e) {
    memset(e, 0, sizeof(*e));
    e->env = &s->env;
    e->arena = arena;
    e->query_text = query_text;
    e->params = s->params;
    e->nparams = s->nparams;
}

void result_columns(sql_result_t *result, const bind_column_t *cols, int ncols, arena_t *arena) {
    result->has_rows = true;
    result->ncols = ncols;
    result->cols = arena_calloc(arena, (size_t)ncols + 1, sizeof(sql_column_t));
    for (int i = 0; i < ncols; i++) {
        sql_column_t *c = &result->cols[i];
        c->name = cols[i].name;
        c->type_oid = value_type_oid(cols[i].type);
        c->typlen = value_type_len(cols[i].type);
        c->typmod = -1;
        c->table_oid = cols[i].table_oid;
        c->attnum = cols[i].attnum;
    }
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* reg* columns (regclass, regtype, …) are OIDs inside the executor and names on output. */
static void reg_columns_to_names(sql_session_t *s, const plan_t *plan, rowset_t *rows,
                                 arena_t *arena) {
    for (int c = 0; c < plan->ncols && s->env.reg_out != NULL; c++) {
        if (!ctype_is_reg(plan->cols[c].type)) {
            continue;
        }
        for (uint64_t r = 0; r < rows->nrows; r++) {
            value_t *v = &rows->rows[r * (uint64_t)rows->ncols + (uint64_t)c];
            if (v->kind == VAL_INT) {
                const char *name =
                    s->env.reg_out(&s->env, plan->cols[c].type, (uint32_t)v->u.i, arena);
                *v = value_text(name, (uint32_t)strlen(name));
            }
        }
    }
}

static int run_select(sql_session_t *s, select_stmt_t *select, const char *query_text,
                      arena_t *arena, sql_result_t *result, ctx_err_t *err) {
    planner_t p;
    session_planner(s, arena, query_text, &p);
    plan_t *plan;
    int rc = plan_select(&p, select, &plan, err);
    if (rc != CTX_OK) {
        return rc;
    }
    exec_ctx_t ctx = {.store = s->db->store};
    session_eval_ctx(s, arena, query_text, &ctx.eval);
    rowset_t rows = {0};
    if (!s->describing) {
        rc = exec_plan(plan, &ctx, &rows, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    result_columns(result, plan->cols, plan->ncols, arena);
    reg_columns_to_names(s, plan, &rows, arena);
    result->rows = rows.rows;
    result->nrows = rows.nrows;
    result->tag = arena_sprintf(arena, "SELECT %llu", (unsigned long long)rows.nrows);
    return CTX_OK;
}

static int run_explain(sql_session_t *s, explain_stmt_t *ex, const char *query_text, arena_t *arena,
                       sql_result_t *result, ctx_err_t *err) {
    if (ex->target->kind != STMT_SELECT) {
        return ctx_err_set(err, CTX_EFEATURE, "EXPLAIN supports SELECT statements only");
    }
    planner_t p;
    session_planner(s, arena, query_text, &p);
    double started = now_ms();
    plan_t *plan;
    int rc = plan_select(&p, ex->target->u.select, &plan, err);
    double planned = now_ms();
    if (rc == CTX_OK && s->describing) {
        bind_column_t col = {NULL, "QUERY PLAN", CT_TEXT, 0, 0};
        result_columns(result, &col, 1, arena);
        return CTX_OK;
    }
    if (rc == CTX_OK && ex->analyze) {
        exec_ctx_t ctx = {.store = s->db->store, .analyze = true};
        session_eval_ctx(s, arena, query_text, &ctx.eval);
        rowset_t rows;
        rc = exec_plan(plan, &ctx, &rows, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    double executed = now_ms();
    const char **lines;
    int n;
    plan_explain(plan, ex->analyze, arena, &lines, &n);
    bind_column_t col = {NULL, "QUERY PLAN", CT_TEXT, 0, 0};
    result_columns(result, &col, 1, arena);
    result->rows = arena_alloc(arena, sizeof(value_t) * (size_t)(n + 2));
    for (int i = 0; i < n; i++) {
        result->rows[i] = value_text(lines[i], (uint32_t)strlen(lines[i]));
    }
    if (ex->analyze) {
        const char *pt = arena_sprintf(arena, "Planning Time: %.3f ms", planned - started);
        const char *et = arena_sprintf(arena, "Execution Time: %.3f ms", executed - planned);
        result->rows[n++] = value_text(pt, (uint32_t)strlen(pt));
        result->rows[n++] = value_text(et, (uint32_t)strlen(et));
    }
    result->nrows = (uint64_t)n;
    result->tag = "EXPLAIN";
    return CTX_OK;
}

/* BEGIN / COMMIT / ROLLBACK. */
static int run_txn(sql_session_t *s, const stmt_t *stmt, arena_t *arena, sql_result_t *result,
                   ctx_err_t *err) {
    if (stmt->kind == STMT_BEGIN) {
        result->tag = "BEGIN";
        if (s->txn != TXN_IDLE) {
            result_add_notice(result, arena, "WARNING", CTX_EACTIVE_TXN,
                              "there is already a transaction in progress");
            return CTX_OK;
        }
        s->txn = TXN_BLOCK; /* statements of an implicit block so far join it */
        guc_txn_begin(s);
        return CTX_OK;
    }
    bool commit = stmt->kind == STMT_COMMIT && s->txn == TXN_BLOCK;
    result->tag = stmt->kind == STMT_COMMIT && s->txn != TXN_FAILED ? "COMMIT" : "ROLLBACK";
    if (s->txn == TXN_IDLE) {
        result_add_notice(result, arena, "WARNING", CTX_ENO_TXN,
                          "there is no transaction in progress");
        return CTX_OK;
    }
    int rc = CTX_OK;
    if (commit) {
        rc = session_take_store(s, err);
        if (rc == CTX_OK) {
            rc = txn_commit(s, err);
        }
    }
    if (!commit || rc != CTX_OK) {
        txn_discard(s);
    }
    guc_txn_end(s, commit && rc == CTX_OK, arena, result);
    s->txn = TXN_IDLE;
    return rc;
}

/* The row shape of CREATE SNAPSHOT's reply: one int8 column, as Describe reports it. */
static void snapshot_columns(sql_result_t *result, arena_t *arena) {
    bind_column_t col = {NULL, "snapshot_id", CT_INT8, 0, 0};
    result_columns(result, &col, 1, arena);
}

/* CREATE SNAPSHOT / VACUUM SNAPSHOTS KEEP n (hooks in sql_db_t.snapshots). Not inside a block;
 * in a multi-statement Query, CREATE SNAPSHOT first commits the statements before it, so the
 * snapshot contains them (it is a transaction boundary, like COMMIT). */
static int run_snapshot_stmt(sql_session_t *s, const stmt_t *stmt, arena_t *arena,
                             sql_result_t *result, ctx_err_t *err) {
    const sql_snapshot_hooks_t *hooks = &s->db->snapshots;
    bool create = stmt->kind == STMT_CREATE_SNAPSHOT;
    if (s->txn != TXN_IDLE) {
        return ctx_err_set(err, CTX_EACTIVE_TXN, "%s cannot run inside a transaction block",
                           create ? "CREATE SNAPSHOT" : "VACUUM");
    }
    if ((create && hooks->create == NULL) || (!create && hooks->vacuum == NULL)) {
        return ctx_err_set(err, CTX_EFEATURE, "snapshots are not enabled on this server");
    }
    if (!create) {
        uint64_t removed = 0;
        int rc = hooks->vacuum(hooks->ctx, stmt->u.vacuum->keep, &removed, err);
        if (rc == CTX_OK && removed > 0) {
            result_add_notice(
                result, arena, "NOTICE", CTX_OK,
                arena_sprintf(arena, "removed %llu snapshot(s)", (unsigned long long)removed));
        }
        result->tag = "VACUUM";
        return rc;
    }
    int rc = s->pending.count > 0 ? txn_commit(s, err) : CTX_OK;
    uint64_t id = 0;
    if (rc == CTX_OK) {
        rc = hooks->create(hooks->ctx, &id, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    s->snapshot_wait = id;
    snapshot_columns(result, arena);
    result->rows = arena_alloc(arena, sizeof(value_t));
    result->rows[0] = value_int((int64_t)id);
    result->nrows = 1;
    result->tag = "CREATE SNAPSHOT";
    return CTX_OK;
}

/* ALTER CLUSTER ADD NODE / REMOVE NODE (hooks in sql_db_t.cluster): not inside a block; the
 * reply waits for the change to commit, as a write's does. On a follower it forwards or is
 * refused exactly as a write is (follower_writes). */
static int run_alter_cluster(sql_session_t *s, const alter_cluster_stmt_t *a, sql_result_t *result,
                             ctx_err_t *err) {
    const sql_cluster_hooks_t *hooks = &s->db->cluster;
    if (s->txn != TXN_IDLE) {
        return ctx_err_set(err, CTX_EACTIVE_TXN,
                           "ALTER CLUSTER cannot run inside a transaction "
                           "block");
    }
    if (hooks->change == NULL) {
        return ctx_err_set(err, CTX_EFEATURE, "this server is not a cluster member");
    }
    const char *mode = guc_get(s, "follower_writes");
    uint64_t lsn = 0;
    int rc = hooks->change(hooks->ctx, a->add, a->id, a->address,
                           mode != NULL && strcmp(mode, "forward") == 0, &lsn, err);
    s->forward_wanted |= rc == CTX_EFORWARD;
    if (rc != CTX_OK) {
        return rc;
    }
    if (lsn > s->commit_lsn) {
        s->commit_lsn = lsn;
    }
    result->tag = "ALTER CLUSTER";
    return CTX_OK;
}

/* SHOW CLUSTER: the cluster_members relation (server/cluster.c) in id order. */
static int run_show_cluster(sql_session_t *s, arena_t *arena, sql_result_t *result,
                            ctx_err_t *err) {
    static const char text[] = "SELECT * FROM cluster_members ORDER BY id";
    stmt_t **stmts = NULL;
    int count = 0;
    int rc = sql_parse(text, sizeof(text) - 1, arena, &stmts, &count, err);
    if (rc != CTX_OK) {
        return rc;
    }
    CTX_ASSERT(count == 1 && stmts[0]->kind == STMT_SELECT);
    return run_select(s, stmts[0]->u.select, text, arena, result, err);
}

/* Runs one statement; its memory (arena) is bounded by statement_mem_limit (53200 past it). */
static int dispatch(sql_session_t *s, const stmt_t *stmt, const char *query_text, arena_t *arena,
                    sql_result_t *result, ctx_err_t *err) {
    arena_set_limit(arena, session_mem_limit(s));
    switch (stmt->kind) {
    case STMT_SELECT:
        return run_select(s, stmt->u.select, query_text, arena, result, err);
    case STMT_INSERT:
        return write_insert(s, stmt->u.insert, query_text, arena, result, err);
    case STMT_UPDATE:
        return write_update(s, stmt->u.update, query_text, arena, result, err);
    case STMT_DELETE:
        return write_delete(s, stmt->u.del, query_text, arena, result, err);
    case STMT_SHOW:
        if (stmt->u.set->name != NULL && strcasecmp(stmt->u.set->name, "cluster") == 0) {
            return run_show_cluster(s, arena, result, err);
        }
        return guc_execute(s, stmt, arena, result, err);
    case STMT_SET:
    case STMT_RESET:
        return guc_execute(s, stmt, arena, result, err);
    case STMT_BEGIN:
    case STMT_COMMIT:
    case STMT_ROLLBACK:
        return run_txn(s, stmt, arena, result, err);
    case STMT_EXPLAIN:
        return run_explain(s, stmt->u.explain, query_text, arena, result, err);
    case STMT_COPY:
        return ctx_err_set(err, CTX_EFEATURE, "COPY is not supported yet");
    case STMT_CREATE_SNAPSHOT:
    case STMT_VACUUM_SNAPSHOTS:
        return run_snapshot_stmt(s, stmt, arena, result, err);
    case STMT_ALTER_CLUSTER:
        return run_alter_cluster(s, stmt->u.alter_cluster, result, err);
    }
    return ctx_err_set(err, CTX_EFEATURE, "statement not supported");
}

int sql_describe(sql_session_t *s, const stmt_t *stmt, const char *query_text, arena_t *arena,
                 ctype_t *param_types, int nparams, sql_result_t *result, ctx_err_t *err) {
    CTX_ASSERT(nparams >= stmt->nparams);
    memset(result, 0, sizeof(*result));
    if (s->txn == TXN_FAILED) {
        return ctx_err_set(err, CTX_ETXN_ABORTED,
                           "current transaction is aborted, commands "
                           "ignored until end of transaction block");
    }
    bool reads = stmt->kind == STMT_SELECT || stmt->kind == STMT_INSERT ||
                 stmt->kind == STMT_UPDATE || stmt->kind == STMT_DELETE ||
                 stmt->kind == STMT_EXPLAIN || stmt->kind == STMT_SHOW;
    if (stmt->kind == STMT_CREATE_SNAPSHOT) {
        snapshot_columns(result, arena); /* described without taking a snapshot */
        return CTX_OK;
    }
    if (!reads) {
        return CTX_OK; /* SET, BEGIN, …: no parameters, no rows */
    }
    int rc = session_take_store(s, err);
    s->param_types = param_types;
    s->params = NULL;
    s->nparams = nparams;
    s->describing = true;
    if (rc == CTX_OK) {
        rc = dispatch(s, stmt, query_text, arena, result, err);
    }
    s->describing = false;
    s->param_types = NULL;
    s->nparams = 0;
    result->nrows = 0;
    return rc;
}

int sql_execute_params(sql_session_t *s, const stmt_t *stmt, const char *query_text,
                       const ctype_t *param_types, const value_t *params, int nparams,
                       arena_t *arena, sql_result_t *result, ctx_err_t *err) {
    CTX_ASSERT(nparams >= 0 && (nparams == 0 || params != NULL));
    ctype_t *types = arena_alloc(arena, sizeof(ctype_t) * (size_t)(nparams + 1));
    for (int i = 0; i < nparams; i++) {
        types[i] = param_types[i];
    }
    s->param_types = types;
    s->params = params;
    s->nparams = nparams;
    int rc = sql_execute(s, stmt, query_text, arena, result, err);
    s->param_types = NULL;
    s->params = NULL;
    s->nparams = 0;
    return rc;
}

int sql_execute(sql_session_t *s, const stmt_t *stmt, const char *query_text, arena_t *arena,
                sql_result_t *result, ctx_err_t *err) {
    memset(result, 0, sizeof(*result));
    bool ends_txn = stmt->kind == STMT_COMMIT || stmt->kind == STMT_ROLLBACK;
    if (s->txn == TXN_FAILED && !ends_txn) {
        s->query_failed = true;
        return ctx_err_set(err, CTX_ETXN_ABORTED,
                           "current transaction is aborted, commands "
                           "ignored until end of transaction block");
    }
    int rc = ends_txn ? CTX_OK : session_take_store(s, err);
    if (rc == CTX_OK) {
        rc = dispatch(s, stmt, query_text, arena, result, err);
    }
    if (rc != CTX_OK) {
        sql_query_failed(s); /* nothing of a failed block may stay visible */
    }
    /* Even a read or an error may reveal a commit that is not durable yet, so the reply waits
     * for what the statement could see — unless the session holds writes still to commit: that
     * commit's position is later, and waiting twice would halve group commit (extended protocol:
     * Execute, then the commit at Sync). */
    const sql_commit_hooks_t *hooks = &s->db->hooks;
    uint64_t seen = hooks->visible_lsn != NULL ? hooks->visible_lsn(hooks->log_ctx) : 0;
    if (seen > s->commit_lsn && s->pending.count == 0) {
        s->commit_lsn = seen;
    }
    return rc;
}
