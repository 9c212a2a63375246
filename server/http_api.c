/*
 * http_api.c — the REST endpoints under /api/v1, /metrics, /healthz and /readyz.
 *
 * Each endpoint validates its JSON body or query arguments (400 with SQLSTATE 22P02 for JSON
 * that does not parse or an id that is not an integer, 22023 for a missing field or one of the
 * wrong type), turns the request into ContextQL statements with $n parameters (the SQL is fixed
 * text; values only ever travel as Bind parameters) and shapes the rows into JSON. Statements of
 * one request run as one transaction (http_sql), so POST /batch is all or nothing, and an
 * existence check plus the query it guards read the same state in one round trip.
 *
 *   endpoint                              SQL
 *   POST   /nodes                         INSERT INTO nodes … RETURNING id, label, props
 *   GET    /nodes/{id}                    SELECT id, label, props FROM nodes WHERE id = $1
 *   DELETE /nodes/{id}                    DELETE FROM nodes WHERE id = $1
 *   GET    /nodes/{id}/related            neighbors($1, $2, kind => $3, direction => $4)
 *   POST   /edges                         INSERT INTO edges … RETURNING src, dst, kind, weight
 *   POST   /vectors                       INSERT INTO vectors (id, embedding) VALUES ($1, $2)
 *   GET    /vectors/{id}/similar          similar($1, $2) / similar($1, threshold => $2)
 *   POST   /batch                         the inserts above, one transaction
 *   POST   /query/hybrid                  hybrid($1, depth => $2, top_k => $3, …)
 *   POST   /snapshot                      CREATE SNAPSHOT
 *   POST   /query                         the caller's statement with the caller's params
 *   GET    /shortest_path                 shortest_path($1, $2, …)
 */
#include "http_int.h"
#include "http_ui.h"

#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    API_DEPTH_MAX = 1000,
    API_TOP_K_MAX = 100000,
    API_PARAMS_MAX = 1024, /* parameters of POST /query */
    API_BATCH_ITEMS_MAX = 100000,
};

/* ---- validation helpers ---------------------------------------------------------------- */

static int api_parse_body(const http_request_t *req, json_t **body, json_t **reply) {
    json_error_t jerr;
    *body = json_loadb(req->body, req->body_len, 0, &jerr);
    if (*body == NULL) {
        return http_error(reply, 400, "22P02", "invalid JSON: %s (line %d, column %d)", jerr.text,
                          jerr.line, jerr.column);
    }
    if (!json_is_object(*body)) {
        json_decref(*body);
        *body = NULL;
        return http_error(reply, 400, "22023", "the request body must be a JSON object");
    }
    return 0;
}

static int api_parse_id(const char *text, const char *what, int64_t *out, json_t **reply) {
    char *end = NULL;
    errno = 0;
    long long n = text != NULL && text[0] != '\0' ? strtoll(text, &end, 10) : 0;
    if (text == NULL || text[0] == '\0' || end == NULL || *end != '\0' || errno != 0) {
        return http_error(reply, 400, "22P02", "invalid input syntax for type bigint: %s \"%s\"",
                          what, text != NULL ? text : "");
    }
    *out = n;
    return 0;
}

/* An integer field: required, or defaulted when absent. */
static int api_int(json_t *obj, const char *key, bool required, int64_t fallback, int64_t *out,
                   json_t **reply) {
    json_t *v = json_object_get(obj, key);
    if (v == NULL && !required) {
        *out = fallback;
        return 0;
    }
    if (!json_is_integer(v)) {
        return http_error(reply, 400, "22023", "\"%s\" must be an integer%s", key,
                          v == NULL ? " (missing)" : "");
    }
    *out = json_integer_value(v);
    return 0;
}

static int api_string(json_t *obj, const char *key, bool required, const char **out,
                      json_t **reply) {
    json_t *v = json_object_get(obj, key);
    if (v == NULL && !required) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v)) {
        return http_error(reply, 400, "22023", "\"%s\" must be a string%s", key,
                          v == NULL ? " (missing)" : "");
    }
    *out = json_string_value(v);
    return 0;
}

