// Microsoft Entra ID authorization for the local Cosmos DB-compatible server, which itself
// checks no Authorization header at all. With --aad-key the server behaves as an account with
// `disableLocalAuth: true`: only `type=aad&ver=1.0&sig=<jwt>` is accepted, the token verified
// (RS256 signature against the local identity endpoint's public key, issuer, audience,
// lifetime); a master key or a bad token gets 401 with Cosmos DB's error body.
// GET /_devstack/auth counts authorizations by scheme, accepted or refused.
"use strict";
const crypto = require("crypto");
const fs = require("fs");

const CLOCK_SKEW_SECONDS = 300;

function verifyToken(token, opts, nowSeconds) {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("The AAD token is not a JWT.");
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  } catch (err) {
    throw new Error(`The AAD token is malformed: ${err.message}`);
  }
  if (!header || header.alg !== "RS256") throw new Error("The AAD token is not signed with RS256.");
  const signed = crypto.verify(
    "RSA-SHA256",
    Buffer.from(`${parts[0]}.${parts[1]}`),
    opts.publicKey,
    Buffer.from(parts[2], "base64url"),
  );
  if (!signed) throw new Error("The AAD token signature is invalid.");
  if (claims.iss !== opts.issuer) throw new Error(`The AAD token issuer '${claims.iss}' is not trusted.`);
  const audience = String(claims.aud || "").replace(/\/+$/, "");
  if (!opts.audiences.includes(audience)) throw new Error(`The AAD token audience '${claims.aud}' is invalid.`);
  if (typeof claims.exp !== "number" || nowSeconds > claims.exp + CLOCK_SKEW_SECONDS) {
    throw new Error("The AAD token is expired.");
  }
  if (typeof claims.nbf === "number" && nowSeconds + CLOCK_SKEW_SECONDS < claims.nbf) {
    throw new Error("The AAD token is not yet valid.");
  }
  return claims;
}

// Returns [scheme, null] when the request may go on, [scheme, reason] otherwise.
function authorize(headerValue, opts) {
  let text = headerValue || "";
  try {
    text = decodeURIComponent(text);
  } catch (_) {
    // a header that is not URL-encoded is read as it is
  }
  const fields = new URLSearchParams(text);
  const scheme = fields.get("type") || "none";
  if (scheme !== "aad") {
    return [scheme, "Local Authorization is disabled. Use an AAD token to authorize all requests."];
  }
  try {
    verifyToken(fields.get("sig") || "", opts, Math.floor(Date.now() / 1000));
    return [scheme, null];
  } catch (err) {
    return [scheme, err.message];
  }
}

// Wrap the server's request listeners (install it after all of them are registered).
function requireAad(server, { keyFile, issuer, audiences }) {
  const opts = {
    publicKey: crypto.createPublicKey(fs.readFileSync(keyFile)),
    issuer,
    audiences: audiences.map((a) => a.replace(/\/+$/, "")),
  };
  const counts = {};
  const count = (name) => {
    counts[name] = (counts[name] || 0) + 1;
  };
  const listeners = server.listeners("request");
  server.removeAllListeners("request");
  server.on("request", (req, res) => {
    if (req.method === "GET" && req.url === "/_devstack/auth") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ authentication: counts }));
      return;
    }
    const [scheme, reason] = authorize(req.headers.authorization, opts);
    if (reason === null) {
      count(`${scheme} accepted`);
      for (const listener of listeners) listener.call(server, req, res);
      return;
    }
    count(`${scheme} refused`);
    req.resume();
    res.statusCode = 401;
    res.setHeader("content-type", "application/json");
    res.setHeader("x-ms-activity-id", crypto.randomUUID());
    res.end(JSON.stringify({ code: "Unauthorized", message: reason }));
  });
}

module.exports = { requireAad, verifyToken };
