/*
 * expr.h — the expression tree: built by the parser (sql/), resolved by the binder (column
 * references get indices into the input row, types get inferred), evaluated by the executor.
 *
 * One node type for every expression keeps the parser, binder and evaluator in step: a new
 * operator is one enum value and one case in each. All nodes live in the statement arena.
 * `location` is the byte offset of the node's first token in the query text (-1 if synthetic);
 * errors convert it to PostgreSQL's 1-based character position.
 */
#ifndef CTX_EXPR_H
#define CTX_EXPR_H

#include "value.h"

typedef enum {
    EXPR_CONST,     /* value; untyped string literals have type CT_UNKNOWN until coerced */
    EXPR_PARAM,     /* $n: param_index (1-based) */
    EXPR_COLUMN,    /* [qualifier.]name; binder sets column_index */
    EXPR_STAR,      /* `*` or `qualifier.*` in a select list; `count(*)` uses FUNC.star */
    EXPR_UNARY,     /* op (OP_NOT, OP_NEG, OP_PLUS) applied to left */
    EXPR_BINARY,    /* left op right */
    EXPR_IS_NULL,   /* left IS [NOT] NULL (negated) */
    EXPR_IN_LIST,   /* left [NOT] IN (args...) (negated) */
    EXPR_FUNC,      /* name(args...) — scalar and aggregate functions; star/distinct */
    EXPR_CAST,      /* left::type_name or CAST(left AS type_name); cast_type resolved */
    EXPR_CASE,      /* CASE [left] WHEN args[2i] THEN args[2i+1] ... [ELSE right] END */
    EXPR_SUBQUERY,  /* (SELECT …): sublink says how; left is the tested operand for IN/ANY */
    EXPR_ARRAY,     /* ARRAY[args...] */
    EXPR_ANY,       /* left op ANY|ALL (right) where right is an array (all = negated) */
    EXPR_SUBSCRIPT, /* left[right] (1-based array subscript) */
    EXPR_FIELD,     /* (left).name — a field of a record */
    EXPR_WINDOW,    /* name() OVER (PARTITION BY args ORDER BY window_order): binder maps it
                       to the input column the planner's window step adds (column_index) */
} expr_kind_t;

/* EXPR_SUBQUERY flavours (PostgreSQL's sublink types). */
typedef enum {
    SUBLINK_SCALAR = 0, /* (SELECT x): one column, at most one row (21000 otherwise) */
    SUBLINK_EXISTS,     /* EXISTS (SELECT …) */
    SUBLINK_ANY,        /* left op ANY (SELECT …) and left IN (SELECT …) (negated: NOT IN) */
    SUBLINK_ARRAY,      /* ARRAY(SELECT x) */
} sublink_t;

typedef enum {
    OP_NONE = 0,
    /* unary */
    OP_NOT,
    OP_NEG,
    OP_PLUS,
    /* logical */
    OP_AND,
    OP_OR,
    /* comparison */
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    /* arithmetic and string */
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_CONCAT, /* || */
    OP_LIKE,   /* negated → NOT LIKE */
    OP_ILIKE,
    /* JSON */
    OP_JSON_GET,      /* -> (object key or array index) */
    OP_JSON_GET_TEXT, /* ->> */
    /* pgvector distances */
    OP_L2_DISTANCE,     /* <-> */
    OP_COSINE_DISTANCE, /* <=> */
    OP_NEG_INNER,       /* <#> */
    /* operators PostgreSQL catalog queries (psql, drivers) use */
    OP_REGEX,       /* ~ (negated → !~) POSIX regular expression match */
    OP_REGEX_ICASE, /* ~* (negated → !~*) */
    OP_IS_DISTINCT, /* IS DISTINCT FROM (negated → IS NOT DISTINCT FROM); never NULL */
    OP_BIT_AND,     /* & */
    OP_BIT_OR,      /* | */
} expr_op_t;

typedef struct expr expr_t;

/* EXPR_WINDOW frames: absent (PostgreSQL's default: RANGE UNBOUNDED PRECEDING to CURRENT ROW
 * with ORDER BY, the whole partition without), ROWS or RANGE. */
