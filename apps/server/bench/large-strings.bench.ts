/**
 * Decoding UTF-8 into one string, by size: the cost of a string large enough to be an object
 * of its own for V8 (BENCHMARKS.md, "Large bodies"). Why json-body.ts parses large arrays item
 * by item.
 *
 *   node --import tsx bench/large-strings.bench.ts
 */
const decoder = new TextDecoder();
const texts = {
  ASCII: 'Summarise the quarterly revenue forecast. ',
  'some non-ASCII': 'Summarise the quarterly revenue forecast ✓ ',
};
console.log(`Node ${process.versions.node}: µs per TextDecoder.decode()\n`);
console.log('| text | 32 KB | 60 KB | 70 KB | 140 KB | 210 KB |\n|---|---|---|---|---|---|');
for (const [name, unit] of Object.entries(texts)) {
  const cells: string[] = [];
  for (const kb of [32, 60, 70, 140, 210]) {
    const bytes = new TextEncoder().encode(unit.repeat(Math.ceil((kb * 1024) / unit.length)));
    const sized = bytes.subarray(0, kb * 1024); // a ✓ cut in two decodes as U+FFFD: no matter
    const started = performance.now();
    let runs = 0;
    while (performance.now() - started < 300) {
      decoder.decode(sized);
      runs++;
    }
    cells.push(String(Math.round(((performance.now() - started) / runs) * 1000)));
  }
  console.log(`| ${name} | ${cells.join(' | ')} |`);
}
