// Injected faults for the Cosmos DB-compatible server: the rule format of devstack/faultrules.py
// (kinds throttle, error, latency, timeout, drop, reject, garbage; `operation` a glob over
// "METHOD /path", `caller` a glob over the User-Agent), set through the loopback-only admin
// endpoint GET|POST|DELETE /_devstack/faults. Throttling answers 429 with x-ms-retry-after-ms
// as Cosmos DB does; drop lets the request take effect and cuts the connection instead of
// answering; timeout holds the request, then cuts the connection without applying it.
"use strict";

const KINDS = ["throttle", "error", "latency", "timeout", "drop", "reject", "garbage"];
const ADMIN = "/_devstack/faults";
const { makeStats } = require("./cosmos_stats");

// fnmatch-style glob: * any run of characters, ? one character.
function globMatch(pattern, text) {
  if (pattern === "*") return true;
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "s").test(text);
}

function makeRule(spec, id) {
  const rule = {
    kind: spec.kind, operation: "*", caller: "*", count: null, probability: 1.0, status: 0,
    retry_after: 1, latency_ms: 200, after_ms: 200, id, fired: 0,
  };
  for (const [name, value] of Object.entries(spec)) {
    if (!(name in rule)) throw new Error(`unknown fault field: ${name}`);
    rule[name] = value;
  }
  if (!KINDS.includes(rule.kind)) throw new Error(`unknown fault kind ${rule.kind}; one of ${KINDS.join(", ")}`);
  if (rule.kind === "error") rule.status = rule.status || 503;
  if (rule.kind === "reject") rule.status = rule.status || 400;
  if (rule.kind === "error" && (rule.status < 500 || rule.status > 599)) throw new Error("an error fault needs a 5xx status");
  if (rule.kind === "reject" && (rule.status < 400 || rule.status > 499 || rule.status === 429)) {
    throw new Error("a reject fault needs a 4xx status other than 429 (throttle)");
  }
  return rule;
}

function draw(rules, kind, operation, caller) {
  for (const rule of rules) {
    if (rule.kind !== kind || !globMatch(rule.operation, operation)) continue;
    if (rule.caller !== "*" && !globMatch(rule.caller, caller)) continue;
    if (rule.count !== null && rule.fired >= rule.count) continue;
    if (rule.probability < 1 && Math.random() >= rule.probability) continue;
    rule.fired += 1;
    return rule;
  }
  return null;
}

function sendJson(res, status, body, headers = {}) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

function admin(state, req, res) {
  const local = ["127.0.0.1", "::1", "::ffff:127.0.0.1"].includes(req.socket.remoteAddress);
  if (!local) return sendJson(res, 403, { error: "admin endpoints answer loopback clients only" });
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    if (req.method === "GET") return sendJson(res, 200, { faults: state.rules, recent: state.recent });
    if (req.method === "DELETE") {
      state.rules = [];
      return sendJson(res, 200, { faults: [] });
    }
    if (req.method !== "POST") return sendJson(res, 405, { error: `${req.method} is not allowed here` });
    try {
      const rule = makeRule(JSON.parse(Buffer.concat(chunks).toString() || "{}"), state.nextId++);
      state.rules.push(rule);
      return sendJson(res, 201, rule);
    } catch (e) {
      return sendJson(res, 400, { error: String(e.message || e) });
    }
  });
}

function cut(res) {
  res.socket && res.socket.destroy();
}

// The answer of a fault that fires before the work, or null to serve the request.
function before(rules, operation, caller, req, res) {
  const rule = ["timeout", "throttle", "error", "reject", "garbage"]
    .map((kind) => draw(rules, kind, operation, caller))
    .find((r) => r !== null);
  if (!rule) return false;
  req.resume();
  if (rule.kind === "timeout") setTimeout(() => cut(res), rule.latency_ms);
  else if (rule.kind === "throttle") {
    const ms = rule.retry_after * 1000;
    sendJson(res, 429, { code: "TooManyRequests", message: "Request rate is large (injected)." },
      { "x-ms-retry-after-ms": String(ms), "x-ms-substatus": "3200" });
  } else if (rule.kind === "error") {
    sendJson(res, rule.status, { code: "ServiceUnavailable", message: "An injected server error." });
  } else if (rule.kind === "reject") {
    const code = rule.status === 409 ? "Conflict" : rule.status === 412 ? "PreconditionFailed" : "BadRequest";
    sendJson(res, rule.status, { code, message: "Refused by an injected fault." });
  } else {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end("<html>not json");
  }
  return true;
}

// Wrap the server's request listeners (install it after all of them are registered).
function installFaults(server) {
  // recent: the last requests' operation and caller, to write rules against.
  const state = { rules: [], nextId: 1, recent: [] };
  // Requests counted per kind, resource, container and caller (cosmos_stats.js).
  const stats = makeStats();
  const listeners = server.listeners("request");
  server.removeAllListeners("request");
  const serve = (req, res) => {
    for (const listener of listeners) listener.call(server, req, res);
  };
  server.on("request", (req, res) => {
    const path = req.url.split("?")[0];
    if (path === ADMIN || path === `${ADMIN}/`) return admin(state, req, res);
    if (stats.handle(req, res, path)) return;
    const operation = `${req.method} ${path}`;
    const caller = String(req.headers["user-agent"] || "");
    stats.count(req, path, caller);
    state.recent = [...state.recent.slice(-19), { operation, caller }];
    if (state.rules.length === 0) return serve(req, res);
    const go = () => {
      if (before(state.rules, operation, caller, req, res)) return;
      if (draw(state.rules, "drop", operation, caller)) {
        // Applied, but the answer never leaves: the connection is cut instead.
        res.writeHead = () => res;
        res.write = () => true;
        res.end = () => {
          cut(res);
          return res;
        };
      }
      serve(req, res);
    };
    const delay = draw(state.rules, "latency", operation, caller);
    // The body stays buffered in the request (no listener reads it yet) while it is held.
    if (delay) setTimeout(go, delay.latency_ms);
    else go();
  });
}

module.exports = { installFaults };
