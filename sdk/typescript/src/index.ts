export { ActiveCommerce } from "./client.js";
export type { ImportData, UploadOptions, WaitOptions } from "./client.js";
export { Collection, type CreateListDelete, Listing } from "./collection.js";
export {
  ApiError,
  AuthenticationFailed,
  Conflict,
  NetworkError,
  NotFound,
  PermissionDenied,
  RateLimited,
  ValidationFailed,
  type FieldError,
  type ProblemDetails,
} from "./errors.js";
export type { CallOptions, ClientOptions } from "./http.js";
export * from "./types.js";
export {
  verifyWebhook,
  WebhookVerificationError,
  type VerifyOptions,
  type WebhookEvent,
  type WebhookHeaders,
} from "./webhooks.js";
