/*
 * binary.h — PostgreSQL's binary format of values: the send (output) and receive (input)
 * functions of every type of common/pgtypes.h, chosen by type OID.
 *
 * Used by the server for DataRow columns a client asked in binary (send) and for Bind
 * parameters sent in binary (receive). The OID, not the value's kind, picks the format, because
 * the OID is what the client encodes and decodes by: an int value in an int4 column goes out as
 * 4 bytes, in an int8 column as 8, in a float8 column as an IEEE double.
 */
#ifndef CTX_BINARY_H
#define CTX_BINARY_H

#include "arena.h"
#include "buf.h"
#include "ctx.h"
#include "value.h"

#include <stddef.h>
#include <stdint.h>

/* Appends v (not NULL) in the binary format of type_oid, without a length prefix. Numbers are
 * converted to the OID's width (a float in an int column is rounded, a bool is 0/1); OIDs
 * without a binary form here (and a vector column holding no vector) get the text form's
 * bytes. Temporary text comes from arena. Never fails. */
void binary_send(buf_t *out, arena_t *arena, const value_t *v, uint32_t type_oid);

/* Decodes data[0, len) in the binary format of type_oid into *out: bool → VAL_BOOL, int2/int4/
 * int8/oid → VAL_INT, float4/float8 → VAL_FLOAT, vector → VAL_VECTOR, one-dimensional arrays
 * of those (_int8, _oid, _text, …: PostgreSQL's array_recv layout) → their text form `{1,2}`,
 * jsonb and every other OID → VAL_TEXT of the bytes (jsonb without its version byte). Payloads
 * are copied into arena. Arrays of more than one dimension are 0A000.
 *
 * Returns 0, or CTX_EBINARY_FORMAT when the bytes are not a value of the type (wrong length,
 * vector dimension out of range). err gets a message only when the type has one of its own
 * ("unsupported jsonb version number 2"); otherwise the caller says where the value came from
 * (Bind: "incorrect binary data format in bind parameter 3") — with a first-set-wins ctx_err_t
 * the caller can set that unconditionally. */
int binary_recv(uint32_t type_oid, const uint8_t *data, size_t len, arena_t *arena, value_t *out,
                ctx_err_t *err);

#endif