/* An unsigned integer query argument within [min, max], or fallback when absent. */
static int api_arg_int(const http_request_t *req, const char *name, int64_t fallback, int64_t min,
                       int64_t max, int64_t *out, json_t **reply) {
    const char *text = http_arg(req, name);
    if (text == NULL) {
        *out = fallback;
        return 0;
    }
    if (api_parse_id(text, name, out, reply) != 0) {
        return 400;
    }
    if (*out < min || *out > max) {
        return http_error(reply, 400, "22023", "\"%s\" must be between %" PRId64 " and %" PRId64,
                          name, min, max);
    }
    return 0;
}

static const char *api_i64(http_request_t *req, int64_t n) {
    return http_req_printf(req, "%" PRId64, n);
}

/* kind and direction arguments for the graph functions, appended as named arguments. */
static int api_graph_options(http_request_t *req, const char *kind, const char *direction,
                             const char **params, size_t *nparams, char *sql, size_t sql_len,
                             json_t **reply) {
    if (direction != NULL && strcmp(direction, "out") != 0 && strcmp(direction, "in") != 0 &&
        strcmp(direction, "both") != 0) {
        return http_error(reply, 400, "22023", "\"direction\" must be out, in or both");
    }
    if (kind != NULL) {
        params[*nparams] = kind;
        (*nparams)++;
        size_t used = strlen(sql);
        snprintf(sql + used, sql_len - used, ", kind => $%zu", *nparams);
    }
    if (direction != NULL) {
        params[*nparams] = direction;
        (*nparams)++;
        size_t used = strlen(sql);
        snprintf(sql + used, sql_len - used, ", direction => $%zu", *nparams);
    }
    (void)req;
    return 0;
}

/* Rows of a result as objects keyed by column name. */
static json_t *api_objects(const hpg_result_t *res) {
    json_t *list = json_array();
    size_t r;
    json_t *row;
    json_array_foreach(res->rows, r, row) {
        json_t *obj = json_object();
        size_t c;
        json_t *col;
        json_array_foreach(res->columns, c, col) {
            json_object_set(obj, json_string_value(json_object_get(col, "name")),
                            json_array_get(row, c));
        }
        json_array_append_new(list, obj);
    }
    return list;
}

/* The first value of the first row as an integer (counts), or -1. */
static int64_t api_first_int(const hpg_result_t *res) {
    json_t *v = json_array_get(json_array_get(res->rows, 0), 0);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static void api_clear(hpg_result_t *results, size_t count) {
    for (size_t i = 0; i < count; i++) {
        hpg_result_clear(&results[i]);
    }
}

/* ---- nodes ------------------------------------------------------------------------------- */

static const char API_NODE_INSERT[] =
    "INSERT INTO nodes (id, label, props) VALUES ($1, $2, $3) RETURNING id, label, props";

/* A node object {"id", "label"?, "props"?} as the three parameters of API_NODE_INSERT. */
static int api_node_params(http_request_t *req, json_t *node, const char **params, json_t **reply) {
    int64_t id = 0;
    const char *label = NULL;
    if (!json_is_object(node)) {
        return http_error(reply, 400, "22023", "a node must be a JSON object");
    }
    int status = api_int(node, "id", true, 0, &id, reply);
    if (status == 0) {
        status = api_string(node, "label", false, &label, reply);
    }
    if (status != 0) {
        return status;
    }
    json_t *props = json_object_get(node, "props");
    if (props != NULL && !json_is_object(props) && !json_is_null(props)) {
        return http_error(reply, 400, "22023", "\"props\" must be an object or null");
    }
    params[0] = api_i64(req, id);
    params[1] = label != NULL ? label : "";
    params[2] = props != NULL && json_is_object(props)
                    ? http_req_keep(req, json_dumps(props, JSON_COMPACT))
                    : NULL;
    return 0;
}

static int api_node_create(http_request_t *req, json_t **reply) {
    json_t *body = NULL;
    int status = api_parse_body(req, &body, reply);
    const char *params[3];
    if (status == 0) {
        status = api_node_params(req, body, params, reply);
    }
    hpg_result_t res;
    hpg_stmt_t stmt = {API_NODE_INSERT, 3, params};
    if (status == 0) {
        status = http_sql(req, &stmt, 1, &res, reply);
    }
    if (status == 0) {
        json_t *nodes = api_objects(&res);
        *reply = json_incref(json_array_get(nodes, 0));
        json_decref(nodes);
        hpg_result_clear(&res);
        status = 201;
    }
    json_decref(body);
    return status;
}

static int api_node_get(http_request_t *req, json_t **reply) {
    int64_t id = 0;
    if (api_parse_id(req->id, "node id", &id, reply) != 0) {
        return 400;
    }
    const char *params[] = {api_i64(req, id)};
    hpg_stmt_t stmt = {"SELECT id, label, props FROM nodes WHERE id = $1", 1, params};
    hpg_result_t res;
    int status = http_sql(req, &stmt, 1, &res, reply);
    if (status != 0) {
        return status;
    }
    json_t *nodes = api_objects(&res);
    hpg_result_clear(&res);
    if (json_array_size(nodes) == 0) {
        json_decref(nodes);
        return http_error(reply, 404, "02000", "node %" PRId64 " does not exist", id);
    }
    *reply = json_incref(json_array_get(nodes, 0));
    json_decref(nodes);
    return 200;
}

static int api_node_delete(http_request_t *req, json_t **reply) {
    int64_t id = 0;
    if (api_parse_id(req->id, "node id", &id, reply) != 0) {
        return 400;
    }
    const char *params[] = {api_i64(req, id)};
    hpg_stmt_t stmt = {"DELETE FROM nodes WHERE id = $1", 1, params};
    hpg_result_t res;
    int status = http_sql(req, &stmt, 1, &res, reply);
    if (status != 0) {
        return status;
    }
    bool deleted = strcmp(res.tag, "DELETE 1") == 0;
    hpg_result_clear(&res);
    if (!deleted) {
        return http_error(reply, 404, "02000", "node %" PRId64 " does not exist", id);
    }
    *reply = json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1);
    return 200;
}

