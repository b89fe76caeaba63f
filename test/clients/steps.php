<?php
/*
 * Runs a JSON list of steps with PHP PDO (pdo_mysql over mysqlnd) and prints what each returned.
 * Same spec as steps.py; a statement step may say "prepared": true to go through a native
 * server-side prepared statement (COM_STMT_PREPARE/EXECUTE, emulation off), else it is a text query.
 * PHP warnings (mysqlnd's "Packets out of order", ...) are recorded with the step that raised them.
 */
$warnings = [];
set_error_handler(function ($no, $str) use (&$warnings) {
    $warnings[] = $str;
    return true;
});

function value($v) {
    return $v === null ? null : (string)$v;
}

function run_stmt($st) {
    $sets = [];
    do {
        if ($st->columnCount() === 0) {
            $sets[] = ['affected' => $st->rowCount()];
        } else {
            $rows = [];
            foreach ($st->fetchAll(PDO::FETCH_NUM) as $row) $rows[] = array_map('value', $row);
            $sets[] = ['rows' => $rows];
        }
    } while ($st->nextRowset());
    return ['sets' => $sets];
}

$spec = json_decode(fgets(STDIN), true);
$conns = [];
$out = [];
foreach ($spec['steps'] as $step) {
    $warnings = [];
    if (isset($step['pause'])) {
        echo 'PAUSE ' . $step['pause'] . "\n";
        fflush(STDOUT);
        fgets(STDIN);
        $out[] = ['paused' => $step['pause']];
        continue;
    }
    $name = $step['conn'];
    try {
        if (!empty($step['open'])) {
            $c = $spec['conns'][$name];
            $dsn = "mysql:host={$c['host']};port={$c['port']}" . (isset($c['db']) ? ";dbname={$c['db']}" : '');
            $conns[$name] = new PDO($dsn, $c['user'], $c['password'], [
                PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
                PDO::ATTR_EMULATE_PREPARES => true,
                PDO::ATTR_TIMEOUT => 10,
                PDO::MYSQL_ATTR_MULTI_STATEMENTS => !empty($c['multi']),
            ]);
            $r = ['opened' => $name];
        } elseif (!empty($step['close'])) {
            // Statements keep their PDO alive: drop them too, or the connection stays open.
            $st = null;
            $conns[$name] = null;
            unset($conns[$name]);
            $r = ['closed' => $name];
        } elseif (!empty($step['prepared'])) {
            $st = $conns[$name]->prepare($step['sql'], [PDO::ATTR_EMULATE_PREPARES => false]);
            $st->execute();
            $r = run_stmt($st);
        } else {
            $r = run_stmt($conns[$name]->query($step['sql']));
        }
    } catch (Throwable $e) {
        $info = $e instanceof PDOException ? $e->errorInfo : null;
        $r = ['error' => [
            'type' => get_class($e),
            'errno' => is_array($info) && isset($info[1]) ? (int)$info[1] : null,
            'sqlstate' => is_array($info) && isset($info[0]) ? $info[0] : null,
            'message' => $e->getMessage(),
        ]];
    }
    $st = null;
    if ($warnings) $r['warnings'] = $warnings;
    $out[] = $r;
}
echo 'RESULT ' . json_encode($out) . "\n";
