/*
 * http_ui.c — static files of the graph browser (see http_ui.h). A file is read whole into a
 * malloc'ed buffer that becomes the response body; files are bounded (HTTP_UI_FILE_BYTES_MAX)
 * so a stray large file in the directory cannot exhaust memory.
 */
#include "http_ui.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { HTTP_UI_FILE_BYTES_MAX = 16 * 1024 * 1024, HTTP_UI_NAME_MAX = 128 };

static const struct {
    const char *ext;
    const char *type;
} HTTP_UI_TYPES[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".txt", "text/plain; charset=utf-8"},
};

/* Whether name is a plain file name of the directory, and its content type (NULL when its
 * extension is not served). */
static const char *http_ui_type(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > HTTP_UI_NAME_MAX || name[0] == '.' ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(HTTP_UI_TYPES) / sizeof(HTTP_UI_TYPES[0]); i++) {
        size_t ext = strlen(HTTP_UI_TYPES[i].ext);
        if (len > ext && strcmp(name + len - ext, HTTP_UI_TYPES[i].ext) == 0) {
            return HTTP_UI_TYPES[i].type;
        }
    }
    return NULL;
}

/* Reads dir/name into req->text_reply; 0, or the 404/500 status with *reply set. */
static int http_ui_send(http_request_t *req, const char *name, json_t **reply) {
    const char *dir = http_server_config(req->server)->ui_dir;
    const char *type = http_ui_type(name);
    if (dir == NULL || dir[0] == '\0' || type == NULL) {
        return http_error(reply, 404, "42P01", "no such file: %s", req->url);
    }
    char path[4096 + HTTP_UI_NAME_MAX + 2];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > HTTP_UI_FILE_BYTES_MAX) {
        int saved = errno;
        if (f != NULL) {
            fclose(f);
        }
        return http_error(reply, 404, "42P01",
                          "the graph browser is not built (%s: %s); build it with "
                          "`npm --prefix web ci && npm --prefix web run build` (tools/run does)",
                          path, f == NULL ? strerror(saved) : "not a file of at most 16MB");
    }
    char *body = malloc((size_t)st.st_size + 1);
    size_t got = body != NULL ? fread(body, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (body == NULL || got != (size_t)st.st_size) {
        free(body);
        return http_error(reply, 500, "58030", "could not read %s", path);
    }
    body[got] = '\0';
    req->text_reply = body;
    req->text_reply_len = got;
    req->content_type = type;
    return 200;
}

int http_ui_index(http_request_t *req, json_t **reply) {
    return http_ui_send(req, "index.html", reply);
}

int http_ui_asset(http_request_t *req, json_t **reply) {
    return http_ui_send(req, req->id, reply);
}
