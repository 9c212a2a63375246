-- The ContextQL statement forms, as a psql user types them.
-- Vectors are 4-dimensional here: the test server runs with vector_dimensions = 4.
-- server-config: vector_dimensions = 4
/* block comment /* nested */ still a comment */
INSERT INTO nodes (id, label, props) VALUES
  (1, 'User', '{"name": "ann", "age": 30}'),
  (2, 'Doc', NULL),
  (3, 'Doc', '{"name": "design", "tags": ["a", "b"]}'),
  (4, 'User', '{"name": "bob", "age": 41}'),
  (5, 'Tag', NULL);
INSERT INTO edges (src, dst, kind, weight) VALUES
  (1, 2, 'owns', 1.0), (1, 3, 'owns', 2.5), (2, 4, 'links', 1), (4, 5, 'related', 0.5),
  (3, 5, 'links', 1), (5, 1, 'child_of', 1);
INSERT INTO vectors (id, embedding) VALUES
  (1, '[1,0,0,0]'), (2, '[0.9,0.1,0,0]'), (3, '[0,1,0,0]'), (4, '[0,0,1,0]'), (5, '[0.5,0.5,0,0]');
-- reads
SELECT * FROM nodes ORDER BY id;
SELECT id, label FROM nodes WHERE label = 'User' ORDER BY id LIMIT 10;
SELECT count(*) FROM edges WHERE kind = 'owns';
SELECT props->>'name' AS name, props->'tags' AS tags FROM nodes WHERE props IS NOT NULL ORDER BY id;
SELECT id FROM nodes WHERE id IN (1, 3, 99) OR label LIKE 'T%' ORDER BY id;
SELECT id FROM nodes WHERE NOT (label = 'Doc') AND props IS NULL;
SELECT label, count(*), min(id), max(id), sum(id), avg(id) FROM nodes GROUP BY label ORDER BY label;
SELECT src, dst, kind, weight FROM edges ORDER BY weight DESC, src LIMIT 3 OFFSET 1;
SELECT "id", "label" FROM "nodes" WHERE label = $$Doc$$ ORDER BY id;
SELECT E'tab\there' AS escaped, 'it''s' AS quoted;
-- graph
SELECT * FROM neighbors(1, 2);
SELECT * FROM neighbors(1, 3, kind => 'owns', direction => 'out');
SELECT * FROM neighbors(5, 1, direction => 'both');
SELECT * FROM traverse(1, 3, order => 'dfs');
SELECT * FROM shortest_path(1, 5);
SELECT * FROM shortest_path(4, 3);
-- vectors
SELECT id, embedding <-> '[1,0,0,0]' AS l2, embedding <=> '[1,0,0,0]' AS cosine,
       embedding <#> '[1,0,0,0]' AS neg_ip
  FROM vectors ORDER BY cosine LIMIT 3;
SELECT * FROM similar(1, 2);
SELECT * FROM similar(1, threshold => 0.7);
SELECT * FROM neighbor_stats(1, 3);
SELECT * FROM hybrid(1, depth => 2, top_k => 2);
SELECT n.id, n.label, v.embedding <=> '[1,0,0,0]' AS d
  FROM neighbors(1, 2) n JOIN vectors v ON v.id = n.id ORDER BY d LIMIT 2;
-- writes
INSERT INTO nodes (id, label) VALUES (6, 'Tmp'), (7, 'Tmp') RETURNING id, label;
INSERT INTO nodes (id, label) VALUES (6, 'Again') ON CONFLICT (id) DO NOTHING;
INSERT INTO nodes (id, label) VALUES (6, 'New') ON CONFLICT (id) DO UPDATE SET label = excluded.label RETURNING *;
UPDATE nodes SET label = 'Admin', props = '{"x": 1}' WHERE id = 1;
SELECT * FROM nodes WHERE id = 1;
DELETE FROM edges WHERE src = 1 AND dst = 2;
DELETE FROM nodes WHERE id = 4;
SELECT count(*) AS edges_left FROM edges;
-- transactions
BEGIN;
INSERT INTO nodes (id, label) VALUES (8, 'InTxn');
SELECT count(*) FROM nodes WHERE id = 8;
ROLLBACK;
SELECT count(*) FROM nodes WHERE id = 8;
BEGIN;
INSERT INTO nodes (id, label) VALUES (9, 'Kept');
COMMIT;
SELECT label FROM nodes WHERE id = 9;
-- session
SET hnsw.ef_search = 100;
SHOW hnsw.ef_search;
RESET hnsw.ef_search;
SHOW hnsw.ef_search;
SET application_name TO 'golden';
SHOW application_name;
SELECT version() LIKE 'PostgreSQL 15.0 (ContextDB%' AS version_ok;
SELECT current_database(), current_schema(), current_user;
EXPLAIN SELECT id FROM nodes WHERE label = 'User' ORDER BY id LIMIT 5;
-- errors
SELEC 1;
SELECT * FROM nowhere;
SELECT nope FROM nodes;
INSERT INTO nodes (id, label) VALUES (1, 'dup');
INSERT INTO edges (src, dst, kind) VALUES (1, 1000, 'owns');
INSERT INTO vectors (id, embedding) VALUES (42, '[1,2]');
SELECT 1/0;
SELECT 'abc'::int;
COMMIT;
