/*
 * explain.c — EXPLAIN text for plan trees, in PostgreSQL's layout:
 *
 *   Limit  (cost=0.00..12.50 rows=10 width=24)
 *     ->  Sort  (cost=…)
 *           Sort Key: id DESC
 *           ->  Seq Scan on nodes  (cost=…)
 *                 Filter: (label = 'User')
 *
 * Projection and trimming nodes are not shown (PostgreSQL folds them into their parents); a
 * filter directly over a scan is printed as that scan's Filter line. Expressions are printed by
 * a small deparser that mirrors the parser's operators. Output is bounded: at most
 * EXPLAIN_LINES_MAX lines, and a plan or expression too deep for the stack is cut off with
 * "..." where the stack check stops the walk (the plan itself was already checked when built).
 */
#include "plan_int.h"

#include "buf.h"
#include "stack.h"

#include <stdio.h>
#include <string.h>

enum { EXPLAIN_LINES_MAX = 4096, EXPLAIN_VALUE_CHARS_MAX = 40 };

typedef struct lines {
    const char **items;
    int count;
    int cap;
    arena_t *arena;
    bool analyze;
} lines_t;

static void add_line(lines_t *l, int indent, const char *text) {
    if (l->count >= EXPLAIN_LINES_MAX) {
        return;
    }
    if (l->count == l->cap) {
        int cap = l->cap == 0 ? 16 : l->cap * 2;
        const char **items = arena_alloc(l->arena, sizeof(char *) * (size_t)cap);
        if (l->count > 0) {
            memcpy(items, l->items, sizeof(char *) * (size_t)l->count);
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->count++] = arena_sprintf(l->arena, "%*s%s", indent, "", text);
}

/* ---------------------------------------------------------------- deparser */

static void deparse(buf_t *b, const expr_t *e, const plan_t *input, arena_t *arena);

static void deparse_const(buf_t *b, const expr_t *e, arena_t *arena) {
    if (e->value.kind == VAL_NULL) {
        buf_printf(b, "NULL");
        return;
    }
    uint32_t len;
    const char *text = value_to_text(&e->value, arena, &len);
    bool quoted =
        e->value.kind == VAL_TEXT || e->value.kind == VAL_JSON || e->value.kind == VAL_VECTOR;
    if (len > EXPLAIN_VALUE_CHARS_MAX) {
        buf_printf(b, "%s%.*s...%s", quoted ? "'" : "", EXPLAIN_VALUE_CHARS_MAX, text,
                   quoted ? "'" : "");
    } else {
        buf_printf(b, "%s%s%s", quoted ? "'" : "", text, quoted ? "'" : "");
    }
    if (e->type != CT_UNKNOWN && quoted) {
        buf_printf(b, "::%s", value_type_name(e->type));
    }
}

static void deparse_args(buf_t *b, const expr_t *e, const plan_t *input, arena_t *arena) {
    for (int i = 0; i < e->nargs; i++) {
        buf_printf(b, "%s", i > 0 ? ", " : "");
        deparse(b, e->args[i], input, arena);
    }
}

static void deparse_column(buf_t *b, const expr_t *e, const plan_t *input) {
    if (input != NULL && e->column_index >= 0 && e->column_index < input->ncols) {
        const bind_column_t *col = &input->cols[e->column_index];
        if (col->qualifier != NULL && input->kind == PLAN_JOIN) {
            buf_printf(b, "%s.", col->qualifier);
        }
        buf_printf(b, "%s", col->name);
        return;
    }
    buf_printf(b, "%s", e->name != NULL ? e->name : "?");
}

static void deparse(buf_t *b, const expr_t *e, const plan_t *input, arena_t *arena) {
    if (ctx_stack_exceeded()) {
        buf_printf(b, "...");
        return;
    }
    switch (e->kind) {
    case EXPR_CONST:
        deparse_const(b, e, arena);
        return;
    case EXPR_PARAM:
        buf_printf(b, "$%d", e->param_index);
        return;
    case EXPR_COLUMN:
        deparse_column(b, e, input);
        return;
    case EXPR_STAR:
        buf_printf(b, "*");
        return;
    case EXPR_UNARY:
        buf_printf(b, "(%s ", e->op == OP_NOT ? "NOT" : expr_op_name(e->op));
        deparse(b, e->left, input, arena);
        buf_printf(b, ")");
        return;
    case EXPR_BINARY:
        buf_printf(b, "(");
        deparse(b, e->left, input, arena);
        buf_printf(b, " %s%s ", e->negated ? "NOT " : "", expr_op_name(e->op));
        deparse(b, e->right, input, arena);
        buf_printf(b, ")");
        return;
    case EXPR_IS_NULL:
        buf_printf(b, "(");
        deparse(b, e->left, input, arena);
        buf_printf(b, " IS %sNULL)", e->negated ? "NOT " : "");
        return;
    case EXPR_IN_LIST:
        buf_printf(b, "(");
        deparse(b, e->left, input, arena);
        buf_printf(b, " %sIN (", e->negated ? "NOT " : "");
        deparse_args(b, e, input, arena);
        buf_printf(b, "))");
        return;
    case EXPR_FUNC:
        buf_printf(b, "%s(%s%s", e->name, e->distinct ? "DISTINCT " : "", e->star ? "*" : "");
        deparse_args(b, e, input, arena);
        buf_printf(b, ")");
        return;
    case EXPR_CAST:
        buf_printf(b, "(");
        deparse(b, e->left, input, arena);
        buf_printf(b, ")::%s", value_type_name(e->cast_type));
        return;
    case EXPR_CASE:
        buf_printf(b, "CASE ... END");
        return;
    case EXPR_SUBQUERY:
        buf_printf(b, "(SubPlan)");
        return;
    case EXPR_ARRAY:
    case EXPR_ANY:
    case EXPR_SUBSCRIPT:
    case EXPR_FIELD:
    case EXPR_WINDOW:
        buf_printf(b, "%s", e->kind == EXPR_WINDOW ? "WindowFunc" : "(...)");
        return;
    }
}

static const char *expr_text(const expr_t *e, const plan_t *input, arena_t *arena) {
    buf_t b;
    buf_init(&b);
    deparse(&b, e, input, arena);
    char *out = arena_strndup(arena, (const char *)buf_peek(&b), buf_size(&b));
    buf_free(&b);
    return out;
}

/* ---------------------------------------------------------------- nodes */

static const char *tfunc_name(tfunc_kind_t kind) {
    static const char *names[] = {"neighbors",
                                  "traverse",
                                  "shortest_path",
                                  "similar",
                                  "neighbor_stats",
                                  "hybrid",
                                  "k_shortest_paths",
                                  "all_shortest_paths",
                                  "pagerank",
                                  "connected_components",
                                  "strongly_connected_components",
                                  "communities",
                                  "degree_centrality",
                                  "betweenness_centrality",
                                  "triangle_count",
                                  "jaccard_similarity"};
    return names[kind];
}

static const char *metric_name(metric_t m) {
    return m == METRIC_L2 ? "l2" : (m == METRIC_COSINE ? "cosine" : "inner product");
}

static const char *node_title(const plan_t *plan, arena_t *arena) {
    switch (plan->kind) {
    case PLAN_RESULT:
        return "Result";
    case PLAN_SCAN:
        if (plan->lookup == LOOKUP_ID) {
            return arena_sprintf(arena, "Index Scan using %s_pkey on %s", table_name(plan->table),
                                 table_name(plan->table));
        }
        if (plan->lookup != LOOKUP_NONE) {
            return arena_sprintf(arena, "Adjacency Scan (%s) on edges",
                                 plan->lookup == LOOKUP_EDGE_SRC ? "out" : "in");
        }
        return arena_sprintf(arena, "Seq Scan on %s", table_name(plan->table));
    case PLAN_FUNCTION:
        return arena_sprintf(arena, "Function Scan on %s", tfunc_name(plan->tfunc));
    case PLAN_FILTER:
        return "Filter";
    case PLAN_AGGREGATE:
        return plan->ngroup > 0 ? "HashAggregate" : "Aggregate";
    case PLAN_DISTINCT:
        return "Unique";
    case PLAN_SORT:
        return "Sort";
    case PLAN_TOPK:
        if (plan->vector_search) {
            return arena_sprintf(arena, "Vector Top-K (%s, %s)",
                                 plan->method == EXEC_VECTOR_EXACT ? "exact scan" : "hnsw",
                                 metric_name(plan->metric));
        }
        return "Top-K Sort";
    case PLAN_LIMIT:
        return "Limit";
    case PLAN_JOIN:
        if (plan->lookup_left_col >= 0) {
            return arena_sprintf(arena, "Nested Loop%s (index lookup on %s)",
                                 plan->left_join ? " Left Join" : "",
                                 table_name(plan->lookup_table));
        }
        if (plan->hash_left_col >= 0) {
            return plan->left_join ? "Hash Left Join" : "Hash Join";
        }
        return plan->left_join ? "Nested Loop Left Join" : "Nested Loop";
    case PLAN_VALUES:
        return plan->label != NULL && strcmp(plan->label, "Values Scan") != 0
                   ? arena_sprintf(arena, "Catalog Scan on %s", plan->label)
                   : "Values Scan";
    case PLAN_APPEND:
        return plan->set_op == 0 ? "Append"
                                 : (plan->set_op == 2 ? "HashSetOp Intersect" : "HashSetOp Except");
    case PLAN_WINDOW:
        return "WindowAgg";
    case PLAN_RECURSIVE:
        return "Recursive Union";
    case PLAN_WORKTABLE:
        return arena_sprintf(arena, "WorkTable Scan on %s", plan->label);
    case PLAN_PROJECT:
    case PLAN_TRIM:
        return "Result";
    }
    return "?";
}

static void sort_key_text(buf_t *b, const plan_t *plan, const plan_t *child) {
    for (int i = 0; i < plan->nsort; i++) {
        const sort_key_t *k = &plan->sort_keys[i];
        buf_printf(
            b, "%s%s%s%s", i > 0 ? ", " : "", child->cols[k->column].name, k->desc ? " DESC" : "",
            k->nulls_first != k->desc ? (k->nulls_first ? " NULLS FIRST" : " NULLS LAST") : "");
    }
}

/* The HNSW detail line: parameters, how filters are applied, and (after ANALYZE) the path. */
static const char *vector_search_text(const plan_t *plan, arena_t *arena) {
    const char *how = "hnsw";
    const plan_t *in = plan->child;
    if (plan->kind == PLAN_FUNCTION && plan->tfunc == TFUNC_HYBRID) {
        how = "traversal candidates, then exact scan if few else filtered hnsw";
    } else if (plan->kind == PLAN_TOPK && in != NULL && in->child != NULL) {
        const plan_t *base = in->child;
        while (base->kind == PLAN_FILTER && base->child != NULL) {
            base = base->child;
        }
        if (base->kind == PLAN_JOIN) {
            how = "filtered hnsw (the join's ids are the allowed set; exact scan if few)";
        } else if (base->kind == PLAN_SCAN && base->lookup != LOOKUP_NONE) {
            how = arena_sprintf(arena, "filtered hnsw (the %d listed ids are the allowed set)",
                                base->nkeys);
        } else if (in->child->kind == PLAN_FILTER) {
            how = "filtered hnsw (rows passing the filter are the allowed set; exact scan if few)";
        }
    }
    const char *text = arena_sprintf(arena, "Index Search: %s, ef_search=%u", how, plan->ef_search);
    if (plan->vector_path != NULL) {
        text = arena_sprintf(arena, "%s, path: %s", text, plan->vector_path);
    }
    return text;
}

static void node_details(lines_t *l, const plan_t *plan, int indent) {
    buf_t b;
    buf_init(&b);
    const plan_t *in = plan->child;
    if (plan->kind == PLAN_SCAN && plan->lookup != LOOKUP_NONE) {
        buf_printf(&b, "Index Cond: (%s IN (",
                   plan->lookup == LOOKUP_EDGE_DST
                       ? "dst"
                       : (plan->lookup == LOOKUP_EDGE_SRC ? "src" : "id"));
        for (int i = 0; i < plan->nkeys; i++) {
            buf_printf(&b, "%s%s", i > 0 ? ", " : "", expr_text(plan->keys[i], NULL, l->arena));
        }
        buf_printf(&b, "))");
    } else if (plan->kind == PLAN_FILTER || (plan->kind == PLAN_AGGREGATE && plan->predicate)) {
        buf_printf(&b, "%s: %s", plan->kind == PLAN_FILTER ? "Filter" : "Having",
                   expr_text(plan->predicate, in, l->arena));
    } else if (plan->kind == PLAN_JOIN && plan->predicate != NULL) {
        plan_t scope = *plan; /* the condition is bound over the joined columns */
        buf_printf(&b, "Join Filter: %s", expr_text(plan->predicate, &scope, l->arena));
    } else if ((plan->kind == PLAN_SORT || plan->kind == PLAN_TOPK) && in != NULL) {
        buf_printf(&b, "%s: ", plan->vector_search ? "Order By" : "Sort Key");
        if (plan->vector_search && in->kind == PLAN_PROJECT) {
            buf_printf(&b, "%s",
                       expr_text(in->exprs[plan->sort_keys[0].column], in->child, l->arena));
        } else {
            sort_key_text(&b, plan, in);
        }
    } else if (plan->kind == PLAN_AGGREGATE && plan->ngroup > 0) {
        buf_printf(&b, "Group Key: ");
        for (int i = 0; i < plan->ngroup; i++) {
            buf_printf(&b, "%s%s", i > 0 ? ", " : "", expr_text(plan->group_keys[i], in, l->arena));
        }
    }
    if (buf_size(&b) > 0) {
        add_line(l, indent, arena_strndup(l->arena, (const char *)buf_peek(&b), buf_size(&b)));
    }
    buf_free(&b);
    if (plan->vector_search && plan->method == EXEC_VECTOR_HNSW) {
        add_line(l, indent, vector_search_text(plan, l->arena));
    }
}

static bool hidden(const plan_t *plan) {
    return plan->kind == PLAN_PROJECT || plan->kind == PLAN_TRIM;
}

static void explain_node(lines_t *l, const plan_t *plan, int indent, bool arrow) {
    while (hidden(plan) && plan->child != NULL) {
        plan = plan->child;
    }
    const char *title = node_title(plan, l->arena);
    char *line = arena_sprintf(l->arena, "%s%s  (cost=0.00..%.2f rows=%.0f width=%d)",
                               arrow ? "->  " : "", title, plan->est_cost,
                               plan->est_rows < 1 ? 1 : plan->est_rows, 8 * plan->ncols);
    if (l->analyze) {
        line = arena_sprintf(l->arena, "%s (actual time=0.000..%.3f rows=%llu loops=1)", line,
                             plan->actual_ms, (unsigned long long)plan->actual_rows);
    }
    add_line(l, indent, line);
    int inner = indent + (arrow ? 6 : 2);
    if (ctx_stack_exceeded() || l->count >= EXPLAIN_LINES_MAX) {
        return;
    }
    node_details(l, plan, inner);
    if (plan->child != NULL) {
        explain_node(l, plan->child, inner, true);
    }
    if (plan->right != NULL && plan->lookup_left_col < 0) {
        explain_node(l, plan->right, inner, true);
    }
}

int plan_explain(const plan_t *plan, bool analyze, arena_t *arena, const char ***lines,
                 int *count) {
    CTX_ASSERT(plan != NULL);
    lines_t l = {.arena = arena, .analyze = analyze};
    explain_node(&l, plan, 0, false);
    *lines = l.items;
    *count = l.count;
    return CTX_OK;
}
