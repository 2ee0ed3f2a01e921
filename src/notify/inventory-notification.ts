import type { AppliedFeedChanges, AppliedRecordChange, OutboxEntryInput, OutboxRepository } from "../store/repositories.js";
import { queueAvailabilityReplaces } from "./availability-notification.js";

/**
 * Real-time updates of Google's inventory for what a feed import changes
 * (spec §4.2, its last item; Maps Booking API v1alpha,
 * `inventory.partners.merchants` and `inventory.partners.merchants.services`):
 *
 *   POST  {base}/v1alpha/inventory/partners/{p}/merchants?merchantId={m}                   a new merchant
 *   PATCH {base}/v1alpha/inventory/partners/{p}/merchants/{m}?updateMask=...                a changed one
 *   POST  {base}/v1alpha/inventory/partners/{p}/merchants/{m}/services?serviceId={s}       a new service
 *   PATCH {base}/v1alpha/inventory/partners/{p}/merchants/{m}/services/{s}?updateMask=...   a changed one
 *
 * The body is the resource in camelCase JSON, made from the record's feed
 * JSON (snake_case): the same fields, the feed's `name` as `merchantName` /
 * `serviceName`, the ids in the resource name instead. A patch's mask names
 * every top-level field that differs from the record as it was (a field the
 * feed no longer has is in the mask and not in the body: Google clears it).
 *
 * One queue per merchant (`inventory/{merchantId}`) holds its own updates and
 * its services', so Google gets a new merchant before its new services. An
 * import never removes a merchant or a service (it adds and updates), so no
 * delete is queued from here.
 */

/** What an entry stores: the operation, the ids, and the resource without its partner-specific `name`. */
interface InventoryChange {
  operation: "create" | "patch";
  merchantId: string;
  /** Empty for a merchant. */
  serviceId: string;
  resource: Record<string, unknown>;
}

/**
 * Queues, in an import's final transaction (`FeedStaging.apply`), what tells
 * Google of its changes: a create or patch of each merchant and service it
 * adds or changes, then an availability:replace of every start time at which
 * it adds or changes a slot (merged per service, as bookings' are).
 */
export async function queueImportUpdates(outbox: OutboxRepository, changes: AppliedFeedChanges, nowSec: number): Promise<void> {
  for (const change of [...changes.merchants, ...changes.services]) {
    const entry = inventoryUpdate(change);
    if (entry !== undefined) await outbox.enqueue(entry, nowSec);
  }
  // By service, then start: each service's run of start times merges into its entry at once.
  const starts = changes.slotStarts;
  for (let first = 0, end = 0; first < starts.length; first = end) {
    const { merchantId, serviceId } = starts[first];
    while (end < starts.length && starts[end].merchantId === merchantId && starts[end].serviceId === serviceId) end++;
    await queueAvailabilityReplaces(outbox, { merchantId, serviceId }, starts.slice(first, end).map((start) => start.startSec), nowSec);
  }
}

/** The outbox entry for a merchant's or service's change; undefined when nothing Google reads differs. */
export function inventoryUpdate(change: AppliedRecordChange): OutboxEntryInput | undefined {
  const isService = change.serviceId !== "";
  const resource = resourceFromFeed(change.afterFeedJson, isService ? "serviceName" : "merchantName");
  let updateMask = "";
  if (change.beforeFeedJson !== null) {
    const before = resourceFromFeed(change.beforeFeedJson, isService ? "serviceName" : "merchantName");
    const fields = [...new Set([...Object.keys(before), ...Object.keys(resource)])].filter(
      (field) => JSON.stringify(before[field]) !== JSON.stringify(resource[field]),
    );
    if (fields.length === 0) return undefined;
    updateMask = fields.join(",");
  }
  const payload: InventoryChange = {
    operation: change.beforeFeedJson === null ? "create" : "patch",
    merchantId: change.merchantId,
    serviceId: change.serviceId,
    resource,
  };
  return {
    queueKey: `inventory/${change.merchantId}`,
    kind: isService ? "service_update" : "merchant_update",
    updateMask,
    payloadJson: JSON.stringify(payload),
    queryJson: "{}",
  };
}

/** The HTTP request of a stored `merchant_update` / `service_update` entry, for one partner. */
export function inventoryRequest(partnerId: string, entry: Pick<OutboxEntryInput, "updateMask" | "payloadJson">): InventoryRequest {
  return requestOf(partnerId, JSON.parse(entry.payloadJson) as InventoryChange, entry.updateMask);
}

/**
 * The request that says the same in the other operation, after Google
 * answered `status` to `inventoryRequest`'s: a create of a merchant or service
 * Google has already (409 ALREADY_EXISTS: from the partner's feeds, or a
 * create it received before its answer was lost) becomes a patch of every
 * field the entry sends; a patch of one Google does not have (404 NOT_FOUND)
 * becomes a create. Undefined for any other answer.
 */
export function inventoryFallback(
  partnerId: string,
  entry: Pick<OutboxEntryInput, "payloadJson">,
  status: number,
): InventoryRequest | undefined {
  const change = JSON.parse(entry.payloadJson) as InventoryChange;
  if (status === 409 && change.operation === "create") {
    return requestOf(partnerId, { ...change, operation: "patch" }, Object.keys(change.resource).join(","));
  }
  if (status === 404 && change.operation === "patch") return requestOf(partnerId, { ...change, operation: "create" }, "");
  return undefined;
}

interface InventoryRequest {
  method: "POST" | "PATCH";
  pathAndQuery: string;
  body: string;
}

function requestOf(partnerId: string, change: InventoryChange, updateMask: string): InventoryRequest {
  const merchants = `/v1alpha/inventory/partners/${encodeURIComponent(partnerId)}/merchants`;
  const merchantName = `partners/${partnerId}/merchants/${change.merchantId}`;
  const isService = change.serviceId !== "";
  const name = isService ? `${merchantName}/services/${change.serviceId}` : merchantName;
  const body = JSON.stringify({ name, ...change.resource });
  const merchant = `${merchants}/${encodeURIComponent(change.merchantId)}`;
  if (change.operation === "create") {
    const pathAndQuery = isService
      ? `${merchant}/services?${new URLSearchParams({ serviceId: change.serviceId })}`
      : `${merchants}?${new URLSearchParams({ merchantId: change.merchantId })}`;
    return { method: "POST", pathAndQuery, body };
  }
  const path = isService ? `${merchant}/services/${encodeURIComponent(change.serviceId)}` : merchant;
  return { method: "PATCH", pathAndQuery: `${path}?${new URLSearchParams({ updateMask })}`, body };
}

/** The resource's fields (camelCase) from a feed record's JSON: the ids left out, `name` as `displayNameField`. */
function resourceFromFeed(feedJson: string, displayNameField: "merchantName" | "serviceName"): Record<string, unknown> {
  const { merchant_id: _merchantId, service_id: _serviceId, name, ...fields } = JSON.parse(feedJson) as Record<string, unknown>;
  const resource = camelCaseKeys(fields) as Record<string, unknown>;
  return name === undefined || name === null ? resource : { [displayNameField]: name, ...resource };
}

/** proto3 JSON names: `price_micros` → `priceMicros`, in every nested object. */
function camelCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelCaseKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, nested]) => [key.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase()), camelCaseKeys(nested)]),
  );
}