static int api_node_related(http_request_t *req, json_t **reply) {
    int64_t id = 0;
    int64_t depth = 0;
    if (api_parse_id(req->id, "node id", &id, reply) != 0) {
        return 400;
    }
    int status = api_arg_int(req, "depth", 1, 1, API_DEPTH_MAX, &depth, reply);
    const char *params[4] = {api_i64(req, id), api_i64(req, depth)};
    size_t nparams = 2;
    char sql[256] = "SELECT id, label, depth FROM neighbors($1, $2";
    if (status == 0) {
        status = api_graph_options(req, http_arg(req, "kind"), http_arg(req, "direction"), params,
                                   &nparams, sql, sizeof(sql), reply);
    }
    if (status != 0) {
        return status;
    }
    strcat(sql, ")");
    hpg_stmt_t stmts[] = {{"SELECT count(*) FROM nodes WHERE id = $1", 1, params},
                          {sql, nparams, params}};
    hpg_result_t res[2];
    status = http_sql(req, stmts, 2, res, reply);
    if (status != 0) {
        return status;
    }
    if (api_first_int(&res[0]) <= 0) {
        api_clear(res, 2);
        return http_error(reply, 404, "02000", "node %" PRId64 " does not exist", id);
    }
    *reply = json_pack("{s:I,s:I,s:o}", "node_id", (json_int_t)id, "depth", (json_int_t)depth,
                       "related", api_objects(&res[1]));
    api_clear(res, 2);
    return 200;
}

/* ---- edges and vectors -------------------------------------------------------------------- */

static const char API_EDGE_INSERT[] = "INSERT INTO edges (src, dst, kind, weight) VALUES "
                                      "($1, $2, $3, $4) RETURNING src, dst, kind, weight";
static const char API_VECTOR_INSERT[] =
    "INSERT INTO vectors (id, embedding) VALUES ($1, $2) RETURNING id, vector_dims(embedding)";

static int api_edge_params(http_request_t *req, json_t *edge, const char **params, json_t **reply) {
    int64_t from = 0;
    int64_t to = 0;
    const char *kind = NULL;
    if (!json_is_object(edge)) {
        return http_error(reply, 400, "22023", "an edge must be a JSON object");
    }
    int status = api_int(edge, "from", true, 0, &from, reply);
    if (status == 0) {
        status = api_int(edge, "to", true, 0, &to, reply);
    }
    if (status == 0) {
        status = api_string(edge, "kind", true, &kind, reply);
    }
    if (status != 0) {
        return status;
    }
    json_t *weight = json_object_get(edge, "weight");
    if (weight != NULL && !json_is_number(weight)) {
        return http_error(reply, 400, "22023", "\"weight\" must be a number");
    }
    params[0] = api_i64(req, from);
    params[1] = api_i64(req, to);
    params[2] = kind;
    params[3] = http_req_printf(req, "%.17g", weight != NULL ? json_number_value(weight) : 1.0);
    return 0;
}

