// Transactional batches for the local Cosmos DB-compatible server (never deployed).
//
// Wire format, as the Azure SDKs send it: POST dbs/{db}/colls/{coll}/docs with
// x-ms-cosmos-is-batch-request: True, x-ms-cosmos-batch-atomic: True and the partition key
// header x-ms-documentdb-partitionkey (a JSON array of one value); the body is a JSON array
// of operations {operationType: Create|Upsert|Replace|Delete|Read|Patch, id, resourceBody,
// ifMatch}. The answer is 200 with one result per operation {statusCode, requestCharge,
// eTag, resourceBody}, or 207 when an operation failed: that one carries its status and
// every other one 424 (failed dependency), and nothing was applied.
//
// All or nothing: every operation is first run against an overlay of the store (reads fall
// through, writes stay in the overlay); only when all of them succeed are they run again
// against the store itself. Node runs the two passes without interleaving other requests.
"use strict";
const { randomUUID } = require("crypto");

// Cosmos DB's limits on one transactional batch.
const MAX_OPERATIONS = 100;
const MAX_REQUEST_BYTES = 2 * 1024 * 1024;
const MAX_PATCH_OPERATIONS = 10;
const PARTITION_HEADER = "x-ms-documentdb-partitionkey";

class BatchRefused extends Error {
  constructor(statusCode, code, message) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let bytes = 0;
    req.on("data", chunk => {
      bytes += chunk.length;
      // Past the limit the rest is drained, not kept.
      if (bytes <= MAX_REQUEST_BYTES) chunks.push(chunk);
    });
    req.on("end", () => resolve(bytes > MAX_REQUEST_BYTES ? null : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function parseOperations(buffer) {
  if (buffer === null) {
    throw new BatchRefused(413, "RequestEntityTooLarge", `Request size is too large (over ${MAX_REQUEST_BYTES} bytes).`);
  }
  let operations;
  try {
    operations = JSON.parse(buffer.toString("utf8"));
  } catch (err) {
    throw new BatchRefused(400, "BadRequest", `Batch body is not JSON: ${err.message}`);
  }
  if (!Array.isArray(operations)) {
    throw new BatchRefused(400, "BadRequest", "Batch body must be a JSON array of operations.");
  }
  if (operations.length === 0) {
    throw new BatchRefused(400, "BadRequest", "Batch request has no operations.");
  }
  if (operations.length > MAX_OPERATIONS) {
    throw new BatchRefused(400, "BadRequest", `Batch request has more operations than the ${MAX_OPERATIONS} supported.`);
  }
  operations.forEach((operation, index) => {
    if (!operation || typeof operation !== "object" || !(operation.operationType in RUNNERS)) {
      const kind = operation && operation.operationType;
      throw new BatchRefused(400, "BadRequest", `Operation ${index}: unsupported operationType ${JSON.stringify(kind)}.`);
    }
  });
  return operations;
}

// The partition key header: ["value"], or [{}] for a document without one.
function partitionFromHeader(req) {
  const raw = req.headers[PARTITION_HEADER];
  let parsed;
  try {
    parsed = JSON.parse(Array.isArray(raw) ? raw[0] : raw);
  } catch (err) {
    parsed = null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 1) {
    throw new BatchRefused(400, "BadRequest", `A batch needs the ${PARTITION_HEADER} header with one value.`);
  }
  const [value] = parsed;
  return value !== null && typeof value === "object" ? undefined : value;
}

function partitionPath(collection) {
  const paths = ((collection.read() || {}).partitionKey || {}).paths || ["/id"];
  return paths[0].slice(1).split("/");
}

function valueAt(path, document) {
  return path.reduce((node, name) => (node !== null && typeof node === "object" ? node[name] : undefined), document);
}

// Views of one logical partition: the store itself, or an overlay on it.
function storeView(collection, partition) {
  return {
    read: id => collection.document(id, partition).read() || null,
    write: document => collection.documents.upsert(document),
    remove: id => collection.documents.delete(id, partition),
  };
}

function overlayView(store) {
  const changed = new Map();
  return {
    read: id => (changed.has(id) ? changed.get(id) : store.read(id)),
    write: document => {
      const stored = { ...document, _etag: randomUUID() };
      changed.set(document.id, stored);
      return stored;
    },
    remove: id => changed.set(id, null),
  };
}

function failed(statusCode, message) {
  return { statusCode, message };
}

function succeeded(statusCode, document) {
  return { statusCode, document };
}

// Each runner returns a failure, or the success and the document it leaves (if any).
function checkedBody(operation, context) {
  const body = operation.resourceBody;
  if (!body || typeof body !== "object" || Array.isArray(body) || typeof body.id !== "string" || body.id === "") {
    return [null, failed(400, "The operation needs a resourceBody with a string id.")];
  }
  if (valueAt(context.path, body) !== context.partition) {
    return [null, failed(400, "PartitionKey extracted from document doesn't match the one specified in the header.")];
  }
  return [body, null];
}

function existing(view, id, operation) {
  const current = typeof id === "string" ? view.read(id) : null;
  if (!current) return [null, failed(404, "Entity with the specified id does not exist in the system.")];
  if (operation.ifMatch && operation.ifMatch !== current._etag) {
    return [null, failed(412, "Operation cannot be performed because one of the specified precondition is not met.")];
  }
  return [current, null];
}

const RUNNERS = {
  Create(view, operation, context) {
    const [body, bad] = checkedBody(operation, context);
    if (bad) return bad;
    if (view.read(body.id)) return failed(409, "Resource with specified id already exists.");
    return succeeded(201, view.write(body));
  },
  Upsert(view, operation, context) {
    const [body, bad] = checkedBody(operation, context);
    if (bad) return bad;
    const current = view.read(body.id);
    if (current && operation.ifMatch && operation.ifMatch !== current._etag) {
      return failed(412, "Operation cannot be performed because one of the specified precondition is not met.");
    }
    return succeeded(current ? 200 : 201, view.write(body));
  },
  Replace(view, operation, context) {
    const [body, bad] = checkedBody(operation, context);
    if (bad) return bad;
    if (operation.id !== undefined && operation.id !== body.id) return failed(400, "Replacing the id is not allowed.");
    const [, missing] = existing(view, body.id, operation);
    if (missing) return missing;
    return succeeded(200, view.write(body));
  },
  Delete(view, operation) {
    const [, missing] = existing(view, operation.id, operation);
    if (missing) return missing;
    view.remove(operation.id);
    return succeeded(204, null);
  },
  Read(view, operation) {
    const [current, missing] = existing(view, operation.id, operation);
    return missing || succeeded(200, current);
  },
  Patch(view, operation, context) {
    const [current, missing] = existing(view, operation.id, operation);
    if (missing) return missing;
    const body = operation.resourceBody || {};
    if (body.condition !== undefined) return failed(400, "Conditional patch is not supported by the local server.");
    let patched;
    try {
      patched = applyPatch(current, body.operations);
    } catch (err) {
      return failed(400, err.message);
    }
    if (valueAt(context.path, patched) !== context.partition) return failed(400, "Patching the partition key is not allowed.");
    return succeeded(200, view.write(patched));
  },
};

function applyPatch(document, operations) {
  if (!Array.isArray(operations) || operations.length === 0 || operations.length > MAX_PATCH_OPERATIONS) {
    throw new Error(`A patch needs 1 to ${MAX_PATCH_OPERATIONS} operations.`);
  }
  const result = JSON.parse(JSON.stringify(document));
  operations.forEach(({ op, path, value }, index) => {
    if (typeof path !== "string" || !path.startsWith("/") || path.startsWith("/_") || path === "/id") {
      throw new Error(`For Operation(${index}): invalid path ${JSON.stringify(path)}.`);
    }
    const names = path.slice(1).split("/").map(s => s.replace(/~1/g, "/").replace(/~0/g, "~"));
    const key = names.pop();
    const parent = valueAt(names, result);
    if (parent === null || typeof parent !== "object") {
      throw new Error(`For Operation(${index}): the parent of ${path} does not exist.`);
    }
    const present = Object.prototype.hasOwnProperty.call(parent, key);
    if (op === "set" || op === "add") {
      if (Array.isArray(parent) && op === "add") parent.splice(key === "-" ? parent.length : Number(key), 0, value);
      else parent[key] = value;
    } else if (op === "replace" || op === "remove") {
      if (!present) throw new Error(`For Operation(${index}): ${path} is absent.`);
      if (op === "replace") parent[key] = value;
      else if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
    } else if (op === "incr") {
      if (typeof value !== "number" || (present && typeof parent[key] !== "number")) {
        throw new Error(`For Operation(${index}): incr needs numbers.`);
      }
      parent[key] = (present ? parent[key] : 0) + value;
    } else {
      throw new Error(`For Operation(${index}): unsupported patch operation ${JSON.stringify(op)}.`);
    }
  });
  return result;
}

function run(view, operations, context) {
  return operations.map(operation => RUNNERS[operation.operationType](view, operation, context));
}

function firstFailure(outcomes) {
  return outcomes.findIndex(outcome => outcome.statusCode >= 400);
}

// Request handler, in the package's handler convention: set res.statusCode, return the body.
async function handleBatch(account, req, res, { dbId, collId }) {
  const buffer = await readBody(req);
  const collection = account.database(dbId).collection(collId);
  try {
    if (!collection.read()) throw new BatchRefused(404, "NotFound", `Collection ${dbId}/${collId} does not exist.`);
    const operations = parseOperations(buffer);
    const context = { partition: partitionFromHeader(req), path: partitionPath(collection) };
    const store = storeView(collection, context.partition);
    // Stops at the first failure: the rest are failed dependencies either way.
    const trial = [];
    const overlay = overlayView(store);
    for (const operation of operations) {
      trial.push(RUNNERS[operation.operationType](overlay, operation, context));
      if (trial[trial.length - 1].statusCode >= 400) break;
    }
    const failedAt = firstFailure(trial);
    if (failedAt >= 0) {
      res.statusCode = 207;
      return operations.map((_, index) =>
        index === failedAt
          ? { statusCode: trial[index].statusCode, requestCharge: 0, message: trial[index].message }
          : { statusCode: 424, requestCharge: 0 },
      );
    }
    res.statusCode = 200;
    return run(store, operations, context).map(({ statusCode, document }) =>
      document
        ? { statusCode, requestCharge: 1, eTag: document._etag, resourceBody: document }
        : { statusCode, requestCharge: 1 },
    );
  } catch (err) {
    if (!(err instanceof BatchRefused)) throw err;
    res.statusCode = err.statusCode;
    return { code: err.code, message: err.message };
  }
}

module.exports = { handleBatch, MAX_OPERATIONS, MAX_REQUEST_BYTES };
