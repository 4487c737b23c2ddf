// A local Neo4j Community 5.26 server for development and CI: the database engine from
// Maven Central with its Bolt connector on 127.0.0.1. Started and stopped by ./neo4j.
//
// Arguments: <home> <bolt-port>; the password comes from the environment (NEO4J_PASSWORD), and
// so do the page cache's size (NEO4J_PAGECACHE, default 512m) and an optional limit on one
// transaction's memory (NEO4J_TRANSACTION_MAX, e.g. 16m: db.memory.transaction.max, unlimited
// when unset, as in Neo4j's own default).
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.io.ByteUnit;

public final class KgrecNeo4j {
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: KgrecNeo4j <home> <bolt-port>");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);
        String password = System.getenv("NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("NEO4J_PASSWORD must be set and at least 8 characters long");
            System.exit(2);
        }
        SocketAddress bolt = new SocketAddress("127.0.0.1", port);
        String pageCache = System.getenv().getOrDefault("NEO4J_PAGECACHE", "512m");
        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home);
        String transactionMax = System.getenv("NEO4J_TRANSACTION_MAX");
        if (transactionMax != null && !transactionMax.isEmpty()) {
            builder.setConfig(
                    GraphDatabaseSettings.memory_transaction_max_size, ByteUnit.parse(transactionMax));
        }
        DatabaseManagementService dbms = builder
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, bolt)
                .setConfig(BoltConnector.advertised_address, bolt)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.parse(pageCache))
                .setConfig(GraphDatabaseSettings.transaction_timeout, Duration.ofMinutes(10))
                .build();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("kgrec-neo4j: shutting down");
            home.resolve("ready").toFile().delete();
            dbms.shutdown();
            System.out.println("kgrec-neo4j: stopped");
        }));
        setPassword(dbms, password);
        // The start script waits for this file before it connects: connecting earlier would
        // fail authentication and trip the server's rate limit on failed logins.
        Files.writeString(home.resolve("ready"), port + "\n");
        System.out.println("kgrec-neo4j: bolt://127.0.0.1:" + port + " ready, home " + home);
        Thread.currentThread().join();
    }

    /** The built-in user `neo4j` gets the password from the environment, with no change required. */
    private static void setPassword(DatabaseManagementService dbms, String password) {
        try {
            dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME).executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        } catch (RuntimeException e) {
            // Setting the password it already has is refused; anything else is fatal.
            String message = String.valueOf(e.getMessage());
            if (!message.contains("Old password and new password cannot be the same")) {
                throw e;
            }
        }
    }
}
