import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { UnauthorizedError } from '../common/errors.js';
import { AdminKeyService } from './admin-key.service.js';
import { IS_PUBLIC } from './public.decorator.js';

/** Global guard: every route needs `Authorization: Bearer <ADMIN_API_KEY>` unless marked @Public(). */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: AdminKeyService,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()]))
      return true;
    const header = context.switchToHttp().getRequest<Request>().headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match || !this.keys.verify(match[1])) throw new UnauthorizedError();
    return true;
  }
}
