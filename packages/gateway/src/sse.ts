/**
 * Server-sent events as they arrive (the WHATWG event-stream format): text in, whole events
 * out, each with its exact text so that it can be passed on unchanged. Lines end in \n, \r\n or
 * \r; an event ends at a blank line; `:` lines are comments, kept in the text.
 */

export interface SseEvent {
  /** The `event:` field; undefined for a plain `data:` event (OpenAI's chunks). */
  event: string | undefined;
  /** The `data:` lines joined with \n. */
  data: string;
  /** The event's text as received, its closing blank line included. */
  text: string;
}

export class SseParser {
  #buffer = '';

  /** Takes the next piece of the stream; returns the events it completed. */
  push(chunk: string): SseEvent[] {
    this.#buffer += chunk;
    const events: SseEvent[] = [];
    for (;;) {
      const end = /\r\n\r\n|\n\n|\r\r|\r\n\n|\n\r\n/.exec(this.#buffer);
      if (!end) return events;
      const text = this.#buffer.slice(0, end.index + end[0].length);
      this.#buffer = this.#buffer.slice(text.length);
      const event = parseEvent(text);
      if (event) events.push(event);
    }
  }

  /** What is left when the stream ends: an event the server did not close, if any. */
  end(): SseEvent[] {
    const rest = this.#buffer;
    this.#buffer = '';
    const event = rest.trim() === '' ? undefined : parseEvent(rest);
    return event ? [event] : [];
  }
}

function parseEvent(text: string): SseEvent | undefined {
  let event: string | undefined;
  const data: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (event === undefined && data.length === 0) return { event: undefined, data: '', text };
  return { event, data: data.join('\n'), text };
}
