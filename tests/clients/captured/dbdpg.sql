-- from DBD::Pg 3.16 primary_key / primary_key_info
SELECT
                  c.oid
                , pg_catalog.quote_ident(n.nspname)
                , pg_catalog.quote_ident(c.relname)
                , pg_catalog.quote_ident(c2.relname)
                , i.indkey
                , pg_catalog.quote_ident(t.spcname)
                , pg_catalog.quote_ident(pg_catalog.pg_tablespace_location(t.oid))
                , n.nspname, c.relname, c2.relname
                , pg_catalog.quote_ident(pg_catalog.current_database())
            FROM
                pg_catalog.pg_class c
                JOIN pg_catalog.pg_index i ON (i.indrelid = c.oid)
                JOIN pg_catalog.pg_class c2 ON (c2.oid = i.indexrelid)
                LEFT JOIN pg_catalog.pg_namespace n ON (n.oid = c.relnamespace)
                LEFT JOIN pg_catalog.pg_tablespace t ON (t.oid = c.reltablespace)
            WHERE
                i.indisprimary IS TRUE
            AND c.relname = 'nodes'
			AND n.nspname = 'public'
-- @@
-- from DBD::Pg 3.16 primary_key: the key columns
SELECT a.attnum, pg_catalog.quote_ident(a.attname) AS colname,
    pg_catalog.quote_ident(t.typname) AS typename
FROM pg_catalog.pg_attribute a, pg_catalog.pg_type t
WHERE a.attrelid = '16384'
AND a.atttypid = t.oid
AND attnum IN (1);
-- @@
-- from DBD::Pg 3.16 primary_key / primary_key_info
SELECT
                  c.oid
                , pg_catalog.quote_ident(n.nspname)
                , pg_catalog.quote_ident(c.relname)
                , pg_catalog.quote_ident(c2.relname)
                , i.indkey
                , pg_catalog.quote_ident(t.spcname)
                , pg_catalog.quote_ident(pg_catalog.pg_tablespace_location(t.oid))
                , n.nspname, c.relname, c2.relname
                , pg_catalog.quote_ident(pg_catalog.current_database())
            FROM
                pg_catalog.pg_class c
                JOIN pg_catalog.pg_index i ON (i.indrelid = c.oid)
                JOIN pg_catalog.pg_class c2 ON (c2.oid = i.indexrelid)
                LEFT JOIN pg_catalog.pg_namespace n ON (n.oid = c.relnamespace)
                LEFT JOIN pg_catalog.pg_tablespace t ON (t.oid = c.reltablespace)
            WHERE
                i.indisprimary IS TRUE
            AND c.relname = 'edges'
			AND n.nspname = 'public'
-- @@
-- from DBD::Pg 3.16 primary_key: the key columns
SELECT a.attnum, pg_catalog.quote_ident(a.attname) AS colname,
    pg_catalog.quote_ident(t.typname) AS typename
FROM pg_catalog.pg_attribute a, pg_catalog.pg_type t
WHERE a.attrelid = '16385'
AND a.atttypid = t.oid
AND attnum IN (1,2,3);
-- @@
-- from DBD::Pg 3.16 primary_key / primary_key_info
SELECT
                  c.oid
                , pg_catalog.quote_ident(n.nspname)
                , pg_catalog.quote_ident(c.relname)
                , pg_catalog.quote_ident(c2.relname)
                , i.indkey
                , pg_catalog.quote_ident(t.spcname)
                , pg_catalog.quote_ident(pg_catalog.pg_tablespace_location(t.oid))
                , n.nspname, c.relname, c2.relname
                , pg_catalog.quote_ident(pg_catalog.current_database())
            FROM
                pg_catalog.pg_class c
                JOIN pg_catalog.pg_index i ON (i.indrelid = c.oid)
                JOIN pg_catalog.pg_class c2 ON (c2.oid = i.indexrelid)
                LEFT JOIN pg_catalog.pg_namespace n ON (n.oid = c.relnamespace)
                LEFT JOIN pg_catalog.pg_tablespace t ON (t.oid = c.reltablespace)
            WHERE
                i.indisprimary IS TRUE
            AND c.relname = 'vectors'
			AND n.nspname = 'public'
