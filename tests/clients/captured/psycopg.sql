SELECT id, label, props FROM nodes WHERE id = 1
-- @@
-- params: 'jsonb'
SELECT
    typname AS name, oid, typarray AS array_oid,
    oid::regtype::text AS regtype, typdelim AS delimiter
FROM pg_type t
WHERE t.oid = $1::regtype
ORDER BY t.oid
-- @@
-- params: 'vector'
SELECT
    typname AS name, oid, typarray AS array_oid,
    oid::regtype::text AS regtype, typdelim AS delimiter
FROM pg_type t
WHERE t.oid = $1::regtype
ORDER BY t.oid
-- @@
-- params: '1'
SELECT id, label FROM nodes WHERE id = $1
-- @@
