/**
 * An HTTP front for an S3 server: it checks every request's SigV4 signature, injects faults
 * on demand, optionally enforces create-only writes, and forwards the rest. Used for the
 * strict local S3 (in front of s3rver, which checks neither signatures nor preconditions) and
 * as a fault proxy in front of MinIO or an external server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultInjector } from './faults.ts';
import { headersOf, keyOf, readBody, relay, sendS3Error } from './http.ts';
import type { IncomingS3Request, SigV4Verifier } from './sigv4-verifier.ts';

export interface LoggedRequest {
  method: string;
  key: string;
  status: number;
  fault?: string;
}

export interface S3FrontOptions {
  verifier: SigV4Verifier;
  /** Sends a verified request on to the real storage. */
  forward: (request: IncomingS3Request) => Promise<Response>;
  /** Answer 412 to `If-None-Match: *` (or GCS's generation-match 0) when the key exists. */
  enforceCreateOnly?: (request: IncomingS3Request) => Promise<boolean>;
}

export interface S3Front {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  faults: FaultInjector;
  requests: LoggedRequest[];
  stop(): Promise<void>;
}

const isCreateOnly = (headers: Record<string, string>) =>
  headers['if-none-match'] === '*' || headers['x-goog-if-generation-match'] === '0';

export async function startS3Front(options: S3FrontOptions): Promise<S3Front> {
  const faults = new FaultInjector();
  const requests: LoggedRequest[] = [];
  // Create-only writes to one key are handled one at a time, so exactly one of two racing
  // writers wins, as on S3.
  const keyLocks = new Map<string, Promise<void>>();

  const server: Server = createServer(async (req, res) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const log: LoggedRequest = { method, key: keyOf(url), status: 0 };
    requests.push(log);
    /** Answers with an S3 error, and logs its status. */
    const refuse = (error: { status: number; code: string; message: string }) => {
      log.status = error.status;
      sendS3Error(res, error);
    };
    try {
      const body = await readBody(req);
      const fault = faults.next(method);
      if (fault) log.fault = fault.kind === 'error' ? fault.code : fault.kind;
      if (fault?.kind === 'hang') return; // never answered; closed when the server stops
      if (fault?.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
      if (fault?.kind === 'error') {
        refuse({ status: fault.status, code: fault.code, message: fault.message ?? fault.code });
        return;
      }
      const request: IncomingS3Request = { method, url, headers: headersOf(req), body };
      if (method === 'PUT' && request.headers['content-length'] === undefined) {
        // As S3 answers a body sent chunked without aws-chunked encoding.
        refuse({
          status: 411,
          code: 'MissingContentLength',
          message: 'You must provide the Content-Length HTTP header.',
        });
        return;
      }
      const rejection = await options.verifier.verify(request);
      if (rejection) {
        refuse(rejection);
        return;
      }
      const forward = async () => {
        if (method === 'PUT' && options.enforceCreateOnly && isCreateOnly(request.headers)) {
          if (!(await options.enforceCreateOnly(request))) {
            refuse({
              status: 412,
              code: 'PreconditionFailed',
              message: 'At least one of the pre-conditions you specified did not hold',
            });
            return;
          }
        }
        const upstream = await options.forward(request);
        log.status = upstream.status;
        await relay(upstream, res);
      };
      if (method === 'PUT' && log.key) {
        const previous = keyLocks.get(log.key) ?? Promise.resolve();
        const current = previous.then(forward, forward);
        const settled = current.catch(() => {});
        keyLocks.set(log.key, settled);
        await current;
        if (keyLocks.get(log.key) === settled) keyLocks.delete(log.key);
      } else {
        await forward();
      }
    } catch (error) {
      log.status = 500;
      if (!res.headersSent) {
        sendS3Error(res, { status: 500, code: 'InternalError', message: (error as Error).message });
      } else {
        res.destroy();
      }
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    faults,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