static int api_vector_params(http_request_t *req, json_t *vector, const char **params,
                             json_t **reply) {
    int64_t id = 0;
    if (!json_is_object(vector)) {
        return http_error(reply, 400, "22023", "a vector must be a JSON object");
    }
    int status = api_int(vector, "id", true, 0, &id, reply);
    if (status != 0) {
        return status;
    }
    json_t *dims = json_object_get(vector, "dims");
    if (!json_is_array(dims) || json_array_size(dims) == 0) {
        return http_error(reply, 400, "22023", "\"dims\" must be a non-empty array of numbers");
    }
    size_t i;
    json_t *x;
    json_array_foreach(dims, i, x) {
        if (!json_is_number(x)) {
            return http_error(reply, 400, "22023", "\"dims\"[%zu] is not a number", i);
        }
    }
    params[0] = api_i64(req, id);
    params[1] = http_req_keep(req, json_dumps(dims, JSON_COMPACT)); /* pgvector text form */
    return 0;
}

static int api_edge_create(http_request_t *req, json_t **reply) {
    json_t *body = NULL;
    int status = api_parse_body(req, &body, reply);
    const char *params[4];
    if (status == 0) {
        status = api_edge_params(req, body, params, reply);
    }
    hpg_stmt_t stmt = {API_EDGE_INSERT, 4, params};
    hpg_result_t res;
    if (status == 0) {
        status = http_sql(req, &stmt, 1, &res, reply);
    }
    if (status == 0) {
        json_t *row = json_array_get(res.rows, 0);
        *reply = json_pack("{s:O,s:O,s:O,s:O}", "from", json_array_get(row, 0), "to",
                           json_array_get(row, 1), "kind", json_array_get(row, 2), "weight",
                           json_array_get(row, 3));
        hpg_result_clear(&res);
        status = 201;
    }
    json_decref(body);
    return status;
}

static int api_vector_create(http_request_t *req, json_t **reply) {
    json_t *body = NULL;
    int status = api_parse_body(req, &body, reply);
    const char *params[2];
    if (status == 0) {
        status = api_vector_params(req, body, params, reply);
    }
    hpg_stmt_t stmt = {API_VECTOR_INSERT, 2, params};
    hpg_result_t res;
    if (status == 0) {
        status = http_sql(req, &stmt, 1, &res, reply);
    }
    if (status == 0) {
        json_t *row = json_array_get(res.rows, 0);
        *reply = json_pack("{s:O,s:O}", "id", json_array_get(row, 0), "dimensions",
                           json_array_get(row, 1));
        hpg_result_clear(&res);
        status = 201;
    }
    json_decref(body);
    return status;
}

static int api_similar(http_request_t *req, json_t **reply) {
    int64_t id = 0;
    int64_t k = 0;
    if (api_parse_id(req->id, "vector id", &id, reply) != 0) {
        return 400;
    }
    int status = api_arg_int(req, "k", 10, 1, API_TOP_K_MAX, &k, reply);
    const char *threshold = http_arg(req, "threshold");
    char *end = NULL;
    double t = threshold != NULL ? strtod(threshold, &end) : 0.0;
    if (status == 0 && threshold != NULL && (end == threshold || *end != '\0' || t - t != 0)) {
        status = http_error(reply, 400, "22P02", "\"threshold\" must be a number");
    }
    if (status != 0) {
        return status;
    }
    const char *params[] = {api_i64(req, id), api_i64(req, k), threshold};
    bool k_given = http_arg(req, "k") != NULL;
    const char *sql = threshold == NULL ? "SELECT id, similarity FROM similar($1, $2)"
                      : k_given         ? "SELECT id, similarity FROM similar($1, $2) "
                                          "WHERE similarity >= $3::float8"
                                        : "SELECT id, similarity FROM similar($1, threshold => "
                                          "$3::float8) LIMIT $2";
    hpg_stmt_t stmts[] = {{"SELECT count(*) FROM vectors WHERE id = $1", 1, params},
                          {sql, threshold != NULL ? 3 : 2, params}};
    hpg_result_t res[2];
    status = http_sql(req, stmts, 2, res, reply);
    if (status != 0) {
        return status;
    }
    if (api_first_int(&res[0]) <= 0) {
        api_clear(res, 2);
        return http_error(reply, 404, "02000", "vector %" PRId64 " does not exist", id);
    }
    *reply = json_pack("{s:I,s:o}", "id", (json_int_t)id, "similar", api_objects(&res[1]));
    api_clear(res, 2);
    return 200;
}

