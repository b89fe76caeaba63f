<?php
// LOAD DATA LOCAL INFILE inside a multi-statement batch through mysqli (multi_query), with the
// client's local infile off or on. Prints one JSON line per result of the batch, then the table's
// row count. Run directly against MariaDB and through tenantgate; outputs compared by
// test/integration/proxy-infile-batch.test.ts.
// Usage: php infile-batch.php PORT USER PASSWORD FILE on|off
[$_, $port, $user, $pass, $file, $local] = $argv;
mysqli_report(MYSQLI_REPORT_OFF);
$m = mysqli_init();
$m->options(MYSQLI_OPT_LOCAL_INFILE, $local === 'on');
if (!$m->real_connect('127.0.0.1', $user, $pass, 'test', (int)$port)) { echo json_encode(['connect' => $m->connect_errno]), "\n"; exit(1); }
$m->query('DELETE FROM infile_t');
$sql = "SELECT 1 AS one; LOAD DATA LOCAL INFILE '$file' INTO TABLE infile_t; SELECT 2 AS two";
$ok = $m->multi_query($sql);
$i = 0;
for (;;) {
    if (!$ok) { echo json_encode([$i, 'error' => $m->errno, 'sqlstate' => $m->sqlstate]), "\n"; break; }
    $r = $m->store_result();
    echo json_encode([$i, $r ? $r->fetch_all() : ['affected' => $m->affected_rows]]), "\n";
    if (!$m->more_results()) break;
    $ok = $m->next_result();
    $i++;
}
$r = $m->query('SELECT COUNT(*) FROM infile_t');
echo json_encode(['after' => $r ? $r->fetch_all() : $m->errno]), "\n";
