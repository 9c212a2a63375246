/*
 * engine.h — the in-memory database: what each sub-folder of engine/ holds, and the umbrella
 * include for code outside engine/ that uses all of it (sql/, server/).
 *
 *   folder          contract            holds
 *   types/          value.h, json.h,    SQL values and types (text in/out, order, hash), jsonb
 *                   vecdist.h,          text, pgvector distances, PostgreSQL binary send/receive
 *                   binary.h            (types and OIDs from common/pgtypes.h)
 *   store/          store.h, command.h, node table, edge adjacency, vector store; write commands
 *                   graph.h, schema.h   (encode, apply with undo); BFS/DFS/shortest path; the
 *                                       tables' columns (what the binder and the catalogs read)
 *   expr/           expr.h, eval.h      expression trees, the binder, the evaluator, scalar
 *                                       functions
 *   vector/         hnsw.h, vindex.h    the HNSW index and the database's index of committed
 *                                       vectors
 *   exec/           plan.h              plan tree and executor: scans, joins, sorts, aggregates,
 *                                       set operations, graph and vector table functions
 *
 * Dependencies point one way, types ← store ← expr ← vector ← exec, and the build enforces it:
 * each folder is its own library that sees only its own headers and those to its left
 * (engine/meson.build).
 *
 * Where the binder lives: in engine/expr/, next to the evaluator, not in sql/. Binding and
 * evaluation walk the same expr_t tree and read the same function table (func.c: one row per
 * function gives its signature for the binder and its implementation for the evaluator), so
 * they change together. sql/ parses text into expr_t trees and asks the binder to resolve them
 * against a scope (bind_ctx_t); catalog-only names (reg* types, pg_* functions) reach the binder
 * through hooks in eval_env_t.
 */
#ifndef CTX_ENGINE_H
#define CTX_ENGINE_H

#include "binary.h"
#include "command.h"
#include "eval.h"
#include "expr.h"
#include "graph.h"
#include "hnsw.h"
#include "json.h"
#include "plan.h"
#include "schema.h"
#include "store.h"
#include "value.h"
#include "vecdist.h"
#include "vindex.h"

#endif