-- @@
-- from DBD::Pg 3.16 primary_key: the key columns
SELECT a.attnum, pg_catalog.quote_ident(a.attname) AS colname,
    pg_catalog.quote_ident(t.typname) AS typename
FROM pg_catalog.pg_attribute a, pg_catalog.pg_type t
WHERE a.attrelid = '16386'
AND a.atttypid = t.oid
AND attnum IN (1);
-- @@
-- from DBD::Pg 3.16 primary_key / primary_key_info
SELECT
                  c.oid
                , pg_catalog.quote_ident(n.nspname)
                , pg_catalog.quote_ident(c.relname)
                , pg_catalog.quote_ident(c2.relname)
                , i.indkey
                , pg_catalog.quote_ident(t.spcname)
                , pg_catalog.quote_ident(pg_catalog.pg_tablespace_location(t.oid))
                , n.nspname, c.relname, c2.relname
                , pg_catalog.quote_ident(pg_catalog.current_database())
            FROM
                pg_catalog.pg_class c
                JOIN pg_catalog.pg_index i ON (i.indrelid = c.oid)
                JOIN pg_catalog.pg_class c2 ON (c2.oid = i.indexrelid)
                LEFT JOIN pg_catalog.pg_namespace n ON (n.oid = c.relnamespace)
                LEFT JOIN pg_catalog.pg_tablespace t ON (t.oid = c.reltablespace)
            WHERE
                i.indisprimary IS TRUE
            AND c.relname = 'nope'
			AND n.nspname = 'public'
-- @@
-- from DBD::Pg 3.16 table_info / tables
SELECT * FROM (
                SELECT pg_catalog.quote_ident(pg_catalog.current_database()) AS "TABLE_CAT"
                     , pg_catalog.quote_ident(n.nspname) AS "TABLE_SCHEM"
                     , pg_catalog.quote_ident(c.relname) AS "TABLE_NAME"
                       -- any temp table or temp view is LOCAL TEMPORARY for us
                     , CASE WHEN pg_catalog.quote_ident(n.nspname) ~ '^pg_(toast_)?temp_' THEN
                                 'LOCAL TEMPORARY'
                            WHEN c.relkind ~ 'r|p' THEN
                                 CASE WHEN pg_catalog.quote_ident(n.nspname) ~ '^pg_' THEN
                                           'SYSTEM TABLE'
                                      ELSE 'TABLE'
                                  END
                            WHEN c.relkind = 'v' THEN
                                 CASE WHEN pg_catalog.quote_ident(n.nspname) ~ '^pg_' THEN
                                           'SYSTEM VIEW'
                                      ELSE 'VIEW'
                                  END
                            WHEN c.relkind = 'm' THEN
                                 CASE WHEN pg_catalog.quote_ident(n.nspname) ~ '^pg_' THEN
                                           'SYSTEM MATERIALIZED VIEW'
                                      ELSE 'MATERIALIZED VIEW'
                                  END
                            WHEN c.relkind = 'f' THEN
                                 CASE WHEN pg_catalog.quote_ident(n.nspname) ~ '^pg_' THEN
                                           'SYSTEM FOREIGN TABLE'
                                      ELSE 'FOREIGN TABLE'
                                  END
                            ELSE 'UNKNOWN'
                         END AS "TABLE_TYPE"
                     , d.description AS "REMARKS"
                     , pg_catalog.quote_ident(t.spcname) AS "pg_tablespace_name"
                     , pg_catalog.quote_ident(pg_catalog.pg_tablespace_location(t.oid)) AS "pg_tablespace_location" ,n.nspname AS pg_schema, c.relname AS pg_table
                  FROM pg_catalog.pg_class AS c
                  LEFT JOIN pg_catalog.pg_description AS d
                       ON (c.oid = d.objoid AND c.tableoid = d.classoid AND d.objsubid = 0)
                  LEFT JOIN pg_catalog.pg_namespace n ON (n.oid = c.relnamespace)
                  LEFT JOIN pg_catalog.pg_tablespace t ON (t.oid = c.reltablespace)
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
					 AND NOT (pg_catalog.quote_ident(n.nspname) ~ '^pg_(toast_)?temp_' AND NOT pg_catalog.has_schema_privilege(n.nspname, 'USAGE'))
					 AND n.nspname = 'public'
					 AND c.relname LIKE '%'
                 ORDER BY "TABLE_TYPE", "TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME"
                ) ti WHERE "TABLE_TYPE" IN ('TABLE')
