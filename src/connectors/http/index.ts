/** The HTTP connector and its reusable pieces (webhook signatures, status classification). */
export { httpConnector } from './http-connector.js';
export { signWebhook, verifyWebhook, webhookHeaders, decodeSigningSecret, type SignInput, type VerifyInput, type VerifyResult } from './webhook-signature.js';
export { parseRetryAfter } from './retry-after.js';
export { classifyResponse } from './http-client.js';
export { HttpSink, renderPath, renderBody } from './http-sink.js';
export { WebhookSource } from './webhook-source.js';
export { RestPollSource } from './rest-poll-source.js';
