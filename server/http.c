/*
 * http.c — the HTTP server: libmicrohttpd daemon, request bodies, bearer token, routing, the pool
 * of SQL connections, JSON errors.
 *
 * Threads: libmicrohttpd's internal thread pool (http_threads threads, epoll each); a request is
 * handled start to finish on the thread that read it, so a thread needs at most one SQL
 * connection at a time and the pool never holds more than http_threads of them. A handler that
 * waits for SQL blocks only its own thread: the event loop answers it like any client.
 *
 * Request life: the first access-handler call allocates the request state and refuses at once a
 * Content-Length above http_body_bytes_max (413); later calls append body bytes (a chunked body
 * that grows past the limit is read and dropped, then answered 413); the last call routes:
 * unknown path 404, known path with another method 405 (with Allow), missing or wrong bearer
 * token 401 (except /healthz and /readyz), JSON endpoints without `Content-Type:
 * application/json` 415, else the endpoint (http_api.c). Every answer is JSON except /metrics.
 *
 * SQL connections: a socketpair whose server end goes to the event loop (config->adopt →
 * loop_adopt), the client end to http_pg; made when a thread finds the pool empty, returned
 * after the request unless broken (then closed; the loop sees EOF and ends that session).
 */
#include "http_int.h"

#include "buf.h"
#include "metrics.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    HTTP_POOL_MAX = 64,
    HTTP_SQL_TIMEOUT_MS = 600000, /* a statement may run this long before the socket gives up */
    HTTP_CONNECTION_TIMEOUT_S = 60,
    HTTP_TLS_FILE_BYTES_MAX = 1024 * 1024,
    HTTP_STRINGS_FIRST = 16,
};
_Static_assert(HTTP_POOL_MAX >= 64, "http_threads (max 64) connections fit the pool");

struct http_server {
    struct MHD_Daemon *daemon;
    http_config_t config;
    char *auth_token; /* copy; "" when none */
    uint32_t port;
    char *tls_cert; /* PEM text when HTTPS */
    char *tls_key;
    pthread_mutex_t pool_mu;
    hpg_conn_t *idle[HTTP_POOL_MAX];
    size_t nidle;
};

/* Per-request state between access-handler calls. */
typedef struct http_state {
    buf_t body;
    bool too_large;
    uint64_t start_ns;
} http_state_t;

const http_config_t *http_server_config(const http_server_t *server) {
    return &server->config;
}

int http_error(json_t **reply, int status, const char *sqlstate, const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    json_decref(*reply);
    *reply = json_pack("{s:{s:s,s:s}}", "error", "code", sqlstate, "message", message);
    CTX_ASSERT(*reply != NULL);
    return status;
}

int http_status_of(const char *sqlstate) {
    static const struct {
        const char *prefix;
        int status;
    } map[] = {{"23505", 409}, {"23503", 409}, {"40001", 409}, {"25P02", 409}, {"23", 400},
               {"22", 400},    {"42", 400},    {"0A", 400},    {"21", 400},    {"2B", 400},
               {"54", 413},    {"28", 401},    {"53300", 503}, {"53", 503},    {"57", 503},
               {"25006", 503}, {"08", 503}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strncmp(sqlstate, map[i].prefix, strlen(map[i].prefix)) == 0) {
            return map[i].status;
        }
    }
    return 500;
}

const char *http_req_keep(http_request_t *req, char *text) {
    CTX_ASSERT(text != NULL);
    if (req->nstrings == req->strings_cap) {
        req->strings_cap = req->strings_cap == 0 ? HTTP_STRINGS_FIRST : req->strings_cap * 2;
        req->strings = ctx_realloc(req->strings, req->strings_cap * sizeof(char *));
    }
    req->strings[req->nstrings++] = text;
    return text;
}

const char *http_req_printf(http_request_t *req, const char *fmt, ...) {
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    CTX_ASSERT(n >= 0 && text != NULL);
    return http_req_keep(req, text);
}

const char *http_arg(const http_request_t *req, const char *name) {
    return MHD_lookup_connection_value((struct MHD_Connection *)req->mhd, MHD_GET_ARGUMENT_KIND,
                                       name);
}

/* ---- SQL connection pool ---------------------------------------------------------------- */