-- @@
-- from DBD::Pg 3.16 table_info / tables
SELECT * FROM (
                SELECT pg_catalog.quote_ident(pg_catalog.current_database()) AS "TABLE_CAT"
                     , pg_catalog.quote_ident(n.nspname) AS "TABLE_SCHEM"
                     , pg_catalog.quote_ident(c.relname) AS "TABLE_NAME"
                       -- any temp table or temp view is LOCAL TEMPORARY for us
                     , CASE WHEN pg_catalog.quote_ident(n.nspname) ~ '^pg_(toast_)?temp_' THEN
                                 'LOCAL TEMPORARY'
                            WHEN c.relkind ~ 'r|p' THEN
                                 CASE WHEN pg_catalog.quote_ident(n.nspname) ~ '^pg_' THEN
                                           'SYSTEM TABLE'
                                      ELSE 'TABLE'
                                  END
                            WHEN c.relkind = 'v' THEN
                                 CASE WHEN pg_catalog.quote_ident(n.nspname) ~ '^pg_' THEN
                                           'SYSTEM VIEW'
                                      ELSE 'VIEW'
                                  END
                            WHEN c.relkind = 'm' THEN
                                 CASE WHEN pg_catalog.quote_ident(n.nspname) ~ '^pg_' THEN
                                           'SYSTEM MATERIALIZED VIEW'
                                      ELSE 'MATERIALIZED VIEW'
                                  END
                            WHEN c.relkind = 'f' THEN
                                 CASE WHEN pg_catalog.quote_ident(n.nspname) ~ '^pg_' THEN
                                           'SYSTEM FOREIGN TABLE'
                                      ELSE 'FOREIGN TABLE'
                                  END
                            ELSE 'UNKNOWN'
                         END AS "TABLE_TYPE"
                     , d.description AS "REMARKS"
                     , pg_catalog.quote_ident(t.spcname) AS "pg_tablespace_name"
                     , pg_catalog.quote_ident(pg_catalog.pg_tablespace_location(t.oid)) AS "pg_tablespace_location" ,n.nspname AS pg_schema, c.relname AS pg_table
                  FROM pg_catalog.pg_class AS c
                  LEFT JOIN pg_catalog.pg_description AS d
                       ON (c.oid = d.objoid AND c.tableoid = d.classoid AND d.objsubid = 0)
                  LEFT JOIN pg_catalog.pg_namespace n ON (n.oid = c.relnamespace)
                  LEFT JOIN pg_catalog.pg_tablespace t ON (t.oid = c.reltablespace)
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
					 AND NOT (pg_catalog.quote_ident(n.nspname) ~ '^pg_(toast_)?temp_' AND NOT pg_catalog.has_schema_privilege(n.nspname, 'USAGE'))
					 AND n.nspname = 'public'
                 ORDER BY "TABLE_TYPE", "TABLE_CAT", "TABLE_SCHEM", "TABLE_NAME"
                ) ti WHERE "TABLE_TYPE" IN ('TABLE')
