// The PostgreSQL JDBC driver (Debian's libpostgresql-jdbc-java) against contextdb: PreparedStatement
// with setLong / setString / setDouble (extended protocol, binary parameters, named statements after
// the 5th execution with binary results), graph and vector queries, an error mapped to
// SQLException.getSQLState(), a transaction, Statement.cancel() of a running pg_sleep, COPY through
// CopyManager, and the DatabaseMetaData calls DBeaver and Metabase make (getTables, getColumns,
// getPrimaryKeys). Run by run-client through run-jdbc (java TestJdbc.java, Java 17).
import java.io.StringReader;
import java.sql.*;
import java.util.*;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

public class TestJdbc {
    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    static String url() {
        return "jdbc:postgresql://" + System.getenv("PGHOST") + ":" + System.getenv("PGPORT")
            + "/contextdb";
    }

    static void load(Connection c) throws SQLException {
        try (PreparedStatement node = c.prepareStatement(
                 "INSERT INTO nodes (id, label, props) VALUES (?, ?, ?::jsonb)");
             PreparedStatement vec = c.prepareStatement(
                 "INSERT INTO vectors (id, embedding) VALUES (?, ?::vector)")) {
            for (long i = 1; i <= 8; i++) {
                node.setLong(1, i);
                node.setString(2, "L" + i);
                node.setString(3, "{\"rank\": " + i + "}");
                check(node.executeUpdate() == 1, "insert node");
                vec.setLong(1, i);
                vec.setString(2, "[" + i + ",1,0,0]");
                vec.executeUpdate();
            }
        }
        try (PreparedStatement edge = c.prepareStatement(
                 "INSERT INTO edges (src, dst, kind, weight) VALUES (?, ?, ?, ?)")) {
            long[][] pairs = {{1, 2}, {2, 3}, {3, 4}, {1, 5}};
            for (long[] p : pairs) {
                edge.setLong(1, p[0]);
                edge.setLong(2, p[1]);
                edge.setString(3, "links");
                edge.setDouble(4, 0.5);
                edge.executeUpdate();
            }
        }
    }

    static void params(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT id, label, props FROM nodes WHERE id = ?")) {
            for (int round = 0; round < 8; round++) { // from the 5th: named statement, binary results
                long id = round % 4 + 1;
                ps.setLong(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "row");
                    check(rs.getLong(1) == id, "id " + rs.getLong(1));
                    check(rs.getString(2).equals("L" + id), "label");
                    check(rs.getString(3).equals("{\"rank\": " + id + "}"), "props " + rs.getString(3));
                    check(!rs.next(), "one row");
                }
            }
        }
        try (PreparedStatement ps = c.prepareStatement(
                 "SELECT src, dst, weight FROM edges WHERE src = ? AND weight > ? ORDER BY dst")) {
            for (int round = 0; round < 7; round++) {
                ps.setInt(1, 1);
                ps.setDouble(2, 0.25);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next() && rs.getLong(2) == 2 && rs.getDouble(3) == 0.5, "edge 1");
                    check(rs.next() && rs.getLong(2) == 5, "edge 2");
                }
            }
        }
        System.out.println("ok params");
    }

    static void queries(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT * FROM similar(?, ?)")) {
            ps.setLong(1, 1);
            ps.setInt(2, 5);
            int n = 0;
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    n++;
                }
            }
            check(n == 5, "similar rows " + n);
        }
        try (PreparedStatement ps = c.prepareStatement(
                 "SELECT id, depth FROM neighbors(?, ?) ORDER BY id")) {
            ps.setLong(1, 1);
            ps.setInt(2, 2);
            List<Long> ids = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids.add(rs.getLong(1));
                }
            }
            check(ids.equals(List.of(2L, 3L, 5L)), "neighbors " + ids);
        }
        System.out.println("ok graph and vector queries");
    }

    static void errors(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO nodes (id, label) VALUES (?, ?)")) {
            ps.setLong(1, 1);
            ps.setString(2, "dup");
            ps.executeUpdate();
            throw new AssertionError("duplicate accepted");
        } catch (SQLException e) {
            check("23505".equals(e.getSQLState()), "sqlstate " + e.getSQLState());
        }
        try (Statement st = c.createStatement()) {
            st.executeQuery("SELECT * FROM nowhere");
            throw new AssertionError("no error");
        } catch (SQLException e) {
            check("42P01".equals(e.getSQLState()), "sqlstate " + e.getSQLState());
        }
        System.out.println("ok errors");
    }

    static void transaction(Connection c) throws SQLException {
        c.setAutoCommit(false);
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO nodes (id, label) VALUES (?, ?)")) {
            ps.setLong(1, 100);
            ps.setString(2, "tx");
            ps.executeUpdate();
            c.rollback();
            ps.executeUpdate();
            ps.setLong(1, 101);
            ps.executeUpdate();
            c.commit();
        }
        c.setAutoCommit(true);
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM nodes WHERE id >= 100")) {
            check(rs.next() && rs.getLong(1) == 2, "committed rows");
        }
        System.out.println("ok transactions");
    }

    static void cancel(Connection c) throws Exception {
        try (Statement st = c.createStatement()) {
            Thread t = new Thread(() -> {
                try {
                    Thread.sleep(300);
                    st.cancel();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            long started = System.currentTimeMillis();
            t.start();
            try {
                st.executeQuery("SELECT pg_sleep(20)");
                throw new AssertionError("not cancelled");
            } catch (SQLException e) {
                check("57014".equals(e.getSQLState()), "sqlstate " + e.getSQLState());
            }
            t.join();
            check(System.currentTimeMillis() - started < 5000, "cancelled promptly");
        }
        System.out.println("ok cancel");
    }

    static void copy(Connection c) throws Exception {
        CopyManager cm = c.unwrap(PGConnection.class).getCopyAPI();
        long n = cm.copyIn("COPY nodes (id, label) FROM STDIN (FORMAT csv)",
                           new StringReader("500,c500\n501,c501\n"));
        check(n == 2, "copied " + n);
        System.out.println("ok copy");
    }

    static void metadata(Connection c) throws SQLException {
        DatabaseMetaData md = c.getMetaData();
        Set<String> tables = new TreeSet<>();
        try (ResultSet rs = md.getTables(null, null, "%", new String[] {"TABLE"})) {
            while (rs.next()) {
                tables.add(rs.getString("TABLE_NAME"));
            }
        }
        check(tables.containsAll(List.of("nodes", "edges", "vectors")), "getTables " + tables);
        List<String> cols = new ArrayList<>();
        try (ResultSet rs = md.getColumns(null, null, "nodes", "%")) {
            while (rs.next()) {
                cols.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME"));
            }
        }
        check(cols.equals(List.of("id:int8", "label:text", "props:jsonb")), "getColumns " + cols);
        List<String> pk = new ArrayList<>();
        try (ResultSet rs = md.getPrimaryKeys(null, null, "nodes")) {
            while (rs.next()) {
                pk.add(rs.getString("COLUMN_NAME"));
            }
        }
        check(pk.equals(List.of("id")), "getPrimaryKeys " + pk);
        System.out.println("ok metadata");
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", System.getenv().getOrDefault("PGUSER", "test"));
        try (Connection c = DriverManager.getConnection(url(), props)) {
            load(c);
            params(c);
            queries(c);
            errors(c);
            transaction(c);
            cancel(c);
            copy(c);
            metadata(c);
        }
        System.out.println("jdbc: all passed");
    }
}
