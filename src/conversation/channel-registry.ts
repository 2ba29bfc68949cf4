import { Injectable } from '@nestjs/common';
import type { ChannelDelivery, Platform } from './conversation.types.js';

/** Channel modules register how they deliver answers; the engine looks them up by platform. */
@Injectable()
export class ChannelRegistry {
  private readonly deliveries = new Map<Platform, ChannelDelivery>();

  register(delivery: ChannelDelivery): void {
    this.deliveries.set(delivery.platform, delivery);
  }

  get(platform: Platform): ChannelDelivery | undefined {
    return this.deliveries.get(platform);
  }
}
