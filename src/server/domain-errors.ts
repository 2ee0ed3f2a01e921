import { Code, ConnectError } from "@connectrpc/connect";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
} from "../booking/errors.js";

const codes = new Map<Function, Code>([
  [InvalidArgumentError, Code.InvalidArgument],
  [NotFoundError, Code.NotFound],
  [FailedPreconditionError, Code.FailedPrecondition],
  [PermissionDeniedError, Code.PermissionDenied],
]);

/** Rethrows a domain request error as the Connect error every transport understands. */
export function rethrowAsConnectError(error: unknown): never {
  const code = error instanceof Error ? codes.get(error.constructor) : undefined;
  if (code !== undefined) throw new ConnectError((error as Error).message, code);
  throw error;
}
