// A WebSocket server nobody here wrote (Node's `ws`): echoes every message, same frame type,
// and answers {"type":"ping"} with {"type":"pong"}. Prints its port, stops on stdin EOF.
import { WebSocketServer } from "ws";

const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
wss.on("listening", () => console.log(`port ${wss.address().port}`));
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});
process.stdin.on("end", () => { wss.close(); process.exit(0); });
process.stdin.resume();
