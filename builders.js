// TypeBuilder and ClientRegistry: BAML's run-time types and clients, with the methods of
// @boundaryml/baml's classes. They only record what is asked of them; a call given one
// (`tb` / `clientRegistry` options) loads the project with those additions, validated as
// .baml sources are (errors name the property or client, as `TypeBuilder::add_baml:line:col`
// or `ClientRegistry:line:col`).
'use strict'

// Where each builder keeps its record: a symbol in Node; in the sandbox (which runs this file
// with no `module`) an ordinary property, so that a TypeBuilder passed to `b.F(x, { tb })`
// crosses to Node with its record.
const SPEC = typeof module === 'object' && module !== null ? Symbol('baml-quickjs spec') : '__baml'

function invalid(message) {
  const e = new TypeError(message)
  e.code = 'ERR_INVALID_ARG_VALUE'
  return e
}

function text(value, what) {
  if (typeof value !== 'string') throw invalid(`${what} must be a string, got ${value === null ? 'null' : typeof value}`)
  return value
}

/** A type, as BAML writes it. */
class FieldType {
  constructor(baml, union = false) {
    this._baml = baml
    this._union = union
  }
  /** This type's list: `T[]`. */
  list() {
    return new FieldType(`${this._grouped()}[]`)
  }
  /** This type or null: `T?`. */
  optional() {
    return new FieldType(`${this._grouped()}?`)
  }
  equals(other) {
    return other instanceof FieldType && other._baml === this._baml
  }
  toString() {
    return this._baml
  }
  _grouped() {
    return this._union ? `(${this._baml})` : this._baml
  }
}

function fieldType(t, what) {
  if (!(t instanceof FieldType)) throw invalid(`${what} must be a type made by the TypeBuilder (tb.string(), tb.list(...), ...)`)
  return t
}

class ClassPropertyBuilder {
  constructor(spec) {
    this[SPEC] = spec
  }
  setType(type) {
    this[SPEC].type = fieldType(type, 'setType(type)')._baml
    this[SPEC].fieldType = type
    return this
  }
  getType() {
    return this[SPEC].fieldType ?? null
  }
  alias(alias) {
    this[SPEC].alias = alias == null ? undefined : text(alias, 'alias')
    return this
  }
  description(description) {
    this[SPEC].description = description == null ? undefined : text(description, 'description')
    return this
  }
}

class ClassBuilder {
  constructor(spec) {
    this[SPEC] = spec
  }
  /** The property of this name, added if it is not there yet. */
  property(name) {
    text(name, 'property name')
    let p = this[SPEC].properties.find((x) => x.name === name)
    if (!p) {
      p = { name }
      this[SPEC].properties.push(p)
    }
    return new ClassPropertyBuilder(p)
  }
  addProperty(name, type) {
    if (this[SPEC].properties.some((x) => x.name === name)) throw invalid(`class ${this[SPEC].name} already has a property ${name} in this TypeBuilder`)
    return this.property(name).setType(type)
  }
  removeProperty(name) {
    this[SPEC].properties = this[SPEC].properties.filter((x) => x.name !== name)
  }
  listProperties() {
    return this[SPEC].properties.map((p) => [p.name, new ClassPropertyBuilder(p)])
  }
  reset() {
    this[SPEC].properties = []
  }
  /** This class as a type. */
  type() {
    return new FieldType(this[SPEC].name)
  }
  field() {
    return this.type()
  }
}

class EnumValueBuilder {
  constructor(spec) {
    this[SPEC] = spec
  }
  alias(alias) {
    this[SPEC].alias = alias == null ? undefined : text(alias, 'alias')
    return this
  }
  description(description) {
    this[SPEC].description = description == null ? undefined : text(description, 'description')
    return this
  }
  skip(skip = true) {
    this[SPEC].skip = skip !== false && skip != null
    return this
  }
}

class EnumBuilder {
  constructor(spec) {
    this[SPEC] = spec
  }
  /** The value of this name, added if it is not there yet. */
  value(name) {
    text(name, 'enum value name')
    let v = this[SPEC].values.find((x) => x.name === name)
    if (!v) {
      v = { name }
      this[SPEC].values.push(v)
    }
    return new EnumValueBuilder(v)
  }
  addValue(name) {
    if (this[SPEC].values.some((x) => x.name === name)) throw invalid(`enum ${this[SPEC].name} already has a value ${name} in this TypeBuilder`)
    return this.value(name)
  }
  listValues() {
    return this[SPEC].values.map((v) => [v.name, new EnumValueBuilder(v)])
  }
  alias(alias) {
    this[SPEC].alias = alias == null ? undefined : text(alias, 'alias')
    return this
  }
  type() {
    return new FieldType(this[SPEC].name)
  }
  field() {
    return this.type()
  }
}

/**
 * Types added at run time: properties of `@@dynamic` classes, values of `@@dynamic` enums,
 * and new classes and enums. Pass it as `{ tb }` to `callFunction`, `renderRequest`,
 * `typescriptDeclarations` or a `BamlContext`.
 */