/* ---- batch ------------------------------------------------------------------------------ */

/* Appends one statement per item of body[key] (an array, or absent). */
static int api_batch_items(http_request_t *req, json_t *body, const char *key, hpg_stmt_t *stmts,
                           size_t *count, size_t *added, json_t **reply) {
    json_t *items = json_object_get(body, key);
    *added = 0;
    if (items == NULL) {
        return 0;
    }
    if (!json_is_array(items)) {
        return http_error(reply, 400, "22023", "\"%s\" must be an array", key);
    }
    if (*count + json_array_size(items) > API_BATCH_ITEMS_MAX) {
        return http_error(reply, 413, "54000", "a batch holds at most %d items",
                          API_BATCH_ITEMS_MAX);
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        size_t n = key[0] == 'n' ? 3 : key[0] == 'e' ? 4 : 2;
        const char **params = (const char **)http_req_keep(req, ctx_calloc(n, sizeof(char *)));
        int status = key[0] == 'n'   ? api_node_params(req, item, params, reply)
                     : key[0] == 'e' ? api_edge_params(req, item, params, reply)
                                     : api_vector_params(req, item, params, reply);
        if (status != 0) {
            json_object_set_new(json_object_get(*reply, "error"), "item",
                                json_string(http_req_printf(req, "%s[%zu]", key, i)));
            return status;
        }
        const char *sql = key[0] == 'n'   ? API_NODE_INSERT
                          : key[0] == 'e' ? API_EDGE_INSERT
                                          : API_VECTOR_INSERT;
        stmts[(*count)++] = (hpg_stmt_t){sql, n, params};
        (*added)++;
    }
    return 0;
}

static int api_batch(http_request_t *req, json_t **reply) {
    json_t *body = NULL;
    int status = api_parse_body(req, &body, reply);
    if (status != 0) {
        return status;
    }
    hpg_stmt_t *stmts = ctx_calloc(API_BATCH_ITEMS_MAX, sizeof(hpg_stmt_t));
    size_t count = 0;
    size_t added[3] = {0, 0, 0};
    static const char *const keys[3] = {"nodes", "edges", "vectors"};
    for (int k = 0; k < 3 && status == 0; k++) {
        status = api_batch_items(req, body, keys[k], stmts, &count, &added[k], reply);
    }
    if (status == 0 && count == 0) {
        status = http_error(reply, 400, "22023", "the batch is empty");
    }
    if (status == 0) {
        status = http_sql(req, stmts, count, NULL, reply);
    }
    if (status == 0) {
        *reply = json_pack("{s:I,s:I,s:I}", "nodes", (json_int_t)added[0], "edges",
                           (json_int_t)added[1], "vectors", (json_int_t)added[2]);
        status = 201;
    }
    free(stmts);
    json_decref(body);
    return status;
}

/* ---- queries ---------------------------------------------------------------------------- */

