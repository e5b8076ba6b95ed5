// The Node baseline of bench/bench_fanout.py: the same room protocol subset the benchmark's
// clients use (join_room with an ack, broadcast to every other member), on the `ws` package.
// Prints "PORT n" once listening on 127.0.0.1; exits when stdin closes.
import { randomBytes } from "node:crypto";
import { WebSocketServer } from "ws";

const rooms = new Map(); // room name -> Set of sockets

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });

wss.on("connection", (ws) => {
  const id = randomBytes(6).toString("hex");
  const joined = new Set();
  ws.send(JSON.stringify({ type: "connected", clientId: id, timestamp: Date.now() }));
  ws.on("message", (data, isBinary) => {
    let msg;
    try {
      msg = JSON.parse(isBinary ? data.toString() : data.toString("utf8"));
    } catch {
      ws.send(JSON.stringify({ type: "error", message: "Invalid message format" }));
      return;
    }
    if (msg === null || typeof msg !== "object" || typeof msg.type !== "string") return;
    if (msg.type === "join_room" && typeof msg.room === "string") {
      let members = rooms.get(msg.room);
      if (!members) rooms.set(msg.room, (members = new Set()));
      members.add(ws);
      joined.add(msg.room);
      if (msg.requestId !== undefined) {
        ws.send(JSON.stringify({ type: "ack", requestId: msg.requestId }));
      }
    } else if (msg.type === "broadcast" && joined.has(msg.room)) {
      const out = JSON.stringify({
        type: "broadcast", room: msg.room, data: msg.data, from: id, timestamp: Date.now(),
      });
      for (const other of rooms.get(msg.room)) {
        if (other !== ws && other.readyState === 1) other.send(out);
      }
    }
  });
  ws.on("close", () => {
    for (const room of joined) rooms.get(room)?.delete(ws);
  });
  ws.on("error", () => {});
});

wss.on("listening", () => {
  process.stdout.write(`PORT ${wss.address().port}\n`);
});

process.stdin.on("data", () => {});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
