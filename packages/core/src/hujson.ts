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

/** Parses HuJSON; errors carry the line and column. */
export function parseHuJson(text: string): unknown {
  const json = standardizeHuJson(text);
  try {
    return JSON.parse(json);
  } catch (error) {
    const message = (error as Error).message;
    const offset = Number(/position (\d+)/.exec(message)?.[1] ?? Number.NaN);
    const at = Number.isNaN(offset) ? { line: 0, column: 0 } : position(text, offset);
    throw new HuJsonError(message.replace(/ in JSON at position \d+.*$/, ''), at.line, at.column);
  }
}
