/**
 * CORS for the CDS services (CDS Hooks 2.0: services called from browsers, such as an EHR's web
 * front end or the CDS Hooks sandbox, must answer cross-origin requests and their preflight). Only
 * the configured origins are echoed; `*` allows any, which is safe here because the service never
 * relies on cookies: every call carries the EHR's signed JWT.
 */
import type { RequestHandler } from 'express';

export function parseOrigins(raw: string): string[] {
  return raw
    .split(',')
    .map((o) => o.trim().replace(/\/$/, ''))
    .filter((o) => o.length > 0);
}

export function cdsCors(origins: readonly string[]): RequestHandler {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return (req, res, next) => {
    const origin = req.headers.origin;
    res.vary('Origin');
    const ok = origin !== undefined && (any || allowed.has(origin));
    if (ok) {
      res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
      res.setHeader('Access-Control-Expose-Headers', 'Content-Type');
    }
    if (req.method === 'OPTIONS') {
      if (ok) {
        res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
        res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
        res.setHeader('Access-Control-Max-Age', '600');
      }
      // A preflight from an origin not configured gets no CORS headers: the browser then refuses the call.
      res.status(204).end();
      return;
    }
    next();
  };
}
