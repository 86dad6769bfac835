/**
 * An independent, minimal CBOR reader (RFC 8949) for tests: it reports what a strict reader
 * would see (major types, tags, simple values) without going through cbor-x.
 */
export type Item =
  | { type: 'uint' | 'nint'; value: bigint }
  | { type: 'bytes'; length: number }
  | { type: 'text'; value: string }
  | { type: 'array'; items: Item[] }
  | { type: 'map'; entries: [Item, Item][] }
  | { type: 'tag'; tag: number; item: Item }
  | { type: 'float'; bits: 16 | 32 | 64; value: number }
  | { type: 'simple'; value: number };

export function readSequence(bytes: Uint8Array): Item[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const argument = (info: number): bigint => {
    if (info < 24) return BigInt(info);
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (size === 0) throw new Error(`unsupported additional info ${info} at byte ${at - 1}`);
    const value =
      size === 1
        ? BigInt(view.getUint8(at))
        : size === 2
          ? BigInt(view.getUint16(at))
          : size === 4
            ? BigInt(view.getUint32(at))
            : view.getBigUint64(at);
    at += size;
    return value;
  };
  const item = (): Item => {
    const initial = view.getUint8(at++);
    const major = initial >> 5;
    const info = initial & 31;
    if (major === 7) {
      const start = at;
      if (info === 25) {
        at += 2;
        return { type: 'float', bits: 16, value: Number.NaN }; // the encoder never writes these
      }
      if (info === 26) {
        at += 4;
        return { type: 'float', bits: 32, value: view.getFloat32(start) };
      }
      if (info === 27) {
        at += 8;
        return { type: 'float', bits: 64, value: view.getFloat64(start) };
      }
      return { type: 'simple', value: info < 24 ? info : view.getUint8(at++) };
    }
    const n = argument(info);
    switch (major) {
      case 0:
        return { type: 'uint', value: n };
      case 1:
        return { type: 'nint', value: -1n - n };
      case 2:
        at += Number(n);
        return { type: 'bytes', length: Number(n) };
      case 3: {
        const value = new TextDecoder('utf-8', { fatal: true }).decode(
          bytes.subarray(at, at + Number(n)),
        );
        at += Number(n);
        return { type: 'text', value };
      }
      case 4:
        return { type: 'array', items: Array.from({ length: Number(n) }, item) };
      case 5:
        return {
          type: 'map',
          entries: Array.from({ length: Number(n) }, () => [item(), item()] as [Item, Item]),
        };
      default:
        return { type: 'tag', tag: Number(n), item: item() };
    }
  };
  const items: Item[] = [];
  while (at < bytes.length) items.push(item());
  return items;
}

/** Every tag number and simple value found anywhere in the items. */
export function tagsAndSimples(items: Item[]): { tags: Set<number>; simples: Set<number> } {
  const tags = new Set<number>();
  const simples = new Set<number>();
  const walk = (item: Item): void => {
    if (item.type === 'tag') {
      tags.add(item.tag);
      walk(item.item);
    } else if (item.type === 'simple') simples.add(item.value);
    else if (item.type === 'array') item.items.forEach(walk);
    else if (item.type === 'map') {
      for (const [key, value] of item.entries) {
        walk(key);
        walk(value);
      }
    }
  };
  items.forEach(walk);
  return { tags, simples };
}

/** The value under a text key of a map item. */
export function field(item: Item | undefined, key: string): Item | undefined {
  if (item?.type !== 'map') return undefined;
  return item.entries.find(([k]) => k.type === 'text' && k.value === key)?.[1];
}
