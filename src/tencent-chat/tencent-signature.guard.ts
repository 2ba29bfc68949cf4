import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import type { TencentChatBotConfig } from '../provider/provider-types.js';
import { ProviderService, type ResolvedProvider } from '../provider/provider.service.js';
import { TencentCallbackError } from './tencent-callback.errors.js';
import {
  readTencentCallbackQuery,
  verifyTencentCallback,
  type TencentCallbackRejection,
} from './tencent-signature.js';

export type TencentRobotProvider = ResolvedProvider<TencentChatBotConfig>;

/** What the guard found out about the request, for the controller. */
export interface TencentCallbackApp {
  sdkAppId: string;
  /** Every robot provider of the app (enabled or not). */
  robots: TencentRobotProvider[];
}

export type TencentCallbackRequest = Request & { tencentApp?: TencentCallbackApp };

/** The SDKAppID format a tencent-chat provider accepts (provider-types.ts). */
const SDK_APP_ID = /^\d{5,12}$/;

const REJECTIONS: Record<TencentCallbackRejection, string> = {
  missing:
    'Sign, RequestTime or SdkAppid is missing: switch on callback authentication in the Tencent console',
  'wrong-app': 'SdkAppid does not match the callback URL',
  stale: 'RequestTime is outside the accepted window of 60 seconds',
  'bad-sign': 'Sign does not match the callback token',
};

/**
 * Authenticates a Tencent Cloud Chat webhook (tencent-chat.md): `Sign = sha256(token + RequestTime)` in
 * constant time, RequestTime within ±60 s, SdkAppid equal to the app in the URL. One callback URL serves
 * every robot of an app, and the token belongs to the app's console: the robots normally share it, and a
 * Sign matching the token of any of them is accepted.
 */
@Injectable()
export class TencentSignatureGuard implements CanActivate {
  constructor(private readonly providers: ProviderService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<TencentCallbackRequest>();
    const sdkAppId = typeof request.params?.sdkAppId === 'string' ? request.params.sdkAppId : '';
    if (!SDK_APP_ID.test(sdkAppId)) {
      throw new TencentCallbackError(400, 'The callback URL must end with the numeric SDKAppID');
    }
    const robots = await this.providers.findBotsByPrefix<TencentChatBotConfig>(
      'tencent-chat',
      `${sdkAppId}:`,
    );
    if (robots.length === 0) {
      throw new TencentCallbackError(404, `No Tencent Cloud Chat robot is configured for app ${sdkAppId}`);
    }

    const params = readTencentCallbackQuery(request.query as Record<string, unknown>);
    const now = Date.now();
    const tokens = [...new Set(robots.map((robot) => robot.config.callbackToken).filter(Boolean))];
    let rejection: TencentCallbackRejection = 'bad-sign';
    for (const callbackToken of tokens) {
      const verdict = verifyTencentCallback(params, { callbackToken, expectedSdkAppId: sdkAppId, now });
      if (verdict.ok) {
        if (!robots.some((robot) => robot.enabled)) {
          throw new TencentCallbackError(403, `Every robot of app ${sdkAppId} is disabled in Parley`);
        }
        request.tencentApp = { sdkAppId, robots };
        return true;
      }
      rejection = verdict.reason;
      // Only the Sign depends on the token: other reasons are the same for every token.
      if (rejection !== 'bad-sign') break;
    }
    throw new TencentCallbackError(401, REJECTIONS[rejection]);
  }
}
