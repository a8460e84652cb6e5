/**
 * Direct JavaScript for the FHIRPath invariants a measure's profile puts on every received result
 * (status known, effective time present, a Quantity with value and unit): the same verdict as
 * fhirpath.js, a tenth of the cost, on the path of every retained result.
 *
 * Only a small, fully understood part of FHIRPath is compiled: member paths (choice elements by
 * the r4 model; a step through a contained resource, whose type is known only at run time, is
 * decided only when there is none, as is where(), select(), first(), last() or tail() of a path),
 * ofType(), exists(), empty(), `=`/`!=` and `in` against string
 * literals, `=`/`!=` between two Boolean expressions, `and`/`or`, and parentheses. The expression
 * is parsed by fhirpath.js itself; anything else is not compiled, and anything the compiled form
 * cannot decide at run time (a repeated element where one is expected, a primitive carried only by
 * its extension) is handed back, so fhirpath.js (or, in the quick structure pass, @medplum/core's
 * engine) decides it. A parity test holds the two equal over every invariant in profiles/ and the
 * base R4 invariants the structure pass compiles.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';

interface AstNode {
  type: string;
  text?: string;
  children?: AstNode[];
}

/**
 * A path compiled with its items' types known in advance (from the r4 model), so that at run time
 * it is property reads only. `variants`: the JSON keys the step reads and the type of each (a
 * choice element has one per type; ofType() keeps those of its type).
 */
interface CompiledPath {
  variants: { key: string; type: string }[];
  /** Items of the collection before this step; undefined for the resource itself. */
  from: CompiledPath | undefined;
  run: (root: object) => unknown[];
}

/** true, false, or null for FHIRPath's empty result. */
type BoolFn = (root: object) => boolean | null;

const model = r4 as unknown as {
  choiceTypePaths: Record<string, string[]>;
  path2Type: Record<string, string>;
};

/** Thrown at run time when the compiled form cannot decide; never escapes this module. */
class Undecided extends Error {}
const UNDECIDED = new Undecided('undecided');

class Unsupported extends Error {}

function only(node: AstNode, type?: string): AstNode {
  const c = node.children ?? [];
  if (c.length !== 1 || (type !== undefined && c[0]?.type !== type)) throw new Unsupported(node.type);
  return c[0] as AstNode;
}

function typeOf(parentType: string, key: string): string {
  let type = model.path2Type[`${parentType}.${key}`];
  if (type === undefined) throw new Unsupported(`${parentType}.${key}`);
  if (type === 'BackboneElement' || type === 'Element') type = `${parentType}.${key}`;
  return type;
}

/** The one type every variant of a path has, which a further step needs to be compiled. */
function singleType(path: CompiledPath): string {
  const types = new Set(path.variants.map((v) => v.type));
  if (types.size !== 1) throw new Unsupported('a step after a choice element without ofType()');
  return path.variants[0]?.type as string;
}

/**
 * Reads `keys` of every item; a repeated element contributes each of its values. `extensionKeys`
 * are the same keys with their `_` prefix, built once with the path rather than for every item
 * (this runs for every element of every resource checked: issue 20, a recomputation's outgoing
 * resources).
 */
function step(items: unknown[], keys: readonly string[], extensionKeys: readonly string[]): unknown[] {
  const out: unknown[] = [];
  for (const item of items) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw UNDECIDED;
    const record = item as Record<string, unknown>;
    for (let k = 0; k < keys.length; k++) {
      const key = keys[k] as string;
      // fhirpath.js sees a primitive that has only its extension (`_status`); this form does not.
      if (record[extensionKeys[k] as string] !== undefined) throw UNDECIDED;
      const v = record[key];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) {
        for (const x of v) if (x !== null && x !== undefined) out.push(x);
      } else out.push(v);
    }
  }
  return out;
}

/** Functions whose result is empty when their input is: compiled as decided only for no input. */
const EMPTY_ON_EMPTY: ReadonlySet<string> = new Set(['where', 'select', 'first', 'last', 'tail']);

/**
 * A step decided only when its input is empty (then it yields nothing): otherwise handed back.
 * `from` undefined: the input is the resource itself, never empty.
 */
function emptyOnly(from: CompiledPath | undefined, key = ''): CompiledPath {
  return {
    variants: [{ key, type: '*' }],
    from,
    run: (root) => {
      if ((from ? from.run(root) : [root]).length > 0) throw UNDECIDED;
      return [];
    },
  };
}

