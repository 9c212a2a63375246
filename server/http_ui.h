/*
 * http_ui.h — the graph browser's files, served by the HTTP server at / and /ui/NAME.
 *
 * The page is built from web/ (npm, esbuild) into a directory of static files (http_ui_dir,
 * default the source tree's web/dist); the server reads them from disk on each request (no
 * cache, nothing fetched from elsewhere). GET / is index.html, GET /ui/NAME one file of that
 * directory: NAME must be a plain file name ([A-Za-z0-9._-], not starting with a dot), so no
 * path leaves the directory; its type comes from the extension (html, js, css, svg, png, txt).
 * The files are public like /healthz: the page holds no data; its API calls carry the bearer
 * token the user types. A missing directory or file is 404 with a hint to build the page.
 */
#ifndef CTX_HTTP_UI_H
#define CTX_HTTP_UI_H

#include "http_int.h"

int http_ui_index(http_request_t *req, json_t **reply);
int http_ui_asset(http_request_t *req, json_t **reply);

#endif
