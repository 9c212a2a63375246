/*
 * expr.c — constructors and names for expression trees (see expr.h).
 *
 * Deliberately tiny: the parser builds nodes with expr_new, EXPLAIN and error messages print
 * operators with expr_op_name, and the parser/binder ask expr_is_aggregate_name whether a call
 * is an aggregate. Binding and evaluation live in eval.c.
 */
#include "expr.h"

#include <string.h>

expr_t *expr_new(arena_t *arena, expr_kind_t kind, int location) {
    CTX_ASSERT(arena != NULL);
    CTX_ASSERT(kind >= EXPR_CONST && kind <= EXPR_WINDOW);
    expr_t *e = arena_calloc(arena, 1, sizeof(*e));
    e->kind = kind;
    e->location = location;
    e->type = CT_UNKNOWN;
    e->value = value_null();
    e->column_index = -1;
    e->agg_index = -1;
    return e;
}

const char *expr_op_name(expr_op_t op) {
    switch (op) {
    case OP_NONE:
        return "";
    case OP_NOT:
        return "NOT";
    case OP_NEG:
        return "-";
    case OP_PLUS:
        return "+";
    case OP_AND:
        return "AND";
    case OP_OR:
        return "OR";
    case OP_EQ:
        return "=";
    case OP_NE:
        return "<>";
    case OP_LT:
        return "<";
    case OP_LE:
        return "<=";
    case OP_GT:
        return ">";
    case OP_GE:
        return ">=";
    case OP_ADD:
        return "+";
    case OP_SUB:
        return "-";
    case OP_MUL:
        return "*";
    case OP_DIV:
        return "/";
    case OP_MOD:
        return "%";
    case OP_CONCAT:
        return "||";
    case OP_LIKE:
        return "~~";
    case OP_ILIKE:
        return "~~*";
    case OP_JSON_GET:
        return "->";
    case OP_JSON_GET_TEXT:
        return "->>";
    case OP_L2_DISTANCE:
        return "<->";
    case OP_COSINE_DISTANCE:
        return "<=>";
    case OP_NEG_INNER:
        return "<#>";
    case OP_REGEX:
        return "~";
    case OP_REGEX_ICASE:
        return "~*";
    case OP_IS_DISTINCT:
        return "IS DISTINCT FROM";
    case OP_BIT_AND:
        return "&";
    case OP_BIT_OR:
        return "|";
    }
    return "?";
}

bool expr_is_aggregate_name(const char *name) {
    CTX_ASSERT(name != NULL);
    static const char *const aggregates[] = {"count",
                                             "sum",
                                             "avg",
                                             "min",
                                             "max",
                                             "string_agg",
                                             "array_agg",
                                             "bool_and",
                                             "bool_or",
                                             "every",
                                             "json_agg",
                                             "jsonb_agg",
                                             "json_object_agg",
                                             "jsonb_object_agg"};
    for (size_t i = 0; i < sizeof(aggregates) / sizeof(aggregates[0]); i++) {
        if (strcmp(name, aggregates[i]) == 0) {
            return true;
        }
    }
    return false;
}