/** Types known only at run time (a contained resource): a step from one is decided only when empty. */
const ABSTRACT_TYPES: ReadonlySet<string> = new Set(['Resource', 'DomainResource', '*']);

function memberPath(from: CompiledPath | undefined, parentType: string, name: string): CompiledPath {
  if (ABSTRACT_TYPES.has(parentType)) return emptyOnly(from, name);
  const choices = model.choiceTypePaths[`${parentType}.${name}`];
  const keys = choices ? choices.map((t) => `${name}${t}`) : [name];
  const variants = keys.map((key) => ({ key, type: typeOf(parentType, key) }));
  return withRun(from, variants);
}

function withRun(from: CompiledPath | undefined, variants: CompiledPath['variants']): CompiledPath {
  const keys = variants.map((v) => v.key);
  const extensionKeys = keys.map((k) => `_${k}`);
  const run = from
    ? (root: object) => step(from.run(root), keys, extensionKeys)
    : (root: object) => step([root], keys, extensionKeys);
  return { variants, from, run };
}

function stringLiteral(node: AstNode): string {
  const literal = only(only(node, 'LiteralTerm'), 'StringLiteral').text ?? '';
  if (!/^'[^'\\]*'$/.test(literal)) throw new Unsupported('string literal with escapes');
  return literal.slice(1, -1);
}

/** A literal list: `'a'` or `('a' | 'b')`. */
function literalSet(node: AstNode): string[] {
  if (node.type !== 'TermExpression') throw new Unsupported(node.type);
  const term = only(node);
  if (term.type === 'LiteralTerm') return [stringLiteral(node)];
  if (term.type !== 'ParenthesizedTerm') throw new Unsupported(term.type);
  const inner = only(term);
  if (inner.type === 'TermExpression') return literalSet(inner);
  if (inner.type !== 'UnionExpression') throw new Unsupported(inner.type);
  return (inner.children ?? []).flatMap(literalSet);
}

/** `undefined` stands for the resource itself (`Observation` in `Observation.value`). */
function compilePath(node: AstNode, rootType: string): CompiledPath | undefined {
  switch (node.type) {
    case 'TermExpression': {
      const term = only(node);
      if (term.type === 'ParenthesizedTerm') return compilePath(only(term), rootType);
      if (term.type !== 'InvocationTerm') throw new Unsupported(term.type);
      const name = only(term, 'MemberInvocation').text ?? '';
      return name === rootType ? undefined : memberPath(undefined, rootType, name);
    }
    case 'InvocationExpression': {
      const [left, right] = node.children ?? [];
      if (!left || !right) throw new Unsupported(node.type);
      const from = compilePath(left, rootType);
      if (right.type === 'MemberInvocation') {
        return memberPath(from, from ? singleType(from) : rootType, right.text ?? '');
      }
      if (right.type === 'FunctionInvocation' && from) {
        const fn = only(right, 'Functn');
        const [ident, params] = fn.children ?? [];
        if (ident?.text === 'ofType' && params?.type === 'ParamList') {
          const typeName = only(params).text ?? '';
          if (!/^[A-Za-z]+$/.test(typeName)) throw new Unsupported('ofType argument');
          return withRun(
            from.from,
            from.variants.filter((v) => v.type === typeName),
          );
        }
        // where(), select(), first()... of nothing is nothing, whatever their argument says.
        if (ident?.text && EMPTY_ON_EMPTY.has(ident.text)) return emptyOnly(from);
      }
      throw new Unsupported(right.type);
    }
    default:
      throw new Unsupported(node.type);
  }
}

function runPath(path: CompiledPath | undefined): (root: object) => unknown[] {
  if (!path) throw new Unsupported('the resource itself as a value');
  return path.run;
}

/** The single string a comparison needs, or null when the collection is empty. */
function singleString(items: unknown[]): string | null {
  if (items.length === 0) return null;
  const [first] = items;
  if (items.length > 1 || typeof first !== 'string') throw UNDECIDED;
  return first;
}

/** Comparisons with a string literal are compiled for string-like primitives only. */
function stringPath(node: AstNode, rootType: string): (root: object) => unknown[] {
  const path = compilePath(node, rootType);
  if (!path?.variants.every((v) => STRING_TYPES.has(v.type))) throw new Unsupported('comparison');
  return path.run;
}

