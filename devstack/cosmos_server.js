// Cosmos DB-compatible server for the local stack (never deployed).
// Usage: node devstack/cosmos_server.js --port PORT --host HOST --cert CERT --key KEY
//        [--latency-ms N] [--aad-key PEM --aad-issuer ISS --aad-audience A,B]
// Faults: GET|POST|DELETE /_devstack/faults (see cosmos_faults.js); request counters:
// GET|DELETE /_devstack/stats (cosmos_stats.js).
// Prints one JSON line {"event":"ready",...} when listening. State lives in memory only:
// a restart of this process starts with an empty account (the stack says so).
"use strict";
const fs = require("fs");
const stream = require("stream");
// Transactional batches: the package routes them to its own handler, which applies each
// operation as it goes (not all or nothing) and ignores the partition key header. Ours
// (cosmos_batch.js) takes its place before the package builds its route table.
require("@vercel/cosmosdb-server/lib/handler/batch-documents").default = require("./cosmos_batch").handleBatch;
const { createHttpsServer } = require("@vercel/cosmosdb-server");
// Queries read what their equality filters match, as Cosmos DB's indexes do (cosmos_index.js).
require("./cosmos_index").install();

function parseArgs(argv) {
  const args = { port: 0, host: "127.0.0.1" };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, "");
    args[name] = argv[i + 1];
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
if (!args.cert || !args.key) {
  process.stderr.write("cosmos_server: --cert and --key are required\n");
  process.exit(2);
}
// keepAlive: without it the server closes every connection and each request pays a TLS handshake.
const server = createHttpsServer({
  keepAlive: true,
  cert: fs.readFileSync(args.cert),
  key: fs.readFileSync(args.key),
});
server.keepAliveTimeout = 60000;
// Responses (a batch's echoes every document: up to 2 MB) must fit in a socket's write buffer:
// a connection whose buffer is over its high-water mark when the next request comes pauses
// its parser, and Node's HTTP parser on a TLS socket then fails that request (HPE_PAUSED) and
// drops the connection. The default mark is 16 KiB; this process is only this server.
stream.setDefaultHighWaterMark(false, 4 * 1024 * 1024);
// --latency-ms N holds every response N ms, as a network round trip to a real account would
// (benchmarks compare sequential and concurrent writers under it).
const latency = Number(args["latency-ms"] || 0);
if (latency > 0) {
  server.prependListener("request", (req, res) => {
    const end = res.end.bind(res);
    res.end = (...rest) => {
      setTimeout(() => end(...rest), latency);
      return res;
    };
  });
}
// --aad-key PEM: Entra ID tokens only (see cosmos_auth.js); installed last, it sees every request.
if (args["aad-key"]) {
  require("./cosmos_auth").requireAad(server, {
    keyFile: args["aad-key"],
    issuer: args["aad-issuer"],
    audiences: String(args["aad-audience"] || "").split(","),
  });
}
// Injected faults (cosmos_faults.js) wrap everything, authentication included: a rule fires
// whatever the request's credentials.
require("./cosmos_faults").installFaults(server);
server.listen(Number(args.port), args.host, () => {
  const { port } = server.address();
  process.stdout.write(
    JSON.stringify({ event: "ready", service: "cosmos", url: `https://${args.host}:${port}/`, persistence: "memory" }) + "\n",
  );
});
function stop() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
