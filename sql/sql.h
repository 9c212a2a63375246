/*
 * sql.h — the SQL layer's contract with the server: sessions, parsing a Query's text into
 * statements, executing one statement into a result.
 *
 * The server owns sockets and the wire format; this layer owns everything between the query text
 * and result rows: session settings (GUCs), transaction state, the binder, planner and executor,
 * and turning writes into command batches applied to the store.
 *
 * Transactions. Outside a block every statement commits on its own. Inside BEGIN…COMMIT, and for
 * the statements of one multi-statement simple Query (PostgreSQL's implicit transaction), writes
 * are applied to the store speculatively and recorded in the session's undo log, so later
 * statements of the same session see them; before any other session's statement runs, the
 * database rolls the speculative changes back (sql_db_t.spec_owner) and re-applies them when the
 * owning session runs again. COMMIT makes them permanent as one batch; ROLLBACK or an error
 * discards them. Other sessions therefore never observe uncommitted data.
 */
#ifndef CTX_SQL_H
#define CTX_SQL_H

#include "arena.h"
#include "ast.h"
#include "command.h"
#include "ctx.h"
#include "store.h"
#include "value.h"

#include <stdatomic.h>

typedef struct sql_session sql_session_t;

/* What happens when a batch becomes permanent (an autocommit statement, a COMMIT). `log` makes
 * it durable and replicated (server/cluster.c proposes it to the Raft log): it runs after the batch
 * is applied to the store and before anyone else can see it; it takes the batch's undo records
 * (*undo, which it replaces with an empty log) so it can roll the batch back if the entry never
 * commits; on error the batch is rolled back and the commit fails with that error. *lsn is the
 * position the client's reply must wait for (0: no wait). `applied` updates derived state (the
 * vector index) for every committed batch in log order; the log's owner calls it. `write_check`
 * runs before a statement changes the store: CTX_OK when this server accepts writes now, else the
 * error (25006 on a follower, naming the leader). Any may be NULL. */
typedef struct sql_commit_hooks {
    int (*log)(void *ctx, const cmd_batch_t *batch, store_undo_t **undo, uint64_t *lsn,
               ctx_err_t *err);
    void *log_ctx;
    void (*applied)(void *ctx, const cmd_batch_t *batch);
    void *applied_ctx;
    /* The log position the store's state reflects beyond what is committed (called with log_ctx
     * after every statement, 0: nothing uncommitted): a reply waits for it too, so no client --
     * not even one that only reads -- is shown a write before it is committed. May be NULL. */
    uint64_t (*visible_lsn)(void *ctx);
    /* forward: the session's follower_writes is 'forward', so a follower answers CTX_EFORWARD
     * (SQLSTATE 25006 if it reaches a client) and the connection forwards the request. */
    int (*write_check)(void *ctx, bool forward, ctx_err_t *err);
} sql_commit_hooks_t;

/* Snapshots (server/durability.c, storage/snapshot.h): CREATE SNAPSHOT, VACUUM SNAPSHOTS KEEP n,
 * SELECT … FROM snapshots and … AS OF SNAPSHOT n. A NULL hook makes its statement fail with
 * 0A000. All run on the loop thread between statements' store accesses. */
typedef struct sql_snapshot_info {
    uint64_t id;
    int64_t timestamp_ms; /* wall clock, ms since the Unix epoch */
    uint64_t raft_index;  /* last WAL record the snapshot contains */
    uint64_t nodes, edges, vectors;
    uint64_t files;
    uint64_t bytes;
    bool uploaded;            /* wholly in the object store */
    uint64_t upload_bytes;    /* uploaded so far */
    const char *upload_error; /* why the upload failed; NULL when it did not */
} sql_snapshot_info_t;