static int api_hybrid(http_request_t *req, json_t **reply) {
    json_t *body = NULL;
    int status = api_parse_body(req, &body, reply);
    int64_t id = 0;
    int64_t depth = 0;
    int64_t top_k = 0;
    const char *kind = NULL;
    const char *direction = NULL;
    if (status == 0) {
        status = api_int(body, "node_id", true, 0, &id, reply);
    }
    if (status == 0) {
        status = api_int(body, "depth", false, 2, &depth, reply);
    }
    if (status == 0) {
        status = api_int(body, "top_k", false, 5, &top_k, reply);
    }
    if (status == 0 && (depth < 1 || depth > API_DEPTH_MAX || top_k < 1 || top_k > API_TOP_K_MAX)) {
        status = http_error(reply, 400, "22023", "\"depth\" must be 1..%d and \"top_k\" 1..%d",
                            API_DEPTH_MAX, API_TOP_K_MAX);
    }
    if (status == 0) {
        status = api_string(body, "kind", false, &kind, reply);
    }
    if (status == 0) {
        status = api_string(body, "direction", false, &direction, reply);
    }
    const char *params[5] = {api_i64(req, id), api_i64(req, depth), api_i64(req, top_k)};
    size_t nparams = 3;
    char sql[256] = "SELECT id, label, depth, similarity FROM hybrid($1, depth => $2, top_k => $3";
    if (status == 0) {
        status = api_graph_options(req, kind, direction, params, &nparams, sql, sizeof(sql), reply);
    }
    hpg_result_t res[2];
    if (status == 0) {
        strcat(sql, ")");
        hpg_stmt_t stmts[] = {{"SELECT count(*) FROM nodes WHERE id = $1", 1, params},
                              {sql, nparams, params}};
        status = http_sql(req, stmts, 2, res, reply);
    }
    if (status == 0 && api_first_int(&res[0]) <= 0) {
        api_clear(res, 2);
        status = http_error(reply, 404, "02000", "node %" PRId64 " does not exist", id);
    } else if (status == 0) {
        *reply = json_pack("{s:I,s:o}", "node_id", (json_int_t)id, "results", api_objects(&res[1]));
        api_clear(res, 2);
        status = 200;
    }
    json_decref(body);
    return status;
}

