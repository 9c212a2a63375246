/*
 * reply.h — encoding the SQL layer's results as backend messages: RowDescription, DataRow in
 * text or binary format per column, CommandComplete with the ParameterStatus changes it
 * carries, NoticeResponse and ErrorResponse. Shared by the simple-query path (conn.c), the
 * extended protocol (extended.c) and COPY.
 *
 * Every function appends whole messages to `out`; temporary text comes from `arena`.
 */
#ifndef CTX_REPLY_H
#define CTX_REPLY_H

#include "arena.h"
#include "buf.h"
#include "ctx.h"
#include "sql.h"

#include <stdint.h>

/* ErrorResponse (severity ERROR) from err, with its D/H/P/W fields. */
void reply_error(buf_t *out, const ctx_err_t *err);

/* One NoticeResponse per notice of the result. */
void reply_notices(buf_t *out, const sql_result_t *result);

/* RowDescription of the result's columns. formats[c] is column c's format code; formats NULL
 * means all text. CTX_ELIMIT (54000) when there are more columns than the protocol allows. */
int reply_row_description(buf_t *out, arena_t *arena, const sql_result_t *result,
                          const int16_t *formats, ctx_err_t *err);

/* DataRows for rows [first, first + count) of the result (precondition: within nrows), each
 * column in the format formats[c] (NULL = all text). Binary forms are binary_send() of the
 * column's type OID (engine/types/binary.h). CTX_ELIMIT when a row is
 * larger than a message may be. */
int reply_data_rows(buf_t *out, arena_t *arena, const sql_result_t *result, uint64_t first,
                    uint64_t count, const int16_t *formats, ctx_err_t *err);

/* CommandComplete with tag, then a ParameterStatus per reported setting the result changed. */
int reply_complete(buf_t *out, const char *tag, const sql_result_t *result, ctx_err_t *err);

/* The whole simple-protocol answer of one statement: notices, RowDescription + DataRows (text)
 * when it has rows, CommandComplete, ParameterStatus changes. */
int reply_result(buf_t *out, arena_t *arena, const sql_result_t *result, ctx_err_t *err);

#endif