const STRING_TYPES: ReadonlySet<string> = new Set(['code', 'string', 'id', 'uri', 'url', 'canonical', 'markdown']);

function compileBool(node: AstNode, rootType: string): BoolFn {
  switch (node.type) {
    case 'EntireExpression':
      return compileBool(only(node), rootType);
    case 'TermExpression': {
      const term = only(node);
      if (term.type === 'ParenthesizedTerm') return compileBool(only(term), rootType);
      throw new Unsupported(term.type);
    }
    case 'OrExpression':
    case 'AndExpression': {
      if (node.text !== 'or' && node.text !== 'and') throw new Unsupported(node.text ?? node.type);
      const [a, b] = (node.children ?? []).map((c) => compileBool(c, rootType));
      if (!a || !b) throw new Unsupported(node.type);
      // FHIRPath's three-valued logic, with null for empty.
      if (node.text === 'or') {
        return (root) => {
          const x = a(root);
          const y = b(root);
          if (x === true || y === true) return true;
          return x === false && y === false ? false : null;
        };
      }
      return (root) => {
        const x = a(root);
        const y = b(root);
        if (x === false || y === false) return false;
        return x === true && y === true ? true : null;
      };
    }
    case 'EqualityExpression': {
      if (node.text !== '=' && node.text !== '!=') throw new Unsupported(node.text ?? node.type);
      const [left, right] = node.children ?? [];
      if (!left || !right) throw new Unsupported(node.type);
      if (right.type !== 'TermExpression' || only(right).type !== 'LiteralTerm') {
        // Two Boolean expressions (`extension.exists() != value.exists()`); empty if either is.
        const a = compileBool(left, rootType);
        const b = compileBool(right, rootType);
        const same = node.text === '=';
        return (root) => {
          const x = a(root);
          const y = b(root);
          return x === null || y === null ? null : (x === y) === same;
        };
      }
      const path = stringPath(left, rootType);
      const literal = stringLiteral(right);
      const equal = node.text === '=';
      return (root) => {
        const v = singleString(path(root));
        return v === null ? null : (v === literal) === equal;
      };
    }
    case 'MembershipExpression': {
      if (node.text !== 'in') throw new Unsupported(node.text ?? node.type);
      const [left, right] = node.children ?? [];
      if (!left || !right) throw new Unsupported(node.type);
      const path = stringPath(left, rootType);
      const set = new Set(literalSet(right));
      return (root) => {
        const v = singleString(path(root));
        return v === null ? null : set.has(v);
      };
    }
    case 'InvocationExpression': {
      const [left, right] = node.children ?? [];
      if (right?.type === 'FunctionInvocation' && left) {
        const fn = only(right, 'Functn');
        if (fn.children?.length === 1 && fn.children[0]?.text === 'exists') {
          const path = runPath(compilePath(left, rootType));
          return (root) => path(root).length > 0;
        }
        if (fn.children?.length === 1 && fn.children[0]?.text === 'empty') {
          const path = runPath(compilePath(left, rootType));
          return (root) => path(root).length === 0;
        }
      }
      throw new Unsupported(node.type);
    }
    default:
      throw new Unsupported(node.type);
  }
}

/**
 * The compiled invariant for resources of `rootType`, or undefined when the expression is outside
 * the compiled subset. The compiled function returns true (holds), false (does not hold: false or
 * empty), or undefined when fhirpath.js must decide.
 */
export function compileInvariant(
  expression: string,
  rootType: string,
): ((resource: object) => boolean | undefined) | undefined {
  const fn = compileElementInvariant(expression, rootType);
  if (!fn) return undefined;
  return (resource) => ((resource as { resourceType?: unknown }).resourceType !== rootType ? undefined : fn(resource));
}

/**
 * The same for an invariant evaluated on an element (`contextType`: a data type such as `Extension`,
 * or a backbone element's path such as `Observation.referenceRange`), or on a resource known to be
 * of that type.
 */
export function compileElementInvariant(
  expression: string,
  contextType: string,
): ((value: object) => boolean | undefined) | undefined {
  let fn: BoolFn;
  try {
    fn = compileBool(fhirpath.parse(expression) as AstNode, contextType);
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
  return (value) => {
    try {
      return fn(value) === true;
    } catch (err) {
      if (err instanceof Undecided) return undefined;
      throw err;
    }
  };
}
