// pgx v4 (Debian's golang-github-jackc-pgx-v4-dev, built offline with GO111MODULE=off) against
// contextdb: connect with pgx's startup, a query in its default extended protocol with binary
// results, CopyFrom (binary COPY) into nodes and edges with the column types pgx looks up, the
// rows read back, and a CopyFrom that fails (a duplicate key) loading nothing.
//
// Run by run-pgx through run-client (PGHOST/PGPORT set). Exits 1 with a message on failure.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v4"
)

func check(cond bool, format string, args ...interface{}) {
	if !cond {
		fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
		os.Exit(1)
	}
}

func must(err error, what string) {
	check(err == nil, "%s: %v", what, err)
}

func main() {
	ctx := context.Background()
	dsn := fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable",
		os.Getenv("PGHOST"), os.Getenv("PGPORT"), os.Getenv("PGUSER"), os.Getenv("PGDATABASE"))
	conn, err := pgx.Connect(ctx, dsn)
	must(err, "connect")
	defer conn.Close(ctx)

	var one int64
	must(conn.QueryRow(ctx, "SELECT $1::int8 + 1", int64(41)).Scan(&one), "query")
	check(one == 42, "SELECT $1 + 1 = %d", one)
	fmt.Println("ok connect and query")

	rows := [][]interface{}{}
	for i := int64(0); i < 500; i++ {
		rows = append(rows, []interface{}{7000 + i, fmt.Sprintf("pgx%d", i),
			map[string]interface{}{"n": i, "s": "ü"}})
	}
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"nodes"}, []string{"id", "label", "props"},
		pgx.CopyFromRows(rows))
	must(err, "CopyFrom nodes")
	check(n == 500, "CopyFrom nodes copied %d rows", n)
	edges := [][]interface{}{}
	for i := int64(0); i < 499; i++ {
		edges = append(edges, []interface{}{7000 + i, 7001 + i, "next", float64(i) / 4})
	}
	n, err = conn.CopyFrom(ctx, pgx.Identifier{"edges"}, []string{"src", "dst", "kind", "weight"},
		pgx.CopyFromRows(edges))
	must(err, "CopyFrom edges")
	check(n == 499, "CopyFrom edges copied %d rows", n)

	var count, maxID int64
	must(conn.QueryRow(ctx, "SELECT count(*), max(id) FROM nodes WHERE id >= 7000").Scan(&count,
		&maxID), "count nodes")
	check(count == 500 && maxID == 7499, "nodes: count %d max %d", count, maxID)
	var label, s string
	must(conn.QueryRow(ctx, "SELECT label, props->>'s' FROM nodes WHERE id = 7123").Scan(&label,
		&s), "read node")
	check(label == "pgx123" && s == "ü", "node 7123: %q %q", label, s)
	var w float64
	must(conn.QueryRow(ctx, "SELECT weight FROM edges WHERE src = 7010 AND dst = 7011").Scan(&w),
		"read edge")
	check(w == 2.5, "edge weight %v", w)
	fmt.Println("ok CopyFrom (binary COPY) into nodes and edges")

	dup := [][]interface{}{{int64(8000), "new", nil}, {int64(7000), "dup", nil}}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"nodes"}, []string{"id", "label", "props"},
		pgx.CopyFromRows(dup))
	check(err != nil, "a CopyFrom with a duplicate key succeeded")
	must(conn.QueryRow(ctx, "SELECT count(*) FROM nodes WHERE id = 8000").Scan(&count), "count")
	check(count == 0, "a failed CopyFrom left %d rows", count)
	fmt.Println("ok a failed CopyFrom loads nothing:", err)
}
