/*
 * ast.h — statements as the parser produces them (ContextQL, DESIGN §4).
 *
 * Everything is allocated in the statement arena handed to sql_parse(); nothing is freed
 * individually. Identifiers are stored folded as PostgreSQL folds them (unquoted → lower case,
 * quoted → verbatim). Expressions are expr_t trees (engine/expr/expr.h) so the binder and executor
 * work on what the parser built, without a second tree.
 */
#ifndef CTX_AST_H
#define CTX_AST_H

#include "arena.h"
#include "ctx.h"
#include "expr.h"

typedef enum {
    STMT_SELECT,
    STMT_INSERT,
    STMT_UPDATE,
    STMT_DELETE,
    STMT_SET,      /* SET [SESSION|LOCAL] name {=|TO} value[, ...] | DEFAULT; SET TIME ZONE x */
    STMT_SHOW,     /* SHOW name | SHOW ALL | SHOW TRANSACTION ISOLATION LEVEL */
    STMT_RESET,    /* RESET name | RESET ALL */
    STMT_BEGIN,    /* BEGIN [WORK|TRANSACTION] [modes] | START TRANSACTION [modes] */
    STMT_COMMIT,   /* COMMIT | END [WORK|TRANSACTION] */
    STMT_ROLLBACK, /* ROLLBACK | ABORT [WORK|TRANSACTION] */
    STMT_EXPLAIN,  /* EXPLAIN [ANALYZE] [VERBOSE] statement */
    STMT_COPY,     /* COPY table [(cols)] FROM STDIN | COPY {table | (SELECT …)} TO STDOUT */
    STMT_CREATE_SNAPSHOT,  /* CREATE SNAPSHOT */
    STMT_VACUUM_SNAPSHOTS, /* VACUUM SNAPSHOTS KEEP n */
    STMT_ALTER_CLUSTER,    /* ALTER CLUSTER ADD NODE id 'host:port' | REMOVE NODE id */
} stmt_kind_t;

typedef struct select_stmt select_stmt_t;

typedef struct select_item {
    expr_t *expr;      /* EXPR_STAR for `*` / `t.*` */
    const char *alias; /* AS alias, or NULL */
    int location;
} select_item_t;

typedef enum {
    FROM_TABLE,    /* [schema.]name [AS OF SNAPSHOT n] [AS] alias */
    FROM_FUNCTION, /* name(args, name => value, ...) [AS] alias */
    FROM_JOIN,     /* left JOIN right ON cond; comma-joins become JOIN_CROSS */
    FROM_SUBQUERY, /* (SELECT ...) [AS] alias */
} from_kind_t;

typedef enum { JOIN_INNER, JOIN_LEFT, JOIN_CROSS } join_type_t;

typedef struct from_item from_item_t;
struct from_item {
    from_kind_t kind;
    const char *schema; /* FROM_TABLE: pg_catalog / information_schema / public / NULL */
    const char *name;   /* table or function name (folded) */
    const char *alias;  /* NULL when none */
    expr_t **args;      /* FROM_FUNCTION arguments; named ones have expr->arg_name set */
    int nargs;
    from_item_t *left, *right; /* FROM_JOIN */
    join_type_t join_type;
    expr_t *on;              /* FROM_JOIN condition (NULL for CROSS) */
    select_stmt_t *subquery; /* FROM_SUBQUERY */
    expr_t *as_of;           /* AS OF SNAPSHOT expr (tables and table functions), or NULL */
    expr_t *filter;          /* planner: WHERE conjuncts pushed down to this table/function */
    int location;
    /* Alias column list `AS a(x, y)`, WITH ORDINALITY, JOIN … USING (cols) */
    const char **col_aliases;
    int ncol_aliases;
    bool ordinality;
    const char **using_cols;
    int nusing;
};

typedef struct order_item {
    expr_t *expr; /* may be an EXPR_CONST integer = output column number (ORDER BY 2) */
    bool desc;
    int nulls; /* 0 default (LAST for ASC, FIRST for DESC), 1 NULLS FIRST, 2 NULLS LAST */
} order_item_t;

struct select_stmt {
    bool distinct;
    select_item_t *items;
    int nitems;
    from_item_t *from; /* NULL: SELECT without FROM */
    expr_t *where;
    expr_t **group_by;
    int ngroup;
    expr_t *having;
    order_item_t *order_by;
    int norder;
    expr_t *limit;  /* NULL when absent (LIMIT ALL → NULL) */
    expr_t *offset; /* NULL when absent */
    /* Set operations: when set_op != SET_NONE this node is `set_left op set_right`
     * and only order_by / limit / offset of it apply (to the combined rows). VALUES lists: when
     * nvalues > 0 the node is VALUES (values[r][0..values_width)) with columns column1…N.
     * WITH: named queries visible to FROM in this statement (and its subqueries). */
    int set_op; /* set_op_t */
    bool set_all;
    select_stmt_t *set_left, *set_right;
    expr_t ***values;
    int nvalues;
    int values_width;
    const char **cte_names;
    select_stmt_t **ctes;
    int nctes;
};

typedef enum { SET_NONE = 0, SET_UNION, SET_INTERSECT, SET_EXCEPT } set_op_t;

