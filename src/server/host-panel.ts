import sirv from "sirv";
import type { NodeRequest, NodeResponse } from "./rest-gateway.js";

const prefix = "/panel";

export function isPanelPath(url: string): boolean {
  return url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`);
}

/**
 * Serves the built host panel (a static single-page app) under /panel/.
 * It talks to MerchantService on this same origin, so no CORS is involved.
 */
export function hostPanel(dir: string): (req: NodeRequest, res: NodeResponse) => void {
  // Hashed asset names may be cached for long; index.html must be re-read every time.
  const files = sirv(dir, {
    single: true,
    etag: true,
    setHeaders: (res, pathname) => {
      res.setHeader("Cache-Control", pathname.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache");
      res.setHeader("X-Content-Type-Options", "nosniff");
    },
  });
  return (req, res) => {
    const url = req.url ?? prefix;
    if (url === prefix) {
      res.statusCode = 308;
      res.setHeader("Location", `${prefix}/`);
      res.end();
      return;
    }
    // sirv serves paths relative to `dir`.
    req.url = url.slice(prefix.length) || "/";
    files(req as never, res as never, () => {
      res.statusCode = 404;
      res.end("not found");
    });
  };
}