static hpg_conn_t *http_pool_get(http_server_t *server, hpg_error_t *err) {
    pthread_mutex_lock(&server->pool_mu);
    hpg_conn_t *conn = server->nidle > 0 ? server->idle[--server->nidle] : NULL;
    pthread_mutex_unlock(&server->pool_mu);
    if (conn != NULL) {
        return conn;
    }
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        snprintf(err->sqlstate, sizeof(err->sqlstate), "53000");
        snprintf(err->message, sizeof(err->message), "socketpair: %s", strerror(errno));
        return NULL;
    }
    if (server->config.adopt(server->config.adopt_ctx, fds[1]) != 0) {
        close(fds[0]);
        close(fds[1]);
        snprintf(err->sqlstate, sizeof(err->sqlstate), "53300");
        snprintf(err->message, sizeof(err->message), "the server is not taking connections");
        return NULL;
    }
    if (hpg_connect(fds[0], "http", HTTP_SQL_TIMEOUT_MS, &conn, err) < 0) {
        return NULL;
    }
    return conn;
}

static void http_pool_put(http_server_t *server, hpg_conn_t *conn) {
    if (hpg_broken(conn)) {
        hpg_close(conn);
        return;
    }
    pthread_mutex_lock(&server->pool_mu);
    bool kept = server->nidle < HTTP_POOL_MAX;
    if (kept) {
        server->idle[server->nidle++] = conn;
    }
    pthread_mutex_unlock(&server->pool_mu);
    if (!kept) {
        hpg_close(conn);
    }
}

int http_sql(http_request_t *req, const hpg_stmt_t *stmts, size_t count, hpg_result_t *results,
             json_t **reply) {
    hpg_error_t err;
    memset(&err, 0, sizeof(err));
    hpg_conn_t *conn = http_pool_get(req->server, &err);
    int rc = conn == NULL ? -1 : hpg_run(conn, stmts, count, results, &err);
    if (conn != NULL) {
        http_pool_put(req->server, conn);
    }
    if (rc == 0) {
        return 0;
    }
    int status = http_status_of(err.sqlstate);
    http_error(reply, status, err.sqlstate, "%s", err.message);
    if (err.detail[0] != '\0') {
        json_object_set_new(json_object_get(*reply, "error"), "detail", json_string(err.detail));
    }
    return status;
}

/* ---- routing ------------------------------------------------------------------------------ */

/* Whether url matches pattern ({id} matches one non-empty segment, captured in *id). */
static bool http_match(const char *pattern, const char *url, http_request_t *req) {
    const char *p = pattern;
    const char *u = url;
    while (*p != '\0' && *u != '\0') {
        if (strncmp(p, "{id}", 4) == 0) {
            size_t len = strcspn(u, "/");
            if (len == 0) {
                return false;
            }
            req->id = http_req_keep(req, strndup(u, len));
            p += 4;
            u += len;
            continue;
        }
        if (*p != *u) {
            return false;
        }
        p++;
        u++;
    }
    return *p == '\0' && (*u == '\0' || strcmp(u, "/") == 0);
}

/* Constant-time comparison of the Authorization header with "Bearer <token>". */
static bool http_token_ok(const http_server_t *server, struct MHD_Connection *mhd) {
    if (server->auth_token[0] == '\0') {
        return !server->config.auth_required;
    }
    const char *header =
        MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0) {
        return false;
    }
    const char *given = header + 7;
    size_t want_len = strlen(server->auth_token);
    size_t given_len = strlen(given);
    unsigned diff = want_len != given_len;
    for (size_t i = 0; i < want_len; i++) {
        diff |= (unsigned)(server->auth_token[i] ^ given[i < given_len ? i : 0]);
    }
    return diff == 0;
}

static bool http_is_json(struct MHD_Connection *mhd) {
    const char *type = MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, "Content-Type");
    if (type == NULL) {
        return false;
    }
    size_t len = strcspn(type, "; ");
    return len == strlen("application/json") && strncasecmp(type, "application/json", len) == 0;
}

/* Finds the route and runs the checks before it; returns the status, *route_out the route (or
 * NULL), *reply set when the request was refused. */
static int http_route(http_request_t *req, const http_route_t **route_out, json_t **reply,
                      char *allow, size_t allow_len) {
    const http_route_t *route = NULL;
    allow[0] = '\0';
    for (size_t i = 0; i < HTTP_ROUTES_COUNT; i++) {
        if (!http_match(HTTP_ROUTES[i].pattern, req->url, req)) {
            continue;
        }
        if (strcmp(HTTP_ROUTES[i].method, req->method) == 0) {
            route = &HTTP_ROUTES[i];
            break;
        }
        size_t used = strlen(allow);
        snprintf(allow + used, allow_len - used, "%s%s", used > 0 ? ", " : "",
                 HTTP_ROUTES[i].method);
    }
    *route_out = route;
    if (route == NULL) {
        return allow[0] != '\0' ? http_error(reply, 405, "42601", "method %s not allowed on %s",
                                             req->method, req->url)
                                : http_error(reply, 404, "42P01", "no such endpoint: %s %s",
                                             req->method, req->url);
    }
    if (!route->public_path && !http_token_ok(req->server, req->mhd)) {
        return http_error(reply, 401, "28000",
                          req->server->auth_token[0] == '\0'
                              ? "the HTTP API needs http_auth_token when authentication is on"
                              : "missing or invalid bearer token");
    }
    if (route->json_body && !http_is_json(req->mhd)) {
        return http_error(reply, 415, "0A000", "Content-Type must be application/json");
    }
    return 0;
}

