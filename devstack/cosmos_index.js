// Secondary indexes for the local Cosmos DB-compatible server (never deployed).
//
// Cosmos DB indexes every path of every document, so a query filtered on equality (or IN)
// of a property reads only the documents that match it: its cost follows the result, not
// the container. The package scans every document of the container for every query, which
// makes a query over a container with a long history look slow when it is not. This keeps,
// per container, an index of each top-level scalar property (value -> document _rids) and
// runs a query over the documents its WHERE clause can match: the conjuncts and disjuncts of
// `c.p = value`, `c.p IN (values)` and `ARRAY_CONTAINS(@array, c.p)`. The query itself still
// runs unchanged over those documents (with its ORDER BY, TOP and paging), so its answer is
// the same as a scan's; a query with nothing indexable scans, as before.
"use strict";
const Items = require("@vercel/cosmosdb-server/lib/account/items").default;

function isScalar(value) {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

function keyOf(value) {
  return `${value === null ? "null" : typeof value}:${String(value)}`;
}

function fieldIndex(items) {
  if (!items._byProperty) items._byProperty = new Map();
  return items._byProperty;
}

function indexDocument(items, doc, adding) {
  if (!doc || !doc._rid) return;
  const byProperty = fieldIndex(items);
  for (const [name, value] of Object.entries(doc)) {
    if (!isScalar(value)) continue;
    if (!byProperty.has(name)) byProperty.set(name, new Map());
    const values = byProperty.get(name);
    const key = keyOf(value);
    if (adding) {
      if (!values.has(key)) values.set(key, new Set());
      values.get(key).add(doc._rid);
    } else if (values.has(key)) {
      values.get(key).delete(doc._rid);
      if (values.get(key).size === 0) values.delete(key);
    }
  }
}

// The property a member expression `alias.p` (or `alias["p"]`) names; null for anything else.
function propertyOf(node, alias) {
  if (!node || node.type !== "scalar_member_expression") return null;
  if (!node.object || node.object.type !== "identifier" || node.object.name !== alias) return null;
  const property = node.property || {};
  if (!node.computed && property.type === "identifier") return property.name;
  if (node.computed && property.type === "string_constant") return property.value;
  return null;
}

const NO_VALUE = Symbol("no value");

// The value of a constant or parameter node; NO_VALUE for anything else.
function valueOf(node, parameters) {
  if (!node) return NO_VALUE;
  switch (node.type) {
    case "string_constant":
    case "number_constant":
    case "boolean_constant":
      return node.value;
    case "null_constant":
      return null;
    case "parameter_name": {
      const found = parameters.find(p => p.name === node.name);
      return found ? found.value : NO_VALUE;
    }
    default:
      return NO_VALUE;
  }
}

// A set of candidates is a list of sets of _rids (a document is one if any set holds it),
// so that a large side of an AND is looked into, never copied.
function matching(items, property, values) {
  const byValue = fieldIndex(items).get(property) || new Map();
  const sets = [];
  for (const value of values) {
    if (!isScalar(value)) return null; // an object or array value: not indexed
    if (byValue.has(keyOf(value))) sets.push(byValue.get(keyOf(value)));
  }
  return sets;
}

function sizeOf(sets) {
  return sets.reduce((n, s) => n + s.size, 0);
}

function intersect(a, b) {
  const [small, large] = sizeOf(a) <= sizeOf(b) ? [a, b] : [b, a];
  const both = new Set();
  for (const set of small) {
    for (const rid of set) if (large.some(s => s.has(rid))) both.add(rid);
  }
  return [both];
}

// The _rids of the documents `node` can be true for (as a list of sets), or null when it
// cannot tell.
function candidates(items, node, alias, parameters) {
  if (!node) return null;
  if (node.type === "scalar_binary_expression") {
    if (node.operator === "AND") {
      const left = candidates(items, node.left, alias, parameters);
      const right = candidates(items, node.right, alias, parameters);
      if (left === null || right === null) return left || right;
      return intersect(left, right);
    }
    if (node.operator === "OR") {
      const left = candidates(items, node.left, alias, parameters);
      const right = candidates(items, node.right, alias, parameters);
      return left === null || right === null ? null : [...left, ...right];
    }
    if (node.operator === "=") {
      for (const [member, other] of [[node.left, node.right], [node.right, node.left]]) {
        const property = propertyOf(member, alias);
        const value = valueOf(other, parameters);
        if (property !== null && value !== NO_VALUE) return matching(items, property, [value]);
      }
    }
    return null;
  }
  if (node.type === "scalar_in_expression" && !node.not) {
    const property = propertyOf(node.value, alias);
    const values = (node.list || []).map(v => valueOf(v, parameters));
    if (property === null || values.includes(NO_VALUE)) return null;
    return matching(items, property, values);
  }
  if (node.type === "scalar_function_expression" && node.name && node.name.name === "ARRAY_CONTAINS") {
    const [array, member, partial] = node.arguments || [];
    const property = propertyOf(member, alias);
    const values = valueOf(array, parameters);
    if (partial || property === null || !Array.isArray(values)) return null;
    return matching(items, property, values);
  }
  return null;
}

function plan(items, query, parameters) {
  const body = (query.ast || {}).body || {};
  const from = body.from || {};
  if (body.type !== "select_query" || (from.joins || []).length || !body.where) return null;
  const source = from.source || {};
  const expression = (source.expression || {}).expression || {};
  const alias = source.alias ? source.alias.name : expression.name;
  if (!alias) return null;
  return candidates(items, body.where.condition, alias, parameters || []);
}

function install() {
  const set = Items.prototype._set;
  Items.prototype._set = function (data) {
    const stored = set.call(this, data);
    indexDocument(this, stored, true);
    return stored;
  };
  const remove = Items.prototype.delete;
  Items.prototype.delete = function (idOrRid, partition) {
    indexDocument(this, this._item("/id", idOrRid, partition).read(), false);
    return remove.call(this, idOrRid, partition);
  };
  const query = Items.prototype.query;
  Items.prototype.query = function (params, options) {
    if (!this._parent.read()) return null;
    const sets = plan(this, this._getQuery(params.query), params.parameters);
    if (sets === null) return query.call(this, params, options);
    const all = this._data;
    const some = new Map();
    for (const set of sets) for (const rid of set) if (all.has(rid)) some.set(rid, all.get(rid));
    this._data = some; // the package's query, over the documents the index found
    try {
      return query.call(this, params, options);
    } finally {
      this._data = all;
    }
  };
}

module.exports = { install };