typedef enum { FRAME_DEFAULT = 0, FRAME_ROWS, FRAME_RANGE } window_frame_t;
typedef enum {
    BOUND_UNBOUNDED_PRECEDING = 0,
    BOUND_PRECEDING, /* n PRECEDING */
    BOUND_CURRENT,
    BOUND_FOLLOWING, /* n FOLLOWING */
    BOUND_UNBOUNDED_FOLLOWING,
} frame_bound_t;

struct expr {
    expr_kind_t kind;
    expr_op_t op;
    int location;          /* byte offset in query text, -1 if none */
    ctype_t type;          /* result type, set by the binder (CT_UNKNOWN before) */
    value_t value;         /* EXPR_CONST */
    int param_index;       /* EXPR_PARAM, 1-based */
    const char *qualifier; /* EXPR_COLUMN / EXPR_STAR: table alias or NULL */
    const char *name;      /* EXPR_COLUMN: column; EXPR_FUNC: lower-cased function name
                              (schema prefix pg_catalog. stripped); EXPR_CAST: type name */
    int column_index;      /* EXPR_COLUMN after binding: index in the input row; -1 before */
    ctype_t cast_type;     /* EXPR_CAST: target type */
    expr_t *left;          /* UNARY/BINARY/IS_NULL/IN_LIST/CAST operand; CASE operand */
    expr_t *right;         /* BINARY right operand; CASE else */
    expr_t **args;         /* FUNC arguments, IN_LIST items, CASE when/then pairs */
    int nargs;
    const char *arg_name; /* `name => expr` named argument in a function call, else NULL */
    bool negated;         /* NOT LIKE, NOT IN, IS NOT NULL */
    bool star;            /* count(*) */
    bool distinct;        /* count(DISTINCT x) */
    int agg_index;        /* binder: slot of an aggregate call in the aggregate output, -1 */
    /* Subqueries and correlation. */
    int outer_level;       /* EXPR_COLUMN: 0 = the current row, k = the k-th enclosing query */
    int sublink;           /* EXPR_SUBQUERY: sublink_t; EXPR_ANY/SUBLINK_ANY: op in `op` */
    void *subquery;        /* EXPR_SUBQUERY: the parsed select_stmt_t (sql/ast.h) */
    void *subplan;         /* EXPR_SUBQUERY: its plan_t (engine/exec/plan.h), set by the planner */
    bool correlated;       /* EXPR_SUBQUERY: reads outer columns (else its result is cached) */
    expr_t *escape;        /* LIKE … ESCAPE e; NULL = backslash */
    expr_t **window_order; /* EXPR_WINDOW ORDER BY keys, and their directions */
    bool *window_desc;
    int nwindow_order;
    expr_t **window_part; /* EXPR_WINDOW PARTITION BY keys (args are the function's) */
    int nwindow_part;
    int window_frame;                    /* window_frame_t */
    int frame_start, frame_end;          /* frame_bound_t */
    expr_t *frame_start_n, *frame_end_n; /* `n PRECEDING|FOLLOWING` offsets, else NULL */
    bool srf; /* EXPR_FUNC: set-returning function (expanded by the projection) */
    /* Aggregate calls: `agg(args ORDER BY keys) FILTER (WHERE cond)`. The keys and then the
     * condition are the last agg_norder + agg_filter entries of args, so every walker over args
     * binds and visits them; expr_agg_nargs() is the count of the aggregate's own arguments. */
    int agg_norder;
    bool *agg_desc; /* per key */
    bool agg_filter;
};

enum { EXPR_AGG_ORDER_MAX = 32 }; /* ORDER BY keys in one aggregate call (54000 past it) */

/* Arguments of a call without its aggregate ORDER BY keys and FILTER condition. */
static inline int expr_agg_nargs(const expr_t *e) {
    return e->nargs - e->agg_norder - (e->agg_filter ? 1 : 0);
}

/* Allocates a zeroed node in arena with kind, location, column_index = agg_index = -1. */
expr_t *expr_new(arena_t *arena, expr_kind_t kind, int location);

/* Source form of an operator ("=", "<=>", "AND"…) for EXPLAIN and error messages. */
const char *expr_op_name(expr_op_t op);

/* True when name is an aggregate function (count, sum, avg, min, max). */
bool expr_is_aggregate_name(const char *name);

#endif