static enum MHD_Result http_send(struct MHD_Connection *mhd, int status, char *body, size_t len,
                                 const char *content_type, const char *allow) {
    struct MHD_Response *response =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (response == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (allow != NULL && allow[0] != '\0') {
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (status == 401) {
        MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    }
    enum MHD_Result rc = MHD_queue_response(mhd, (unsigned)status, response);
    MHD_destroy_response(response);
    return rc;
}

static void http_request_free(http_request_t *req) {
    for (size_t i = 0; i < req->nstrings; i++) {
        free(req->strings[i]);
    }
    free(req->strings);
    free(req->text_reply);
}

/* Routes and answers a request whose body is complete. */
static enum MHD_Result http_answer(http_server_t *server, struct MHD_Connection *mhd,
                                   const char *method, const char *url, http_state_t *state) {
    http_request_t req;
    memset(&req, 0, sizeof(req));
    req.server = server;
    req.mhd = mhd;
    req.method = method;
    req.url = url;
    buf_append_u8(&state->body, 0);
    req.body = (const char *)buf_peek(&state->body);
    req.body_len = buf_size(&state->body) - 1;
    json_t *reply = NULL;
    const http_route_t *route = NULL;
    char allow[64];
    int status = 0;
    if (state->too_large || buf_failed(&state->body)) {
        status = http_error(&reply, 413, "54000", "request body larger than %llu bytes",
                            (unsigned long long)server->config.body_bytes_max);
    } else {
        status = http_route(&req, &route, &reply, allow, sizeof(allow));
    }
    if (status == 0) {
        status = route->handler(&req, &reply);
    }
    char *body = req.text_reply;
    req.text_reply_len = body != NULL ? req.text_reply_len : 0;
    const char *type = req.content_type != NULL ? req.content_type : "application/json";
    if (body == NULL) {
        CTX_ASSERT(reply != NULL);
        body = json_dumps(reply, JSON_COMPACT | JSON_ENCODE_ANY);
        type = "application/json";
    }
    req.text_reply = NULL;
    json_decref(reply);
    CTX_ASSERT(body != NULL);
    uint64_t duration_ns = metrics_now_ns() - state->start_ns;
    metrics_http_request(method, route != NULL ? route->pattern : "unmatched", status, duration_ns);
    CTX_DEBUG("http: %s %s -> %d (%.3f ms)", method, url, status, (double)duration_ns / 1e6);
    http_request_free(&req);
    size_t body_len = req.text_reply_len != 0 ? req.text_reply_len : strlen(body);
    return http_send(mhd, status, body, body_len, type, allow);
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *mhd, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls) {
    (void)version;
    http_server_t *server = cls;
    http_state_t *state = *con_cls;
    static _Thread_local bool named;
    if (!named) {
        prctl(PR_SET_NAME, "http", 0, 0, 0); /* the log's "component" */
        named = true;
    }
    if (state == NULL) {
        state = ctx_calloc(1, sizeof(*state));
        buf_init(&state->body);
        state->start_ns = metrics_now_ns();
        *con_cls = state;
        const char *length =
            MHD_lookup_connection_value(mhd, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length != NULL && strtoull(length, NULL, 10) > server->config.body_bytes_max) {
            state->too_large = true; /* answered at once: the body is never read */
            return http_answer(server, mhd, method, url, state);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t size = *upload_data_size;
        if (!state->too_large && buf_size(&state->body) + size > server->config.body_bytes_max) {
            state->too_large = true;
            buf_free(&state->body);
            buf_init(&state->body);
        }
        if (!state->too_large) {
            buf_append(&state->body, upload_data, size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return http_answer(server, mhd, method, url, state);
}

static void http_completed(void *cls, struct MHD_Connection *mhd, void **con_cls,
                           enum MHD_RequestTerminationCode code) {
    (void)cls;
    (void)mhd;
    (void)code;
    http_state_t *state = *con_cls;
    if (state != NULL) {
        buf_free(&state->body);
        free(state);
        *con_cls = NULL;
    }
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char message[512];
    vsnprintf(message, sizeof(message), fmt, ap);
    message[strcspn(message, "\n")] = '\0';
    CTX_DEBUG("http: %s", message);
}

/* ---- start / stop ---------------------------------------------------------------------- */

static char *http_read_file(const char *path, ctx_err_t *err) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        ctx_err_set(err, CTX_ECONFIG, "could not open \"%s\" for HTTPS: %s", path, strerror(errno));
        return NULL;
    }
    char *text = ctx_malloc(HTTP_TLS_FILE_BYTES_MAX + 1);
    size_t len = fread(text, 1, HTTP_TLS_FILE_BYTES_MAX, f);
    fclose(f);
    text[len] = '\0';
    return text;
}

static int http_resolve(const http_config_t *config, struct sockaddr_storage *addr, bool *ipv6,
                        ctx_err_t *err) {
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%u", config->port);
    struct addrinfo *list = NULL;
    int gai = getaddrinfo(config->host, port_text, &hints, &list);
    if (gai != 0) {
        return ctx_err_set(err, CTX_EIO, "could not resolve \"%s\": %s", config->host,
                           gai_strerror(gai));
    }
    memset(addr, 0, sizeof(*addr));
    ctx_memcpy(addr, list->ai_addr, list->ai_addrlen);
    *ipv6 = list->ai_family == AF_INET6;
    freeaddrinfo(list);
    return 0;
}

static int http_start_daemon(http_server_t *server, ctx_err_t *err) {
    struct sockaddr_storage addr;
    bool ipv6 = false;
    if (http_resolve(&server->config, &addr, &ipv6, err) < 0) {
        return CTX_EIO;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     (ipv6 ? MHD_USE_IPv6 : 0) | (server->tls_cert != NULL ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls_options[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, server->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, server->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    server->daemon = MHD_start_daemon(
        flags, (uint16_t)server->config.port, NULL, NULL, http_access, server, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)server->config.threads,
        MHD_OPTION_NOTIFY_COMPLETED, http_completed, server, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, server,
        MHD_OPTION_ARRAY, server->tls_cert != NULL ? tls_options : &tls_options[2], MHD_OPTION_END);
    if (server->daemon == NULL) {
        return ctx_err_set(err, CTX_EIO, "could not start the HTTP server on %s:%u: %s",
                           server->config.host, server->config.port,
                           errno != 0 ? strerror(errno) : "libmicrohttpd refused");
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info != NULL ? info->port : server->config.port;
    return 0;
}

int http_start(const http_config_t *config, http_server_t **out, ctx_err_t *err) {
    CTX_ASSERT(config != NULL && out != NULL && config->adopt != NULL);
    CTX_ASSERT(config->threads >= 1 && config->threads <= HTTP_POOL_MAX);
    http_server_t *server = ctx_calloc(1, sizeof(*server));
    server->config = *config;
    server->auth_token = strdup(config->auth_token != NULL ? config->auth_token : "");
    pthread_mutex_init(&server->pool_mu, NULL);
    int rc = 0;
    bool tls = config->tls_cert_file != NULL && config->tls_cert_file[0] != '\0' &&
               config->tls_key_file != NULL && config->tls_key_file[0] != '\0';
    if (tls) {
        server->tls_cert = http_read_file(config->tls_cert_file, err);
        server->tls_key =
            server->tls_cert != NULL ? http_read_file(config->tls_key_file, err) : NULL;
        if (server->tls_key == NULL) {
            rc = CTX_ECONFIG;
            goto fail;
        }
    }
    rc = http_start_daemon(server, err);
    if (rc < 0) {
        goto fail;
    }
    if (config->auth_required && server->auth_token[0] == '\0') {
        CTX_WARN("authentication is on and http_auth_token is empty: every HTTP API request "
                 "gets 401 (only /healthz and /readyz answer)");
    }
    *out = server;
    return 0;
fail:
    http_stop(server);
    return rc;
}

uint32_t http_port(const http_server_t *server) {
    return server->port;
}

void http_stop(http_server_t *server) {
    if (server == NULL) {
        return;
    }
    if (server->daemon != NULL) {
        MHD_stop_daemon(server->daemon);
    }
    for (size_t i = 0; i < server->nidle; i++) {
        hpg_close(server->idle[i]);
    }
    pthread_mutex_destroy(&server->pool_mu);
    free(server->auth_token);
    free(server->tls_cert);
    free(server->tls_key);
    free(server);
}