typedef struct sql_snapshot_hooks {
    /* Starts a snapshot of the committed state and returns its id; the Query's reply waits for
     * it to complete (sql_session_snapshot_wait). */
    int (*create)(void *ctx, uint64_t *id, ctx_err_t *err);
    /* Deletes every snapshot but the newest `keep` (files no kept snapshot references). */
    int (*vacuum)(void *ctx, int64_t keep, uint64_t *removed, ctx_err_t *err);
    /* Completed snapshots, oldest first; memory from arena. */
    int (*list)(void *ctx, arena_t *arena, sql_snapshot_info_t **out, int *count, ctx_err_t *err);
    /* A read-only store holding snapshot id (42704 when it does not exist); valid until the
     * statement ends. */
    int (*open)(void *ctx, uint64_t id, const store_t **store, ctx_err_t *err);
    void *ctx;
} sql_snapshot_hooks_t;

/* Cluster membership as this member sees it (server/cluster.c): SHOW CLUSTER and
 * SELECT … FROM cluster_members. Unknown numbers are -1 (shown as NULL). */
typedef struct sql_member_info {
    uint32_t id;
    char address[264]; /* Raft host:port */
    char pgwire[264];  /* host:port or "" */
    const char *role;  /* leader, follower, candidate, pre-candidate, learner, joining, removed,
                          unknown */
    int64_t term, commit_index, applied_index;
    int64_t last_contact_ms; /* since this member heard from it; 0 for itself */
    int64_t lag;             /* entries behind the leader's last index */
    bool is_self;
} sql_member_info_t;

typedef struct sql_cluster_hooks {
    int (*members)(void *ctx, arena_t *arena, sql_member_info_t **out, int *count, ctx_err_t *err);
    /* ALTER CLUSTER ADD NODE id 'address' (add) / REMOVE NODE id: proposes the change; *lsn is
     * what the reply waits for (as a commit's). forward: the session forwards writes, so a
     * follower answers CTX_EFORWARD. NULL: no cluster (0A000). */
    int (*change)(void *ctx, bool add, int64_t id, const char *address, bool forward, uint64_t *lsn,
                  ctx_err_t *err);
    void *ctx;
} sql_cluster_hooks_t;

/* Shared by every session of one server. */
typedef struct sql_db {
    store_t *store;
    sql_session_t *spec_owner;  /* session whose uncommitted batch is applied to store, or NULL */
    const char *server_version; /* "15.0 (ContextDB 0.1.0)" */
    const char *statement_mem_limit; /* default of that setting ("1GB"); NULL: 1GB */
    const char *max_stack_depth;     /* default of that setting ("2MB"); NULL: 2MB */
    uint64_t seed;                   /* database seed (HNSW levels later) */
    sql_commit_hooks_t hooks;
    struct vindex *vindex; /* committed vectors' HNSW index (hooks.applied keeps it current),
                              NULL: vector searches are exact scans */
    sql_snapshot_hooks_t snapshots;
    sql_cluster_hooks_t cluster; /* members NULL: no cluster_members relation */
} sql_db_t;

/* Rolls back the speculative (uncommitted) changes some session has applied to db->store, so the
 * store holds exactly the committed state (for a snapshot); that session re-applies them when
 * its next statement runs, as after any other session's statement. */
void sql_db_settle(sql_db_t *db);

/* What the client sent in its StartupMessage. */
typedef struct sql_startup {
    const char *user;
    const char *database;
    const char *application_name; /* may be NULL */
    const char **guc_names; /* other startup parameters and -c options from `options`, in order */
    const char **guc_values;
    int nguc;
} sql_startup_t;

typedef struct sql_column {
    const char *name;
    uint32_t type_oid;
    int16_t typlen;
    int32_t typmod;
    uint32_t table_oid; /* 0 for computed columns */
    int16_t attnum;     /* 0 for computed columns */
} sql_column_t;

typedef struct sql_param_change {
    const char *name;
    const char *value;
} sql_param_change_t;