typedef struct set_clause {
    const char *column;
    expr_t *value; /* EXPR_COLUMN with qualifier "excluded" allowed in ON CONFLICT DO UPDATE */
    int location;
} set_clause_t;

typedef enum { CONFLICT_NONE, CONFLICT_NOTHING, CONFLICT_UPDATE } conflict_action_t;

/* A VALUES entry written as a bare constant (integer, decimal, string, TRUE, FALSE, NULL) or
 * DEFAULT. A row made only of these is kept as an array of them instead of expr_t nodes, so a
 * long multi-row INSERT costs 32 bytes per value; the writer turns each into the EXPR_CONST the
 * parser would have built (same value, type and location) when it evaluates the row. */
typedef struct insert_literal {
    value_t value;    /* as EXPR_CONST.value */
    int32_t location; /* byte offset of the token in the query text */
    int16_t type;     /* ctype_t of the constant (CT_UNKNOWN for strings and NULL) */
    bool is_default;  /* DEFAULT (value and type unused) */
} insert_literal_t;

_Static_assert(CT_TYPE_COUNT <= INT16_MAX, "insert_literal_t.type holds a ctype_t");

typedef struct insert_stmt {
    const char *table;
    int table_location;
    const char **columns; /* NULL: the table's columns in order */
    int ncolumns;
    expr_t ***rows; /* rows[i] has row_lengths[i] expressions (DEFAULT → NULL pointer) */
    insert_literal_t **literal_rows; /* when non-NULL and literal_rows[i] is non-NULL, row i is
                                        those row_lengths[i] entries and rows[i] is NULL */
    int *row_lengths;
    int nrows;
    conflict_action_t on_conflict;
    const char **conflict_columns; /* ON CONFLICT (cols) — may be empty */
    int nconflict_columns;
    set_clause_t *conflict_set; /* DO UPDATE SET ... */
    int nconflict_set;
    expr_t *conflict_where; /* DO UPDATE ... WHERE, or NULL */
    select_item_t *returning;
    int nreturning;
} insert_stmt_t;

typedef struct update_stmt {
    const char *table;
    const char *alias;
    int table_location;
    set_clause_t *set;
    int nset;
    expr_t *where;
    select_item_t *returning;
    int nreturning;
} update_stmt_t;

typedef struct delete_stmt {
    const char *table;
    const char *alias;
    int table_location;
    expr_t *where;
    select_item_t *returning;
    int nreturning;
} delete_stmt_t;

typedef struct set_stmt {
    const char *name; /* folded, dotted names kept ("hnsw.ef_search"); "timezone" for TIME ZONE */
    const char **values; /* each value as text: 'x' → x, 42 → "42", ident → ident */
    int nvalues;
    bool is_default; /* SET x TO DEFAULT / RESET x */
    bool is_local;   /* SET LOCAL */
    bool all;        /* RESET ALL / SHOW ALL */
} set_stmt_t;

typedef struct txn_stmt {
    bool read_only;        /* BEGIN READ ONLY */
    const char *isolation; /* "read committed", … or NULL */
} txn_stmt_t;

/* COPY. Options from both the modern `(FORMAT csv, HEADER, …)` and the old `WITH CSV HEADER`
 * syntax; unset options are 0 / NULL (the executor applies PostgreSQL's defaults per format). */
typedef struct copy_stmt {
    const char *table; /* NULL when query is set */
    int table_location;
    const char **columns; /* NULL: all columns */
    int ncolumns;
    select_stmt_t *query; /* COPY (SELECT …) TO STDOUT */
    bool from;            /* FROM STDIN (else TO STDOUT) */
    const char *format;   /* "text", "csv", "binary" or NULL (= text) */
    bool header;
    char delimiter;          /* 0 = default (tab for text, ',' for csv) */
    const char *null_string; /* NULL = default ("\\N" for text, "" for csv) */
    char quote;              /* csv, 0 = '"' */
    char escape;             /* csv, 0 = same as quote */
} copy_stmt_t;

typedef struct vacuum_stmt {
    int64_t keep; /* VACUUM SNAPSHOTS KEEP n */
} vacuum_stmt_t;

typedef struct alter_cluster_stmt {
    bool add;            /* ADD NODE; false: REMOVE NODE */
    int64_t id;          /* >= 1 */
    const char *address; /* ADD: 'host:port'; NULL for REMOVE */
} alter_cluster_stmt_t;

typedef struct stmt stmt_t;

typedef struct explain_stmt {
    bool analyze;
    bool verbose;
    stmt_t *target;
} explain_stmt_t;

struct stmt {
    stmt_kind_t kind;
    int location; /* byte offset of the first token */
    int length;   /* bytes of statement text (without the trailing ';') */
    int nparams;  /* highest $n referenced (0 when none) */
    union {
        select_stmt_t *select;
        insert_stmt_t *insert;
        update_stmt_t *update;
        delete_stmt_t *del;
        set_stmt_t *set; /* SET, SHOW, RESET */
        txn_stmt_t *txn;
        explain_stmt_t *explain;
        copy_stmt_t *copy;
        vacuum_stmt_t *vacuum;
        alter_cluster_stmt_t *alter_cluster;
    } u;
};

#endif
