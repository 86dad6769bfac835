import { describe, expect, it } from 'vitest';
import { SseParser } from './sse.ts';

describe('SseParser', () => {
  it('gives whole events with their exact text, however the bytes were cut', () => {
    const stream =
      'event: a\ndata: {"x":1}\n\n: keep-alive\n\ndata: line one\r\ndata: line two\r\n\r\ndata: [DONE]\n\n';
    for (const cut of [1, 2, 3, 7, 1000]) {
      const parser = new SseParser();
      const events = [];
      for (let at = 0; at < stream.length; at += cut)
        events.push(...parser.push(stream.slice(at, at + cut)));
      events.push(...parser.end());
      expect(events.map((e) => [e.event, e.data])).toEqual([
        ['a', '{"x":1}'],
        [undefined, ''],
        [undefined, 'line one\nline two'],
        [undefined, '[DONE]'],
      ]);
      expect(events.map((e) => e.text).join('')).toBe(stream);
    }
  });

  it('gives an event the server did not close when the stream ends', () => {
    const parser = new SseParser();
    expect(parser.push('data: partial')).toEqual([]);
    expect(parser.end()).toEqual([{ event: undefined, data: 'partial', text: 'data: partial' }]);
  });
});
