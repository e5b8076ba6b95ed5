// Independent conformance check of PROTOCOL.md, written against the `ws` package rather than our
// own Python client, so that both ends are not wrong in the same way.
//
//   node check_protocol.mjs ws://127.0.0.1:8765 <jwt>
//
// Prints one line per check ("ok - ..." or "FAIL - ...") and exits 0 when all pass, 1 otherwise.
import WebSocket from 'ws';

const [url, token] = process.argv.slice(2);
if (!url || !token) {
  console.error('usage: node check_protocol.mjs URL TOKEN');
  process.exit(2);
}
const base = url.replace(/\/+$/, '');
const WAIT = 3000;
let failures = 0;

setTimeout(() => {
  console.log('FAIL - overall: timed out');
  process.exit(1);
}, 30000).unref();

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok - ${name}`);
  } catch (err) {
    failures += 1;
    console.log(`FAIL - ${name}: ${err && err.message ? err.message : err}`);
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

// A client that queues what it receives so checks can wait for a matching message.
class Client {
  static open(address, options = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(address, options);
      const client = new Client(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    ws.on('message', (data, isBinary) => {
      const item = { data, isBinary, text: isBinary ? null : data.toString('utf8') };
      this.queue.push(item);
      this.flush();
    });
  }

  flush() {
    for (const waiter of [...this.waiters]) {
      const index = this.queue.findIndex(waiter.match);
      if (index >= 0) {
        const [item] = this.queue.splice(index, 1);
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        clearTimeout(waiter.timer);
        waiter.resolve(item);
      }
    }
  }

  nextRaw(match = () => true, what = 'a message') {
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve };
      waiter.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out waiting for ${what}`));
      }, WAIT);
      this.waiters.push(waiter);
      this.flush();
    });
  }

  async next(predicate, what) {
    const item = await this.nextRaw((it) => {
      if (it.isBinary) return false;
      try {
        return predicate(JSON.parse(it.text));
      } catch {
        return false;
      }
    }, what);
    return JSON.parse(item.text);
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  async request(obj) {
    this.send(obj);
    return this.next((m) => m.requestId === obj.requestId, `reply to ${obj.requestId}`);
  }

  close() {
    this.ws.close(1000);
  }
}

function httpStatus(address, options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(address, options);
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => {
      ws.close();
      reject(new Error('the handshake succeeded'));
    });
    ws.once('error', (err) => reject(err));
  });
}

const tokenUrl = (path = '/') => `${base}${path}?token=${encodeURIComponent(token)}`;
let alice;
let bob;
let aliceId;
let bobId;

await check('401 without a token', async () => {
  const status = await httpStatus(`${base}/`);
  assert(status === 401, `got HTTP ${status}`);
});

await check('401 with a bad token', async () => {
  const status = await httpStatus(`${base}/?token=not.a.token`);
  assert(status === 401, `got HTTP ${status}`);
});

await check('404 on an unknown path', async () => {
  const status = await httpStatus(`${base}/nowhere?token=${encodeURIComponent(token)}`);
  assert(status === 404, `got HTTP ${status}`);
});

await check('connect with ?token= and get connected', async () => {
  alice = await Client.open(tokenUrl());
  const hello = await alice.next((m) => m.type === 'connected', 'connected');
  assert(typeof hello.clientId === 'string' && hello.clientId, 'no clientId');
  assert(Number.isInteger(hello.timestamp), 'no timestamp');
  aliceId = hello.clientId;
});

await check('connect with Authorization: Bearer', async () => {
  bob = await Client.open(`${base}/`, { headers: { Authorization: `Bearer ${token}` } });
  const hello = await bob.next((m) => m.type === 'connected', 'connected');
  bobId = hello.clientId;
  assert(bobId && bobId !== aliceId, 'clientId missing or not unique');
});

await check('ping gets pong', async () => {
  alice.send({ type: 'ping' });
  const pong = await alice.next((m) => m.type === 'pong', 'pong');
  assert(Number.isInteger(pong.timestamp), 'pong without timestamp');
});

await check('ping with requestId gets pong with requestId', async () => {
  const reply = await alice.request({ type: 'ping', requestId: 'p1' });
  assert(reply.type === 'pong', `got ${reply.type}`);
});

await check('join_room acks and tells other members', async () => {
  const ack = await alice.request({ type: 'join_room', room: 'conformance', requestId: 'j1' });
  assert(ack.type === 'ack', `got ${ack.type}`);
  const ack2 = await bob.request({ type: 'join_room', room: 'conformance', requestId: 'j2' });
  assert(ack2.type === 'ack', `got ${ack2.type}`);
  const presence = await alice.next((m) => m.type === 'presence', 'presence');
  assert(presence.room === 'conformance' && presence.clientId === bobId, 'wrong presence');
  assert(presence.event === 'join', `event ${presence.event}`);
});

