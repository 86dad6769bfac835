/**
 * HuJSON ("human JSON"): JSON with comments (`//`, `/* *\/`) and trailing commas, the format
 * of Aperture's config file. Read and edited with jsonc-parser, whose edits keep the user's
 * comments and layout; duplicate keys, which it would let pass (the last one winning), are
 * an error here, since one of the two values is surely a mistake.
 */
import {
  applyEdits,
  findNodeAtLocation,
  type JSONPath,
  modify,
  type Node,
  type ParseError,
  parseTree,
  printParseErrorCode,
} from 'jsonc-parser';

export type { JSONPath };

export class HuJsonError extends Error {
  readonly line: number;
  readonly column: number;
  constructor(message: string, line: number, column: number) {
    super(`line ${line}, column ${column}: ${message}`);
    this.name = 'HuJsonError';
    this.line = line;
    this.column = column;
  }
}

/** jsonc-parser's error codes, as a person reading their config file would put them. */
const SYNTAX_ERRORS: Record<ReturnType<typeof printParseErrorCode>, string> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'invalid number',
  PropertyNameExpected: 'expected a quoted key',
  ValueExpected: 'expected a value',
  ColonExpected: 'expected ":"',
  CommaExpected: 'expected ","',
  CloseBraceExpected: 'expected "}"',
  CloseBracketExpected: 'expected "]"',
  EndOfFileExpected: 'unexpected text after the end of the value',
  InvalidCommentToken: 'invalid comment',
  UnexpectedEndOfComment: 'unterminated /* comment',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfNumber: 'unterminated number',
  InvalidUnicode: 'invalid \\u escape',
  InvalidEscapeCharacter: 'invalid escape character',
  InvalidCharacter: 'invalid character in a string',
  '<unknown ParseErrorCode>': 'invalid HuJSON',
};

const lineAt = (text: string, offset: number) => text.slice(0, offset).split('\n').length;

function errorAt(text: string, offset: number, message: string): HuJsonError {
  const before = text.slice(0, offset);
  return new HuJsonError(message, lineAt(text, offset), offset - before.lastIndexOf('\n'));
}

/**
 * The line (from 1) where the value at `path` is written, or where its nearest written
 * parent is (a missing key is reported at the object that lacks it); undefined for text
 * that does not parse.
 */
export function lineOfPath(text: string, path: JSONPath): number | undefined {
  const tree = parseTree(text, [], { allowTrailingComma: true });
  if (!tree) return undefined;
  for (let length = path.length; length >= 0; length--) {
    const node = findNodeAtLocation(tree, path.slice(0, length));
    // A property's line is its key's, where the reader looks for it.
    if (node)
      return lineAt(text, node.parent?.type === 'property' ? node.parent.offset : node.offset);
  }
  return undefined;
}

/** A parsed node's value; keys are defined, not assigned, so `"__proto__"` is only a key. */
function nodeValue(text: string, node: Node): unknown {
  if (node.type === 'array') return (node.children ?? []).map((child) => nodeValue(text, child));
  if (node.type !== 'object') return node.value;
  const object: Record<string, unknown> = {};
  for (const property of node.children ?? []) {
    const [key, value] = property.children as [Node, Node];
    const name = key.value as string;
    if (Object.hasOwn(object, name))
      throw errorAt(text, key.offset, `duplicate key ${JSON.stringify(name)}`);
    Object.defineProperty(object, name, {
      value: nodeValue(text, value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return object;
}

/** Parses HuJSON; a syntax error or a duplicate key throws a HuJsonError with its position. */
export function parseHuJson(text: string): unknown {
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, { allowTrailingComma: true });
  const [first] = errors;
  if (first) throw errorAt(text, first.offset, SYNTAX_ERRORS[printParseErrorCode(first.error)]);
  if (!tree) throw errorAt(text, text.length, SYNTAX_ERRORS.ValueExpected);
  return nodeValue(text, tree);
}

/** Sets the value at `path`, leaving every other byte (comments included) as it was. */
export function setHuJsonValue(text: string, path: JSONPath, value: unknown): string {
  return applyEdits(
    text,
    modify(text, path, value, { formattingOptions: { insertSpaces: true, tabSize: 2 } }),
  );
}