class TypeBuilder {
  constructor() {
    this.reset()
  }
  reset() {
    this[SPEC] = { classes: [], enums: [], baml: [] }
  }
  string() { return new FieldType('string') }
  int() { return new FieldType('int') }
  float() { return new FieldType('float') }
  bool() { return new FieldType('bool') }
  null() { return new FieldType('null') }
  literalString(value) { return new FieldType(JSON.stringify(text(value, 'literalString(value)'))) }
  literalInt(value) {
    if (!Number.isSafeInteger(value)) throw invalid(`literalInt(value) must be an integer, got ${value}`)
    return new FieldType(String(value))
  }
  literalBool(value) {
    if (typeof value !== 'boolean') throw invalid(`literalBool(value) must be a boolean, got ${typeof value}`)
    return new FieldType(String(value))
  }
  list(type) { return fieldType(type, 'list(type)').list() }
  optional(type) { return fieldType(type, 'optional(type)').optional() }
  map(key, value) {
    return new FieldType(`map<${fieldType(key, 'map(key)')._baml}, ${fieldType(value, 'map(value)')._baml}>`)
  }
  union(types) {
    if (!Array.isArray(types) || types.length === 0) throw invalid('union(types) takes a non-empty array of types')
    return new FieldType(types.map((t) => fieldType(t, 'union(types)')._grouped()).join(' | '), types.length > 1)
  }
  /** The class of this name: a project's `@@dynamic` class to extend, or a new one. */
  getClass(name) {
    text(name, 'class name')
    let c = this[SPEC].classes.find((x) => x.name === name)
    if (!c) {
      c = { name, properties: [] }
      this[SPEC].classes.push(c)
    }
    return new ClassBuilder(c)
  }
  classBuilder(name) { return this.getClass(name) }
  addClass(name) {
    if (this[SPEC].classes.some((x) => x.name === name)) throw invalid(`this TypeBuilder already has a class ${name}`)
    return this.getClass(name)
  }
  /** The enum of this name: a project's `@@dynamic` enum to extend, or a new one. */
  getEnum(name) {
    text(name, 'enum name')
    let e = this[SPEC].enums.find((x) => x.name === name)
    if (!e) {
      e = { name, values: [] }
      this[SPEC].enums.push(e)
    }
    return new EnumBuilder(e)
  }
  enumBuilder(name) { return this.getEnum(name) }
  addEnum(name) {
    if (this[SPEC].enums.some((x) => x.name === name)) throw invalid(`this TypeBuilder already has an enum ${name}`)
    return this.getEnum(name)
  }
  /** BAML source: new classes and enums, `dynamic class X { ... }` / `dynamic enum X { ... }`. */
  addBaml(baml) {
    this[SPEC].baml.push(text(baml, 'addBaml(baml)'))
  }
  /** What the call receives. */
  toJSON() {
    const s = this[SPEC]
    return {
      classes: s.classes.map((c) => ({ name: c.name, properties: c.properties.map(({ fieldType: _, ...p }) => p) })),
      enums: s.enums.map((e) => ({ ...e, values: e.values.map((v) => ({ ...v })) })),
      baml: [...s.baml],
    }
  }
}

/** Clients defined at run time, and the primary one. Pass it as `{ clientRegistry }`. */
class ClientRegistry {
  constructor() {
    this[SPEC] = { clients: [], primary: undefined }
  }
  /** Adds (or replaces) a client; one named like a project's client replaces it. */
  addLlmClient(name, provider, options = {}, retryPolicy) {
    text(name, 'client name')
    text(provider, 'provider')
    if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalid('options must be an object')
    if (retryPolicy != null) text(retryPolicy, 'retryPolicy')
    const clients = this[SPEC].clients.filter((c) => c.name !== name)
    clients.push({ name, provider, options: JSON.parse(JSON.stringify(options)), retryPolicy: retryPolicy ?? undefined })
    this[SPEC].clients = clients
  }
  /** The client every call uses (a registry client or a project's). */
  setPrimary(name) {
    this[SPEC].primary = text(name, 'primary')
  }
  toJSON() {
    const s = this[SPEC]
    return { clients: s.clients.map((c) => ({ ...c })), primary: s.primary }
  }
}

/** `options` with `tb` / `clientRegistry` instances replaced by what the addon reads. */
function withBuilders(options) {
  if (options === null || typeof options !== 'object') return options
  const tb = options.tb
  const cr = options.clientRegistry
  if (!(tb instanceof TypeBuilder) && !(cr instanceof ClientRegistry)) return options
  const out = { ...options }
  if (tb instanceof TypeBuilder) out.tb = tb.toJSON()
  if (cr instanceof ClientRegistry) out.clientRegistry = cr.toJSON()
  return out
}

if (typeof module === 'object' && module !== null) module.exports = { TypeBuilder, ClientRegistry, FieldType, withBuilders }
