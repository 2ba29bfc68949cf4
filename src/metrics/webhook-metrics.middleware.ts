import type { IncomingMessage, ServerResponse } from 'node:http';
import { Metrics, WebhookOutcome } from './metrics.service.js';

const WEBHOOK_PATH = /^\/api\/(wecom-bot|tencent-chat|cometchat)\/callback\//;

/** Counts every platform webhook by channel and outcome and times its acknowledgement. */
export function webhookMetricsMiddleware(metrics: Metrics) {
  return (request: IncomingMessage, response: ServerResponse, next: () => void): void => {
    const channel = WEBHOOK_PATH.exec(request.url ?? '')?.[1];
    if (!channel) return next();
    const stop = metrics.webhookAckSeconds.startTimer({ channel });
    response.once('finish', () => {
      stop();
      const status = response.statusCode;
      const outcome: WebhookOutcome = status >= 500 ? 'error' : status >= 400 ? 'rejected' : 'accepted';
      metrics.webhookRequests.inc({ channel, outcome });
    });
    next();
  };
}
