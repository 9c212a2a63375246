-- psql basics: a query, a syntax error with its caret, SET/SHOW, a rolled-back transaction.
SELECT 1;
SELEC 1;
SELECT 1; SELECT 2;
SET application_name = 'golden';
SHOW application_name;
BEGIN;
SELECT 42;
SELECT 1/0;
SELECT 43;
ROLLBACK;
SELECT 44;
-- a syntax error inside a block fails the block, as in PostgreSQL
BEGIN;
SELEC 2;
SELECT 45;
ROLLBACK;
SELECT 'done' AS status, 46 AS n;
