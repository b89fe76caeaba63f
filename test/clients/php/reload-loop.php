<?php
// A PDO (mysqlnd) client looping statements while tenantgate's config is reloaded
// (ops-reload.test). Usage: php reload-loop.php PORT USER PASSWORD DB
// Runs `SELECT @@port` (plain) and a server-side prepared `SELECT @@port, ?` alternately on ONE
// connection until stdin is closed. Writes "p<port>\n" per statement (the test waits on these to see
// progress), then one final line: JSON {statements, ports, connection_id_before, connection_id_after, error}.
[$_, $port, $user, $pass, $db] = $argv;
$out = ['statements' => 0, 'ports' => [], 'error' => null];
try {
    $pdo = new PDO("mysql:host=127.0.0.1;port=$port;dbname=$db", $user, $pass, [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_EMULATE_PREPARES => false,
    ]);
    $out['connection_id_before'] = (int) $pdo->query('SELECT CONNECTION_ID()')->fetchColumn();
    $stmt = $pdo->prepare('SELECT @@port, ?');
    stream_set_blocking(STDIN, false);
    $i = 0;
    while (true) {
        // stdin closed by the test: stop.
        if (fread(STDIN, 1) === '' && feof(STDIN)) break;
        if ($i++ % 2 === 0) {
            $p = (int) $pdo->query('SELECT @@port')->fetchColumn();
        } else {
            $stmt->execute([$i]);
            $row = $stmt->fetch(PDO::FETCH_NUM);
            $stmt->closeCursor();
            if ((int) $row[1] !== $i) throw new Exception("prepared statement returned {$row[1]} for $i");
            $p = (int) $row[0];
        }
        $out['statements']++;
        $out['ports'][$p] = true;
        fwrite(STDOUT, "p$p\n");
    }
    $out['connection_id_after'] = (int) $pdo->query('SELECT CONNECTION_ID()')->fetchColumn();
} catch (Throwable $e) {
    $out['error'] = get_class($e) . ': ' . $e->getMessage();
}
$out['ports'] = array_map('intval', array_keys($out['ports']));
fwrite(STDOUT, json_encode($out) . "\n");
