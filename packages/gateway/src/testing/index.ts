/**
 * @aperture-export/gateway/testing: a local provider that speaks the three APIs, for tests and
 * benchmarks anywhere in the workspace. Node APIs (node:http).
 */
export {
  FAKE_KEYS,
  FAKE_SLOW_MS,
  FAKE_TOOL_CALLS,
  FAKE_USAGE,
  type FakeProvider,
  type FakeProviderOptions,
  fakeGatewayConfig,
  type LoggedProviderRequest,
  startFakeProvider,
} from './fake-provider.ts';
