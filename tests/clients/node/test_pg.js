// node-postgres (`pg`) against contextdb: parameterized queries (Parse/Bind/Describe/Execute/Sync
// in one write), named prepared statements, graph and vector queries, an error with its SQLSTATE,
// a transaction, and cancelling a running pg_sleep. Run by run-client through run-node.
'use strict';
const assert = require('assert');
const net = require('net');
const { Client } = require('pg');

// A CancelRequest on a new socket, as pg's own Client#cancel sends it: Int32 16, Int32 80877102,
// then the backend key from BackendKeyData.
function sendCancel(pid, secret) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(process.env.PGPORT), process.env.PGHOST, () => {
      const buf = Buffer.alloc(16);
      buf.writeInt32BE(16, 0);
      buf.writeInt32BE(80877102, 4);
      buf.writeInt32BE(pid, 8);
      buf.writeInt32BE(secret, 12);
      sock.end(buf);
    });
    sock.on('close', resolve);
    sock.on('error', reject);
  });
}

async function main() {
  const client = new Client(); // PGHOST / PGPORT / PGUSER / PGDATABASE from the environment
  await client.connect();
  for (let i = 1; i <= 8; i++) {
    await client.query('INSERT INTO nodes (id, label, props) VALUES ($1, $2, $3)',
                       [i, `L${i}`, { rank: i }]);
    await client.query('INSERT INTO vectors (id, embedding) VALUES ($1, $2)', [i, `[${i},1,0,0]`]);
  }
  for (const [src, dst] of [[1, 2], [2, 3], [3, 4], [1, 5]]) {
    await client.query('INSERT INTO edges (src, dst, kind, weight) VALUES ($1, $2, $3, $4)',
                       [src, dst, 'links', 0.5]);
  }
  let r = await client.query('SELECT id, label, props FROM nodes WHERE id = $1', [3]);
  assert.deepStrictEqual(r.rows, [{ id: '3', label: 'L3', props: { rank: 3 } }]);
  r = await client.query({ name: 'by-id', text: 'SELECT label FROM nodes WHERE id = $1', values: [4] });
  assert.strictEqual(r.rows[0].label, 'L4');
  r = await client.query({ name: 'by-id', text: 'SELECT label FROM nodes WHERE id = $1', values: [5] });
  assert.strictEqual(r.rows[0].label, 'L5');
  r = await client.query('SELECT src, dst, kind, weight FROM edges WHERE src = $1 ORDER BY dst', [1]);
  assert.deepStrictEqual(r.rows.map((x) => x.dst), ['2', '5']);
  assert.strictEqual(r.rows[0].weight, 0.5);
  r = await client.query('SELECT embedding FROM vectors WHERE id = $1', [2]);
  assert.strictEqual(r.rows[0].embedding, '[2,1,0,0]');
  console.log('ok params');

  r = await client.query('SELECT * FROM similar($1, $2)', [1, 5]);
  assert.strictEqual(r.rows.length, 5);
  r = await client.query('SELECT id, depth FROM neighbors($1, $2) ORDER BY id', [1, 2]);
  assert.deepStrictEqual(r.rows.map((x) => [x.id, x.depth]), [['2', 1], ['3', 2], ['5', 1]]);
  r = await client.query('SELECT id FROM vectors ORDER BY embedding <-> $1 LIMIT 2', ['[3,1,0,0]']);
  assert.strictEqual(r.rows.length, 2);
  console.log('ok graph and vector queries');

  await assert.rejects(client.query('INSERT INTO nodes (id, label) VALUES ($1, $2)', [1, 'dup']),
                       (e) => e.code === '23505');
  await assert.rejects(client.query('SELECT * FROM nowhere WHERE id = $1', [1]),
                       (e) => e.code === '42P01' && e.position === '15');
  r = await client.query('SELECT 1 AS one');
  assert.strictEqual(r.rows[0].one, 1);
  console.log('ok errors');

  await client.query('BEGIN');
  await client.query('INSERT INTO nodes (id, label) VALUES ($1, $2)', [100, 'tx']);
  await client.query('ROLLBACK');
  r = await client.query('SELECT count(*) AS n FROM nodes WHERE id = $1', [100]);
  assert.strictEqual(r.rows[0].n, '0');
  await client.query('BEGIN');
  await client.query('INSERT INTO nodes (id, label) VALUES ($1, $2)', [100, 'tx']);
  await client.query('COMMIT');
  r = await client.query('SELECT label FROM nodes WHERE id = $1', [100]);
  assert.strictEqual(r.rows[0].label, 'tx');
  console.log('ok transactions');

  // Cancel: pg sends a CancelRequest on a new connection with the backend key. A cancel that
  // arrives before the statement started (or after it ended) is dropped, as in PostgreSQL, so it
  // is repeated every 300 ms until the query settles. The query's outcome is captured at once:
  // its error may arrive before the cancel socket closes, and an unobserved rejection would end
  // the process. Uncancelled, pg_sleep(20) would succeed.
  let settled = false;
  const sleeping = client.query('SELECT pg_sleep($1)', [20]).then(
    () => { settled = true; return null; },
    (e) => { settled = true; return e; });
  while (!settled) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (!settled) {
      await sendCancel(client.processID, client.secretKey);
    }
  }
  const cancelled = await sleeping;
  assert.ok(cancelled !== null, 'pg_sleep was not cancelled');
  assert.strictEqual(cancelled.code, '57014');
  r = await client.query('SELECT 2 AS two');
  assert.strictEqual(r.rows[0].two, 2);
  console.log('ok cancel');

  await client.end();
  console.log('node-postgres: all passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
