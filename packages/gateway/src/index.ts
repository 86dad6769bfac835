/**
 * The gateway's public API: `Gateway` serves requests in the three APIs' formats and hands each
 * one's record on; the APIs; identity resolvers; the session header.
 */
export { anthropicMessages } from './apis/anthropic-messages.ts';
export { openAiChat } from './apis/openai-chat.ts';
export { openAiResponses } from './apis/openai-responses.ts';
export type { Api, ApiType, Compatibility, TokenUsage } from './apis/types.ts';
export {
  CLIENT_CLOSED,
  Gateway,
  type GatewayCapture,
  type GatewayOptions,
  type GatewayProvider,
  type GatewaySettings,
  INCOMPLETE_HEADER,
} from './gateway.ts';
export {
  clientToken,
  firstIdentity,
  type IdentityRequest,
  type IdentityResolver,
  identityFromWhois,
  isLoopback,
  sameText,
  type TokenIdentity,
  tailscaleServeIdentity,
  tailscaleWhoisIdentity,
  tokenIdentities,
} from './identity.ts';
export { SESSION_HEADER } from './session.ts';

import { anthropicMessages } from './apis/anthropic-messages.ts';
import { openAiChat } from './apis/openai-chat.ts';
import { openAiResponses } from './apis/openai-responses.ts';

/** Every API the gateway serves. */
export const APIS = [openAiChat, openAiResponses, anthropicMessages] as const;
