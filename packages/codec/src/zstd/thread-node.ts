/**
 * Compression threads on node:worker_threads, which Node, Bun and Deno all provide. Looked up at
 * run time (process.getBuiltinModule), so this module imports nothing from node: and loads on
 * runtimes without threads, where nodeThreads() returns undefined.
 */

/** A thread running a script, as the threaded engine sees it. */
export interface CompressionThread {
  post(message: unknown, transfer: ArrayBuffer[]): void;
  /** Each message from the thread goes to onMessage; a thread that fails or exits, to onFailure. */
  listen(onMessage: (message: unknown) => void, onFailure: (error: Error) => void): void;
  /** Whether the thread keeps the process alive: only while it has work to answer. */
  keepAlive(alive: boolean): void;
  terminate(): Promise<void>;
}

/**
 * Starts a thread running `body`, a script that finds `port` defined:
 * `port.on(listener)` receives messages, `port.post(message, transfer)` answers.
 */
export type SpawnThread = (body: string) => CompressionThread;

interface NodeWorker {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  on(event: 'message', listener: (message: unknown) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  on(event: 'exit', listener: (code: number) => void): void;
  ref(): void;
  unref(): void;
  terminate(): Promise<number>;
}

interface WorkerThreads {
  Worker: new (source: string, options: { eval: true }) => NodeWorker;
}

/** What the script gets as `port` inside a worker_threads thread. */
const PORT_PRELUDE = `const { parentPort } = process.getBuiltinModule('node:worker_threads');
const port = {
  on: (listener) => parentPort.on('message', listener),
  post: (message, transfer) => parentPort.postMessage(message, transfer),
};
`;

export function nodeThreads(): SpawnThread | undefined {
  const runtime = globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } };
  const getBuiltinModule = runtime.process?.getBuiltinModule;
  if (typeof getBuiltinModule !== 'function') return undefined;
  const workerThreads = getBuiltinModule('node:worker_threads') as WorkerThreads | undefined;
  if (typeof workerThreads?.Worker !== 'function') return undefined;
  return (body) => {
    const worker = new workerThreads.Worker(PORT_PRELUDE + body, { eval: true });
    worker.unref();
    return {
      post: (message, transfer) => worker.postMessage(message, transfer),
      listen(onMessage, onFailure) {
        worker.on('message', onMessage);
        worker.on('error', onFailure);
        worker.on('exit', (code) => onFailure(new Error(`the thread exited with code ${code}`)));
      },
      keepAlive: (alive) => (alive ? worker.ref() : worker.unref()),
      terminate: async () => {
        await worker.terminate();
      },
    };
  };
}