-- @@
-- from DBD::Pg 3.16 column_info
SELECT
                pg_catalog.quote_ident(pg_catalog.current_database()) AS "TABLE_CAT"
                , pg_catalog.quote_ident(n.nspname) AS "TABLE_SCHEM"
                , pg_catalog.quote_ident(c.relname) AS "TABLE_NAME"
                , pg_catalog.quote_ident(a.attname) AS "COLUMN_NAME"
                , a.atttypid AS "DATA_TYPE"
                , pg_catalog.format_type(a.atttypid, NULL) AS "TYPE_NAME"
                , a.attlen AS "COLUMN_SIZE"
                , NULL::text AS "BUFFER_LENGTH"
                , NULL::text AS "DECIMAL_DIGITS"
                , NULL::text AS "NUM_PREC_RADIX"
                , CASE a.attnotnull WHEN 't' THEN 0 ELSE 1 END AS "NULLABLE"
                , pg_catalog.col_description(a.attrelid, a.attnum) AS "REMARKS"
                , pg_catalog.pg_get_expr(af.adbin, af.adrelid) AS "COLUMN_DEF"
                , NULL::text AS "SQL_DATA_TYPE"
                , NULL::text AS "SQL_DATETIME_SUB"
                , NULL::text AS "CHAR_OCTET_LENGTH"
                , a.attnum AS "ORDINAL_POSITION"
                , CASE a.attnotnull WHEN 't' THEN 'NO' ELSE 'YES' END AS "IS_NULLABLE"
                , pg_catalog.format_type(a.atttypid, a.atttypmod) AS "pg_type"
                , '?' AS "pg_constraint"
                , n.nspname AS "pg_schema"
                , c.relname AS "pg_table"
                , a.attname AS "pg_column"
                , a.attrelid AS "pg_attrelid"
                , a.attnum AS "pg_attnum"
                , a.atttypmod AS "pg_atttypmod"
                , t.typtype AS "_pg_type_typtype"
                , t.oid AS "_pg_type_oid"
            FROM
                pg_catalog.pg_type t
                JOIN pg_catalog.pg_attribute a ON (t.oid = a.atttypid)
                JOIN pg_catalog.pg_class c ON (a.attrelid = c.oid)
                LEFT JOIN pg_catalog.pg_attrdef af ON (a.attnum = af.adnum AND a.attrelid = af.adrelid)
                JOIN pg_catalog.pg_namespace n ON (n.oid = c.relnamespace)
            WHERE
                a.attnum >= 0
                AND c.relkind IN ('r','p','v','m','f')
				AND n.nspname = 'public'
				AND c.relname = 'nodes'
            ORDER BY "TABLE_SCHEM", "TABLE_NAME", "ORDINAL_POSITION"
-- @@
-- from DBD::Pg 3.16 column_info: CHECK constraints of a column
SELECT pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint WHERE contype = 'c' AND conrelid = 16384 AND conkey = '{1}'
-- @@
-- from DBD::Pg 3.16 column_info: CHECK constraints of a column
SELECT pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint WHERE contype = 'c' AND conrelid = 16384 AND conkey = '{2}'
-- @@
-- from DBD::Pg 3.16 column_info: CHECK constraints of a column
SELECT pg_catalog.pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint WHERE contype = 'c' AND conrelid = 16384 AND conkey = '{3}'
-- @@
-- from DBD::Pg 3.16 foreign_key_info
SELECT
    pg_catalog.quote_ident(pg_catalog.current_database()),
    pg_catalog.quote_ident(uk_ns.nspname),
    pg_catalog.quote_ident(uk_class.relname),
    pg_catalog.quote_ident(uk_col.attname),
    pg_catalog.quote_ident(pg_catalog.current_database()),
    pg_catalog.quote_ident(fk_ns.nspname),
    pg_catalog.quote_ident(fk_class.relname),
    pg_catalog.quote_ident(fk_col.attname),
    colnum.i,
    CASE constr.confupdtype
        WHEN 'c' THEN 0 WHEN 'r' THEN 1 WHEN 'n' THEN 2 WHEN 'a' THEN 3 WHEN 'd' THEN 4 ELSE -1
    END,
    CASE constr.confdeltype
        WHEN 'c' THEN 0 WHEN 'r' THEN 1 WHEN 'n' THEN 2 WHEN 'a' THEN 3 WHEN 'd' THEN 4 ELSE -1
    END,
    pg_catalog.quote_ident(constr.conname), pg_catalog.quote_ident(uk_constr.conname),
    CASE
        WHEN constr.condeferrable = 'f' THEN 7
        WHEN constr.condeferred = 't' THEN 6
        WHEN constr.condeferred = 'f' THEN 5
        ELSE -1
    END,
    CASE coalesce(uk_constr.contype, 'u')
        WHEN 'u' THEN 'UNIQUE' WHEN 'p' THEN 'PRIMARY'
    END,
    pg_catalog.quote_ident(uk_type.typname), pg_catalog.quote_ident(fk_type.typname)
