/*
 * http_int.h — what http.c (the server: libmicrohttpd, pool, auth, routing) and http_api.c (the
 * endpoints) share. Not a public contract: server/http.h is.
 */
#ifndef CTX_HTTP_INT_H
#define CTX_HTTP_INT_H

#include "http.h"
#include "http_pg.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    HTTP_PATH_SEGMENTS_MAX = 8,
    HTTP_REQ_STRINGS_MAX = 4 * HPG_STATEMENTS_MAX, /* parameter texts one request may hold */
};

/* One request as the endpoints see it. Strings the request owns (parameter texts) are freed
 * with it. */
typedef struct http_request {
    http_server_t *server;
    void *mhd;          /* struct MHD_Connection *: query arguments and headers */
    const char *method; /* "GET", "POST", … */
    const char *url;    /* path without the query string */
    const char *id;     /* the {id} segment of the route, or NULL */
    const char *body;   /* request body (NUL-terminated), "" when none */
    size_t body_len;
    char *text_reply;         /* set by a handler answering text (malloc'ed), else NULL */
    size_t text_reply_len;    /* its length; 0 = strlen(text_reply) */
    const char *content_type; /* of text_reply */
    char **strings;           /* owned texts, see http_req_keep */
    size_t nstrings;
    size_t strings_cap;
} http_request_t;

/* An endpoint: fills *reply (a JSON value the caller frees) and returns the HTTP status. */
typedef int (*http_handler_fn)(http_request_t *req, json_t **reply);

typedef struct http_route {
    const char *method;
    const char *pattern; /* "/api/v1/nodes/{id}"; also the metrics route label */
    http_handler_fn handler;
    bool json_body;   /* POST with a JSON body: Content-Type must be application/json */
    bool public_path; /* answered without the bearer token (/healthz, /readyz) */
} http_route_t;

/* The route table (http_api.c) and its length. */
extern const http_route_t HTTP_ROUTES[];
extern const size_t HTTP_ROUTES_COUNT;

/* {"error": {"code": sqlstate, "message": …}} into *reply; returns status. */
int http_error(json_t **reply, int status, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The HTTP status of a SQLSTATE (23505 → 409, 22xxx → 400, 53300 → 503, …). */
int http_status_of(const char *sqlstate);

/* Runs statements as one transaction over a pooled SQL connection (http_pg.h). Returns 0 with
 * results filled, or the HTTP status of the failure with *reply set to the error. */
int http_sql(http_request_t *req, const hpg_stmt_t *stmts, size_t count, hpg_result_t *results,
             json_t **reply);
/* A query argument (?name=value), or NULL. */
const char *http_arg(const http_request_t *req, const char *name);
/* Keeps text (malloc'ed, ownership taken) until the request ends; returns it. */
const char *http_req_keep(http_request_t *req, char *text);
/* printf into a kept string. */
const char *http_req_printf(http_request_t *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The OpenAPI 3.1 document (http_openapi.c, generated from http_openapi.json). */
extern const char HTTP_OPENAPI_JSON[];

/* The configuration http_start was given (auth, limits). */
const http_config_t *http_server_config(const http_server_t *server);

#endif
