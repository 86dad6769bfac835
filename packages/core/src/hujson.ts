/**
 * HuJSON ("human JSON"): JSON with comments (`//`, `/* *\/`) and trailing commas, the format
 * of Aperture's config file. Turned into plain JSON text of the same length and line layout,
 * so JSON.parse's positions still point into the original.
 */

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

function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/** Blanks comments and trailing commas out of HuJSON text, keeping every offset. */
export function standardizeHuJson(text: string): string {
  const out = text.split('');
  let i = 0;
  let lastSignificant = -1; // index in `out` of the last non-space, non-comment character
  const blank = (from: number, to: number) => {
    for (let j = from; j < to; j++) if (out[j] !== '\n') out[j] = ' ';
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      const start = i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      if (i >= text.length) {
        const at = position(text, start);
        throw new HuJsonError('unterminated string', at.line, at.column);
      }
      lastSignificant = i++;
    } else if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) {
        const at = position(text, i);
        throw new HuJsonError('unterminated /* comment', at.line, at.column);
      }
      blank(i, end + 2);
      i = end + 2;
    } else if (c === '}' || c === ']') {
      if (lastSignificant >= 0 && out[lastSignificant] === ',') out[lastSignificant] = ' ';
      lastSignificant = i++;
    } else {
      if (!/\s/.test(c)) lastSignificant = i;
      i++;
    }
  }
  return out.join('');
}

/**
 * Parses HuJSON; errors carry the line and column. A small parser of our own rather than
 * JSON.parse, whose messages (and whether they give a position) differ between runtimes.
 */
export function parseHuJson(text: string): unknown {
  const json = standardizeHuJson(text);
  let at = 0;
  const fail = (message: string): never => {
    const where = position(text, at);
    throw new HuJsonError(message, where.line, where.column);
  };
  const skipSpace = () => {
    while (at < json.length && /\s/.test(json[at]!)) at++;
  };
  const describe = () => (at >= json.length ? 'end of input' : JSON.stringify(json[at]));
  const expect = (char: string) => {
    skipSpace();
    if (json[at] !== char) fail(`expected ${JSON.stringify(char)}, found ${describe()}`);
    at++;
  };
  const value = (): unknown => {
    skipSpace();
    const c = json[at];
    if (c === '{') {
      at++;
      const object: Record<string, unknown> = {};
      skipSpace();
      if (json[at] === '}') {
        at++;
        return object;
      }
      for (;;) {
        skipSpace();
        if (json[at] !== '"') fail(`expected a quoted key, found ${describe()}`);
        const key = string();
        if (Object.hasOwn(object, key)) fail(`duplicate key ${JSON.stringify(key)}`);
        expect(':');
        Object.defineProperty(object, key, {
          value: value(),
          enumerable: true,
          writable: true,
          configurable: true,
        });
        skipSpace();
        if (json[at] === ',') {
          at++;
          continue;
        }
        expect('}');
        return object;
      }
    }
    if (c === '[') {
      at++;
      const array: unknown[] = [];
      skipSpace();
      if (json[at] === ']') {
        at++;
        return array;
      }
      for (;;) {
        array.push(value());
        skipSpace();
        if (json[at] === ',') {
          at++;
          continue;
        }
        expect(']');
        return array;
      }
    }
    if (c === '"') return string();
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(
      json.slice(at, at + 64),
    );
    if (!literal) return fail(`unexpected ${describe()}`);
    at += literal[0].length;
    return JSON.parse(literal[0]);
  };
  const string = (): string => {
    const start = at++;
    while (json[at] !== '"') at += json[at] === '\\' ? 2 : 1;
    at++;
    try {
      return JSON.parse(json.slice(start, at)) as string;
    } catch {
      at = start;
      return fail('invalid string');
    }
  };
  const result = value();
  skipSpace();
  if (at < json.length) fail(`unexpected ${describe()} after the end of the value`);
  return result;
}
