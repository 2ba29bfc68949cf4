import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AdminAuthGuard } from './admin-auth.guard.js';
import { AdminKeyService } from './admin-key.service.js';

@Global()
@Module({
  providers: [AdminKeyService, { provide: APP_GUARD, useClass: AdminAuthGuard }],
  exports: [AdminKeyService],
})
export class AuthModule {}
