import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../auth/public.decorator.js';
import { Database } from '../database/database.js';
import { ConversationService } from '../conversation/conversation.service.js';

class LiveDto {
  @ApiProperty({ example: 'ok' }) status!: string;
}

class ReadyDto {
  @ApiProperty({ enum: ['ok', 'unavailable'] }) status!: string;
  @ApiProperty({ example: { database: 'ok', migrations: 'ok' } }) checks!: Record<string, string>;
  @ApiProperty({ enum: ['postgres', 'pglite'] }) database!: string;
  @ApiProperty({ nullable: true, description: 'Answers waiting for a worker' }) answerQueueDepth!:
    number | null;
}

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly database: Database,
    private readonly conversations: ConversationService,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'The process is up' })
  @ApiOkResponse({ type: LiveDto })
  live(): LiveDto {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Ready to serve: database reachable, migrations applied, answer queue readable' })
  @ApiOkResponse({ type: ReadyDto })
  @ApiServiceUnavailableResponse({ type: ReadyDto })
  async ready(@Res({ passthrough: true }) response: Response): Promise<ReadyDto> {
    const checks: Record<string, string> = {};
    let queueDepth: number | null = null;
    try {
      await this.database.dataSource.query('SELECT 1');
      checks.database = 'ok';
      checks.migrations = (await this.database.pendingMigrations()) ? 'pending' : 'ok';
      queueDepth = await this.conversations.queuedAnswers();
      checks.queue = 'ok';
    } catch (error) {
      checks.database ??= `error: ${(error as Error).message}`;
      checks.queue ??= `error: ${(error as Error).message}`;
    }
    const ok = ['database', 'migrations', 'queue'].every((name) => checks[name] === 'ok');
    if (!ok) response.status(HttpStatus.SERVICE_UNAVAILABLE);
    return {
      status: ok ? 'ok' : 'unavailable',
      checks,
      database: this.database.kind,
      answerQueueDepth: queueDepth,
    };
  }
}