/* A JSON parameter of POST /query as Bind text (NULL for null). */
static int api_param_text(http_request_t *req, json_t *v, size_t i, const char **out,
                          json_t **reply) {
    if (json_is_null(v)) {
        *out = NULL;
    } else if (json_is_string(v)) {
        *out = json_string_value(v);
    } else if (json_is_integer(v)) {
        *out = api_i64(req, json_integer_value(v));
    } else if (json_is_real(v)) {
        *out = http_req_printf(req, "%.17g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        *out = json_is_true(v) ? "true" : "false";
    } else if (json_is_array(v) || json_is_object(v)) {
        *out = http_req_keep(req, json_dumps(v, JSON_COMPACT)); /* vector or jsonb text */
    } else {
        return http_error(reply, 400, "22023", "\"params\"[%zu] has an unsupported type", i);
    }
    return 0;
}

static int api_query(http_request_t *req, json_t **reply) {
    json_t *body = NULL;
    int status = api_parse_body(req, &body, reply);
    const char *sql = NULL;
    if (status == 0) {
        status = api_string(body, "sql", true, &sql, reply);
    }
    json_t *list = body != NULL ? json_object_get(body, "params") : NULL;
    if (status == 0 && list != NULL &&
        (!json_is_array(list) || json_array_size(list) > API_PARAMS_MAX)) {
        status = http_error(reply, 400, "22023", "\"params\" must be an array of at most %d values",
                            API_PARAMS_MAX);
    }
    const char **params = NULL;
    size_t nparams = list != NULL && status == 0 ? json_array_size(list) : 0;
    if (status == 0 && nparams > 0) {
        params = (const char **)http_req_keep(req, ctx_calloc(nparams, sizeof(char *)));
    }
    for (size_t i = 0; status == 0 && i < nparams; i++) {
        status = api_param_text(req, json_array_get(list, i), i, &params[i], reply);
    }
    hpg_result_t res;
    if (status == 0) {
        hpg_stmt_t stmt = {sql, nparams, params};
        status = http_sql(req, &stmt, 1, &res, reply);
    }
    if (status == 0) {
        const char *last = strrchr(res.tag, ' ');
        json_int_t count = json_array_size(res.columns) > 0 ? (json_int_t)json_array_size(res.rows)
                           : last != NULL ? (json_int_t)strtoll(last + 1, NULL, 10)
                                          : 0;
        *reply = json_pack("{s:O,s:O,s:s,s:I}", "columns", res.columns, "rows", res.rows, "command",
                           res.tag, "row_count", count);
        hpg_result_clear(&res);
        status = 200;
    }
    json_decref(body);
    return status;
}

static int api_snapshot(http_request_t *req, json_t **reply) {
    hpg_stmt_t stmt = {"CREATE SNAPSHOT", 0, NULL};
    hpg_result_t res;
    int status = http_sql(req, &stmt, 1, &res, reply);
    if (status != 0) {
        return status;
    }
    json_t *value = json_array_get(json_array_get(res.rows, 0), 0);
    json_int_t id = json_is_integer(value) ? json_integer_value(value)
                    : json_is_string(value)
                        ? (json_int_t)strtoll(json_string_value(value), NULL, 10)
                        : 0;
    hpg_result_clear(&res);
    if (id <= 0) {
        return http_error(reply, 500, "XX000", "CREATE SNAPSHOT returned no snapshot id");
    }
    *reply = json_pack("{s:I}", "snapshot_id", id);
    return 201;
}

static int api_shortest_path(http_request_t *req, json_t **reply) {
    int64_t from = 0;
    int64_t to = 0;
    int64_t max_depth = 0;
    int status = api_parse_id(http_arg(req, "from"), "from", &from, reply);
    if (status == 0) {
        status = api_parse_id(http_arg(req, "to"), "to", &to, reply);
    }
    if (status == 0) {
        status = api_arg_int(req, "max_depth", 100, 1, API_DEPTH_MAX, &max_depth, reply);
    }
    const char *params[5] = {api_i64(req, from), api_i64(req, to), api_i64(req, max_depth)};
    size_t nparams = 3;
    char sql[256] = "SELECT step, id, label FROM shortest_path($1, $2, max_depth => $3";
    if (status == 0) {
        status = api_graph_options(req, http_arg(req, "kind"), http_arg(req, "direction"), params,
                                   &nparams, sql, sizeof(sql), reply);
    }
    if (status != 0) {
        return status == 0 ? 400 : status;
    }
    strcat(sql, ")");
    hpg_stmt_t stmts[] = {{"SELECT count(*) FROM nodes WHERE id = $1 OR id = $2", 2, params},
                          {sql, nparams, params}};
    hpg_result_t res[2];
    status = http_sql(req, stmts, 2, res, reply);
    if (status != 0) {
        return status;
    }
    if (api_first_int(&res[0]) < (from == to ? 1 : 2)) {
        api_clear(res, 2);
        return http_error(reply, 404, "02000", "node %" PRId64 " or %" PRId64 " does not exist",
                          from, to);
    }
    json_t *path = api_objects(&res[1]);
    size_t steps = json_array_size(path);
    *reply = json_pack("{s:I,s:I,s:b,s:o,s:o}", "from", (json_int_t)from, "to", (json_int_t)to,
                       "found", steps > 0, "hops",
                       steps > 0 ? json_integer((json_int_t)steps - 1) : json_null(), "path", path);
    api_clear(res, 2);
    return 200;
}

/* ---- health, metrics, documentation ------------------------------------------------------ */

static const char API_COUNTS_SQL[] =
    "SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM edges), "
    "(SELECT count(*) FROM vectors), (SELECT count(*) FROM snapshots)";

static void api_counts(http_request_t *req, metrics_db_counts_t *counts) {
    memset(counts, 0, sizeof(*counts));
    hpg_stmt_t stmt = {API_COUNTS_SQL, 0, NULL};
    hpg_result_t res;
    json_t *ignored = NULL;
    if (http_sql(req, &stmt, 1, &res, &ignored) != 0) {
        json_decref(ignored);
        return;
    }
    json_t *row = json_array_get(res.rows, 0);
    counts->valid = json_array_size(row) == 4;
    counts->nodes = (uint64_t)json_integer_value(json_array_get(row, 0));
    counts->edges = (uint64_t)json_integer_value(json_array_get(row, 1));
    counts->vectors = (uint64_t)json_integer_value(json_array_get(row, 2));
    counts->snapshots = (uint64_t)json_integer_value(json_array_get(row, 3));
    hpg_result_clear(&res);
}

static int api_health(http_request_t *req, json_t **reply) {
    metrics_raft_t raft;
    metrics_raft(&raft);
    hpg_stmt_t stmt = {"SELECT 1", 0, NULL};
    json_t *error = NULL;
    bool ok = http_sql(req, &stmt, 1, NULL, &error) == 0;
    json_decref(error);
    *reply =
        json_pack("{s:s,s:s,s:I,s:o,s:f,s:s}", "status", ok ? "ok" : "unavailable", "role",
                  raft.role, "term", (json_int_t)raft.term, "leader",
                  raft.leader_address[0] != '\0' ? json_string(raft.leader_address) : json_null(),
                  "uptime_seconds", metrics_uptime_seconds(), "version",
                  http_server_config(req->server)->version);
    return ok ? 200 : 503;
}

static int api_metrics_json(http_request_t *req, json_t **reply) {
    metrics_db_counts_t counts;
    api_counts(req, &counts);
    if (!counts.valid) {
        return http_error(reply, 503, "57P03", "the database is not answering");
    }
    buf_t text;
    buf_init(&text);
    metrics_render(&text, &counts);
    /* The JSON view: every sample line of the exposition as "name{labels}": value. */
    json_t *samples = json_object();
    const char *p = (const char *)buf_peek(&text);
    const char *end = p + buf_size(&text);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = eol != NULL ? (size_t)(eol - p) : (size_t)(end - p);
        const char *space = len > 0 && p[0] != '#' ? memrchr(p, ' ', len) : NULL;
        if (space != NULL) {
            char *name = strndup(p, (size_t)(space - p));
            json_object_set_new(samples, name, json_real(strtod(space + 1, NULL)));
            free(name);
        }
        p += len + 1;
    }
    buf_free(&text);
    *reply = json_pack("{s:{s:I,s:I,s:I,s:I},s:f,s:o}", "counts", "nodes", (json_int_t)counts.nodes,
                       "edges", (json_int_t)counts.edges, "vectors", (json_int_t)counts.vectors,
                       "snapshots", (json_int_t)counts.snapshots, "uptime_seconds",
                       metrics_uptime_seconds(), "metrics", samples);
    return 200;
}

