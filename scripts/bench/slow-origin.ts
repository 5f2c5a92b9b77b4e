/**
 * The coalescing benchmark's origin: a read endpoint that takes 20-50 ms (a database behind it,
 * say) and counts every request it serves. `node scripts/bench/slow-origin.ts <port>`; GET
 * /__hits answers the count so far.
 */
import { createServer } from "node:http";

const port = Number(process.argv[2]);
let hits = 0;
const server = createServer((req, res) => {
  if (req.url === "/__hits") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ hits }));
    return;
  }
  hits++;
  const body = JSON.stringify({ path: req.url, hit: hits, items: Array.from({ length: 8 }, (_, i) => ({ id: i, name: `item-${i}` })) });
  setTimeout(
    () => {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=1" });
      res.end(body);
    },
    20 + Math.floor(Math.random() * 31),
  );
});
server.keepAliveTimeout = 65_000;
server.listen(port, "127.0.0.1");