FROM pg_catalog.pg_constraint constr
    JOIN pg_catalog.pg_class uk_class ON constr.confrelid = uk_class.oid
    JOIN pg_catalog.pg_namespace uk_ns ON uk_class.relnamespace = uk_ns.oid
    JOIN pg_catalog.pg_class fk_class ON constr.conrelid = fk_class.oid
    JOIN pg_catalog.pg_namespace fk_ns ON fk_class.relnamespace = fk_ns.oid
    -- can't do unnest() until 8.4, and would need WITH ORDINALITY to get the array indices,
    -- wich isn't available until 9.4 at the earliest, so we join against a series table instead
    JOIN pg_catalog.generate_series(1, pg_catalog.current_setting('max_index_keys')::integer) colnum(i)
        ON colnum.i <= pg_catalog.array_upper(constr.conkey,1)
    JOIN pg_catalog.pg_attribute uk_col ON uk_col.attrelid = constr.confrelid AND uk_col.attnum = constr.confkey[colnum.i]
    JOIN pg_catalog.pg_type uk_type ON uk_col.atttypid = uk_type.oid
    JOIN pg_catalog.pg_attribute fk_col ON fk_col.attrelid = constr.conrelid AND fk_col.attnum = constr.conkey[colnum.i]
    JOIN pg_catalog.pg_type fk_type ON fk_col.atttypid = fk_type.oid
    -- We can't match confkey from the fk constraint to conkey of the unique constraint,
    -- because the unique constraint might not exist or there might be more than one
    -- matching one. However, there must be at least a unique _index_ on the key
    -- columns, so we look for that; but we can't find it via pg_index, since there may
    -- again be more than one matching index.
    -- So instead, we look at pg_depend for the dependency that was created by the fk
    -- constraint. This dependency is of type 'n' (normal) and ties the pg_constraint
    -- row oid to the pg_class oid for the index relation (a single arbitrary one if
    -- more than one matching unique index existed at the time the constraint was
    -- created).  Fortunately, the constraint does not create dependencies on the
    -- referenced table itself, but on the _columns_ of the referenced table, so the
    -- index can be distinguished easily.  Then we look for another pg_depend entry,
    -- this time an 'i' (implementation) dependency from a pg_constraint oid (the unique
    -- constraint if one exists) to the index oid; but we have to allow for the
    -- possibility that this one doesn't exist.          - Andrew Gierth (RhodiumToad)
    JOIN pg_catalog.pg_depend dep ON (
        dep.classid = 'pg_catalog.pg_constraint'::regclass
        AND dep.objid = constr.oid
        AND dep.objsubid = 0
        AND dep.deptype = 'n'
        AND dep.refclassid = 'pg_catalog.pg_class'::regclass
        AND dep.refobjsubid=0
    )
    JOIN pg_catalog.pg_class idx ON (
        idx.oid = dep.refobjid AND idx.relkind='i'
    )
    LEFT JOIN pg_catalog.pg_depend dep2 ON (
        dep2.classid = 'pg_catalog.pg_class'::regclass
        AND dep2.objid = idx.oid
        AND dep2.objsubid = 0
        AND dep2.deptype = 'i'
        AND dep2.refclassid = 'pg_catalog.pg_constraint'::regclass
        AND dep2.refobjsubid = 0
    )
    LEFT JOIN pg_catalog.pg_constraint uk_constr ON (
        uk_constr.oid = dep2.refobjid AND uk_constr.contype IN ('p','u')
    )
WHERE uk_class.relname = 'nodes' AND uk_ns.nspname = 'public' AND fk_class.relname = 'edges' AND fk_ns.nspname = 'public'
    AND uk_class.relkind ~ 'r|p'
    AND fk_class.relkind ~ 'r|p'
    AND constr.contype = 'f'
ORDER BY constr.conname, colnum.i