typedef struct sql_notice {
    const char *severity; /* "WARNING", "NOTICE" */
    int code;             /* ctx code for SQLSTATE (CTX_OK → 00000) */
    const char *message;
} sql_notice_t;

typedef struct sql_result {
    bool has_rows; /* RowDescription + DataRows precede the tag */
    int ncols;
    sql_column_t *cols;
    uint64_t nrows;
    value_t *rows;   /* row-major: rows[r * ncols + c] */
    const char *tag; /* CommandComplete tag: "SELECT 2", "INSERT 0 3", "SET", … */
    sql_param_change_t *param_changes; /* ParameterStatus to send (reported GUCs that changed) */
    int nparam_changes;
    sql_notice_t *notices;
    int nnotices;
} sql_result_t;

/* Parses query text (one simple Query message) into statements. Empty text or only comments →
 * *count = 0 (the server answers EmptyQueryResponse). On a syntax error returns CTX_ESYNTAX with
 * err->position = 1-based character offset. All memory from arena. */
int sql_parse(const char *text, size_t len, arena_t *arena, stmt_t ***stmts, int *count,
              ctx_err_t *err);

/* Creates a session for a client, applying startup's settings as SET would (validated and
 * normalized; unknown names are stored). startup strings are copied. Returns NULL with err set
 * (22023 invalid value, 0A000 unsupported client_encoding, 55P02 read-only parameter) when a
 * setting is refused; the client is then refused with that error. */
sql_session_t *sql_session_create(sql_db_t *db, const sql_startup_t *startup, ctx_err_t *err);
/* Destroys a session, rolling back its uncommitted work. */
void sql_session_destroy(sql_session_t *session);
/* The ParameterStatus pairs to send after authentication; returns their count. *params points
 * to a per-thread array that the next call on the same thread (for any session) overwrites; the
 * name and value strings it points to belong to the session and stay valid until that setting
 * changes or the session is destroyed. */
int sql_session_report_params(const sql_session_t *session, sql_param_change_t **params);
/* 'I' idle, 'T' in a transaction block, 'E' in a failed transaction block. */
char sql_session_txn_status(const sql_session_t *session);
/* Highest log position committed by this session, or seen by its statements (visible_lsn),
 * since sql_query_begin (0: none): the server holds the Query's replies back until the log is
 * durable up to it. */
/* The session's max_stack_depth setting in bytes as the stack guard takes it (scaled by
 * CTX_STACK_FRAME_SCALE), 0 when unset. */
size_t sql_session_stack_depth(sql_session_t *session);
uint64_t sql_session_commit_lsn(const sql_session_t *session);
/* True (once) when a statement since sql_query_begin failed because this server is a follower
 * and the session forwards writes (follower_writes = 'forward'): the server then hands the
 * request to the leader (server/forward.h) instead of sending the error. */
bool sql_session_take_forward(sql_session_t *session);
/* Id of a snapshot this Query created (CREATE SNAPSHOT) whose completion its reply waits for
 * (0: none); reset by sql_query_begin. */
uint64_t sql_session_snapshot_wait(const sql_session_t *session);
/* The flag a CancelRequest (or statement_timeout) sets; checked by long-running operators. */
atomic_bool *sql_session_cancel_flag(sql_session_t *session);
/* The current value of a setting (GUC) by name, or NULL when unknown. Owned by the session,
 * valid until the setting changes. */
const char *sql_session_setting(sql_session_t *session, const char *name);

/* Brackets the statements of one simple Query: between begin and end, statements outside an
 * explicit block form one implicit transaction (all applied at sql_query_end, or none if one
 * failed). sql_query_end returns an error if the final commit fails. */
void sql_query_begin(sql_session_t *session, int statement_count);
int sql_query_end(sql_session_t *session, arena_t *arena, ctx_err_t *err);

