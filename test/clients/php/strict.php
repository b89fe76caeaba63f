<?php
// Strict-client differential script: run directly against MariaDB and through tenantgate, outputs
// compared by test/integration/strict-clients.test.ts. Prints one JSON line per step; prints nothing
// that differs legitimately between the two (connection ids, user names, server statistics).
// Usage: php strict.php pdo-emulated|pdo-native|mysqli PORT USER PASSWORD
[$_, $mode, $port, $user, $pass] = $argv;
$port = (int)$port;
mysqli_report(MYSQLI_REPORT_OFF);

function out(string $label, $v): void { echo $label, ': ', json_encode($v, JSON_UNESCAPED_UNICODE), "\n"; }

if ($mode === 'pdo-emulated' || $mode === 'pdo-native') {
    $pdo = new PDO("mysql:host=127.0.0.1;port=$port;dbname=test;charset=utf8mb4", $user, $pass, [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_EMULATE_PREPARES => $mode === 'pdo-emulated',
    ]);
    $step = function (string $label, callable $fn): void {
        try { out($label, $fn()); } catch (PDOException $e) { out($label, ['error' => $e->errorInfo ?? $e->getMessage()]); }
    };
    $step('drop', fn() => $pdo->exec('DROP TABLE IF EXISTS php_t'));
    $step('create', fn() => $pdo->exec('CREATE TABLE php_t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT, s VARCHAR(20))'));
    $step('exec multi-row INSERT (OK info)', fn() => $pdo->exec("INSERT INTO php_t (v, s) VALUES (1,'a'),(2,'b'),(3,'c')"));
    $step('exec UPDATE (OK info)', fn() => $pdo->exec('UPDATE php_t SET v = v + 1'));
    $step('exec REPLACE (OK info)', fn() => $pdo->exec("REPLACE INTO php_t (id, v, s) VALUES (1, 9, 'z'), (10, 10, 'j')"));
    $step('exec ALTER TABLE (OK info)', fn() => $pdo->exec('ALTER TABLE php_t ADD COLUMN w INT'));
    $step('negative auto-increment id', function () use ($pdo) { $pdo->exec('INSERT INTO php_t (id, v) VALUES (-999, 0)'); return $pdo->lastInsertId(); });
    $step('select', fn() => $pdo->query('SELECT * FROM php_t ORDER BY id')->fetchAll(PDO::FETCH_ASSOC));
    $step('prepared select', function () use ($pdo) { $st = $pdo->prepare('SELECT id, s FROM php_t WHERE v > ? ORDER BY id'); $st->execute([2]); return $st->fetchAll(PDO::FETCH_NUM); });
    $step('prepared insert x5', function () use ($pdo) {
        $st = $pdo->prepare('INSERT INTO php_t (v, s) VALUES (?, ?)');
        $n = 0;
        for ($i = 0; $i < 5; $i++) { $st->execute([$i, "p$i"]); $n += $st->rowCount(); }
        return [$n, $pdo->lastInsertId()];
    });
    $step('prepared UPDATE rowCount', function () use ($pdo) { $st = $pdo->prepare('UPDATE php_t SET w = ? WHERE v < ?'); $st->execute([7, 3]); return $st->rowCount(); });
    $step('warning then SHOW WARNINGS', function () use ($pdo) { $pdo->query('SELECT 1/0')->fetchAll(); return $pdo->query('SHOW WARNINGS')->fetchAll(PDO::FETCH_ASSOC); });
    $step('warning then @@warning_count', function () use ($pdo) { $pdo->query('SELECT 1/0')->fetchAll(); return $pdo->query('SELECT @@warning_count')->fetchAll(PDO::FETCH_NUM); });
    $step('SHOW COUNT(*) WARNINGS', function () use ($pdo) { $pdo->query('SELECT 1/0')->fetchAll(); return $pdo->query('SHOW COUNT(*) WARNINGS')->fetchAll(PDO::FETCH_NUM); });
    $step('error', fn() => $pdo->query('SELECT * FROM no_such_table'));
    $step('SHOW ERRORS after error', fn() => $pdo->query('SHOW ERRORS')->fetchAll(PDO::FETCH_NUM));
    $step('after error', fn() => $pdo->query('SELECT 1 AS one')->fetchAll(PDO::FETCH_ASSOC));
    $step('transaction rollback', function () use ($pdo) {
        $pdo->beginTransaction();
        $pdo->exec('INSERT INTO php_t (v) VALUES (100)');
        $in = $pdo->inTransaction();
        $pdo->rollBack();
        return [$in, $pdo->query('SELECT COUNT(*) FROM php_t WHERE v = 100')->fetchColumn()];
    });
    $step('transaction commit', function () use ($pdo) {
        $pdo->beginTransaction();
        $st = $pdo->prepare('INSERT INTO php_t (v) VALUES (?)');
        $st->execute([101]);
        $pdo->commit();
        return $pdo->query('SELECT COUNT(*) FROM php_t WHERE v = 101')->fetchColumn();
    });
    $step('multi-statement results', function () use ($pdo) {
        $st = $pdo->query('SELECT 1 AS a; SELECT 2 AS b, 3 AS c');
        $sets = [];
        do { $sets[] = $st->fetchAll(PDO::FETCH_ASSOC); } while ($st->nextRowset());
        return $sets;
    });
    $step('procedure', fn() => [$pdo->exec('DROP PROCEDURE IF EXISTS php_p'), $pdo->exec('CREATE PROCEDURE php_p(IN x INT) BEGIN SELECT x AS a; SELECT x + 1 AS b; END')]);
    $step('CALL with two result sets', function () use ($pdo) {
        $st = $pdo->prepare('CALL php_p(?)');
        $st->execute([5]);
        $sets = [];
        do { try { $sets[] = $st->fetchAll(PDO::FETCH_ASSOC); } catch (PDOException $e) { $sets[] = 'no rows'; } } while ($st->nextRowset());
        return $sets;
    });
    $step('compound statement', fn() => $pdo->query('BEGIN NOT ATOMIC DECLARE x INT DEFAULT 4; SELECT x AS x_value; END')->fetchAll(PDO::FETCH_ASSOC));
    $step('50 x prepare+execute+close', function () use ($pdo) {
        $sum = 0;
        for ($i = 0; $i < 50; $i++) { $st = $pdo->prepare("SELECT $i AS n WHERE 1 = ?"); $st->execute([1]); $sum += (int)$st->fetchColumn(); $st = null; }
        return $sum;
    });
    $step('BIGINT UNSIGNED id', function () use ($pdo) {
        $pdo->exec('DROP TABLE IF EXISTS php_u');
        $pdo->exec('CREATE TABLE php_u (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY)');
        $pdo->exec('INSERT INTO php_u VALUES (18446744073709551614)');
        return $pdo->lastInsertId();
    });
    $step('cleanup', fn() => [$pdo->exec('DROP TABLE php_t'), $pdo->exec('DROP TABLE php_u'), $pdo->exec('DROP PROCEDURE php_p')]);
    exit(0);
}