static int api_prometheus(http_request_t *req, json_t **reply) {
    (void)reply;
    metrics_db_counts_t counts;
    api_counts(req, &counts);
    buf_t text;
    buf_init(&text);
    metrics_render(&text, &counts);
    buf_append_u8(&text, 0);
    req->text_reply = strdup((const char *)buf_peek(&text));
    req->content_type = "text/plain; version=0.0.4; charset=utf-8";
    buf_free(&text);
    return 200;
}

static int api_healthz(http_request_t *req, json_t **reply) {
    (void)req;
    *reply = json_pack("{s:s}", "status", "alive");
    return 200;
}

static int api_readyz(http_request_t *req, json_t **reply) {
    (void)req;
    metrics_raft_t raft;
    metrics_raft(&raft);
    *reply =
        json_pack("{s:s,s:s}", "status", raft.ready ? "ready" : "not ready", "role", raft.role);
    return raft.ready ? 200 : 503;
}

static int api_openapi(http_request_t *req, json_t **reply) {
    (void)reply;
    req->text_reply = strdup(HTTP_OPENAPI_JSON);
    req->content_type = "application/json";
    return 200;
}

const http_route_t HTTP_ROUTES[] = {
    {"GET", "/api/v1/health", api_health, false, false},
    {"GET", "/api/v1/metrics", api_metrics_json, false, false},
    {"GET", "/api/v1/openapi.json", api_openapi, false, false},
    {"POST", "/api/v1/nodes", api_node_create, true, false},
    {"GET", "/api/v1/nodes/{id}", api_node_get, false, false},
    {"DELETE", "/api/v1/nodes/{id}", api_node_delete, false, false},
    {"GET", "/api/v1/nodes/{id}/related", api_node_related, false, false},
    {"POST", "/api/v1/edges", api_edge_create, true, false},
    {"POST", "/api/v1/vectors", api_vector_create, true, false},
    {"GET", "/api/v1/vectors/{id}/similar", api_similar, false, false},
    {"POST", "/api/v1/batch", api_batch, true, false},
    {"POST", "/api/v1/query/hybrid", api_hybrid, true, false},
    {"POST", "/api/v1/query", api_query, true, false},
    {"POST", "/api/v1/snapshot", api_snapshot, false, false},
    {"GET", "/api/v1/shortest_path", api_shortest_path, false, false},
    {"GET", "/metrics", api_prometheus, false, false},
    {"GET", "/healthz", api_healthz, false, true},
    {"GET", "/readyz", api_readyz, false, true},
    {"GET", "/", http_ui_index, false, true},
    {"GET", "/ui/{id}", http_ui_asset, false, true},
};
const size_t HTTP_ROUTES_COUNT = sizeof(HTTP_ROUTES) / sizeof(HTTP_ROUTES[0]);
