// Request counters for the Cosmos DB-compatible server (benchmarks count the app's ledger
// writes): every request counted by its kind (query, batch or the HTTP method), the type of
// resource it names (docs, colls, ...), its container and its caller (the User-Agent), through
// the loopback-only admin endpoint GET (the counts) | DELETE (reset) /_devstack/stats.
"use strict";

const ADMIN = "/_devstack/stats";

function trueHeader(req, name) {
  return String(req.headers[name] || "").toLowerCase() === "true";
}

// "/dbs/d/colls/runs/docs/x" -> { resource: "docs", collection: "runs" }.
function describe(path) {
  const parts = path.split("/").filter(Boolean);
  const at = parts.indexOf("colls");
  const typed = parts.filter((_, i) => i % 2 === 0);
  return { resource: typed[typed.length - 1] || "", collection: at >= 0 ? parts[at + 1] || "" : "" };
}

function kind(req) {
  if (trueHeader(req, "x-ms-documentdb-isquery") || req.headers["content-type"] === "application/query+json") {
    return "query";
  }
  if (trueHeader(req, "x-ms-cosmos-is-batch-request")) return "batch";
  return req.method;
}

function makeStats() {
  const counts = new Map();
  return {
    // true when the request was the admin endpoint's (answered here).
    handle(req, res, path) {
      if (path !== ADMIN && path !== `${ADMIN}/`) return false;
      const local = ["127.0.0.1", "::1", "::ffff:127.0.0.1"].includes(req.socket.remoteAddress);
      let status = 200;
      let body;
      if (!local) [status, body] = [403, { error: "admin endpoints answer loopback clients only" }];
      else if (req.method === "DELETE") {
        counts.clear();
        body = { requests: [] };
      } else if (req.method === "GET") body = { requests: [...counts.values()] };
      else [status, body] = [405, { error: `${req.method} is not allowed here` }];
      req.resume();
      const payload = JSON.stringify(body);
      res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) });
      res.end(payload);
      return true;
    },
    count(req, path, caller) {
      const entry = { kind: kind(req), ...describe(path), caller };
      const key = JSON.stringify(entry);
      const found = counts.get(key) || { ...entry, count: 0 };
      found.count += 1;
      counts.set(key, found);
    },
  };
}

module.exports = { makeStats };