if ($mode === 'mysqli') {
    $m = new mysqli('127.0.0.1', $user, $pass, 'test', $port);
    if ($m->connect_errno) { out('connect', [$m->connect_errno, $m->connect_error]); exit(1); }
    $res = function ($r) use ($m) {
        if ($r === false) return ['errno' => $m->errno, 'sqlstate' => $m->sqlstate, 'error' => $m->error];
        if ($r === true) return ['affected' => $m->affected_rows, 'insert_id' => $m->insert_id, 'info' => $m->info, 'warnings' => $m->warning_count];
        return $r->fetch_all(MYSQLI_ASSOC);
    };
    $q = fn(string $sql) => $res($m->query($sql));
    out('drop', $q('DROP TABLE IF EXISTS mi_t'));
    out('create', $q('CREATE TABLE mi_t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)'));
    out('multi-row INSERT info', $q('INSERT INTO mi_t (v) VALUES (1),(2),(3)'));
    out('UPDATE info', $q('UPDATE mi_t SET v = v + 1'));
    out('INSERT ... SELECT info', $q('INSERT INTO mi_t (v) SELECT v FROM mi_t'));
    out('ALTER TABLE info', $q('ALTER TABLE mi_t ADD COLUMN w INT'));
    out('negative id', $q('INSERT INTO mi_t (id, v) VALUES (-999, 0)'));
    out('select', $q('SELECT * FROM mi_t ORDER BY id'));
    out('warning', $q('SELECT 1/0 AS d'));
    $w = $m->get_warnings();
    $ws = [];
    if ($w) do { $ws[] = [$w->errno, $w->sqlstate, $w->message]; } while ($w->next());
    out('get_warnings', $ws);
    out('@@warning_count', $q('SELECT @@warning_count'));
    out('SHOW COUNT(*) WARNINGS', $q('SHOW COUNT(*) WARNINGS'));
    out('error', $q('SELECT * FROM no_such_table'));
    out('SHOW ERRORS', $q('SHOW ERRORS'));
    out('multi_query', (function () use ($m) {
        $sets = [];
        if (!$m->multi_query('SELECT 1 AS a; UPDATE mi_t SET w = 1; SELECT 2 AS b')) return [$m->errno, $m->error];
        do {
            $r = $m->store_result();
            $sets[] = $r ? $r->fetch_all(MYSQLI_ASSOC) : ['affected' => $m->affected_rows, 'info' => $m->info];
        } while ($m->more_results() && $m->next_result());
        return $sets;
    })());
    out('prepared', (function () use ($m) {
        $st = $m->prepare('SELECT id, v FROM mi_t WHERE v > ? ORDER BY id');
        $min = 2;
        $st->bind_param('i', $min);
        $st->execute();
        $rows = $st->get_result()->fetch_all(MYSQLI_NUM);
        $st->close();
        return $rows;
    })());
    out('prepared insert', (function () use ($m) {
        $st = $m->prepare('INSERT INTO mi_t (v) VALUES (?)');
        $v = 42;
        $st->bind_param('i', $v);
        $st->execute();
        $r = [$st->affected_rows, $st->insert_id > 0];
        $st->close();
        return $r;
    })());
    out('prepare error', (function () use ($m) { $st = $m->prepare('SELECT * FROM no_such_table'); return $st ? 'prepared' : [$m->errno, $m->sqlstate, $m->error]; })());
    out('compound statement', (function () use ($m) {
        // a compound statement answers a result set and then an OK: both must be read
        $sets = [];
        if (!$m->multi_query('BEGIN NOT ATOMIC DECLARE x INT DEFAULT 3; SELECT x AS x_value; END')) return [$m->errno, $m->error];
        do {
            $r = $m->store_result();
            $sets[] = $r ? $r->fetch_all(MYSQLI_ASSOC) : ['affected' => $m->affected_rows];
        } while ($m->more_results() && $m->next_result());
        return $sets;
    })());
    out('transaction', (function () use ($m, $q) {
        $m->begin_transaction();
        $q('INSERT INTO mi_t (v) VALUES (500)');
        $m->rollback();
        return $q('SELECT COUNT(*) AS n FROM mi_t WHERE v = 500');
    })());
    out('ping', $m->ping());
    out('select_db', $m->select_db('test'));
    out('change_user', [$m->change_user($user, $pass, 'test'), $q('SELECT DATABASE() AS db, @@autocommit AS ac')]);
    out('cleanup', $q('DROP TABLE mi_t'));
    exit(0);
}
fwrite(STDERR, "unknown mode $mode\n");
exit(2);