await check('broadcast reaches the other member with from and timestamp', async () => {
  const data = { text: 'hello from bob', n: [1, 2, 3] };
  const ack = await bob.request({ type: 'broadcast', room: 'conformance', data, requestId: 'b1' });
  assert(ack.type === 'ack', `got ${ack.type}`);
  const got = await alice.next((m) => m.type === 'broadcast', 'broadcast');
  assert(got.from === bobId && got.room === 'conformance', 'wrong sender or room');
  assert(JSON.stringify(got.data) === JSON.stringify(data), 'data changed');
  assert(Number.isInteger(got.timestamp), 'no timestamp');
});

await check('broadcast to a room one is not in is an error', async () => {
  const reply = await alice.request({ type: 'broadcast', room: 'elsewhere', data: 1, requestId: 'b2' });
  assert(reply.type === 'error' && reply.error && reply.message, 'no error with error+message');
});

await check('private_message reaches the target', async () => {
  const ack = await alice.request({
    type: 'private_message', targetId: bobId, data: 'psst', requestId: 'pm1',
  });
  assert(ack.type === 'ack', `got ${ack.type}`);
  const got = await bob.next((m) => m.type === 'private_message', 'private_message');
  assert(got.from === aliceId && got.data === 'psst', 'wrong private message');
});

await check('private_message to an unknown target is an error', async () => {
  const reply = await alice.request({ type: 'private_message', targetId: 'nobody', requestId: 'pm2' });
  assert(reply.type === 'error' && typeof reply.error === 'string', `got ${reply.type}`);
});

await check('list_rooms lists the room and its members', async () => {
  const reply = await alice.request({ type: 'list_rooms', requestId: 'lr' });
  assert(reply.type === 'rooms', `got ${reply.type}`);
  const room = reply.rooms.find((r) => r.name === 'conformance');
  assert(room, 'room missing');
  const ids = room.members.map((m) => m.clientId).sort();
  assert(JSON.stringify(ids) === JSON.stringify([aliceId, bobId].sort()), 'members wrong');
});

await check('list_clients lists both clients with their rooms', async () => {
  const reply = await bob.request({ type: 'list_clients', requestId: 'lc' });
  assert(reply.type === 'clients', `got ${reply.type}`);
  const a = reply.clients.find((c) => c.clientId === aliceId);
  assert(a && a.rooms.includes('conformance') && typeof a.name === 'string', 'alice wrong');
});

await check('unknown type is an error (with requestId: error field)', async () => {
  const reply = await alice.request({ type: 'nope', requestId: 'u1' });
  assert(reply.type === 'error' && reply.message === 'Unknown message type: nope', reply.message);
  assert(reply.error === reply.message, 'error field missing');
});

await check('invalid format is an error', async () => {
  alice.send('this is not json');
  const reply = await alice.next((m) => m.type === 'error', 'error');
  assert(reply.message === 'Invalid message format', reply.message);
});

await check('output escapes < > & as \\u escapes', async () => {
  alice.send({ type: '<b>&' });
  const item = await alice.nextRaw((it) => !it.isBinary && it.text.includes('Unknown'), 'error');
  assert(!/[<>&]/.test(item.text), `raw text: ${item.text}`);
  assert(item.text.includes('\\u003cb\\u003e\\u0026'), `raw text: ${item.text}`);
});

await check('leave_room tells the others', async () => {
  const ack = await bob.request({ type: 'leave_room', room: 'conformance', requestId: 'l1' });
  assert(ack.type === 'ack', `got ${ack.type}`);
  const presence = await alice.next((m) => m.type === 'presence' && m.event === 'leave', 'leave');
  assert(presence.clientId === bobId, 'wrong client left');
});

await check('/echo mirrors text and binary frames', async () => {
  const echo = await Client.open(tokenUrl('/echo'));
  try {
    echo.ws.send('hello <echo>');
    const text = await echo.nextRaw(() => true, 'text echo');
    assert(!text.isBinary && text.text === 'hello <echo>', 'text not mirrored');
    echo.ws.send(Buffer.from([0, 1, 2, 255]));
    const bin = await echo.nextRaw(() => true, 'binary echo');
    assert(bin.isBinary && Buffer.compare(bin.data, Buffer.from([0, 1, 2, 255])) === 0, 'binary');
  } finally {
    echo.close();
  }
});

for (const client of [alice, bob]) if (client) client.close();
console.log(failures ? `${failures} check(s) failed` : 'all checks passed');
process.exit(failures ? 1 : 0);
