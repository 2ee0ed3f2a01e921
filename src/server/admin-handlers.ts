import { create, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  AdminService,
  DeadNotificationSchema,
  GetOutboxStatusResponseSchema,
  ListDeadNotificationsResponseSchema,
  RequeueNotificationResponseSchema,
  type DeadNotification,
} from "../../gen/es/partner/admin/v1/admin_service_pb.js";
import type { Clock } from "../clock.js";
import type { OutboxEntry, Store } from "../store/repositories.js";
import { merchantCallerKey } from "./bearer-auth.js";

type Methods = typeof AdminService.method;

export type AdminHandlers = {
  [K in keyof Methods]: (
    request: MessageShape<Methods[K]["input"]>,
    context: HandlerContext,
  ) => Promise<MessageShape<Methods[K]["output"]>>;
};

export interface AdminHandlerOptions {
  store: Store;
  clock: Clock;
  /** Wakes the notification sender (after a re-queue). */
  notify?: () => void;
  /**
   * The time a re-queued entry becomes due, in ms: the notifier's clock
   * (`Date.now` unless it was given another).
   */
  nowMs?: () => number;
}

const defaultPageSize = 50;
const maxPageSize = 500;

/**
 * AdminService handlers: the caller comes from the bearer-auth interceptor
 * and must be the admin; each handler is one outbox read, or one unit of work (re-queue).
 */
export function adminHandlers(options: AdminHandlerOptions): AdminHandlers {
  const { store, clock } = options;
  const nowMs = options.nowMs ?? Date.now;
  const admin =
    <Request, Response>(call: (request: Request) => Promise<Response>) =>
    async (request: Request, context: HandlerContext) => {
      const caller = context.values.get(merchantCallerKey);
      if (!caller) throw new ConnectError("not authenticated", Code.Unauthenticated);
      if (caller.kind !== "admin") throw new ConnectError("only the admin token may call AdminService", Code.PermissionDenied);
      return call(request);
    };

  return {
    getOutboxStatus: admin(async () => {
      const depth = await store.read.outbox.depth(clock.nowSec());
      return create(GetOutboxStatusResponseSchema, {
        pendingCount: BigInt(depth.pending),
        oldestPendingAgeSec: BigInt(depth.oldestPendingAgeSec),
        deadCount: BigInt(depth.dead),
      });
    }),

    listDeadNotifications: admin(async (request) => {
      if (request.pageSize < 0) throw new ConnectError("page_size must not be negative", Code.InvalidArgument);
      const pageSize = Math.min(request.pageSize || defaultPageSize, maxPageSize);
      const afterId = parsePageToken(request.pageToken);
      const rest = await store.read.outbox.listDead(pageSize + 1, afterId);
      const page = rest.slice(0, pageSize);
      return create(ListDeadNotificationsResponseSchema, {
        deadNotifications: page.map(deadNotification),
        nextPageToken: rest.length > pageSize ? String(page[page.length - 1].id) : "",
      });
    }),

    requeueNotification: admin(async (request) => {
      const id = Number(request.id);
      const dueAtMs = nowMs();
      // One unit: the entry read is the entry re-queued (or refused), nothing in between.
      await store.transaction(async (tx) => {
        const entry = Number.isSafeInteger(id) ? await tx.outbox.get(id) : undefined;
        if (!entry) throw new ConnectError(`no notification ${request.id}`, Code.NotFound);
        if (!(await tx.outbox.requeue(id, dueAtMs))) {
          throw new ConnectError(`notification ${request.id} is ${entry.state}, not dead`, Code.FailedPrecondition);
        }
      });
      options.notify?.();
      return create(RequeueNotificationResponseSchema);
    }),
  };
}

/** The page token is the id of the last entry of the previous page. */
function parsePageToken(token: string): number {
  if (token === "") return 0;
  if (!/^[1-9][0-9]{0,15}$/.test(token)) throw new ConnectError("invalid page_token", Code.InvalidArgument);
  return Number(token);
}

function deadNotification(entry: OutboxEntry): DeadNotification {
  return create(DeadNotificationSchema, {
    id: BigInt(entry.id),
    queueKey: entry.queueKey,
    kind: entry.kind,
    updateMask: entry.updateMask,
    payloadJson: entry.payloadJson,
    queryJson: entry.queryJson,
    attempts: entry.attempts,
    lastStatus: entry.lastStatus ?? 0,
    lastError: entry.lastError ?? "",
    createdAtSec: BigInt(entry.createdAtSec),
  });
}
