-- psql meta-commands answered from the emulated pg_catalog; each golden section was
-- compared with PostgreSQL 15's output for equivalent tables (nodes, edges with FKs, vectors).
-- server-config: vector_dimensions = 4
INSERT INTO nodes (id, label, props) VALUES (1, 'User', '{"name":"ann"}'), (2, 'Doc', NULL);
\dt
\d
\d nodes
\d edges
\d vectors
\l
\dn
\du
\df
\x
SELECT relname, relkind FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1;
\x
\set lbl 'User'
SELECT id, label FROM nodes WHERE label = :'lbl';
\timing on
\timing off
SELECT count(*) AS n FROM nodes;
-- catalog SQL features: subqueries, UNION, regex, casts, arrays
SELECT c.relname, (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid) AS natts
  FROM pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(nodes|edges)$' ORDER BY 1;
SELECT 'nodes'::regclass::oid AS oid, 16385::regclass AS name, 'jsonb'::regtype::oid AS jsonb;
SELECT relname FROM pg_class WHERE oid IN (SELECT indrelid FROM pg_index) ORDER BY 1;
SELECT 'public' = ANY(current_schemas(false)) AS visible, array_to_string(ARRAY[1,2,3], '-');
SELECT 1 AS x UNION SELECT 2 UNION SELECT 1 ORDER BY 1;
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint ORDER BY conname;
SELECT table_name, column_name, data_type FROM information_schema.columns
  WHERE table_name = 'edges' ORDER BY ordinal_position;
-- int2vector / oidvector: text form "1 2 3", subscripts from 0; generate_subscripts
SELECT indexrelid::regclass AS index, indkey, indkey[0] AS first, indkey[1] AS second,
       array_lower(indkey, 1) AS lo, array_upper(indkey, 1) AS hi, indclass
  FROM pg_index ORDER BY indexrelid;
SELECT generate_subscripts(indkey, 1) AS i, unnest(indkey) AS attnum
  FROM pg_index WHERE indrelid = 'edges'::regclass;
SELECT '1 2 3'::int2vector AS v, ('1 2 3'::int2vector)[2] AS third,
       '{4,5}'::int2[]::int2vector AS from_array, '7 8'::int2vector::int2[] AS to_array;
SELECT a.attname FROM pg_index i JOIN pg_attribute a
    ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
  WHERE i.indrelid = 'edges'::regclass ORDER BY a.attnum;
SELECT 'abc'::text[];
-- pg_type's I/O functions are pg_proc rows; pg_proc has PostgreSQL 15's columns
SELECT typname, typinput, typoutput, typreceive, typsend, typsubscript, typacl
  FROM pg_type WHERE typname IN ('int4', 'int2vector', '_text', 'vector') ORDER BY oid;
SELECT t.typname, p.proname, p.prolang, p.prokind, p.pronargs, p.proargtypes
  FROM pg_type t JOIN pg_proc p ON p.oid = t.typinput WHERE t.typname IN ('int8', 'vector');
SELECT t.typname AS without_functions FROM pg_type t
  WHERE NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.oid = t.typinput)
     OR NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.oid = t.typoutput)
     OR (t.typsend <> 0 AND NOT EXISTS (SELECT 1 FROM pg_proc p WHERE p.oid = t.typsend));
SELECT pg_get_functiondef('int4in'::regproc);
SELECT pg_get_function_arguments('array_in'::regproc), pg_get_function_result('array_in'::regproc);
SELECT typname[0] AS first_char FROM pg_type WHERE typname = '_int4';
SELECT CASE WHEN true THEN ' '::"char" ELSE (SELECT relkind FROM pg_class LIMIT 1) END AS k;
-- system functions clients call
SELECT set_config('search_path', 'public', false) AS set, current_setting('search_path');
SELECT set_config('no.such', 'x', false);
SELECT pg_size_pretty(pg_database_size('contextdb')) IS NOT NULL AS db,
       pg_relation_size('nodes') >= 0 AS rel, pg_total_relation_size('edges'::regclass) >= 0 AS tot;
SELECT pg_database_size('other');
SELECT json_build_object('a', 1, 'b', 'x') AS o, to_json('t'::text) AS s, to_jsonb(2) AS n;
SELECT to_jsonb('[1,2.5,3,-4]'::vector) AS v, jsonb_agg(x) AS a
  FROM (VALUES ('[1,2,3,4]'::vector), (NULL)) t(x);
SELECT acldefault('r', 10) AS r, acldefault('f', 10) AS f;
SELECT array_remove(ARRAY['a', 'b', 'a'], 'a') AS rest;
SELECT name, setting FROM pg_settings WHERE name = 'max_index_keys';
SELECT count(*) AS seqs FROM pg_sequence;
SELECT count(*) AS none FROM pg_cast, pg_conversion, pg_event_trigger, pg_foreign_server, pg_extension;
-- LOCK TABLE (in a block), PREPARE / EXECUTE / DEALLOCATE
LOCK TABLE nodes;
BEGIN;
LOCK TABLE public.nodes, edges IN ACCESS SHARE MODE;
LOCK TABLE nope;
ROLLBACK;
PREPARE rel(oid) AS SELECT relname FROM pg_class WHERE oid = $1;
EXECUTE rel('16384');
EXECUTE rel(16385);
PREPARE rel AS SELECT 1;
DEALLOCATE rel;
EXECUTE rel(1);
-- system columns of catalogs; psql's describe commands over pg_proc, pg_language, casts
SELECT relname, xmin, tableoid::regclass FROM pg_class WHERE relname = 'pg_type';
SELECT count(DISTINCT ctid) = count(*) AS distinct_ctids FROM pg_attribute;
\df+ neighbors
\sf int4in
\dL
\dC
\dc
