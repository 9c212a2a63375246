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
