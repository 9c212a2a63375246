/*
 * json.h — navigation and building over canonical jsonb text (engine/types/json.c), and
 * PostgreSQL's float text form. Canonical text is always valid JSON, so these helpers never
 * fail on their input; value_json_canonical (value.h) is the one entry point for untrusted JSON.
 */
#ifndef CTX_JSON_H
#define CTX_JSON_H

#include "arena.h"
#include "buf.h"
#include "value.h"

#include <stddef.h>
#include <string.h>

enum { JSON_DEPTH_MAX = 1000, FLOAT_TEXT_BYTES = 32 };

/* PostgreSQL's float text (shortest round trip) into out (FLOAT_TEXT_BYTES); returns length. */
size_t value_format_float(double d, bool is_float4, char *out);

typedef struct json_slice {
    const char *ptr;
    uint32_t len;
} json_slice_t;

/* Type of the document's top-level value: "object", "array", "string", "number", "boolean",
 * "null" (jsonb_typeof's names). */
const char *jsonb_typeof(json_slice_t doc);
/* Number of elements of an array, -1 when doc is not an array. */
int64_t json_array_length(json_slice_t doc);
/* Element idx of an array (negative counts from the end). false when absent or not an array. */
bool jsonb_array_get(json_slice_t doc, int64_t idx, json_slice_t *out);
/* Value of key in an object. false when absent or doc is not an object. */
bool jsonb_object_get(json_slice_t doc, const char *key, uint32_t key_len, json_slice_t *out);
/* ->> form of a value: a string's decoded contents, other values' canonical text; null →
 * returns false (SQL NULL). Memory from arena when decoding is needed. */
bool json_as_text(json_slice_t v, arena_t *arena, json_slice_t *out);
/* Appends the bytes of a C string (no terminating NUL, unlike buf_append_cstr). */
static inline void json_append_raw(buf_t *b, const char *s) {
    buf_append(b, s, strlen(s));
}
/* Appends s as a JSON string literal (quotes, PostgreSQL's escapes). */
void json_append_string(buf_t *b, const char *s, size_t len);
/* jsonb || jsonb (objects merge, arrays concatenate, scalars act as one-element arrays). */
int json_concat(json_slice_t a, json_slice_t b, arena_t *arena, value_t *out, ctx_err_t *err);

#endif