/* Extended protocol. Describes a freshly parsed statement without executing it or changing
 * anything: param_types[0..nparams) holds the client's declared types (CT_UNKNOWN where it sent
 * 0 / unknown) and receives the inferred ones (still CT_UNKNOWN → the client sends text); result
 * gets the row shape (has_rows false → NoData). nparams must be ≥ stmt->nparams. */
int sql_describe(sql_session_t *session, const stmt_t *stmt, const char *query_text, arena_t *arena,
                 ctype_t *param_types, int nparams, sql_result_t *result, ctx_err_t *err);

/* Executes a freshly parsed statement with parameter values already converted to param_types
 * (as returned by sql_describe). Otherwise as sql_execute. */
int sql_execute_params(sql_session_t *session, const stmt_t *stmt, const char *query_text,
                       const ctype_t *param_types, const value_t *params, int nparams,
                       arena_t *arena, sql_result_t *result, ctx_err_t *err);

/* Tells the session that the current Query failed outside sql_execute (e.g. a syntax error from
 * sql_parse): inside a transaction block the block becomes failed ('E'), as in PostgreSQL. */
void sql_query_failed(sql_session_t *session);

/* COPY (sql/copy.c). The server runs COPY statements through these instead of sql_execute.
 *
 * COPY table [(cols)] FROM STDIN [options]: sql_copy_begin validates the statement (table,
 * columns, options; 25P02 in a failed block) and returns a handle and the number of columns
 * each row carries (for CopyInResponse; sql_copy_is_binary tells its format). sql_copy_data takes
 * the CopyData payloads in order (any chunking); each complete row is parsed and checked right
 * away, so a bad row fails with its line in err->context ("COPY nodes, line 3, column id: \"x\"");
 * after an error the handle only accepts sql_copy_fail. sql_copy_end parses a final unterminated
 * line, then applies every row as one batch through the same path as INSERT (speculatively inside a
 * block, committed with the commit hooks otherwise) and sets result->tag = "COPY n". Nothing of
 * a COPY that fails is applied. sql_copy_end and sql_copy_fail free the handle; on an error the
 * caller must also call sql_query_failed(). */
typedef struct sql_copy sql_copy_t;
int sql_copy_begin(sql_session_t *session, const stmt_t *stmt, sql_copy_t **copy, int *ncols,
                   ctx_err_t *err);
int sql_copy_data(sql_copy_t *copy, const void *data, size_t len, ctx_err_t *err);
int sql_copy_end(sql_copy_t *copy, arena_t *arena, sql_result_t *result, ctx_err_t *err);
void sql_copy_fail(sql_copy_t *copy);
bool sql_copy_is_binary(const sql_copy_t *copy); /* FORMAT binary (copy_binary.h) */

/* COPY {table [(cols)] | (SELECT …)} TO STDOUT [options]: runs the query (as sql_execute would)
 * and formats every row as one line of COPY text or CSV (with a header line when asked), each
 * line ending in '\n', or as one tuple of the binary format (FORMAT binary). lines[i] /
 * line_lens[i] for i < nlines (the header counts as a line), all in arena; tag "COPY n" with n the
 * number of data rows. */
typedef struct sql_copy_out {
    int ncols;
    bool binary; /* FORMAT binary: lines are the stream's header, one tuple each, the trailer */
    const char **lines;
    size_t *line_lens;
    uint64_t nlines;
    const char *tag;
} sql_copy_out_t;
int sql_copy_to(sql_session_t *session, const stmt_t *stmt, const char *query_text, arena_t *arena,
                sql_copy_out_t *out, ctx_err_t *err);

/* Executes one statement. query_text is the whole Query text (for error positions). The result
 * and everything it points to lives in arena. On error the session's transaction state moves to
 * 'E' inside a block (statements other than ROLLBACK/COMMIT then fail with 25P02). */
int sql_execute(sql_session_t *session, const stmt_t *stmt, const char *query_text, arena_t *arena,
                sql_result_t *result, ctx_err_t *err);

#endif
